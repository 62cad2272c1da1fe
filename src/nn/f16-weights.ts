// The f16 path's weight copy (issue 15 item 3): the encoder's convolution weights in f16, read by
// the f16 convolutions (src/nn/conv2d.ts, Conv2dOptions.storage). The f32 master weights, the
// optimizer and checkpoints do not change; one cast dispatch (src/shaders/cast_f16.wgsl) rewrites
// every f16 copy from its f32 master. The step graph records it at the start of every step, before
// the first forward that reads it (src/train/step-graph.ts), which is the same as after every
// optimizer step and EMA update, and after initialisation or a checkpoint load, since nothing
// reads the copy in between.
//
// Layout: a buffer of its own, each tensor at a 128-element boundary (256 bytes in f16), so each
// can be bound alone. (Mirroring the f32 layout at half the byte offsets would put tensors at
// 128-byte boundaries, which WebGPU refuses as binding offsets; a separate layout leaves the f32
// layout — and with it every f32 result and checkpoint — exactly as it is.)
import castWgsl from '../shaders/cast_f16.wgsl?raw';
import type { GpuContext } from '../gpu/context.ts';
import { requireShaderF16 } from '../gpu/f16.ts';
import { createKernel, type Kernel } from '../gpu/kernel.ts';
import { kernelPass, type Pass } from '../gpu/pass.ts';
import { BINDING_ALIGN, createBuffer, STORAGE, Tensor } from '../gpu/tensor.ts';
import { encoderSpec } from './architecture.ts';
import type { ModelConfig } from './config.ts';
import type { FlatTensors, ParamLayout } from './param-store.ts';

/** Elements per alignment unit of the f16 copy: 256 bytes. */
const ALIGN = BINDING_ALIGN / 2;
/** Workgroups per tensor row of the cast at most (each thread then loops). */
const MAX_GROUPS_X = 1024;

/** The f16 copies' layout and the cast pipeline, shared by every copy of one model (student, teacher). */
export class F16WeightLayout {
  private constructor(
    readonly ctx: GpuContext,
    /** name → source offset in the f32 layout, destination offset here, elements. */
    readonly entries: Map<string, { src: number; dst: number; numel: number; shape: readonly number[] }>,
    readonly size: number,
    private readonly cast: Kernel,
    private readonly table: GPUBuffer,
    private readonly groupsX: number,
  ) {}

  /** The f16 layout of the named tensors of `layout` (every one a whole number of vec4s, 4-aligned in the f32 layout). */
  static async create(ctx: GpuContext, layout: ParamLayout, names: readonly string[], label = 'weights_f16'): Promise<F16WeightLayout> {
    requireShaderF16(ctx, label);
    const entries = new Map<string, { src: number; dst: number; numel: number; shape: readonly number[] }>();
    let off = 0;
    let longest = 0;
    for (const name of names) {
      const slot = layout.trainable.get(name);
      if (!slot) throw new Error(`${label}: the model has no tensor "${name}"`);
      if (slot.offset % 4 !== 0 || slot.numel % 4 !== 0) throw new Error(`${label}: "${name}" (${slot.numel} values at ${slot.offset}) is not a whole number of 4-aligned vec4s, which the cast needs`);
      entries.set(name, { src: slot.offset, dst: off, numel: slot.numel, shape: slot.spec.shape });
      longest = Math.max(longest, slot.numel / 4);
      off = Math.ceil((off + slot.numel) / ALIGN) * ALIGN;
    }
    const words = new Uint32Array(4 * Math.max(1, entries.size));
    [...entries.values()].forEach((e, i) => words.set([e.src / 4, e.dst / 4, e.numel / 4, 0], 4 * i));
    const table = createBuffer(ctx, words.byteLength, STORAGE(), `${label}.table`);
    ctx.device.queue.writeBuffer(table, 0, words);
    const cast = await createKernel(ctx, { label: 'cast_f16', code: castWgsl });
    const ys = entries.size;
    if (ys > ctx.limits.maxComputeWorkgroupsPerDimension) throw new Error(`${label}: ${ys} tensors exceed the adapter's workgroups per dimension`);
    return new F16WeightLayout(ctx, entries, Math.max(off, ALIGN), cast, table, Math.min(MAX_GROUPS_X, Math.max(1, Math.ceil(longest / 256))));
  }

  /** Refuses an f32 layout whose tensors are not where this copy's table reads them (it was planned from another configuration). */
  checkLayout(layout: ParamLayout): void {
    for (const [name, e] of this.entries) {
      const slot = layout.trainable.get(name);
      if (!slot || slot.offset !== e.src || slot.numel !== e.numel) throw new Error(`weights_f16: "${name}" is not at element ${e.src} (${e.numel} values) of this parameter layout; plan the f16 copy from the same model configuration`);
    }
  }

  /** A new f16 copy of `source` (the f32 weights of one network in the same ParamLayout); record its `cast` before reading it. */
  copyOf(source: FlatTensors, label: string): F16Weights {
    const buffer = createBuffer(this.ctx, this.size * 2, STORAGE(), label);
    const bound = this.cast.bind([this.table, source.buffer, buffer], `cast_f16 [${label}]`);
    let n = 0;
    for (const e of this.entries.values()) n += e.numel;
    const cast = kernelPass([{ kernel: bound, grid: [this.groupsX, Math.max(1, this.entries.size), 1] }], n, 6 * n);
    return new F16Weights(buffer, this.entries, label, cast);
  }
}

/** One network's f16 weight copy: `get(name)` is the f16 tensor, `cast` the pass that refreshes it from the f32 master. */
export class F16Weights {
  constructor(
    readonly buffer: GPUBuffer,
    private readonly entries: F16WeightLayout['entries'],
    readonly label: string,
    readonly cast: Pass,
  ) {}
  get(name: string): Tensor {
    const e = this.entries.get(name);
    if (!e) throw new Error(`${this.label}: no f16 copy of "${name}"`);
    return new Tensor(this.buffer, e.shape, 'f16', `${this.label}.${name}`, e.dst * 2);
  }
  destroy(): void {
    this.buffer.destroy();
  }
}

/** The encoder's convolution weights (checkpoint names), the tensors the f16 path copies. */
export function encoderConvWeightNames(config: ModelConfig): string[] {
  const spec = encoderSpec(config);
  const convs = [spec.stem, ...spec.blocks.flatMap((b) => [b.conv1, b.conv2, ...(b.downsample ? [b.downsample.conv] : [])])];
  return convs.map((c) => `encoder.${c.name}.weight`);
}
