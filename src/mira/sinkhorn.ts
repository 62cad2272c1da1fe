// Sinkhorn-Knopp on the GPU, in the log domain, with the same row/column kernels as MIRA
// (src/shaders/mira.wgsl with a = 1, γ = 1):
//
// SwAV (docs/ARCHITECTURE.md, the algorithm): Q = exp(ℓ/ε)ᵀ, Q /= ΣQ, `iters` times {prototype rows /= their sum, /= K;
//   sample columns /= their sum, /= B}, Q ×= B. With log Q_ij = ℓ_ij/ε + u_j + r_i this is
//   u_j = −log K − LSE_i(ℓ_ij/ε + r_i), r_i = −log B − LSE_j(ℓ_ij/ε + u_j) starting from r = 0
//   (the global normalisation only shifts u), and the targets are q_i = softmax_j(ℓ_ij/ε + u_j).
//   In float64 the exp overflows for ℓ/ε ≳ 709 (logits ≥ 80 at ε = 0.05 are near it in
//   float32 at once); the log domain never forms exp(ℓ/ε). Default: 3 iterations, ε = 0.05.
//
// SeLa (Asano et al. 2020): P = p^λ over a bank of N rows (p = softmax of the logits, formed
//   in the log domain on the GPU, or log p given), the same alternating scaling from c = 1/N,
//   iterated until Σ_i |c_i/c'_i − 1| is below a tolerance (checked every `checkEvery`
//   iterations, one 4-byte readback each), then hard labels argmax_k of the scaled P
//   (src/shaders/sinkhorn.wgsl).
import sinkhornCode from '../shaders/sinkhorn.wgsl?raw';
import type { GpuContext } from '../gpu/context.ts';
import { GpuKernelError, ShapeError } from '../gpu/errors.ts';
import { createKernel, submitChecked, type BoundKernel, type Kernel, type PassTimer } from '../gpu/kernel.ts';
import { createTensor, type Tensor } from '../gpu/tensor.ts';
import { Softmax, type SoftmaxBound } from './softmax.ts';
import { ROWS_PER_BLOCK, ScalingKernels, ScalingPlan, type GpuIterationRecord, type ScalingParams } from './scaling.ts';
import { checkIters, checkPositive, ParamError } from './validate.ts';

/** SwAV's defaults: ε = 0.05, 3 iterations. */
export const SINKHORN_DEFAULTS = { eps: 0.05, iters: 3 } as const;
/** SeLa's defaults: λ = 10 (CIFAR), tolerance 0.1 on Σ_i |c_i/c_i' − 1| (SeLa's own; float32
 *  rounding puts a floor of about 1e-6·N under this sum), checked every 10 iterations. */
export const SELA_DEFAULTS = { lambda: 10, tol: 0.1, checkEvery: 10, maxIters: 1000 } as const;

/** The scalars of the log-domain iteration for SwAV's Sinkhorn with ε on B×K. */
export function sinkhornScalingParams(eps: number, B: number, K: number): ScalingParams {
  checkPositive(eps, 'ε', 'Sinkhorn-Knopp');
  // g = −u; off = log B − log K makes g exactly −log of SwAV's prototype scaling.
  return { s: 1 / eps, a: 1, gamma: 1, off: Math.log(B) - Math.log(K), invTau: 1 / eps, beta: 0, vSign: -1, shiftG: true, compensated: true };
}

export interface SinkhornRecordOptions {
  /** Iterations (each a prototype then a sample normalisation); default 3. */
  iters?: number;
  trace?: boolean;
}

export class SinkhornSolver {
  private constructor(readonly kernels: ScalingKernels) {}

  static async create(ctx: GpuContext, shape: { B: number; K: number }): Promise<SinkhornSolver> {
    return new SinkhornSolver(await ScalingKernels.create(ctx, shape.B, shape.K, 'Sinkhorn-Knopp'));
  }

  get B(): number {
    return this.kernels.B;
  }
  get K(): number {
    return this.kernels.K;
  }

  bind(logits: Tensor, targets: Tensor, label = 'sinkhorn'): SinkhornPlan {
    return new SinkhornPlan(new ScalingPlan(this.kernels, logits, targets, label));
  }
}

