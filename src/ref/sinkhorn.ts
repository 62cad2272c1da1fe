// Float64 references of Sinkhorn-Knopp: SwAV's (a few iterations over one batch, soft targets)
// and SeLa's (Asano et al. 2020: over a whole bank of predictions, to a tolerance, hard labels).
// The twins of src/shaders/sinkhorn.wgsl and mira.wgsl as src/mira/sinkhorn.ts runs them.
//
// Every matrix is row-major B×K (rows = samples, columns = clusters / prototypes); inputs may
// be Float64Array or Float32Array (any ArrayLike<number>), outputs are Float64Array. Pure TS, no I/O.
//
// Sinkhorn-Knopp as SwAV runs it (Q = exp(ℓ/ε)ᵀ, Q /= ΣQ, iters × {prototype rows /= sum, /= K;
// sample columns /= sum, /= B}, Q ×= B), with log Q_ij = ℓ_ij/ε + u_j + c_i:
//   u_j ← −LSE_i(ℓ_ij/ε − ρ_i) + log B − log K,   ρ_i = LSE_j(ℓ_ij/ε + u_j)  (ρ = 0 in iteration 1)
//   targets q_i = softmax_j(ℓ_ij/ε + u_j)  (rows sum to 1; SwAV's columns after Q ×= B).
// SwAV's literal u after iteration 1 differs by the constant log(ΣQ / B), which no target sees;
// u here is the GPU's (src/mira/sinkhorn.ts: g = −u). exp(ℓ/ε) is never formed, so logits ≥ 80
// at ε = 0.05 (exp(1600)) do not overflow.

import type { IterationRecord } from '../mira/iteration-record.ts';
import { currentTargets, scalingPass, tracedPass, type ScalingState } from './scaling.ts';
import { checkIters, checkPositive, checkShape, columnLse, normaliseRowsLog, rowLse, scaled, type Matrix } from './softmax.ts';

export const SINKHORN_REF_DEFAULTS = { eps: 0.05, iters: 3 } as const;

// ------------------------------------------------------------------------------------------
// Sinkhorn-Knopp (SwAV)

export interface SinkhornOptions {
  /** Entropic regularisation ε > 0 (default 0.05). */
  eps?: number;
  /** Iterations, each a prototype then a sample normalisation (default 3; 0 gives softmax(ℓ/ε)). */
  iters?: number;
  trace?: boolean;
}

export interface SinkhornResult {
  /** B×K, rows sum to 1: SwAV's Q after Q ×= B, transposed to samples × prototypes. */
  targets: Float64Array;
  /** The same array as `targets` (the name the CLI and explorer use). */
  q: Float64Array;
  /** u: the log prototype scaling (K); q_i = softmax(ℓ_i/ε + u). */
  u: Float64Array;
  iters: number;
  trace: IterationRecord[];
}

function sinkhornParams(o: SinkhornOptions, what: string): { eps: number; iters: number } {
  const eps = o.eps ?? SINKHORN_REF_DEFAULTS.eps;
  const iters = o.iters ?? SINKHORN_REF_DEFAULTS.iters;
  checkPositive(eps, 'ε', what);
  checkIters(iters, what);
  return { eps, iters };
}

/** Before iteration 1: u = 0 (its targets are softmax(ℓ/ε)). */
export function sinkhornInit(logits: Matrix, B: number, K: number, o: { eps?: number } = {}): ScalingState {
  checkShape(logits, B, K, 'Sinkhorn-Knopp');
  const { eps } = sinkhornParams(o, 'Sinkhorn-Knopp');
  const x = scaled(logits, 1 / eps);
  return {
    method: 'sinkhorn',
    B,
    K,
    x,
    a: 1,
    gamma: 1,
    off: Math.log(B) - Math.log(K),
    vSign: -1,
    logP: normaliseRowsLog(Float64Array.from(x), B, K),
    objectiveBeta: 0,
    g: new Float64Array(K),
    iter: 0,
  };
}

/** One SwAV iteration (the first normalises from Q/ΣQ, i.e. ρ = 0); returns its record. */
export function sinkhornStep(st: ScalingState): IterationRecord {
  if (st.method !== 'sinkhorn') throw new TypeError(`sinkhornStep: this is a ${st.method} state`);
  return tracedPass(st, st.iter === 0);
}

/** q (B×K, a fresh array, rows sum to 1) for the current prototype scaling. */
export function sinkhornTargets(st: ScalingState): Float64Array {
  return Float64Array.from(currentTargets(st).w);
}

export function sinkhornSwav(logits: Matrix, B: number, K: number, o: SinkhornOptions = {}): SinkhornResult {
  const { iters } = sinkhornParams(o, 'Sinkhorn-Knopp');
  const st = sinkhornInit(logits, B, K, o);
  const trace: IterationRecord[] = [];
  for (let n = 0; n < iters; n++) {
    if (o.trace) trace.push(sinkhornStep(st));
    else {
      scalingPass(st, st.iter === 0);
      st.iter++;
    }
  }
  const targets = currentTargets(st).w;
  st.cache = undefined;
  return { targets, q: targets, u: st.g.map((g) => -g), iters, trace };
}

