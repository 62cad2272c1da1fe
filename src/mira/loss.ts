// Swapped-prediction cross-entropy on the GPU (src/shaders/swapped_loss.wgsl), forward and
// backward into the student logits (`=` into each crop's gradient tensor):
//
//   two views:   L = ½[CE(w⁽¹⁾, q⁽²⁾) + CE(w⁽²⁾, q⁽¹⁾)],  CE(w, q) = mean_i −Σ_k w_ik log softmax(q_i/τ_s)_k
//   multi-crop:  L = ½ Σ_{v∈{1,2}} 1/(V−1) Σ_{c≠v} CE(w⁽ᵛ⁾, q⁽ᶜ⁾) over V = 2 + L crops: every local
//                crop predicts both global targets, each global crop the other one's target
//                (SwAV's multi-crop averaging; with no local crops it is the two-view loss).
//
// One dispatch per student crop (its gradient is written once, whatever the number of targets
// it predicts), then one deterministic reduce of the per-block loss partials into a scalar.
import code from '../shaders/swapped_loss.wgsl?raw';
import type { GpuContext } from '../gpu/context.ts';
import { ShapeError } from '../gpu/errors.ts';
import { createKernel, type BoundKernel, type Kernel, type PassTimer } from '../gpu/kernel.ts';
import { createBuffer, createTensor, readF32, type Tensor } from '../gpu/tensor.ts';
import { checkAssignShape, checkRowBlocks, checkPositive, ParamError } from './validate.ts';

const ROWS_PER_BLOCK = 8;

/** Student temperature τ_s = 0.1 (docs/ARCHITECTURE.md, the algorithm). */
export const STUDENT_TAU = 0.1;

/** One student crop: its logits, where its gradient goes, and the targets it predicts. */
export interface CrossEntropyCrop {
  logits: Tensor;
  grad: Tensor;
  /** One or two (target, weight) pairs; the weight multiplies mean_i CE(target, logits). */
  targets: { w: Tensor; weight: number }[];
}

export class CrossEntropyKernels {
  private constructor(
    readonly ctx: GpuContext,
    readonly B: number,
    readonly K: number,
    readonly rows: Kernel,
    readonly reduce: Kernel,
  ) {}

  static async create(ctx: GpuContext, shape: { B: number; K: number }): Promise<CrossEntropyKernels> {
    checkAssignShape(shape.B, shape.K, 'swapped loss');
    checkRowBlocks(ctx, shape.B, ROWS_PER_BLOCK, 'swapped loss');
    const [rows, reduce] = await Promise.all([
      createKernel(ctx, { label: 'loss.ce_rows', code, entryPoint: 'ce_rows' }),
      createKernel(ctx, { label: 'loss.reduce', code, entryPoint: 'loss_reduce' }),
    ]);
    return new CrossEntropyKernels(ctx, shape.B, shape.K, rows, reduce);
  }

  /** Binds crops (checked before anything is recorded); the scalar loss goes to `loss` (1 f32). */
  bind(crops: CrossEntropyCrop[], loss: Tensor, label = 'loss'): CrossEntropyPlan {
    const { B, K } = this;
    const n = B * K;
    if (crops.length === 0) throw new ShapeError(`${label}: no student crops`);
    const want = (t: Tensor, what: string) => {
      if (t.dtype !== 'f32' || t.numel !== n) throw new ShapeError(`${label}: ${what} ${t} should hold ${B}×${K} = ${n} f32 values`);
    };
    crops.forEach((c, i) => {
      want(c.logits, `crop ${i} logits`);
      want(c.grad, `crop ${i} gradient`);
      if (c.targets.length < 1 || c.targets.length > 2) throw new ShapeError(`${label}: crop ${i} predicts ${c.targets.length} targets; 1 or 2 are supported`);
      c.targets.forEach((t, k) => {
        want(t.w, `crop ${i} target ${k}`);
        if (!Number.isFinite(t.weight)) throw new ParamError(`${label}: crop ${i} target ${k} has weight ${t.weight}`);
      });
      if (c.grad.buffer === c.logits.buffer && c.grad.byteOffset === c.logits.byteOffset) throw new ShapeError(`${label}: crop ${i}'s gradient aliases its logits`);
    });
    if (loss.dtype !== 'f32' || loss.numel < 1) throw new ShapeError(`${label}: loss ${loss} should hold one f32`);
    return new CrossEntropyPlan(this, crops, loss, label);
  }
}

