// Float64 CPU references of the pseudo-labelling algorithms (docs/ARCHITECTURE.md, the algorithm), the twins of
// src/shaders/mira.wgsl, sinkhorn.wgsl, swapped_loss.wgsl and assign_metrics.wgsl. Used by
// the tests, by `assign --backend cpu` and by the explorer's "verify on CPU". Pure TS, no I/O.
//
// Every matrix is row-major B×K (rows = samples, columns = clusters / prototypes); inputs may
// be Float64Array or Float32Array (any ArrayLike<number>), outputs are Float64Array.
//
// MIRA (Lee et al. 2022), with a = β/(1−β), in the log domain (docs/ARCHITECTURE.md, the algorithm):
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
// p = softmax(ℓ/τ). Its convex dual in h = log v (`miraDualNewton`, an independent solver):
//   φ(h) = (1/a)·mean_i LSE_j(log k_ij − a·h_j) + Σ_j exp(h_j),
//   ∇φ = v − mean_i w_i(h),  ∇²φ = a·mean_i(diag w_i − w_i w_iᵀ) + diag(v),  w_i(h) ∝ k_i e^(−a·h),
// and min F = β − β·Σ_j e^(h_j) − (1−β)·mean_i[LSE_j(log k_ij − a·h_j) + log Z_i] at h*, with
// Z_i = Σ_j p_ij^(1/(1−β)) (strong duality).
//
// Sinkhorn-Knopp as SwAV runs it (Q = exp(ℓ/ε)ᵀ, Q /= ΣQ, iters × {prototype rows /= sum, /= K;
// sample columns /= sum, /= B}, Q ×= B), with log Q_ij = ℓ_ij/ε + u_j + c_i:
//   u_j ← −LSE_i(ℓ_ij/ε − ρ_i) + log B − log K,   ρ_i = LSE_j(ℓ_ij/ε + u_j)  (ρ = 0 in iteration 1)
//   targets q_i = softmax_j(ℓ_ij/ε + u_j)  (rows sum to 1; SwAV's columns after Q ×= B).
// SwAV's literal u after iteration 1 differs by the constant log(ΣQ / B), which no target sees;
// u here is the GPU's (src/mira/sinkhorn.ts: g = −u). exp(ℓ/ε) is never formed, so logits ≥ 80
// at ε = 0.05 (exp(1600)) do not overflow.

export type Matrix = ArrayLike<number>;

/** One iteration's diagnostics: the `--trace` JSON record (keep these names). */
export interface IterationRecord {
  /** 1-based iteration number. */
  iter: number;
  /**
   * MIRA: v = exp(g), the official code's v (→ mean_i w_i at convergence). Sinkhorn: exp(u),
   * SwAV's prototype scaling (the GPU's convention); it overflows to Infinity for near one-hot
   * rows at small ε (u ~ spread/ε), as SwAV's own does. Every other field stays finite.
   */
  v: number[];
  /**
   * ‖v⁽ⁿ⁾ − v⁽ⁿ⁻¹⁾‖₁ / ‖v⁽ⁿ⁻¹⁾‖₁ of the reported v (MIRA's v⁽⁰⁾ precedes iteration 1; Sinkhorn's
   * u⁽⁰⁾ = 0); saturates at Number.MAX_VALUE beyond float64's range (Sinkhorn's first step on
   * near one-hot rows).
   */
  residual: number;
  /** max_ij |w⁽ⁿ⁾_ij − w⁽ⁿ⁻¹⁾_ij|: the change of the targets, the convergence measure to watch. */
  delta_w: number;
  /** MIRA: mean_i KL(w_i‖p_i) − β·mi, p = softmax(ℓ/τ). Sinkhorn: mean_i KL(q_i‖softmax(ℓ_i/ε)). */
  objective: number;
  /** H(mean_i w_i) */
  marginal_entropy: number;
  /** mean_i H(w_i) */
  mean_entropy: number;
  /** marginal_entropy − mean_entropy */
  mi: number;
  /** ‖mean_i w_i − 1/K‖₁: Sinkhorn's constraint violation (MIRA's is informative, not a constraint). */
  marginal_error: number;
}

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
export const SINKHORN_REF_DEFAULTS = { eps: 0.05, iters: 3 } as const;
/** KL(p‖w) takes log max(w, KL_EPS), as assign_metrics.wgsl does: finite when w underflows. */
export const KL_EPS = 1e-30;

