// Element-wise layers (src/shaders/elementwise.wgsl) and the small helpers every layer host in
// src/nn shares (lane width, reduction tiles, shape checks, dummy bindings; grids and passes
// are in src/gpu/pass.ts).
//
//   Relu      forward  y = max(x, 0)                 y assigned
//             backward dx = dy·[y > 0]               dx assigned (mask from the saved output y)
//   Add       forward  y = a + b                     y assigned (the residual add)
//             backward da = dy, db = dy              both assigned (one read, two writes)
// No parameters, so no parameter gradients. Flat tensors of any shape; vec4 lanes when the
// element count is a multiple of 4. One dispatch per pass.
import elementwiseWgsl from '../shaders/elementwise.wgsl?raw';
import workgroupSumWgsl from '../shaders/workgroup_sum.wgsl?raw';
import type { GpuContext } from '../gpu/context.ts';
import { assertShape, isPositiveInt } from '../gpu/errors.ts';
import { createKernel, type Kernel } from '../gpu/kernel.ts';
import { grid1d, kernelPass, type Pass } from '../gpu/pass.ts';
import { createBuffer, numel, STORAGE, type Tensor } from '../gpu/tensor.ts';

// ------------------------------------------------------------------------------ shared helpers

/** 4 when every row of `n` values splits into whole vec4 lanes, else 1. */
export function laneWidth(...n: number[]): 1 | 4 {
  return n.every((v) => v % 4 === 0) ? 4 : 1;
}

/** The WGSL prepended to the layer shaders: the lane type V and hsum (sum of V's components). */
export function laneHeader(width: 1 | 4): string {
  return width === 4
    ? 'alias V = vec4<f32>;\nfn hsum(v: V) -> f32 { return (v.x + v.y) + (v.z + v.w); }\n'
    : 'alias V = f32;\nfn hsum(v: V) -> f32 { return v; }\n';
}

export function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * How a reduction kernel (pool.wgsl, reduce.wgsl) sums its TY row threads: the wg_sum section of
 * workgroup_sum.wgsl for the adapter — 'tree' (workgroup memory, one barrier) on GPUs, 'direct'
 * (TY = 1: no barrier and no workgroup memory in the module) on CPU emulators, where SwiftShader
 * compiles a kernel holding a barrier as a coroutine, several times slower to build.
 */
export function workgroupSum(ctx: GpuContext): { code: string; direct: boolean } {
  const direct = ctx.info.isSoftware;
  return { code: wgslVariant(workgroupSumWgsl, direct ? 'direct' : 'tree', 'workgroup_sum.wgsl'), direct };
}

/** The "// @variant NAME" section of a WGSL file of variants (up to the next section). */
export function wgslVariant(source: string, name: string, file: string): string {
  const section = source.split(/^\/\/ @variant /m).find((part) => part.startsWith(`${name}\n`));
  if (!section) throw new Error(`${file} has no "@variant ${name}" section`);
  return section.slice(section.indexOf('\n') + 1);
}

/**
 * Workgroup shape for a reduction along rows with `lanes` independent lanes across: TX lanes
 * (power of two, ≤ maxTX) × TY threads along the reduced axis, TX·TY = 256.
 */
export function reduceTile(lanes: number, maxTX = 64): { TX: number; TY: number } {
  const TX = Math.min(nextPow2(Math.max(1, lanes)), maxTX);
  return { TX, TY: 256 / TX };
}

/** Refuses a missing tensor, one of another dtype (f32 unless said: f16 activations on the f16 path) or of the wrong size, naming the layer. */
export function checkTensor(layer: string, what: string, t: Tensor | undefined, expected: number, dims = '', dtype: 'f32' | 'f16' = 'f32'): asserts t is Tensor {
  assertShape(!!t, () => `${layer}: ${what} is required (${expected} ${dtype} values${dims ? `, ${dims}` : ''})`);
  assertShape(t.dtype === dtype && t.numel === expected, () => `${layer}: ${what} ${t} should hold ${expected} ${dtype} values${dims ? ` (${dims})` : ''}`);
}

/**
 * The WGSL prepended after laneHeader for layers whose activations may be f16 (batchnorm.wgsl, pool.wgsl): the
 * storage type S of the activation bindings, converted to and from the lane type V at each load and store.
 */
export function activationHeader(width: 1 | 4, element: 'f32' | 'f16'): string {
  if (element === 'f32') return 'alias S = V;\n';
  return `enable f16;\nalias S = ${width === 4 ? 'vec4<f16>' : 'f16'};\n`;
}

/** Refuses two tensors that overlap in one buffer where one of them is written. */
export function checkDisjoint(layer: string, pairs: [string, Tensor | undefined, string, Tensor | undefined][]): void {
  for (const [na, a, nb, b] of pairs) {
    if (!a || !b || a.buffer !== b.buffer) continue;
    const overlap = a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
    assertShape(!overlap, () => `${layer}: ${na} ${a} and ${nb} ${b} overlap; this layer does not work in place`);
  }
}

/** A 16-byte storage buffer bound where a specialisation does not use a binding (one per binding:
 *  WebGPU rejects two writable bindings of one range). */
