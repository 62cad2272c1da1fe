// Float64 reference of the swapped-prediction loss (src/shaders/swapped_loss.wgsl, host
// src/mira/loss.ts): the cross-entropy of targets against student logits and its gradient, the
// two-view swapped loss and SwAV's multi-crop average.
//
// Every matrix is row-major B×K (rows = samples, columns = clusters / prototypes); inputs may
// be Float64Array or Float32Array (any ArrayLike<number>), outputs are Float64Array. Pure TS, no I/O.

import { checkPositive, checkShape, logSoftmax, type Matrix } from './softmax.ts';

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