export class SinkhornPlan {
  private stepped = false;
  private eps: number | null = null;

  constructor(readonly plan: ScalingPlan) {}

  get B(): number {
    return this.plan.B;
  }
  get K(): number {
    return this.plan.K;
  }
  get targets(): Tensor {
    return this.plan.targets;
  }
  /** u: the log prototype scaling after the last recorded iteration (K), as the reference's
   *  `u` (q_i = softmax_j(ℓ_ij/ε + u_j)); exp(u) itself can overflow. */
  get u(): Tensor {
    return this.plan.v;
  }

  setParams(p: { eps: number }): void {
    this.plan.writeParams(sinkhornScalingParams(p.eps, this.B, this.K), false);
    this.eps = p.eps;
  }

  get currentEps(): number | null {
    return this.eps;
  }

  prepareTrace(iters: number): Promise<void> {
    return this.plan.prepareTrace(iters);
  }

  /** Iteration n ≥ 1: the prototype update (the first from r = 0), then the sample update. */
  recordIteration(encoder: GPUCommandEncoder, first: boolean, trace = false, timer?: PassTimer): void {
    if (first) this.plan.recordReset(encoder);
    this.plan.recordPass(encoder, { first, trace }, timer);
  }

  recordTargets(encoder: GPUCommandEncoder, timer?: PassTimer): void {
    this.plan.recordTargets(encoder, timer);
  }

  record(encoder: GPUCommandEncoder, opts: SinkhornRecordOptions = {}, timer?: PassTimer): void {
    const iters = opts.iters ?? SINKHORN_DEFAULTS.iters;
    checkIters(iters, 'Sinkhorn-Knopp', 1);
    if (opts.trace && this.plan.traceCapacity < iters) {
      throw new RangeError(`Sinkhorn-Knopp: trace capacity ${this.plan.traceCapacity} < ${iters} iterations; await prepareTrace(${iters}) first`);
    }
    for (let n = 0; n < iters; n++) this.recordIteration(encoder, n === 0, !!opts.trace, timer);
    this.recordTargets(encoder, timer);
    this.stepped = false;
  }

  async solve(opts: SinkhornRecordOptions = {}): Promise<GpuIterationRecord[]> {
    const iters = opts.iters ?? SINKHORN_DEFAULTS.iters;
    if (opts.trace) await this.prepareTrace(iters);
    await submitChecked(this.plan.ctx, 'sinkhorn.solve', (enc) => this.record(enc, opts));
    return opts.trace ? this.plan.readTrace() : [];
  }

  readTrace(): Promise<GpuIterationRecord[]> {
    return this.plan.readTrace();
  }

  /** One more iteration (the first after `reset()` starts from r = 0), traced and read back. */
  async step(opts: { targets?: boolean } = {}): Promise<GpuIterationRecord> {
    const first = !this.stepped;
    this.stepped = true;
    return this.plan.step({ first, targets: opts.targets });
  }

  reset(): void {
    this.stepped = false;
  }

  destroy(): void {
    this.plan.destroy();
  }
}

/**
 * SeLa's input when it is probabilities: log max(p, 1e-300) as float32 (−690.8 for p = 0, as the
 * float64 reference clamps), to bind as the solver's logits — λ·log p is then exactly P's log.
 */
export function selaLogProbabilities(p: ArrayLike<number>): Float32Array {
  const out = new Float32Array(p.length);
  for (let i = 0; i < out.length; i++) {
    const x = p[i]!;
    if (!(x >= 0) || !Number.isFinite(x)) throw new ParamError(`SeLa: probability ${i} is ${x}; probabilities must be finite and ≥ 0`);
    out[i] = Math.log(Math.max(x, 1e-300));
  }
  return out;
}

export interface SelaOptions {
  /** Stop when Σ_i |c_i/c'_i − 1| < tol (default 0.1, SeLa's). */
  tol?: number;
  /** Check every this many iterations (default 10): one readback of one float each. */
  checkEvery?: number;
  /** Give up after this many iterations (default 1000). */
  maxIters?: number;
}

export interface SelaResult {
  iters: number;
  /** The last measured Σ_i |c_i/c'_i − 1|. */
  change: number;
  converged: boolean;
  /** The measure at each check: [iteration, change]. */
  checks: [number, number][];
}

