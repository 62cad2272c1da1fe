// MIRA's optimum by an independent method: damped Newton on the convex dual of its objective,
// with matrix-free conjugate gradients. The tests compare it with the fixed point
// (src/ref/assignment.ts) to 1e-10; it is a reference of the reference, with no GPU twin.
//
// Every matrix is row-major B×K (rows = samples, columns = clusters / prototypes); inputs may
// be Float64Array or Float32Array (any ArrayLike<number>), outputs are Float64Array. Pure TS, no I/O.
//
// The fixed point minimises  F(W) = mean_i KL(w_i‖p_i) − β·[H(mean_i w_i) − mean_i H(w_i)],
// p = softmax(ℓ/τ). Its convex dual in h = log v (`miraDualNewton`, an independent solver):
//   φ(h) = (1/a)·mean_i LSE_j(log k_ij − a·h_j) + Σ_j exp(h_j),
//   ∇φ = v − mean_i w_i(h),  ∇²φ = a·mean_i(diag w_i − w_i w_iᵀ) + diag(v),  w_i(h) ∝ k_i e^(−a·h),
// and min F = β − β·Σ_j e^(h_j) − (1−β)·mean_i[LSE_j(log k_ij − a·h_j) + log Z_i] at h*, with
// Z_i = Σ_j p_ij^(1/(1−β)) (strong duality).

import { miraLogKernel, miraParams } from './assignment.ts';
import { checkShape, columnLse, rowLse, scaled, type Matrix } from './softmax.ts';

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
