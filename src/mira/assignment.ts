// MIRA pseudo-labelling on the GPU (docs/ARCHITECTURE.md, the algorithm): the fixed point of
//   v ← [ mean_i ( k_i / Σ_j k_ij v_j^(−a) ) ]^(1−β),  k = softmax(ℓ/(τ(1−β))),  a = β/(1−β),
// in the log domain (src/shaders/mira.wgsl), and the targets w_ij ∝ k_ij v_j^(−a).
//
//   const solver = await MiraSolver.create(ctx, { B, K });      // pipelines, once per shape
//   const plan = solver.bind(logits, targets);                   // buffers + bind groups, once
//   plan.setParams({ tau: 0.225, beta: 0.7 });                   // queue.writeBuffer, no recompile
//   plan.record(encoder, { iters: 30 });                         // into the caller's encoder
//
// Per iteration: one row kernel (column scale, row LSE, per-block column partials) and one
// column kernel (deterministic reduce into g = log v); all iterations in one encoder with no
// readback. With `trace`, two more small kernels per iteration write one record each into a
// GPU buffer, read once at the end (`readTrace`). `step()` is the explorer's "one more
// iteration": one submit, one readback of K + 8 floats.
import type { GpuContext } from '../gpu/context.ts';
import { submitChecked, type PassTimer } from '../gpu/kernel.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { ScalingKernels, ScalingPlan, type GpuIterationRecord, type ScalingParams } from './scaling.ts';
import { checkBeta, checkIters, checkPositive } from './validate.ts';

export type { GpuIterationRecord } from './scaling.ts';

/** Defaults of the official code (docs/ARCHITECTURE.md, the algorithm): τ_t = 0.225, β = 0.7 (the CLI's default), 30 iterations. */
export const MIRA_DEFAULTS = { tau: 0.225, beta: 0.7, iters: 30 } as const;

export interface MiraParams {
  /** Teacher temperature τ_t > 0. */
  tau: number;
  /** β ∈ (0, 1): the weight of the mutual-information term. */
  beta: number;
}

export interface MiraRecordOptions {
  /** Fixed-point iterations after the initial v⁽⁰⁾ (default 30). */
  iters?: number;
  /** Write one trace record per iteration into the plan's trace buffer. */
  trace?: boolean;
}

/** The scalars of the log-domain iteration for MIRA with (τ, β) on B rows. */
export function miraScalingParams(p: MiraParams, B: number): ScalingParams {
  checkBeta(p.beta, 'MIRA');
  checkPositive(p.tau, 'τ', 'MIRA');
  const om = 1 - p.beta;
  return { s: 1 / (p.tau * om), a: p.beta / om, gamma: om, off: Math.log(B), invTau: 1 / p.tau, beta: p.beta, vSign: 1, shiftG: false, compensated: false };
}

export class MiraSolver {
  private constructor(readonly kernels: ScalingKernels) {}

  static async create(ctx: GpuContext, shape: { B: number; K: number }): Promise<MiraSolver> {
    return new MiraSolver(await ScalingKernels.create(ctx, shape.B, shape.K, 'MIRA'));
  }

  get B(): number {
    return this.kernels.B;
  }
  get K(): number {
    return this.kernels.K;
  }

  /** Binds B×K f32 logits (read) and targets (written); checks sizes before anything runs. */
  bind(logits: Tensor, targets: Tensor, label = 'mira'): MiraPlan {
    return new MiraPlan(new ScalingPlan(this.kernels, logits, targets, label));
  }
}

export class MiraPlan {
  private params: MiraParams | null = null;
  private stepped = false;

  constructor(readonly plan: ScalingPlan) {}

  get B(): number {
    return this.plan.B;
  }
  get K(): number {
    return this.plan.K;
  }
  /** v = exp(g): MIRA's column scale after the last recorded iteration (K floats). */
  get v(): Tensor {
    return this.plan.v;
  }
  /** g = log v. */
  get g(): Tensor {
    return this.plan.g;
  }
  get targets(): Tensor {
    return this.plan.targets;
  }

  /** New τ/β for the next submit (a uniform write; no recompilation). Throws on bad values. */
  setParams(p: MiraParams): void {
    this.plan.writeParams(miraScalingParams(p, this.B), true);
    this.params = { ...p };
  }

  get currentParams(): MiraParams | null {
    return this.params;
  }

  /** Sizes the trace buffer (call before recording a traced solve of `iters` iterations). */
  prepareTrace(iters: number): Promise<void> {
    return this.plan.prepareTrace(iters);
  }

  /** g ← 0, then the pass that yields v⁽⁰⁾ = (mean_i k_i)^(1−β). */
  recordInit(encoder: GPUCommandEncoder, timer?: PassTimer): void {
    this.plan.recordReset(encoder);
    this.plan.recordPass(encoder, { first: true }, timer);
  }

  /** One fixed-point iteration (optionally traced). */
  recordIteration(encoder: GPUCommandEncoder, trace = false, timer?: PassTimer): void {
    this.plan.recordPass(encoder, { trace }, timer);
  }

  recordTargets(encoder: GPUCommandEncoder, timer?: PassTimer): void {
    this.plan.recordTargets(encoder, timer);
  }

  /** The whole solve: init, `iters` iterations, targets — no readback. */
  record(encoder: GPUCommandEncoder, opts: MiraRecordOptions = {}, timer?: PassTimer): void {
    const iters = opts.iters ?? MIRA_DEFAULTS.iters;
    checkIters(iters, 'MIRA');
    if (opts.trace && this.plan.traceCapacity < iters) {
      throw new RangeError(`MIRA: trace capacity ${this.plan.traceCapacity} < ${iters} iterations; await prepareTrace(${iters}) first`);
    }
    this.recordInit(encoder, timer);
    for (let n = 0; n < iters; n++) this.recordIteration(encoder, !!opts.trace, timer);
    this.recordTargets(encoder, timer);
    this.stepped = false;
  }

  /** Records and submits a whole solve (error-checked) and returns the trace if asked for. */
  async solve(opts: MiraRecordOptions = {}): Promise<GpuIterationRecord[]> {
    const iters = opts.iters ?? MIRA_DEFAULTS.iters;
    if (opts.trace) await this.prepareTrace(iters);
    await submitChecked(this.plan.ctx, 'mira.solve', (enc) => this.record(enc, opts));
    return opts.trace ? this.plan.readTrace() : [];
  }

  /** The records traced since the last init (one readback). */
  readTrace(): Promise<GpuIterationRecord[]> {
    return this.plan.readTrace();
  }

  /**
   * The explorer's "one more iteration": the first call after `reset()` (or a solve) also
   * records the init; each call submits one iteration, its trace kernels and (with `targets`)
   * the targets, and reads back only that iteration's record (K + 8 floats). After
   * `setParams` the next step continues from the current v with the new τ/β; call `reset()`
   * to start again from v⁽⁰⁾. Await each step before the next.
   */
  async step(opts: { targets?: boolean } = {}): Promise<GpuIterationRecord> {
    const first = !this.stepped;
    if (first) {
      await this.plan.prepareTrace(Math.max(64, this.plan.traceCapacity));
      const enc = this.plan.ctx.device.createCommandEncoder({ label: 'mira.step_init' });
      this.recordInit(enc);
      this.plan.ctx.device.queue.submit([enc.finish()]);
      this.stepped = true;
    }
    return this.plan.step({ first: false, targets: opts.targets });
  }

  /** The next `step()` starts again from v⁽⁰⁾. */
  reset(): void {
    this.stepped = false;
  }

  destroy(): void {
    this.plan.destroy();
  }
}
