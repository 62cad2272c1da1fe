// Optimizers over flat parameter buffers and the EMA teacher update (src/shaders/optimizer.wgsl;
// float64 references in src/ref/optimizer.ts, which states the exact formulas).
//
//   const opt = await Optimizer.create(ctx, { kind: 'lars', size, tensors });   // pipelines + tables
//   const step = opt.bind({ params, grads, momentum });                         // once per plan
//   opt.setParams({ lr, momentum: 0.9, weightDecay: 1e-6 });                    // every step, no recompile
//   step.record(encoder);                                                       // into the step's encoder
//
// SGD: 1 dispatch (one workgroup per chunk of ≤ 4096 elements of one tensor). LARS: 3 dispatches
// for all tensors (per-chunk partial sums of ‖p‖², ‖s·g‖², ‖u‖²; a per-tensor fixed-order reduce
// into the trust coefficients; the update). Parameters p and momentum buffers are updated in place;
// the gradients are only read (zero them, or let the next backward assign them, before the next
// step: the layers' parameter gradients accumulate by default). Frozen tensors (setFrozen) are
// left untouched — momentum included — as PyTorch does for p.grad = None.
//
// Ema: teacher ← m·teacher + (1 − m)·student over a flat buffer (or only given ranges of it),
// 1 dispatch; m set per step.
import optWgsl from '../shaders/optimizer.wgsl?raw';
import type { GpuContext } from '../gpu/context.ts';
import { GpuKernelError, ShapeError, assertShape } from '../gpu/errors.ts';
import { createKernel, type Kernel } from '../gpu/kernel.ts';
import { createBuffer, createTensor, readF32, type Tensor } from '../gpu/tensor.ts';
import { checkTensor, laneHeader, laneWidth } from './elementwise.ts';
import { grid1d, kernelPass, type Pass } from '../gpu/pass.ts';

/** One parameter tensor inside the flat buffers. */
export interface ParamTensor {
  name: string;
  /** First element in the flat buffers. */
  offset: number;
  length: number;
  /** Weight decay applies. */
  decay: boolean;
  /** LARS trust-ratio scaling applies. */
  trust: boolean;
  /** Not updated (e.g. the prototype head during its first epoch). */
  frozen?: boolean;
}

/** A table entry with MIRA's rule: decay and trust only for tensors of more than one dimension. */
export function paramTensor(name: string, offset: number, shape: readonly number[], frozen = false): ParamTensor {
  const length = shape.reduce((a, b) => a * b, 1);
  const multi = shape.length > 1;
  return { name, offset, length, decay: multi, trust: multi, frozen };
}

export type OptimizerKind = 'sgd' | 'lars';
export type LarsVariant = 'mira' | 'solo';

export interface OptimizerConfig {
  kind: OptimizerKind;
  /** Elements in each flat buffer (params, grads, momentum). */
  size: number;
  tensors: readonly ParamTensor[];
  /** 'mira' (default): the official MIRA code (moco-v3 LARS); 'solo': solo-learn's. */
  larsVariant?: LarsVariant;
  label?: string;
}

/** lr, momentum, weight decay and the LARS options (η, gradient scale, eps, clip): the per-step scalars, as the float64 reference takes them too. */
export interface OptimizerStepParams {
  lr: number;
  momentum: number;
  weightDecay: number;
  /** LARS trust coefficient η (default 0.001). */
  eta?: number;
  /** Gradient multiplier s (MIRA's per-group `ratio`; default 1). */
  gradScale?: number;
  /** solo-learn's eps in the trust-ratio denominator (default 1e-8). */
  eps?: number;
  /** solo-learn's clip_lars_lr (default false). */
  clip?: boolean;
}

export interface TensorTrust {
  name: string;
  /** d = a·(s·g) + b·p */
  a: number;
  b: number;
  q: number;
  applied: boolean;
  paramNorm: number;
  gradNorm: number;
  updateNorm: number;
}

export const CHUNK = 4096;
const F_DECAY = 1;
const F_TRUST = 2;
const F_SKIP = 4;
const PARAM_BYTES = 32;

export class Optimizer {
  private readonly tensors: ParamTensor[];
  private readonly chunkTable: GPUBuffer;
  private readonly tensorTable: GPUBuffer;
  private readonly params: GPUBuffer;
  /** Per chunk: (Σp², Σ(s·g)², Σu², 0). */
  private readonly partials: Tensor;
  /** Per tensor: (a, b, q, applied), (‖p‖, ‖s·g‖, ‖u‖, 0). */
  readonly coefficients: Tensor;
  private readonly chunks: number;
  private hasParams = false;

