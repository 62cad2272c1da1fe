// Float64 references of the assignment of targets to prototypes: MIRA's fixed point (Lee et al.
// 2022) and naive self-labelling. The twin of src/shaders/mira.wgsl as src/mira/assignment.ts
// runs it; checked against an independent solver in src/ref/assignment-dual.ts. Used by the
// tests, by `assign --backend cpu` and by the explorer's "verify on CPU".
//
// Every matrix is row-major B×K (rows = samples, columns = clusters / prototypes); inputs may
// be Float64Array or Float32Array (any ArrayLike<number>), outputs are Float64Array. Pure TS, no I/O.
//
// MIRA (Lee et al. 2022), with a = β/(1−β), in the log domain:
//   log k_ij = ℓ_ij/(τ(1−β)) − LSE_j(ℓ_ij/(τ(1−β)))            (k = softmax(ℓ/τ/(1−β)))
//   g⁽⁰⁾_j  = (1−β)·[LSE_i(log k_ij) − log B]                   (v⁽⁰⁾ = (mean_i k_i)^(1−β))
//   per iteration:  r_i = LSE_j(log k_ij − a·g_j)
//                   g_j ← (1−β)·[LSE_i(log k_ij − r_i) − log B]
//   targets:        log w_ij = log k_ij − a·g_j − r_i           (r_i from the same g)
// v = exp(g) is exactly the official code's v (same scale, iteration for iteration). At the
// fixed point v_j = mean_i w_ij, so Σ_j v_j = 1 there; before it, v's scale drifts: adding c to
// every g_j leaves the targets unchanged and moves the next g by β·c, so the scale error only
// decays like βⁿ. Judge convergence on the targets (delta_w), not on v.
//
// The fixed point minimises  F(W) = mean_i KL(w_i‖p_i) − β·[H(mean_i w_i) − mean_i H(w_i)],
// p = softmax(ℓ/τ) (`miraObjective`); `miraDualNewton` (src/ref/assignment-dual.ts) solves its
// convex dual by another method.

import type { IterationRecord } from '../mira/iteration-record.ts';
import { currentTargets, scalingPass, stateV, tracedPass, type ScalingState } from './scaling.ts';
import { checkBeta, checkIters, checkPositive, checkShape, logSoftmax, normaliseRowsLog, scaled, softmax, type Matrix } from './softmax.ts';

export interface MiraOptions {
  /** Teacher temperature τ_t > 0 (default 0.225). */
  tau?: number;
  /** β ∈ (0, 1), the weight of the mutual information (default 0.7). */
  beta?: number;
  /** Fixed-point iterations after v⁽⁰⁾ (default 30). */
  iters?: number;
  /** Collect one IterationRecord per iteration (costs about three more passes each). */
  trace?: boolean;
}

export interface MiraResult {
  /** B×K targets w, rows on the simplex. */
  targets: Float64Array;
  /** The same array as `targets` (the name the CLI and explorer use). */
  w: Float64Array;
  /** v = exp(g), the official code's v after the last iteration (K). */
  v: Float64Array;
  /** g = log v (K). */
  g: Float64Array;
  iters: number;
  /** One record per iteration when `trace` was asked for, else empty. */
  trace: IterationRecord[];
}

export const MIRA_REF_DEFAULTS = { tau: 0.225, beta: 0.7, iters: 30 } as const;

/** The naive self-labelling targets: softmax(ℓ/τ) (accepts τ or { tau }). */
export function naiveTargets(logits: Matrix, B: number, K: number, tau: number | { tau: number } = MIRA_REF_DEFAULTS.tau): Float64Array {
  return softmax(logits, B, K, typeof tau === 'number' ? tau : tau.tau);
}

// ------------------------------------------------------------------------------------------
// MIRA

export function miraParams(o: MiraOptions, what: string): { tau: number; beta: number; iters: number } {
  const tau = o.tau ?? MIRA_REF_DEFAULTS.tau;
  const beta = o.beta ?? MIRA_REF_DEFAULTS.beta;
  const iters = o.iters ?? MIRA_REF_DEFAULTS.iters;
  checkPositive(tau, 'τ', what);
  checkBeta(beta, what);
  checkIters(iters, what);
  return { tau, beta, iters };
}

/** log k = log softmax(ℓ/(τ(1−β))), B×K. */
export function miraLogKernel(logits: Matrix, B: number, K: number, tau: number, beta: number): Float64Array {
  return normaliseRowsLog(scaled(logits, 1 / (tau * (1 - beta))), B, K);
}