// ------------------------------------------------------------------------------------------
// Argument checks: a reference that silently accepts nonsense would "verify" nonsense.

function checkShape(x: Matrix, B: number, K: number, what: string, name = 'logits'): void {
  if (!Number.isInteger(B) || B < 1) throw new RangeError(`${what}: B must be an integer ≥ 1, got ${B}`);
  if (!Number.isInteger(K) || K < 2) throw new RangeError(`${what}: K must be an integer ≥ 2, got ${K}`);
  if (x.length !== B * K) throw new RangeError(`${what}: ${name} hold ${x.length} values, expected ${B}×${K} = ${B * K}`);
  for (let i = 0; i < B * K; i++) {
    if (!Number.isFinite(x[i])) throw new RangeError(`${what}: ${name}[${Math.floor(i / K)}][${i % K}] = ${x[i]} is not finite`);
  }
}

function checkPositive(x: number, name: string, what: string): void {
  if (!(typeof x === 'number' && Number.isFinite(x) && x > 0)) throw new RangeError(`${what}: ${name} must be a finite number > 0, got ${x}`);
}

function checkBeta(beta: number, what: string): void {
  if (!(typeof beta === 'number' && beta > 0 && beta < 1)) throw new RangeError(`${what}: β must lie strictly between 0 and 1, got ${beta}`);
}

function checkIters(iters: number, what: string): void {
  if (!Number.isInteger(iters) || iters < 0) throw new RangeError(`${what}: iterations must be an integer ≥ 0, got ${iters}`);
}

// ------------------------------------------------------------------------------------------
// Log-sum-exp building blocks (max-shifted: finite for any finite input).

/** out_i = LSE_j(x_ij − shift_j); shift = null means 0. */
function rowLse(x: Float64Array, B: number, K: number, shift: Float64Array | null, out: Float64Array): Float64Array {
  for (let i = 0; i < B; i++) {
    const o = i * K;
    let m = -Infinity;
    for (let j = 0; j < K; j++) {
      const t = shift ? x[o + j]! - shift[j]! : x[o + j]!;
      if (t > m) m = t;
    }
    let s = 0;
    for (let j = 0; j < K; j++) s += Math.exp((shift ? x[o + j]! - shift[j]! : x[o + j]!) - m);
    out[i] = m + Math.log(s);
  }
  return out;
}

/** out_j = LSE_i(x_ij − rowShift_i); rowShift = null means 0. Row-major sweeps. */
function columnLse(x: Float64Array, B: number, K: number, rowShift: Float64Array | null, out: Float64Array): Float64Array {
  const colMax = new Float64Array(K).fill(-Infinity);
  for (let i = 0; i < B; i++) {
    const o = i * K;
    const r = rowShift ? rowShift[i]! : 0;
    for (let j = 0; j < K; j++) {
      const t = x[o + j]! - r;
      if (t > colMax[j]!) colMax[j] = t;
    }
  }
  const sum = new Float64Array(K);
  for (let i = 0; i < B; i++) {
    const o = i * K;
    const r = rowShift ? rowShift[i]! : 0;
    for (let j = 0; j < K; j++) sum[j]! += Math.exp(x[o + j]! - r - colMax[j]!);
  }
  for (let j = 0; j < K; j++) out[j] = colMax[j]! + Math.log(sum[j]!);
  return out;
}

/** scale·x as a fresh Float64Array. */
function scaled(x: Matrix, scale: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! * scale;
  return out;
}

/** Subtracts each row's LSE in place: rows become log-probabilities. */
function normaliseRowsLog(x: Float64Array, B: number, K: number): Float64Array {
  const lse = rowLse(x, B, K, null, new Float64Array(B));
  for (let i = 0; i < B; i++) for (let j = 0; j < K; j++) x[i * K + j]! -= lse[i]!;
  return x;
}