  private constructor(
    readonly ctx: GpuContext,
    readonly config: Required<OptimizerConfig>,
    private readonly kernels: { partial: Kernel | null; final: Kernel | null; update: Kernel },
  ) {
    const L = config.label;
    this.tensors = config.tensors.map((t) => ({ ...t }));
    this.chunks = this.tensors.reduce((a, t) => a + Math.ceil(t.length / CHUNK), 0);
    const tableUsage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
    this.chunkTable = createBuffer(ctx, this.chunks * 16, tableUsage, `${L}.chunks`);
    this.tensorTable = createBuffer(ctx, this.tensors.length * 16, tableUsage, `${L}.tensors`);
    this.params = createBuffer(ctx, PARAM_BYTES, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, `${L}.params`);
    this.partials = createTensor(ctx, [this.chunks, 4], 'f32', `${L}.partials`);
    this.coefficients = createTensor(ctx, [this.tensors.length, 8], 'f32', `${L}.coefficients`);
    this.writeTables();
  }

  static async create(ctx: GpuContext, config: OptimizerConfig): Promise<Optimizer> {
    const c: Required<OptimizerConfig> = { larsVariant: 'mira', label: config.kind, ...config };
    const L = c.label;
    assertShape(c.kind === 'sgd' || c.kind === 'lars', () => `${L}: kind must be 'sgd' or 'lars', got ${c.kind}`);
    assertShape(c.larsVariant === 'mira' || c.larsVariant === 'solo', () => `${L}: larsVariant must be 'mira' or 'solo', got ${c.larsVariant}`);
    assertShape(Number.isInteger(c.size) && c.size > 0, () => `${L}: size must be a positive integer, got ${c.size}`);
    assertShape(c.tensors.length > 0, () => `${L}: no parameter tensors`);
    const sorted = [...c.tensors].sort((a, b) => a.offset - b.offset);
    let end = 0;
    let prev = '';
    for (const t of sorted) {
      assertShape(Number.isInteger(t.offset) && Number.isInteger(t.length) && t.offset >= 0 && t.length > 0, () => `${L}: tensor ${t.name} has offset ${t.offset} and length ${t.length}; both must be integers, the length positive`);
      assertShape(t.offset + t.length <= c.size, () => `${L}: tensor ${t.name} [${t.offset}, ${t.offset + t.length}) runs past the flat buffers of ${c.size} elements`);
      assertShape(t.offset >= end, () => `${L}: tensors ${prev} and ${t.name} overlap`);
      end = t.offset + t.length;
      prev = t.name;
    }
    const chunks = c.tensors.reduce((a, t) => a + Math.ceil(t.length / CHUNK), 0);
    const max = ctx.limits.maxComputeWorkgroupsPerDimension;
    assertShape(chunks <= max && c.tensors.length <= max, () => `${L}: ${chunks} chunks of ${CHUNK} exceed ${max} workgroups per dimension`);
    const code = laneHeader(1) + optWgsl;
    const lars = c.kind === 'lars';
    const constants = { LARS: lars, SOLO: c.larsVariant === 'solo' };
    const [partial, final, update] = await Promise.all([
      lars ? createKernel(ctx, { label: `${L}.norms_partial`, code, entryPoint: 'norms_partial' }) : Promise.resolve(null),
      lars ? createKernel(ctx, { label: `${L}.norms_final`, code, entryPoint: 'norms_final', constants }) : Promise.resolve(null),
      createKernel(ctx, { label: `${L}.update`, code, entryPoint: 'update', constants: { LARS: lars } }),
    ]);
    return new Optimizer(ctx, c, { partial, final, update });
  }

  get label(): string {
    return this.config.label;
  }

  private flags(t: ParamTensor): number {
    return (t.decay ? F_DECAY : 0) | (t.trust ? F_TRUST : 0) | (t.frozen ? F_SKIP : 0);
  }

  private writeTables(): void {
    const chunks = new Uint32Array(this.chunks * 4);
    const tensors = new Uint32Array(this.tensors.length * 4);
    let c = 0;
    this.tensors.forEach((t, i) => {
      const first = c;
      const f = this.flags(t);
      for (let s = t.offset; s < t.offset + t.length; s += CHUNK) {
        chunks.set([i, s, Math.min(s + CHUNK, t.offset + t.length), f], 4 * c);
        c++;
      }
      tensors.set([first, c - first, f, 0], 4 * i);
    });
    this.ctx.device.queue.writeBuffer(this.chunkTable, 0, chunks);
    this.ctx.device.queue.writeBuffer(this.tensorTable, 0, tensors);
  }

