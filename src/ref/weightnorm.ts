// Float64 reference of the weight-normalised linear head (MIRA's prototypes), no bias, g = 1:
//   W_k = v_k / ‖v_k‖₂ (row k of v, one prototype per row), logits = x·Wᵀ.
// This is PyTorch's nn.utils.weight_norm(nn.Linear(D, K, bias=False)) with weight_g fixed at
// 1 (there is no eps in PyTorch's weight norm; a zero row of v gives NaN there and here).
//
// Layout: x is batch×D; v is K×D — PyTorch's weight_v layout, stored as is (NOT our [in][out]
// linear convention, so checkpoints need no transpose); logits are batch×K.
//
// Backward convention (llm.c style): the backward returns freshly allocated gradients — dx is
// *assigned*; dV is this call's contribution, which the GPU kernels *accumulate* (+=).
//   dW = dlogitsᵀ·x (K×D),  dx = dlogits·W,  dv_k = (dW_k − W_k·(W_k·dW_k)) / ‖v_k‖.

export interface WeightNormShape {
  batch: number;
  /** D, the input feature size. */
  dim: number;
  /** K, the number of prototypes. */
  prototypes: number;
}

export interface WeightNormOutput {
  logits: Float64Array;
  /** The normalised weight W (K×D), saved for the backward. */
  weight: Float64Array;
  /** Per-row ‖v_k‖, saved for the backward. */
  norms: Float64Array;
}

/** W = v / ‖v‖ per row. */
export function normalizeRows(v: Float64Array, rows: number, dim: number): { weight: Float64Array; norms: Float64Array } {
  const weight = new Float64Array(rows * dim);
  const norms = new Float64Array(rows);
  for (let k = 0; k < rows; k++) {
    let sq = 0;
    for (let d = 0; d < dim; d++) sq += v[k * dim + d]! ** 2;
    norms[k] = Math.sqrt(sq);
    for (let d = 0; d < dim; d++) weight[k * dim + d] = v[k * dim + d]! / norms[k]!;
  }
  return { weight, norms };
}

export function weightNormLinearForward(x: Float64Array, v: Float64Array, s: WeightNormShape): WeightNormOutput {
  const { batch: B, dim: D, prototypes: K } = s;
  if (x.length !== B * D || v.length !== K * D) throw new Error(`weightNormLinearForward: expected x ${B}×${D} and v ${K}×${D}, got ${x.length} and ${v.length} elements`);
  const { weight, norms } = normalizeRows(v, K, D);
  const logits = new Float64Array(B * K);
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < K; k++) {
      let sum = 0;
      for (let d = 0; d < D; d++) sum += x[b * D + d]! * weight[k * D + d]!;
      logits[b * K + k] = sum;
    }
  }
  return { logits, weight, norms };
}

export function weightNormLinearBackward(
  dLogits: Float64Array,
  x: Float64Array,
  weight: Float64Array,
  norms: Float64Array,
  s: WeightNormShape,
): { dx: Float64Array; dV: Float64Array } {
  const { batch: B, dim: D, prototypes: K } = s;
  if (dLogits.length !== B * K || x.length !== B * D || weight.length !== K * D || norms.length !== K) {
    throw new Error(`weightNormLinearBackward: expected dLogits ${B}×${K}, x ${B}×${D}, weight ${K}×${D}, ${K} norms`);
  }
  const dx = new Float64Array(B * D);
  const dW = new Float64Array(K * D);
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < K; k++) {
      const g = dLogits[b * K + k]!;
      for (let d = 0; d < D; d++) {
        dx[b * D + d]! += g * weight[k * D + d]!;
        dW[k * D + d]! += g * x[b * D + d]!;
      }
    }
  }
  const dV = new Float64Array(K * D);
  for (let k = 0; k < K; k++) {
    let dot = 0;
    for (let d = 0; d < D; d++) dot += weight[k * D + d]! * dW[k * D + d]!;
    for (let d = 0; d < D; d++) dV[k * D + d] = (dW[k * D + d]! - weight[k * D + d]! * dot) / norms[k]!;
  }
  return { dx, dV };
}