/** log softmax(ℓ/τ) per row, B×K. */
export function logSoftmax(logits: Matrix, B: number, K: number, tau = 1): Float64Array {
  checkShape(logits, B, K, 'logSoftmax');
  checkPositive(tau, 'τ', 'logSoftmax');
  return normaliseRowsLog(scaled(logits, 1 / tau), B, K);
}

/** softmax(ℓ/τ) per row, B×K. */
export function softmax(logits: Matrix, B: number, K: number, tau = 1): Float64Array {
  const out = logSoftmax(logits, B, K, tau);
  for (let i = 0; i < out.length; i++) out[i] = Math.exp(out[i]!);
  return out;
}

/** The naive self-labelling targets: softmax(ℓ/τ) (accepts τ or { tau }). */
export function naiveTargets(logits: Matrix, B: number, K: number, tau: number | { tau: number } = MIRA_REF_DEFAULTS.tau): Float64Array {
  return softmax(logits, B, K, typeof tau === 'number' ? tau : tau.tau);
}

// ------------------------------------------------------------------------------------------
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
function scalingPass(st: ScalingState, firstPass: boolean): Float64Array {
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
function currentTargets(st: ScalingState): { logW: Float64Array; w: Float64Array } {
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

// ------------------------------------------------------------------------------------------
// MIRA

function miraParams(o: MiraOptions, what: string): { tau: number; beta: number; iters: number } {
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

/** One pass with its trace record. */
function tracedPass(st: ScalingState, firstPass: boolean): IterationRecord {
  const before = currentTargets(st).w;
  const prev = scalingPass(st, firstPass);
  st.iter++;
  return iterationRecord(st, prev, before, currentTargets(st));
}

/** The targets w (B×K, a fresh array) for the current v. */
export function miraTargets(st: ScalingState): Float64Array {
  return Float64Array.from(currentTargets(st).w);
}

/** The v a trace record would report for the current state (K): MIRA exp(g), Sinkhorn exp(u). */
export function stateV(st: ScalingState): Float64Array {
  return reportedLogV(st, st.g).map(Math.exp);
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

export interface MiraDualResult {
  /** h = log v at the optimum (the same g as the fixed point's at convergence). */
  g: Float64Array;
  v: Float64Array;
  targets: Float64Array;
  /** The dual value, = min F by strong duality. */
  dualValue: number;
  newtonSteps: number;
  /** ‖v − mean_i w_i‖∞ at the end (the dual gradient). */
  gradNorm: number;
}

/**
 * MIRA's optimum by damped Newton on the convex K-dim dual φ(h) (see the file header), with
 * matrix-free, Jacobi-preconditioned conjugate gradients for the Newton systems. Independent
 * of the fixed-point iteration: a test compares the two.
 */
export function miraDualNewton(
  logits: Matrix,
  B: number,
  K: number,
  o: { tau?: number; beta?: number; tol?: number; maxNewton?: number } = {},
): MiraDualResult {
  checkShape(logits, B, K, 'miraDualNewton');
  const { tau, beta } = miraParams(o, 'miraDualNewton');
  const tol = o.tol ?? 1e-15;
  const maxNewton = o.maxNewton ?? 200;
  const a = beta / (1 - beta);
  const logK = miraLogKernel(logits, B, K, tau, beta);
  const rowR = new Float64Array(B);
  const w = new Float64Array(B * K);

  // φ(h), and w(h) into `w`, mean w into `m`.
  const evaluate = (h: Float64Array, m: Float64Array): number => {
    const shift = scaled(h, a);
    rowLse(logK, B, K, shift, rowR);
    m.fill(0);
    let meanR = 0;
    for (let i = 0; i < B; i++) {
      const o2 = i * K;
      meanR += rowR[i]!;
      for (let j = 0; j < K; j++) {
        const x = Math.exp(logK[o2 + j]! - shift[j]! - rowR[i]!);
        w[o2 + j] = x;
        m[j]! += x;
      }
    }
    let sumV = 0;
    for (let j = 0; j < K; j++) {
      m[j]! /= B;
      sumV += Math.exp(h[j]!);
    }
    return meanR / B / a + sumV;
  };
  // (a·mean_i(diag w_i − w_i w_iᵀ) + diag v)·d, with w from the last evaluate.
  const hessianTimes = (h: Float64Array, d: Float64Array, out: Float64Array): void => {
    out.fill(0);
    for (let i = 0; i < B; i++) {
      const o2 = i * K;
      let wd = 0;
      for (let j = 0; j < K; j++) wd += w[o2 + j]! * d[j]!;
      for (let j = 0; j < K; j++) out[j]! += w[o2 + j]! * (d[j]! - wd);
    }
    for (let j = 0; j < K; j++) out[j] = (a * out[j]!) / B + Math.exp(h[j]!) * d[j]!;
  };

  // Start from log mean_i k_i (the β → 0 answer).
  let h = columnLse(logK, B, K, null, new Float64Array(K)).map((c) => c - Math.log(B));
  const m = new Float64Array(K);
  let phi = evaluate(h, m);
  let gradNorm = Infinity;
  let steps = 0;
  const grad = new Float64Array(K);
  const precond = new Float64Array(K);
  for (; steps < maxNewton; steps++) {
    gradNorm = 0;
    for (let j = 0; j < K; j++) {
      grad[j] = Math.exp(h[j]!) - m[j]!;
      gradNorm = Math.max(gradNorm, Math.abs(grad[j]!));
    }
    if (gradNorm < tol) break;
    // Jacobi preconditioner: the Hessian's diagonal.
    precond.fill(0);
    for (let i = 0; i < B; i++) for (let j = 0; j < K; j++) precond[j]! += w[i * K + j]! * (1 - w[i * K + j]!);
    for (let j = 0; j < K; j++) precond[j] = (a * precond[j]!) / B + Math.exp(h[j]!);
    const d = conjugateGradient((x, out) => hessianTimes(h, x, out), grad, precond, 1e-14, 4 * K + 50);
    for (let j = 0; j < K; j++) d[j] = -d[j]!;
    let slope = 0;
    for (let j = 0; j < K; j++) slope += grad[j]! * d[j]!;
    // Backtracking (Armijo); near the optimum φ's change is below rounding, so a full step is
    // also taken when it does not increase φ beyond a few ulps.
    let t = 1;
    let accepted = false;
    for (let ls = 0; ls < 60; ls++) {
      const trial = Float64Array.from(h, (x, j) => x + t * d[j]!);
      const mTrial = new Float64Array(K);
      const phiTrial = evaluate(trial, mTrial);
      if (phiTrial <= phi + 1e-4 * t * slope + 4e-16 * Math.abs(phi)) {
        h = trial;
        phi = phiTrial;
        m.set(mTrial);
        accepted = true;
        break;
      }
      t /= 2;
    }
    if (!accepted) break;
  }
  // Final targets and the dual value D(h) = β − β·Σ e^h − (1−β)·mean_i[LSE_j(log k − a h) + log Z_i].
  evaluate(h, m);
  const logZ = rowLse(scaled(logits, 1 / (tau * (1 - beta))), B, K, null, new Float64Array(B));
  const logPz = rowLse(scaled(logits, 1 / tau), B, K, null, new Float64Array(B));
  let dual = beta;
  for (let j = 0; j < K; j++) dual -= beta * Math.exp(h[j]!);
  let meanRZ = 0;
  // Z_i = Σ_j p_ij^(1/(1−β)) with p = softmax(ℓ/τ): log Z_i = LSE_j(ℓ/(τ(1−β))) − LSE_j(ℓ/τ)/(1−β).
  for (let i = 0; i < B; i++) meanRZ += rowR[i]! + logZ[i]! - logPz[i]! / (1 - beta);
  dual -= ((1 - beta) * meanRZ) / B;
  return { g: h, v: h.map(Math.exp), targets: Float64Array.from(w), dualValue: dual, newtonSteps: steps, gradNorm };
}

/** Solves A·x = b for symmetric positive definite A (given as a product), Jacobi-preconditioned. */
function conjugateGradient(
  times: (x: Float64Array, out: Float64Array) => void,
  b: Float64Array,
  diag: Float64Array,
  relTol: number,
  maxIters: number,
): Float64Array {
  const n = b.length;
  const x = new Float64Array(n);
  const r = Float64Array.from(b);
  const z = r.map((ri, j) => ri / diag[j]!);
  const p = Float64Array.from(z);
  const ap = new Float64Array(n);
  let rz = 0;
  let bNorm = 0;
  for (let j = 0; j < n; j++) {
    rz += r[j]! * z[j]!;
    bNorm += b[j]! * b[j]!;
  }
  bNorm = Math.sqrt(bNorm);
  for (let it = 0; it < maxIters; it++) {
    times(p, ap);
    let pap = 0;
    for (let j = 0; j < n; j++) pap += p[j]! * ap[j]!;
    if (!(pap > 0)) break;
    const alpha = rz / pap;
    let rNorm = 0;
    for (let j = 0; j < n; j++) {
      x[j]! += alpha * p[j]!;
      r[j]! -= alpha * ap[j]!;
      rNorm += r[j]! * r[j]!;
    }
    if (Math.sqrt(rNorm) <= relTol * bNorm) break;
    let rzNext = 0;
    for (let j = 0; j < n; j++) {
      z[j] = r[j]! / diag[j]!;
      rzNext += r[j]! * z[j]!;
    }
    const beta = rzNext / rz;
    rz = rzNext;
    for (let j = 0; j < n; j++) p[j] = z[j]! + beta * p[j]!;
  }
  return x;
}

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

// ------------------------------------------------------------------------------------------
// Collapse metrics (assign_metrics.wgsl)

export interface AssignmentMetricsRef {
  /** mean_i H(p_i), H(q) = −Σ q log q (0·log 0 = 0). */
  mean_entropy: number;
  /** H(mean_i p_i) */
  marginal_entropy: number;
  /** marginal_entropy − mean_entropy */
  mi: number;
  /** Clusters that are the argmax of at least one row. */
  used_clusters: number;
  /** The largest argmax count / B. */
  largest_cluster_fraction: number;
  /** Rows whose argmax is k (ties: lowest k). */
  histogram: Int32Array;
}

export function assignmentMetrics(probs: Matrix, B: number, K: number): AssignmentMetricsRef {
  checkShape(probs, B, K, 'assignmentMetrics', 'probabilities');
  const col = new Float64Array(K);
  const histogram = new Int32Array(K);
  let entropy = 0;
  for (let i = 0; i < B; i++) {
    let best = 0;
    for (let j = 0; j < K; j++) {
      const p = probs[i * K + j]!;
      col[j]! += p;
      if (p > 0) entropy -= p * Math.log(p);
      if (p > probs[i * K + best]!) best = j;
    }
    histogram[best]!++;
  }
  let marginal = 0;
  let used = 0;
  let largest = 0;
  for (let j = 0; j < K; j++) {
    const m = col[j]! / B;
    if (m > 0) marginal -= m * Math.log(m);
    if (histogram[j]! > 0) used++;
    largest = Math.max(largest, histogram[j]!);
  }
  const meanEntropy = entropy / B;
  return {
    mean_entropy: meanEntropy,
    marginal_entropy: marginal,
    mi: marginal - meanEntropy,
    used_clusters: used,
    largest_cluster_fraction: largest / B,
    histogram,
  };
}

/** mean_i KL(p_i‖w_i) = mean_i Σ_k p_ik (log p_ik − log max(w_ik, KL_EPS)), terms with p = 0 skipped. */
export function klDivergence(p: Matrix, w: Matrix, B: number, K: number): number {
  checkShape(p, B, K, 'klDivergence', 'p');
  checkShape(w, B, K, 'klDivergence', 'w');
  let s = 0;
  for (let i = 0; i < B * K; i++) {
    const x = p[i]!;
    if (x > 0) s += x * (Math.log(x) - Math.log(Math.max(w[i]!, KL_EPS)));
  }
  return s / B;
}

// ------------------------------------------------------------------------------------------
// Swapped-prediction loss (swapped_loss.wgsl)

/**
 * weight · mean_i −Σ_k w_ik log softmax(q_i/τ_s)_k; adds weight · ∂/∂q into `grad`:
 * ∂CE/∂q_ij = (softmax(q_i/τ_s)_j · Σ_k w_ik − w_ij) / (B·τ_s).
 */
function crossEntropyInto(w: Matrix, q: Matrix, B: number, K: number, tauS: number, weight: number, grad: Float64Array): number {
  const logS = logSoftmax(q, B, K, tauS);
  let loss = 0;
  for (let i = 0; i < B; i++) {
    const o = i * K;
    let wSum = 0;
    for (let j = 0; j < K; j++) {
      const t = w[o + j]!;
      wSum += t;
      if (t !== 0) loss -= t * logS[o + j]!;
    }
    const c = weight / (B * tauS);
    for (let j = 0; j < K; j++) grad[o + j]! += c * (Math.exp(logS[o + j]!) * wSum - w[o + j]!);
  }
  return (weight * loss) / B;
}

/** CE(w, q) = mean_i −Σ_k w_ik log softmax(q_i/τ_s)_k, with its gradient in q (B×K). */
export function crossEntropy(targets: Matrix, studentLogits: Matrix, B: number, K: number, tauS = 0.1): { loss: number; grad: Float64Array } {
  checkShape(targets, B, K, 'crossEntropy', 'targets');
  checkShape(studentLogits, B, K, 'crossEntropy', 'student logits');
  checkPositive(tauS, 'τ_s', 'crossEntropy');
  const grad = new Float64Array(B * K);
  return { loss: crossEntropyInto(targets, studentLogits, B, K, tauS, 1, grad), grad };
}

/**
 * The two-view swapped loss L = ½[CE(w⁽¹⁾, q⁽²⁾) + CE(w⁽²⁾, q⁽¹⁾)] and its gradients ∂L/∂q⁽¹⁾,
 * ∂L/∂q⁽²⁾ (the ½ included, nothing else divided). The targets are constants (teacher side).
 */
export function swappedLoss(
  studentLogits1: Matrix,
  studentLogits2: Matrix,
  targets1: Matrix,
  targets2: Matrix,
  B: number,
  K: number,
  tauS = 0.1,
): { loss: number; grad1: Float64Array; grad2: Float64Array } {
  const r = multiCropLoss([targets1, targets2], [studentLogits1, studentLogits2], B, K, tauS);
  return { loss: r.loss, grad1: r.grads[0]!, grad2: r.grads[1]! };
}

/**
 * Multi-crop swapped loss over V = 2 + L student crops (the first two global, the rest local):
 *   L = 1/(2(V−1)) · [ CE(w⁽²⁾, q⁽¹⁾) + CE(w⁽¹⁾, q⁽²⁾) + Σ_{local c} (CE(w⁽¹⁾, q⁽ᶜ⁾) + CE(w⁽²⁾, q⁽ᶜ⁾)) ]
 * Every crop predicts the targets of each global view other than itself; 2(V−1) is the number
 * of such terms (SwAV's averaging: over the V−1 crops for each of the 2 targets, then over the
 * 2 targets). With no local crops this is `swappedLoss`. grads[c] = ∂L/∂q⁽ᶜ⁾.
 */
export function multiCropLoss(
  globalTargets: readonly [Matrix, Matrix],
  studentLogits: readonly Matrix[],
  B: number,
  K: number,
  tauS = 0.1,
): { loss: number; grads: Float64Array[] } {
  const what = 'multiCropLoss';
  if (studentLogits.length < 2) throw new RangeError(`${what}: need at least the two global crops, got ${studentLogits.length}`);
  checkPositive(tauS, 'τ_s', what);
  globalTargets.forEach((w, v) => checkShape(w, B, K, what, `targets of global view ${v + 1}`));
  studentLogits.forEach((q, c) => checkShape(q, B, K, what, `student logits of crop ${c + 1}`));
  const V = studentLogits.length;
  const weight = 1 / (2 * (V - 1));
  const grads = studentLogits.map(() => new Float64Array(B * K));
  let loss = 0;
  for (let c = 0; c < V; c++) {
    for (let v = 0; v < 2; v++) {
      if (v === c) continue;
      loss += crossEntropyInto(globalTargets[v]!, studentLogits[c]!, B, K, tauS, weight, grads[c]!);
    }
  }
  return { loss, grads };
}