// ------------------------------------------------------------------------------------------
// SeLa (Asano et al. 2020): Sinkhorn-Knopp on P = p^λ over a whole bank, to a tolerance.

export interface SelaOptions {
  /** P = p^λ (default 10, SeLa's CIFAR setting). */
  lambda?: number;
  /** Stop when Σ_i |c_i / c'_i − 1| < tol (SeLa's measure; default 1e-6). */
  tol?: number;
  /** Measure every this many iterations (SeLa's code: 10; default 1). */
  checkEvery?: number;
  maxIters?: number;
  /** What the N×K input holds: probabilities p (default) or logits (p = softmax(logits)). */
  input?: 'probs' | 'logits';
}

export interface SelaResult {
  /** argmax_k of the scaled P per row (ties: lowest k). */
  labels: Int32Array;
  iters: number;
  /** N×K soft assignment, rows normalised: softmax_k(λ·log p_ik + log r_k). */
  q: Float64Array;
  /** The last measured Σ_i |c_i/c'_i − 1|. */
  change: number;
  converged: boolean;
}

/** Smallest probability inside log p for SeLa: keeps λ·log p finite when p = 0. */
const SELA_MIN_PROB = 1e-300;

/**
 * SeLa's official loop, in the log domain: P = p^λ; r = 1/K / (P c); c' = 1/N / (rᵀP), from
 * c = 1/N; stop on Σ_i |c_i/c'_i − 1| < tol; labels argmax_k P_ik r_k.
 */
export function selaSinkhorn(values: Matrix, N: number, K: number, o: SelaOptions = {}): SelaResult {
  const what = 'SeLa';
  const lambda = o.lambda ?? 10;
  const tol = o.tol ?? 1e-6;
  const checkEvery = o.checkEvery ?? 1;
  const maxIters = o.maxIters ?? 10_000;
  checkShape(values, N, K, what, o.input === 'logits' ? 'logits' : 'probabilities');
  checkPositive(lambda, 'λ', what);
  checkPositive(tol, 'the tolerance', what);
  if (!Number.isInteger(checkEvery) || checkEvery < 1) throw new RangeError(`${what}: checkEvery must be an integer ≥ 1, got ${checkEvery}`);
  if (!Number.isInteger(maxIters) || maxIters < 1) throw new RangeError(`${what}: maxIters must be an integer ≥ 1, got ${maxIters}`);
  let logP: Float64Array;
  if (o.input === 'logits') logP = normaliseRowsLog(Float64Array.from(values), N, K);
  else {
    logP = new Float64Array(N * K);
    for (let i = 0; i < N * K; i++) {
      if (values[i]! < 0) throw new RangeError(`${what}: probability [${Math.floor(i / K)}][${i % K}] = ${values[i]} is negative`);
      logP[i] = Math.log(Math.max(values[i]!, SELA_MIN_PROB));
    }
  }
  const x = scaled(logP, lambda); // log P
  const logR = new Float64Array(K);
  let logC = new Float64Array(N).fill(-Math.log(N));
  const negLogC = new Float64Array(N);
  let change = Infinity;
  let iters = 0;
  while (iters < maxIters) {
    // log r_k = −log K − LSE_i(log P_ik + log c_i)
    for (let i = 0; i < N; i++) negLogC[i] = -logC[i]!;
    columnLse(x, N, K, negLogC, logR);
    for (let k = 0; k < K; k++) logR[k] = -Math.log(K) - logR[k]!;
    // log c'_i = −log N − LSE_k(log P_ik + log r_k)
    const negLogR = logR.map((r) => -r);
    const logCNext = rowLse(x, N, K, negLogR, new Float64Array(N)).map((s) => -Math.log(N) - s);
    iters++;
    if (iters % checkEvery === 0 || iters === maxIters) {
      change = 0;
      for (let i = 0; i < N; i++) change += Math.abs(Math.exp(logC[i]! - logCNext[i]!) - 1);
    }
    logC = logCNext;
    if (change < tol) break;
  }
  const labels = new Int32Array(N);
  const q = new Float64Array(N * K);
  for (let i = 0; i < N; i++) {
    const o2 = i * K;
    let best = 0;
    let m = -Infinity;
    for (let k = 0; k < K; k++) {
      const t = x[o2 + k]! + logR[k]!;
      q[o2 + k] = t;
      if (t > m) {
        m = t;
        best = k;
      }
    }
    labels[i] = best;
    let s = 0;
    for (let k = 0; k < K; k++) s += q[o2 + k] = Math.exp(q[o2 + k]! - m);
    for (let k = 0; k < K; k++) q[o2 + k]! /= s;
  }
  return { labels, iters, q, change, converged: change < tol };
}