  /** Freezes or unfreezes tensors (by name, index or predicate); takes effect at the next submit. */
  setFrozen(which: readonly (string | number)[] | ((t: ParamTensor) => boolean), frozen: boolean): void {
    const pick =
      typeof which === 'function'
        ? which
        : (t: ParamTensor, i: number) => which.includes(t.name) || which.includes(i);
    if (typeof which !== 'function') {
      for (const w of which) {
        const found = typeof w === 'number' ? w >= 0 && w < this.tensors.length : this.tensors.some((t) => t.name === w);
        if (!found) throw new ShapeError(`${this.label}: no parameter tensor ${typeof w === 'number' ? `#${w}` : `"${w}"`}`);
      }
    }
    this.tensors.forEach((t, i) => {
      if ((pick as (t: ParamTensor, i: number) => boolean)(t, i)) t.frozen = frozen;
    });
    this.writeTables();
  }

  /** The per-step scalars (queue.writeBuffer: ordered before the next submit). */
  setParams(p: OptimizerStepParams): void {
    const words = new Float32Array([p.lr, p.momentum, p.weightDecay, p.eta ?? 0.001, p.gradScale ?? 1, p.eps ?? 1e-8, p.clip ? 1 : 0, 0]);
    for (const [k, v] of Object.entries({ lr: p.lr, momentum: p.momentum, weightDecay: p.weightDecay, eta: words[3]!, gradScale: words[4]!, eps: words[5]! })) {
      if (!Number.isFinite(v)) throw new GpuKernelError(`${this.label}.params`, `${k} = ${v} is not finite`);
    }
    if (p.clip && this.config.kind === 'lars' && !(p.lr > 0)) throw new GpuKernelError(`${this.label}.params`, `clip divides by lr, which is ${p.lr}`);
    this.ctx.device.queue.writeBuffer(this.params, 0, words);
    this.hasParams = true;
  }

  /** Binds the flat buffers (each `size` f32); call once per plan. */
  bind(io: { params: Tensor; grads: Tensor; momentum: Tensor }): Pass {
    const L = this.label;
    const n = this.config.size;
    for (const [k, t] of Object.entries(io)) checkTensor(L, k, t, n, `the flat ${k} buffer`);
    for (const [a, b] of [['params', 'grads'], ['params', 'momentum'], ['grads', 'momentum']] as const) {
      const x = io[a];
      const y = io[b];
      const overlap = x.buffer === y.buffer && x.byteOffset < y.byteOffset + y.byteLength && y.byteOffset < x.byteOffset + x.byteLength;
      assertShape(!overlap, () => `${L}: ${a} ${x} and ${b} ${y} overlap`);
    }
    const steps: { kernel: ReturnType<Kernel['bind']>; grid: [number, number, number] }[] = [];
    if (this.kernels.partial && this.kernels.final) {
      steps.push({ kernel: this.kernels.partial.bind([io.params, io.grads, this.chunkTable, this.partials, this.params], `${L}.norms_partial`), grid: [this.chunks, 1, 1] });
      steps.push({ kernel: this.kernels.final.bind([this.tensorTable, this.partials, this.coefficients, this.params], `${L}.norms_final`), grid: [this.tensors.length, 1, 1] });
    }
    steps.push({
      kernel: this.kernels.update.bind([io.params, io.grads, io.momentum, this.chunkTable, this.coefficients, this.params], `${L}.update`),
      grid: [this.chunks, 1, 1],
    });
    const covered = this.tensors.reduce((a, t) => a + t.length, 0);
    const lars = this.config.kind === 'lars';
    const pass = kernelPass(steps, covered * (lars ? 12 : 6), 4 * covered * (lars ? 7 : 5));
    const self = this;
    return {
      get dispatches() {
        return pass.dispatches;
      },
      flops: pass.flops,
      bytes: pass.bytes,
      record(encoder, timer) {
        if (!self.hasParams) throw new GpuKernelError(L, 'step parameters were never set (call setParams first)');
        pass.record(encoder, timer);
      },
    };
  }

  /** Reads the per-tensor trust coefficients of the last LARS step (tests, the UI). */
  async readTrust(): Promise<TensorTrust[]> {
    const c = await readF32(this.ctx, this.coefficients);
    return this.tensors.map((t, i) => ({
      name: t.name,
      a: c[8 * i]!,
      b: c[8 * i + 1]!,
      q: c[8 * i + 2]!,
      applied: c[8 * i + 3]! !== 0,
      paramNorm: c[8 * i + 4]!,
      gradNorm: c[8 * i + 5]!,
      updateNorm: c[8 * i + 6]!,
    }));
  }
}

/** A range of the flat buffers the EMA updates. */
export interface EmaRange {
  offset: number;
  length: number;
}

export class Ema {
  private readonly params: GPUBuffer;
  private hasMomentum = false;