/**
 * SeLa's self-labelling over a bank of N rows: Sinkhorn-Knopp on P = p^λ, iterated to a
 * tolerance, then hard labels. Reuses the scaling kernels; adds sinkhorn.wgsl's three and a
 * log-softmax when given logits.
 */
export class SelaSolver {
  private constructor(
    readonly kernels: ScalingKernels,
    readonly change: Kernel,
    readonly reduce: Kernel,
    readonly labels: Kernel,
    readonly logSoftmax: Softmax,
  ) {}

  static async create(ctx: GpuContext, shape: { N: number; K: number }): Promise<SelaSolver> {
    const kernels = await ScalingKernels.create(ctx, shape.N, shape.K, 'SeLa');
    const logSoftmax = await Softmax.create(ctx, { B: shape.N, K: shape.K, log: true });
    const [change, reduce, labels] = await Promise.all([
      createKernel(ctx, { label: 'sela.change', code: sinkhornCode, entryPoint: 'sela_change' }),
      createKernel(ctx, { label: 'sela.change_reduce', code: sinkhornCode, entryPoint: 'change_reduce' }),
      createKernel(ctx, { label: 'sela.labels', code: sinkhornCode, entryPoint: 'labels' }),
    ]);
    return new SelaSolver(kernels, change, reduce, labels, logSoftmax);
  }

  get N(): number {
    return this.kernels.B;
  }
  get K(): number {
    return this.kernels.K;
  }

  /**
   * input N×K f32 (read): `logits` (default; p = softmax(logits), whose log the plan forms on
   * the GPU into a scratch N×K) or `log-probs` (log p itself, e.g. selaLogProbabilities(p)).
   * labels N u32 and targets N×K f32 (the soft assignment) are written.
   */
  bind(input: Tensor, labels: Tensor, targets: Tensor, opts: { input?: 'logits' | 'log-probs'; label?: string } = {}): SelaPlan {
    const label = opts.label ?? 'sela';
    const { N, K } = this;
    if (input.dtype !== 'f32' || input.numel !== N * K) throw new ShapeError(`${label}: input ${input} should hold ${N}×${K} = ${N * K} f32 values`);
    if (labels.dtype !== 'u32' || labels.numel !== N) throw new ShapeError(`${label}: labels ${labels} should hold ${N} u32 values`);
    if ((opts.input ?? 'logits') === 'log-probs') return new SelaPlan(this, new ScalingPlan(this.kernels, input, targets, label), labels, label, null);
    // SeLa's P = p^λ: the first prototype step sees λ·log p unscaled per row, so logits must
    // be turned into log-probabilities first (a row constant matters there, nowhere else).
    const logp = createTensor(this.kernels.ctx, [N, K], 'f32', `${label}.log_p`);
    const ls = this.logSoftmax.bind(input, logp, `${label}.log_softmax`);
    ls.setTemperature(1);
    return new SelaPlan(this, new ScalingPlan(this.kernels, logp, targets, label), labels, label, ls);
  }
}

export class SelaPlan {
  private readonly part: Tensor;
  private readonly out: Tensor;
  private readonly bChange: BoundKernel;
  private readonly bReduce: BoundKernel;
  private readonly bLabels: BoundKernel;
  private lambda: number | null = null;

  constructor(
    readonly solver: SelaSolver,
    readonly plan: ScalingPlan,
    readonly labels: Tensor,
    readonly label: string,
    private readonly logSoftmax: SoftmaxBound | null,
  ) {
    const ctx = plan.ctx;
    const nb = Math.ceil(plan.B / ROWS_PER_BLOCK);
    this.part = createTensor(ctx, [nb], 'f32', `${label}.change_partials`);
    this.out = createTensor(ctx, [4], 'f32', `${label}.change`);
    const P = plan.paramsBuffer;
    this.bChange = solver.change.bind([plan.logits, plan.rmax, plan.g, plan.gPrev, this.part, P], `${label}.change`);
    this.bReduce = solver.reduce.bind([this.part, this.out, P], `${label}.change_reduce`);
    this.bLabels = solver.labels.bind([plan.logits, plan.rmax, plan.g, labels, P], `${label}.labels`);
  }

