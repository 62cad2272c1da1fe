// SeLa's training objective on the GPU (src/shaders/sela_loss.wgsl): the cross-entropy of the
// student logits q against one hard label per image and head, forward and backward:
//
//   L = 1/H Σ_h mean_i CE(one-hot(y_hi), softmax(q_hi/τ_s)),   ∂L/∂q assigned (=) into `grad`.
//
// q is [B][H][K] (the H heads' logits side by side in each row: the prototype GEMM's B×(H·K)
// output), labels [B][H] u32 — a batch's rows of the N×H label table (labels.npy). One dispatch for all heads, then one deterministic
// reduce into out = [loss, bad labels]: a label ≥ K is not a class, adds nothing to the loss
// and is counted, so the host can refuse the batch (`readLoss` throws naming the count).
import code from '../shaders/sela_loss.wgsl?raw';
import type { GpuContext } from '../gpu/context.ts';
import { GpuKernelError, ShapeError } from '../gpu/errors.ts';
import { createKernel, type BoundKernel, type Kernel, type PassTimer } from '../gpu/kernel.ts';
import { createBuffer, createTensor, readF32, type Tensor } from '../gpu/tensor.ts';
import { checkAssignShape, checkPositive, ParamError } from './validate.ts';

const ROWS_PER_BLOCK = 8;

export interface SelaLossShape {
  /** Images in the batch. */
  B: number;
  /** Classes (prototypes) per head. */
  K: number;
  /** Heads, each with its own labels (SeLa's CIFAR recipe uses 10); default 1. */
  H?: number;
}

export class SelaLossKernels {
  private constructor(
    readonly ctx: GpuContext,
    readonly B: number,
    readonly K: number,
    readonly H: number,
    readonly rows: Kernel,
    readonly reduce: Kernel,
  ) {}

  static async create(ctx: GpuContext, shape: SelaLossShape): Promise<SelaLossKernels> {
    const H = shape.H ?? 1;
    checkAssignShape(shape.B, shape.K, 'SeLa loss');
    if (!Number.isInteger(H) || H < 1) throw new ShapeError(`SeLa loss: the number of heads H must be an integer ≥ 1, got ${H}`);
    const nb = Math.ceil(shape.B / ROWS_PER_BLOCK);
    const max = ctx.limits.maxComputeWorkgroupsPerDimension;
    if (nb > max || H > max) throw new ShapeError(`SeLa loss: B = ${shape.B} (${nb} row blocks) × H = ${H} is over this adapter's ${max} workgroups per dimension`);
    const [rows, reduce] = await Promise.all([
      createKernel(ctx, { label: 'sela_loss.ce_rows', code, entryPoint: 'ce_rows' }),
      createKernel(ctx, { label: 'sela_loss.reduce', code, entryPoint: 'loss_reduce' }),
    ]);
    return new SelaLossKernels(ctx, shape.B, shape.K, H, rows, reduce);
  }

  /** logits and grad B×H×K f32 (B rows of H·K), labels B×H u32; `out` (2 f32: loss, bad labels) is created unless given. */
  bind(io: { logits: Tensor; labels: Tensor; grad: Tensor; out?: Tensor }, label = 'sela_loss'): SelaLossPlan {
    const { B, K, H } = this;
    const n = H * B * K;
    for (const [t, what] of [
      [io.logits, 'logits'],
      [io.grad, 'gradient'],
    ] as const) {
      if (t.dtype !== 'f32' || t.numel !== n) throw new ShapeError(`${label}: ${what} ${t} should hold B×H×K = ${B}×${H}×${K} = ${n} f32 values`);
    }
    if ((io.labels.dtype !== 'u32' && io.labels.dtype !== 'i32') || io.labels.numel !== B * H) throw new ShapeError(`${label}: labels ${io.labels} should hold B×H = ${B}×${H} = ${B * H} u32 values`);
    if (io.grad.buffer === io.logits.buffer && io.grad.byteOffset === io.logits.byteOffset) throw new ShapeError(`${label}: the gradient aliases the logits`);
    const out = io.out ?? createTensor(this.ctx, [2], 'f32', `${label}.out`);
    if (out.dtype !== 'f32' || out.numel < 2) throw new ShapeError(`${label}: out ${out} should hold two f32 (loss, bad labels)`);
    return new SelaLossPlan(this, io.logits, io.labels, io.grad, out, label);
  }
}

export class SelaLossPlan {
  private readonly params: GPUBuffer;
  private readonly parts: Tensor;
  private readonly bRows: BoundKernel;
  private readonly bReduce: BoundKernel;
  private tauS: number | null = null;

  constructor(
    readonly kernels: SelaLossKernels,
    readonly logits: Tensor,
    readonly labels: Tensor,
    readonly grad: Tensor,
    readonly out: Tensor,
    readonly label: string,
  ) {
    const { ctx, B, H } = kernels;
    const nb = Math.ceil(B / ROWS_PER_BLOCK);
    this.parts = createTensor(ctx, [H * nb, 2], 'f32', `${label}.partials`);
    this.params = createBuffer(ctx, 32, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, `${label}.params`);
    this.bRows = kernels.rows.bind([logits, labels, grad, this.parts, this.params], `${label}.ce_rows`);
    this.bReduce = kernels.reduce.bind([this.parts, out, this.params], `${label}.reduce`);
  }

  /** τ_s > 0 (a uniform write; call before the first record). */
  setTemperature(tauS: number): void {
    checkPositive(tauS, 'τ_s', this.label);
    const { B, K, H } = this.kernels;
    const buf = new ArrayBuffer(32);
    new Float32Array(buf, 0, 2).set([1 / tauS, 1 / (H * B)]);
    new Uint32Array(buf, 8, 4).set([B, K, H, Math.ceil(B / ROWS_PER_BLOCK)]);
    this.kernels.ctx.device.queue.writeBuffer(this.params, 0, buf);
    this.tauS = tauS;
  }

  get temperature(): number | null {
    return this.tauS;
  }

  record(encoder: GPUCommandEncoder, timer?: PassTimer): void {
    if (this.tauS === null) throw new ParamError(`${this.label}: call setTemperature(τ_s) before recording`);
    this.bRows.record(encoder, [Math.ceil(this.kernels.B / ROWS_PER_BLOCK), this.kernels.H], timer);
    this.bReduce.record(encoder, [1], timer);
  }

  /** The loss (after the submit that holds `record`); throws when some label was ≥ K. */
  async readLoss(): Promise<number> {
    const [loss, bad] = await readF32(this.kernels.ctx, this.out);
    if (bad! > 0) throw new GpuKernelError(this.label, `${bad} label(s) in this batch are ≥ K = ${this.kernels.K}; labels must be class indices 0…${this.kernels.K - 1}`);
    return loss!;
  }

  destroy(): void {
    this.parts.buffer.destroy();
    this.params.destroy();
  }
}
