// The float64 row/column scaling iteration shared by MIRA's fixed point (src/ref/assignment.ts)
// and SwAV's Sinkhorn-Knopp (src/ref/sinkhorn.ts), stepped one iteration at a time, with the
// trace record of each iteration. The twin of src/shaders/mira.wgsl (src/mira/scaling.ts).
//
// Every matrix is row-major B×K (rows = samples, columns = clusters / prototypes); inputs may
// be Float64Array or Float32Array (any ArrayLike<number>), outputs are Float64Array. Pure TS, no I/O.

import type { IterationRecord } from '../mira/iteration-record.ts';
import { columnLse, rowLse, scaled } from './softmax.ts';

// The shared row/column scaling iteration (mira.wgsl's algebra):
//   ρ_i = LSE_j(x_ij − a·g_j)   (ρ = 0 on a "first" pass)
//   g_j ← γ·[LSE_i(x_ij − ρ_i) − off]
//   log w_ij = x_ij − a·g_j − LSE_j(x_ij − a·g_j)

/** The state of a MIRA or Sinkhorn solve, advanced one iteration at a time by the step API. */
export interface ScalingState {
  readonly method: 'mira' | 'sinkhorn';
  readonly B: number;
  readonly K: number;
  /** B×K log kernel: MIRA log k (row-normalised), Sinkhorn ℓ/ε. */
  readonly x: Float64Array;
  readonly a: number;
  readonly gamma: number;
  readonly off: number;
  /** +1 MIRA: the reported v is exp(g). −1 Sinkhorn: g = −u, the reported v is exp(u). */
  readonly vSign: 1 | -1;
  /** B×K log p of the objective: MIRA log softmax(ℓ/τ), Sinkhorn log softmax(ℓ/ε). */
  readonly logP: Float64Array;
  /** β in the objective (0 for Sinkhorn). */
  readonly objectiveBeta: number;
  /** Column scale (K); MIRA: g = log v, Sinkhorn: g = −u. May be replaced to set v. */
  g: Float64Array;
  /** Iterations applied so far (MIRA's v⁽⁰⁾ does not count). */
  iter: number;
  /** The targets of the g they were computed for (checked by value, so editing g is safe). */
  cache?: { g: Float64Array; logW: Float64Array; w: Float64Array };
}

/** One row pass and one column pass; returns the previous g. */
export function scalingPass(st: ScalingState, firstPass: boolean): Float64Array {
  const { x, B, K, a, gamma, off } = st;
  const rho = firstPass ? null : rowLse(x, B, K, scaled(st.g, a), new Float64Array(B));
  const col = columnLse(x, B, K, rho, new Float64Array(K));
  const prev = st.g;
  const g = new Float64Array(K);
  for (let j = 0; j < K; j++) g[j] = gamma * (col[j]! - off);
  st.g = g;
  return prev;
}

/** log w for a given column scale g: x − a·g − row LSE. */
function logTargetsFor(st: ScalingState, g: Float64Array): Float64Array {
  const { x, B, K, a } = st;
  const shift = scaled(g, a);
  const lse = rowLse(x, B, K, shift, new Float64Array(B));
  const out = new Float64Array(B * K);
  for (let i = 0; i < B; i++) {
    const o = i * K;
    for (let j = 0; j < K; j++) out[o + j] = x[o + j]! - shift[j]! - lse[i]!;
  }
  return out;
}

/** log w and w for the state's current g (cached: a trace needs them twice). */
export function currentTargets(st: ScalingState): { logW: Float64Array; w: Float64Array } {
  const c = st.cache;
  if (c && c.g.length === st.g.length && c.g.every((x, j) => x === st.g[j])) return c;
  const logW = logTargetsFor(st, st.g);
  const w = new Float64Array(logW.length);
  for (let i = 0; i < w.length; i++) w[i] = Math.exp(logW[i]!);
  st.cache = { g: Float64Array.from(st.g), logW, w };
  return st.cache;
}

/**
 * log of the v a record reports: MIRA g (v = exp(g) stays ≤ a few), Sinkhorn u = −g (as the
 * GPU reports it). exp(u) is SwAV's prototype scaling and overflows float64 for near one-hot
 * rows (u ~ spread/ε), exactly where SwAV's literal algorithm does; the records' other fields,
 * the residual included, are computed from the logs and stay finite.
 */
function reportedLogV(st: ScalingState, g: Float64Array): Float64Array {
  return st.vSign === 1 ? g : g.map((x) => -x);
}

/** The trace record of the current g (targets `now`) against the previous one (`before`). */
function iterationRecord(st: ScalingState, gPrev: Float64Array, before: Float64Array, now: { logW: Float64Array; w: Float64Array }): IterationRecord {
  const { B, K, logP } = st;
  const { logW, w: W } = now;
  let entropySum = 0;
  let klSum = 0;
  let deltaW = 0;
  const colSum = new Float64Array(K);
  for (let i = 0; i < B; i++) {
    const o = i * K;
    for (let j = 0; j < K; j++) {
      const lw = logW[o + j]!;
      const w = W[o + j]!;
      deltaW = Math.max(deltaW, Math.abs(w - before[o + j]!));
      if (w > 0) {
        entropySum -= w * lw;
        klSum += w * (lw - logP[o + j]!);
      }
      colSum[j]! += w;
    }
  }
  const v: number[] = [];
  let marginalEntropy = 0;
  let marginalError = 0;
  let dv = 0;
  let vPrevNorm = 0;
  const logV = reportedLogV(st, st.g);
  const logVPrev = reportedLogV(st, gPrev);
  // The residual is a ratio: scale both v by exp(−max log v_prev) so ‖v_prev‖ ∈ [1, K]
  // cannot underflow; a change beyond float64's range saturates at Number.MAX_VALUE.
  let shift = -Infinity;
  for (let j = 0; j < K; j++) shift = Math.max(shift, logVPrev[j]!);
  for (let j = 0; j < K; j++) {
    const m = colSum[j]! / B;
    if (m > 0) marginalEntropy -= m * Math.log(m);
    marginalError += Math.abs(m - 1 / K);
    const vj = Math.exp(logV[j]! - shift);
    const vp = Math.exp(logVPrev[j]! - shift);
    dv += Math.abs(vj - vp);
    vPrevNorm += vp;
    v.push(Math.exp(logV[j]!));
  }
  const meanEntropy = entropySum / B;
  const mi = marginalEntropy - meanEntropy;
  return {
    iter: st.iter,
    v,
    residual: Math.min(dv / vPrevNorm, Number.MAX_VALUE),
    delta_w: deltaW,
    objective: klSum / B - st.objectiveBeta * mi,
    marginal_entropy: marginalEntropy,
    mean_entropy: meanEntropy,
    mi,
    marginal_error: marginalError,
  };
}

/** One pass with its trace record. */
export function tracedPass(st: ScalingState, firstPass: boolean): IterationRecord {
  const before = currentTargets(st).w;
  const prev = scalingPass(st, firstPass);
  st.iter++;
  return iterationRecord(st, prev, before, currentTargets(st));
}

/** The v a trace record would report for the current state (K): MIRA exp(g), Sinkhorn exp(u). */
export function stateV(st: ScalingState): Float64Array {
  return reportedLogV(st, st.g).map(Math.exp);
}