  get targets(): Tensor {
    return this.plan.targets;
  }

  /** λ > 0: P = p^λ. */
  setParams(p: { lambda: number }): void {
    checkPositive(p.lambda, 'λ', 'SeLa');
    const { B, K } = this.plan;
    this.plan.writeParams({ s: p.lambda, a: 1, gamma: 1, off: Math.log(B) - Math.log(K), invTau: 1, beta: 0, vSign: -1, shiftG: true, compensated: true }, false);
    this.lambda = p.lambda;
  }

  /** Records `n` iterations (the first from c = const when `first`). */
  recordIterations(encoder: GPUCommandEncoder, n: number, first: boolean, timer?: PassTimer): void {
    for (let k = 0; k < n; k++) {
      if (first && k === 0) this.plan.recordReset(encoder);
      this.plan.recordPass(encoder, { first: first && k === 0 }, timer);
    }
  }

  /** The change measure of the last iteration into `out[0]`. */
  recordChange(encoder: GPUCommandEncoder, timer?: PassTimer): void {
    this.bChange.record(encoder, [Math.ceil(this.plan.B / ROWS_PER_BLOCK)], timer);
    this.bReduce.record(encoder, [1], timer);
  }

  /** Hard labels (and soft targets) from the current scaling. */
  recordLabels(encoder: GPUCommandEncoder, timer?: PassTimer): void {
    this.bLabels.record(encoder, [Math.ceil(this.plan.B / ROWS_PER_BLOCK)], timer);
    this.plan.recordTargets(encoder, timer);
  }

  /** Iterates to the tolerance (one submit and one 4-byte readback per check), then labels. */
  async solve(opts: SelaOptions = {}): Promise<SelaResult> {
    if (this.lambda === null) throw new GpuKernelError(this.label, 'call setParams({ lambda }) first');
    const tol = opts.tol ?? SELA_DEFAULTS.tol;
    const every = opts.checkEvery ?? SELA_DEFAULTS.checkEvery;
    const maxIters = opts.maxIters ?? SELA_DEFAULTS.maxIters;
    checkPositive(tol, 'the tolerance', 'SeLa');
    checkIters(every, 'SeLa (checkEvery)', 1);
    checkIters(maxIters, 'SeLa (maxIters)', 1);
    const { device } = this.plan.ctx;
    const checks: [number, number][] = [];
    let iters = 0;
    let change = Infinity;
    while (iters < maxIters) {
      // The first measure needs two sample scalings from the iteration: never at iteration 1
      // (whose "previous" c is the constant 1/N, which g_prev = 0 does not describe).
      const n = Math.min(iters === 0 ? Math.max(every, 2) : every, maxIters - iters);
      device.pushErrorScope('validation');
      const enc = device.createCommandEncoder({ label: `${this.label}.iterate` });
      if (iters === 0) this.logSoftmax?.record(enc);
      this.recordIterations(enc, n, iters === 0);
      iters += n;
      this.recordChange(enc);
      const data = await this.plan.copyOut(this.out.buffer, this.out.byteOffset, 4, enc);
      const err = await device.popErrorScope();
      if (err) throw new GpuKernelError(`${this.label}.iterate`, `validation error: ${err.message}`);
      change = data[0]!;
      checks.push([iters, change]);
      if (change < tol) break;
    }
    await submitChecked(this.plan.ctx, `${this.label}.labels`, (enc) => this.recordLabels(enc));
    return { iters, change, converged: change < tol, checks };
  }

  /** Records the whole solve for a fixed number of iterations (no tolerance, no readback). */
  record(encoder: GPUCommandEncoder, iters: number, timer?: PassTimer): void {
    checkIters(iters, 'SeLa', 1);
    this.logSoftmax?.record(encoder, timer);
    this.recordIterations(encoder, iters, true, timer);
    this.recordLabels(encoder, timer);
  }

  destroy(): void {
    this.part.buffer.destroy();
    this.out.buffer.destroy();
    if (this.logSoftmax) {
      this.logSoftmax.destroy();
      this.plan.logits.buffer.destroy();
    }
    this.plan.destroy();
  }
}