export class CrossEntropyPlan {
  private readonly params: GPUBuffer[];
  private readonly bound: BoundKernel[];
  private readonly bReduce: BoundKernel;
  private readonly parts: Tensor;
  private readonly reduceParams: GPUBuffer;
  private tauS: number | null = null;

  constructor(
    readonly kernels: CrossEntropyKernels,
    readonly crops: CrossEntropyCrop[],
    readonly loss: Tensor,
    readonly label: string,
  ) {
    const { ctx, B } = kernels;
    const nb = Math.ceil(B / ROWS_PER_BLOCK);
    this.parts = createTensor(ctx, [crops.length, nb], 'f32', `${label}.partials`);
    const U = GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST;
    this.params = crops.map((_, i) => createBuffer(ctx, 32, U, `${label}.params[${i}]`));
    this.bound = crops.map((c, i) => {
      const wb = c.targets[1]?.w ?? c.targets[0]!.w;
      return kernels.rows.bind([c.logits, c.targets[0]!.w, wb, c.grad, this.parts, this.params[i]!], `${label}.ce_rows[${i}]`);
    });
    this.reduceParams = createBuffer(ctx, 16, U, `${label}.reduce_params`);
    ctx.device.queue.writeBuffer(this.reduceParams, 0, new Uint32Array([crops.length * nb, 0, 0, 0]));
    this.bReduce = kernels.reduce.bind([this.parts, loss, this.reduceParams], `${label}.reduce`);
  }

  /** Student temperature τ_s > 0 (a uniform write; default none: call before recording). */
  setTemperature(tauS: number): void {
    checkPositive(tauS, 'τ_s', this.label);
    const { ctx, B, K } = this.kernels;
    this.crops.forEach((c, i) => {
      const buf = new ArrayBuffer(32);
      // The 1/B of the mean is folded into the weights.
      new Float32Array(buf, 0, 4).set([1 / tauS, c.targets[0]!.weight / B, (c.targets[1]?.weight ?? 0) / B, 0]);
      new Uint32Array(buf, 16, 4).set([B, K, i, 0]);
      ctx.device.queue.writeBuffer(this.params[i]!, 0, buf);
    });
    this.tauS = tauS;
  }

  record(encoder: GPUCommandEncoder, timer?: PassTimer): void {
    if (this.tauS === null) throw new ParamError(`${this.label}: call setTemperature(τ_s) before recording`);
    const nb = Math.ceil(this.kernels.B / ROWS_PER_BLOCK);
    for (const b of this.bound) b.record(encoder, [nb], timer);
    this.bReduce.record(encoder, [1], timer);
  }

  /** Reads the scalar loss (after the submit that holds `record`). */
  async readLoss(): Promise<number> {
    return (await readF32(this.kernels.ctx, this.loss))[0]!;
  }

  destroy(): void {
    this.parts.buffer.destroy();
    this.reduceParams.destroy();
    for (const p of this.params) p.destroy();
  }
}

/** The two-view swapped loss: crop 1 predicts w⁽²⁾, crop 2 predicts w⁽¹⁾, each with weight ½. */
export function swappedLossCrops(w: [Tensor, Tensor], q: [Tensor, Tensor], grads: [Tensor, Tensor]): CrossEntropyCrop[] {
  return [
    { logits: q[0], grad: grads[0], targets: [{ w: w[1], weight: 0.5 }] },
    { logits: q[1], grad: grads[1], targets: [{ w: w[0], weight: 0.5 }] },
  ];
}

/**
 * Multi-crop: the two global crops as in the swapped loss and every local crop predicting both
 * global targets, all weighted 1/(2(V−1)) with V = 2 + locals.length crops.
 */
export function multiCropLossCrops(w: [Tensor, Tensor], globals: [Tensor, Tensor], globalGrads: [Tensor, Tensor], locals: Tensor[], localGrads: Tensor[]): CrossEntropyCrop[] {
  if (locals.length !== localGrads.length) throw new ShapeError(`multi-crop loss: ${locals.length} local crops but ${localGrads.length} gradient tensors`);
  const V = 2 + locals.length;
  const c = 1 / (2 * (V - 1));
  return [
    { logits: globals[0], grad: globalGrads[0], targets: [{ w: w[1], weight: c }] },
    { logits: globals[1], grad: globalGrads[1], targets: [{ w: w[0], weight: c }] },
    ...locals.map((q, i) => ({ logits: q, grad: localGrads[i]!, targets: [{ w: w[0], weight: c }, { w: w[1], weight: c }] })),
  ];
}