export function dummyStorage(ctx: GpuContext, label: string): GPUBuffer {
  return createBuffer(ctx, 16, STORAGE(), label);
}

export function positiveInts(layer: string, fields: Record<string, number>): void {
  for (const [k, v] of Object.entries(fields)) {
    assertShape(isPositiveInt(v), () => `${layer}: ${k} must be a positive integer, got ${v}`);
  }
}

// ------------------------------------------------------------------------------ element-wise layers

async function elementwiseKernels(ctx: GpuContext, family: string, n: number, entries: string[]): Promise<{ width: 1 | 4; kernels: Kernel[] }> {
  const width = laneWidth(n);
  const code = laneHeader(width) + elementwiseWgsl;
  const kernels = await Promise.all(entries.map((e) => createKernel(ctx, { label: `${family}.${e}`, code, entryPoint: e, constants: { NL: n / width } })));
  return { width, kernels };
}

/** A layer of two element-wise kernels (forward, backward) over tensors of one shape. */
abstract class ElementwiseLayer {
  protected constructor(
    readonly ctx: GpuContext,
    readonly shape: readonly number[],
    readonly label: string,
    protected readonly fwd: Kernel,
    /** Null when the layer was created forward-only (Add.create's `backward: false`). */
    protected readonly bwd: Kernel | null,
    readonly laneWidth: 1 | 4,
  ) {}

  protected static async kernels(ctx: GpuContext, shape: readonly number[], label: string, entries: [string] | [string, string]) {
    assertShape(shape.length > 0 && shape.every(isPositiveInt), () => `${label}: shape [${shape.join(', ')}] must be positive integers`);
    return elementwiseKernels(ctx, label, numel(shape), entries);
  }

  get numel(): number {
    return numel(this.shape);
  }

  /** Checks every tensor against the layer's shape and that each pair in `disjoint` is, then binds `kernel` to the tensors in order. */
  protected pass(kernel: Kernel | null, which: 'forward' | 'backward', tensors: [string, Tensor][], disjoint: [string, string][], flops: number, bytesPerElement: number): Pass {
    assertShape(!!kernel, () => `${this.label}: the ${which} pipeline was not compiled (created forward-only)`);
    const n = this.numel;
    const dims = this.shape.join('×');
    for (const [name, t] of tensors) checkTensor(this.label, name, t, n, dims);
    const byName = new Map(tensors);
    checkDisjoint(this.label, disjoint.map(([a, b]) => [a, byName.get(a)!, b, byName.get(b)!] as [string, Tensor, string, Tensor]));
    const k = kernel.bind(tensors.map(([, t]) => t), `${this.label}.${which}`);
    return kernelPass([{ kernel: k, grid: grid1d(this.ctx, n / this.laneWidth) }], flops, bytesPerElement * n);
  }
}

export class Relu extends ElementwiseLayer {
  /** ReLU over a tensor of this shape (any rank). */
  static async create(ctx: GpuContext, shape: readonly number[], label = 'relu'): Promise<Relu> {
    const { width, kernels } = await ElementwiseLayer.kernels(ctx, shape, label, ['relu_fwd', 'relu_bwd']);
    return new Relu(ctx, shape, label, kernels[0]!, kernels[1]!, width);
  }

  /** y = max(x, 0). */
  bindForward(x: Tensor, y: Tensor): Pass {
    return this.pass(this.fwd, 'forward', [['x', x], ['y', y]], [['x', 'y']], this.numel, 8);
  }

  /** dx = dy·[y > 0], y the forward's output (the same mask as [x > 0]). */
  bindBackward(y: Tensor, dy: Tensor, dx: Tensor): Pass {
    return this.pass(this.bwd, 'backward', [['y', y], ['dy', dy], ['dx', dx]], [['dx', 'y'], ['dx', 'dy']], this.numel, 12);
  }
}

export class Add extends ElementwiseLayer {
  /** The residual add y = a + b over tensors of this shape; `backward: false` compiles only the forward (the encoder's gradient sums). */
  static async create(ctx: GpuContext, shape: readonly number[], label = 'add', opts: { backward?: boolean } = {}): Promise<Add> {
    const { width, kernels } = await ElementwiseLayer.kernels(ctx, shape, label, opts.backward === false ? ['add_fwd'] : ['add_fwd', 'add_bwd']);
    return new Add(ctx, shape, label, kernels[0]!, kernels[1] ?? null, width);
  }

  bindForward(a: Tensor, b: Tensor, y: Tensor): Pass {
    return this.pass(this.fwd, 'forward', [['a', a], ['b', b], ['y', y]], [['y', 'a'], ['y', 'b']], this.numel, 12);
  }

  /** da = dy and db = dy (assigned). Where a planner can alias both to dy, it needs no pass. */
  bindBackward(dy: Tensor, da: Tensor, db: Tensor): Pass {
    return this.pass(this.bwd, 'backward', [['dy', dy], ['da', da], ['db', db]], [['da', 'dy'], ['db', 'dy'], ['da', 'db']], 0, 12);
  }
}
