// Float64 reference of row-wise L2 normalisation, as PyTorch's F.normalize(x, dim=1):
//   y_i = x_i / max(‖x_i‖₂, eps), eps = 1e-12.
//
// Layout: x is rows×dim (row-major), one vector per row (batch×features).
//
// Backward convention (llm.c style): the backward returns a freshly allocated dx, *assigned*
// (the layer has no parameters). With ‖x‖ ≥ eps, dx = (dy − y·(y·dy)) / ‖x‖; below eps the
// denominator is the constant eps, so dx = dy / eps (PyTorch's clamp_min passes the gradient
// through the norm where norm ≥ eps, and not below).

export const L2NORM_EPS = 1e-12;

export interface L2NormShape {
  rows: number;
  dim: number;
}

export interface L2NormOutput {
  y: Float64Array;
  /** Per-row ‖x‖₂ before clamping, saved for the backward. */
  norms: Float64Array;
}

export function l2NormalizeForward(x: Float64Array, s: L2NormShape, eps = L2NORM_EPS): L2NormOutput {
  const { rows, dim } = s;
  if (x.length !== rows * dim) throw new Error(`l2NormalizeForward: x has ${x.length} elements, expected ${rows}×${dim}`);
  const y = new Float64Array(rows * dim);
  const norms = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let sq = 0;
    for (let d = 0; d < dim; d++) sq += x[r * dim + d]! ** 2;
    norms[r] = Math.sqrt(sq);
    const denom = Math.max(norms[r]!, eps);
    for (let d = 0; d < dim; d++) y[r * dim + d] = x[r * dim + d]! / denom;
  }
  return { y, norms };
}

export function l2NormalizeBackward(dy: Float64Array, y: Float64Array, norms: Float64Array, s: L2NormShape, eps = L2NORM_EPS): Float64Array {
  const { rows, dim } = s;
  if (dy.length !== rows * dim || y.length !== rows * dim || norms.length !== rows) {
    throw new Error(`l2NormalizeBackward: expected dy and y of ${rows}×${dim} and ${rows} norms, got ${dy.length}, ${y.length}, ${norms.length}`);
  }
  const dx = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    const norm = norms[r]!;
    if (norm >= eps) {
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += y[r * dim + d]! * dy[r * dim + d]!;
      for (let d = 0; d < dim; d++) dx[r * dim + d] = (dy[r * dim + d]! - y[r * dim + d]! * dot) / norm;
    } else {
      for (let d = 0; d < dim; d++) dx[r * dim + d] = dy[r * dim + d]! / eps;
    }
  }
  return dx;
}