  private constructor(
    readonly ctx: GpuContext,
    readonly size: number,
    readonly label: string,
    private readonly kernel: Kernel,
    private readonly width: 1 | 4,
    /** Chunk table (tensor, start, end, 0) when only some ranges are updated. */
    private readonly chunks: { table: GPUBuffer; count: number; covered: number } | null,
  ) {
    this.params = createBuffer(ctx, 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, `${label}.params`);
  }

  /**
   * The EMA update over flat buffers of `size` elements: all of them (vec4 lanes when
   * size % 4 == 0), or only `ranges` (e.g. the parameters, not the BN running statistics that
   * share the buffer: the official code averages parameters only).
   */
  static async create(ctx: GpuContext, size: number, opts: { ranges?: readonly EmaRange[]; label?: string } = {}): Promise<Ema> {
    const label = opts.label ?? 'ema';
    assertShape(Number.isInteger(size) && size > 0, () => `${label}: size must be a positive integer, got ${size}`);
    if (!opts.ranges) {
      const width = laneWidth(size);
      const kernel = await createKernel(ctx, { label: `${label}.update`, code: laneHeader(width) + optWgsl, entryPoint: 'ema', constants: { NL: size / width } });
      return new Ema(ctx, size, label, kernel, width, null);
    }
    const sorted = [...opts.ranges].sort((a, b) => a.offset - b.offset);
    let end = 0;
    const words: number[] = [];
    for (const r of sorted) {
      assertShape(Number.isInteger(r.offset) && Number.isInteger(r.length) && r.offset >= 0 && r.length > 0, () => `${label}: range [${r.offset}, +${r.length}) must have integer offset and positive length`);
      assertShape(r.offset >= end && r.offset + r.length <= size, () => `${label}: range [${r.offset}, ${r.offset + r.length}) overlaps another or runs past ${size}`);
      end = r.offset + r.length;
      for (let s = r.offset; s < end; s += CHUNK) words.push(0, s, Math.min(s + CHUNK, end), 0);
    }
    assertShape(words.length > 0, () => `${label}: no ranges`);
    const count = words.length / 4;
    assertShape(count <= ctx.limits.maxComputeWorkgroupsPerDimension, () => `${label}: ${count} chunks exceed the workgroups per dimension`);
    const table = createBuffer(ctx, words.length * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, `${label}.chunks`);
    ctx.device.queue.writeBuffer(table, 0, new Uint32Array(words));
    const kernel = await createKernel(ctx, { label: `${label}.update_ranges`, code: laneHeader(1) + optWgsl, entryPoint: 'ema_chunks' });
    const covered = sorted.reduce((a, r) => a + r.length, 0);
    return new Ema(ctx, size, label, kernel, 1, { table, count, covered });
  }

  /** The teacher momentum m ∈ [0, 1] for the next submit. */
  setMomentum(m: number): void {
    if (!(m >= 0 && m <= 1)) throw new GpuKernelError(`${this.label}.params`, `momentum must be in [0, 1], got ${m}`);
    this.ctx.device.queue.writeBuffer(this.params, 0, new Float32Array([m, 0, 0, 0]));
    this.hasMomentum = true;
  }

  /** teacher ← m·teacher + (1 − m)·student. */
  bind(teacher: Tensor, student: Tensor): Pass {
    checkTensor(this.label, 'teacher', teacher, this.size, 'the flat teacher buffer');
    checkTensor(this.label, 'student', student, this.size, 'the flat student buffer');
    const overlap = teacher.buffer === student.buffer && teacher.byteOffset < student.byteOffset + student.byteLength && student.byteOffset < teacher.byteOffset + teacher.byteLength;
    assertShape(!overlap, () => `${this.label}: teacher ${teacher} and student ${student} overlap`);
    const n = this.chunks?.covered ?? this.size;
    const step = this.chunks
      ? { kernel: this.kernel.bind([teacher, student, this.chunks.table, this.params], `${this.label}.update_ranges`), grid: [this.chunks.count, 1, 1] as [number, number, number] }
      : { kernel: this.kernel.bind([teacher, student, this.params], `${this.label}.update`), grid: grid1d(this.ctx, this.size / this.width) };
    const pass = kernelPass([step], 3 * n, 12 * n);
    const self = this;
    return {
      dispatches: 1,
      flops: pass.flops,
      bytes: pass.bytes,
      record(encoder, timer) {
        if (!self.hasMomentum) throw new GpuKernelError(self.label, 'momentum was never set (call setMomentum first)');
        pass.record(encoder, timer);
      },
    };
  }
}
