// One-shot assignment of a host logit matrix on the GPU (for the CLI, scripts and tests):
// upload, one encoder with the whole solve (and its trace), the collapse metrics of the
// targets, one readback. The training loop uses the solver classes directly instead.
import type { GpuContext } from '../gpu/context.ts';
import { submitChecked } from '../gpu/kernel.ts';
import { createTensor, readF32, uploadTensor } from '../gpu/tensor.ts';
import { MIRA_DEFAULTS, MiraSolver, type GpuIterationRecord } from './assignment.ts';
import { AssignmentMetrics, type GpuAssignmentMetrics } from './metrics.ts';
import { SINKHORN_DEFAULTS, SinkhornSolver } from './sinkhorn.ts';
import { Softmax } from './softmax.ts';
import { checkAssignShape, checkBeta, checkFinite, checkIters, checkPositive } from './validate.ts';

export type AssignMethod = 'mira' | 'sinkhorn' | 'naive';

export interface AssignOptions {
  method: AssignMethod;
  /** τ_t (mira, naive); default 0.225. */
  tau?: number;
  /** β (mira); default 0.7. */
  beta?: number;
  /** ε (sinkhorn); default 0.05. */
  eps?: number;
  /** Iterations: default 30 for mira, 3 for sinkhorn (SwAV); unused by naive. */
  iters?: number;
  trace?: boolean;
}

export interface AssignResult {
  targets: Float32Array;
  /** One record per iteration when traced (empty for naive). */
  trace: GpuIterationRecord[];
  /** Iterations run. */
  iters: number;
  /** Wall time of the submit that holds the solve, to its completion (ms). */
  ms: number;
  metrics: GpuAssignmentMetrics;
}

/** Checks everything (shapes, finiteness, parameters) before anything is created on the GPU. */
export function checkAssignOptions(o: AssignOptions): Required<Omit<AssignOptions, 'trace'>> & { trace: boolean } {
  const tau = o.tau ?? MIRA_DEFAULTS.tau;
  const beta = o.beta ?? MIRA_DEFAULTS.beta;
  const eps = o.eps ?? SINKHORN_DEFAULTS.eps;
  const iters = o.iters ?? (o.method === 'sinkhorn' ? SINKHORN_DEFAULTS.iters : o.method === 'mira' ? MIRA_DEFAULTS.iters : 0);
  if (o.method === 'mira' || o.method === 'naive') checkPositive(tau, 'τ', o.method);
  if (o.method === 'mira') {
    checkBeta(beta, 'mira');
    checkIters(iters, 'mira');
  }
  if (o.method === 'sinkhorn') {
    checkPositive(eps, 'ε', 'sinkhorn');
    checkIters(iters, 'sinkhorn', 1);
  }
  return { method: o.method, tau, beta, eps, iters, trace: !!o.trace };
}

export async function assignOnGpu(ctx: GpuContext, logits: Float32Array, B: number, K: number, options: AssignOptions): Promise<AssignResult> {
  checkAssignShape(B, K, options.method);
  checkFinite(logits, B, K, 'logits');
  const o = checkAssignOptions(options);
  const L = uploadTensor(ctx, logits, [B, K], 'assign.logits');
  const W = createTensor(ctx, [B, K], 'f32', 'assign.targets');
  const metrics = await AssignmentMetrics.create(ctx, { B, K });
  const mplan = metrics.bind(W, undefined, 'assign.metrics');
  let trace: GpuIterationRecord[] = [];
  let ms = 0;
  const timed = async (label: string, record: (enc: GPUCommandEncoder) => void) => {
    const t0 = performance.now();
    await submitChecked(ctx, label, record);
    await ctx.device.queue.onSubmittedWorkDone();
    ms = performance.now() - t0;
  };
  const cleanup: (() => void)[] = [];
  try {
    if (o.method === 'mira') {
      const plan = (await MiraSolver.create(ctx, { B, K })).bind(L, W, 'assign.mira');
      cleanup.push(() => plan.destroy());
      plan.setParams({ tau: o.tau, beta: o.beta });
      if (o.trace) await plan.prepareTrace(o.iters);
      await timed('assign.mira', (enc) => plan.record(enc, { iters: o.iters, trace: o.trace }));
      if (o.trace) trace = await plan.readTrace();
    } else if (o.method === 'sinkhorn') {
      const plan = (await SinkhornSolver.create(ctx, { B, K })).bind(L, W, 'assign.sinkhorn');
      cleanup.push(() => plan.destroy());
      plan.setParams({ eps: o.eps });
      if (o.trace) await plan.prepareTrace(o.iters);
      await timed('assign.sinkhorn', (enc) => plan.record(enc, { iters: o.iters, trace: o.trace }));
      if (o.trace) trace = await plan.readTrace();
    } else {
      const sm = (await Softmax.create(ctx, { B, K })).bind(L, W, 'assign.naive');
      cleanup.push(() => sm.destroy());
      sm.setTemperature(o.tau);
      await timed('assign.naive', (enc) => sm.record(enc));
    }
    await submitChecked(ctx, 'assign.metrics', (enc) => mplan.record(enc));
    const [targets, m] = await Promise.all([readF32(ctx, W), mplan.read()]);
    return { targets, trace, iters: o.method === 'naive' ? 0 : o.iters, ms, metrics: m };
  } finally {
    for (const c of cleanup) c();
    mplan.destroy();
    L.buffer.destroy();
    W.buffer.destroy();
  }
}
