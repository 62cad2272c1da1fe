// Float64 reference of the collapse metrics (src/shaders/assign_metrics.wgsl, host
// src/mira/metrics.ts): mean and marginal entropy, their difference (the mutual information),
// used clusters, the largest cluster and KL(p‖w).
//
// Every matrix is row-major B×K (rows = samples, columns = clusters / prototypes); inputs may
// be Float64Array or Float32Array (any ArrayLike<number>), outputs are Float64Array. Pure TS, no I/O.

import { checkShape, type Matrix } from './softmax.ts';

/** KL(p‖w) takes log max(w, KL_EPS), as assign_metrics.wgsl does: finite when w underflows. */
export const KL_EPS = 1e-30;

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