/** v⁽⁰⁾ = (mean_i k_i)^(1−β), i.e. g⁽⁰⁾ = (1−β)[LSE_i log k_ij − log B]: the state before iteration 1. */
export function miraInit(logits: Matrix, B: number, K: number, o: { tau?: number; beta?: number } = {}): ScalingState {
  checkShape(logits, B, K, 'MIRA');
  const { tau, beta } = miraParams(o, 'MIRA');
  const st: ScalingState = {
    method: 'mira',
    B,
    K,
    x: miraLogKernel(logits, B, K, tau, beta),
    a: beta / (1 - beta),
    gamma: 1 - beta,
    off: Math.log(B),
    vSign: 1,
    logP: logSoftmax(logits, B, K, tau),
    objectiveBeta: beta,
    g: new Float64Array(K),
    iter: 0,
  };
  // log k is row-normalised, so ρ = 0 here is exact: the first pass yields g⁽⁰⁾.
  scalingPass(st, true);
  return st;
}

/** One fixed-point iteration; returns its trace record. */
export function miraStep(st: ScalingState): IterationRecord {
  if (st.method !== 'mira') throw new TypeError(`miraStep: this is a ${st.method} state`);
  return tracedPass(st, false);
}

/** The targets w (B×K, a fresh array) for the current v. */
export function miraTargets(st: ScalingState): Float64Array {
  return Float64Array.from(currentTargets(st).w);
}

/** MIRA's targets after v⁽⁰⁾ and `iters` fixed-point iterations (the official algorithm). */
export function miraSolve(logits: Matrix, B: number, K: number, o: MiraOptions = {}): MiraResult {
  const { iters } = miraParams(o, 'MIRA');
  const st = miraInit(logits, B, K, o);
  const trace: IterationRecord[] = [];
  for (let n = 0; n < iters; n++) {
    if (o.trace) trace.push(miraStep(st));
    else {
      scalingPass(st, false);
      st.iter++;
    }
  }
  const targets = currentTargets(st).w;
  st.cache = undefined;
  return { targets, w: targets, v: stateV(st), g: Float64Array.from(st.g), iters, trace };
}

/** F(W) = mean_i KL(w_i‖p_i) − β·[H(mean w) − mean_i H(w_i)], p = softmax(ℓ/τ): what MIRA minimises. */
export function miraObjective(logits: Matrix, B: number, K: number, w: Matrix, o: { tau?: number; beta?: number } = {}): number {
  checkShape(logits, B, K, 'miraObjective');
  checkShape(w, B, K, 'miraObjective', 'targets');
  const { tau, beta } = miraParams(o, 'miraObjective');
  const logP = logSoftmax(logits, B, K, tau);
  let kl = 0;
  let entropy = 0;
  const col = new Float64Array(K);
  for (let i = 0; i < B * K; i++) {
    const x = w[i]!;
    col[i % K]! += x;
    if (x > 0) {
      const lx = Math.log(x);
      kl += x * (lx - logP[i]!);
      entropy -= x * lx;
    }
  }
  let marginal = 0;
  for (let j = 0; j < K; j++) {
    const m = col[j]! / B;
    if (m > 0) marginal -= m * Math.log(m);
  }
  return kl / B - beta * (marginal - entropy / B);
}

export interface MiraOptimum {
  targets: Float64Array;
  w: Float64Array;
  /**
   * mean_i w_i: the limit of the fixed point's v. The iterate's own v still carries a scale
   * error that decays only like βⁿ (the targets do not see it), so it is not returned.
   */
  v: Float64Array;
  /** log v (−Infinity for a column whose mass underflows to 0). */
  g: Float64Array;
  iters: number;
  /** max |Δw| of the last iteration. */
  deltaW: number;
  converged: boolean;
}

/**
 * A high-accuracy MIRA solution for tests: the fixed point iterated until max |Δw| < tol
 * (default 1e-14), or until the change stops shrinking for `patience` iterations (rounding
 * floor), or `maxIters`. `miraDualNewton` solves the same problem by a different method.
 */
export function miraOptimum(
  logits: Matrix,
  B: number,
  K: number,
  o: { tau?: number; beta?: number; tol?: number; maxIters?: number; patience?: number } = {},
): MiraOptimum {
  const tol = o.tol ?? 1e-14;
  const maxIters = o.maxIters ?? 100_000;
  const patience = o.patience ?? 200;
  const st = miraInit(logits, B, K, o);
  let w = currentTargets(st).w;
  let deltaW = Infinity;
  let best = Infinity;
  let sinceBest = 0;
  while (st.iter < maxIters && deltaW >= tol && sinceBest < patience) {
    scalingPass(st, false);
    st.iter++;
    const next = currentTargets(st).w;
    deltaW = 0;
    for (let i = 0; i < next.length; i++) deltaW = Math.max(deltaW, Math.abs(next[i]! - w[i]!));
    w = next;
    if (deltaW < best) {
      best = deltaW;
      sinceBest = 0;
    } else sinceBest++;
  }
  w = Float64Array.from(w);
  const v = new Float64Array(K);
  for (let i = 0; i < B * K; i++) v[i % K]! += w[i]! / B;
  return { targets: w, w, v, g: v.map(Math.log), iters: st.iter, deltaW, converged: deltaW < tol };
}
