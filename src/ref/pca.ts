// Float64 reference of the embedding map's PCA (src/shaders/pca.wgsl, host src/mira/pca.ts): the
// column means, the covariance C = Xcᵀ Xc / max(N − 1, 1), the top two eigenvectors of C by
// power iteration from the shader's hashed starting vectors (the second orthogonalised against
// the first after every product), each signed so its largest-magnitude entry is positive (lowest
// index on ties), λ_c = v_cᵀ C v_c, the residuals ‖C v_c − λ_c v_c‖ / λ_1, tr C, and every row
// projected on v_1, v_2. Pure TS, no I/O; X row-major N×D, any ArrayLike<number>.

export interface PcaRef {
  mean: Float64Array;
  cov: Float64Array;
  /** v_1 then v_2, D each. */
  vectors: Float64Array;
  eigenvalues: [number, number];
  trace: number;
  /** ‖C v_c − λ_c v_c‖ / λ_1: how far each vector is from an eigenvector after `iters` products. */
  residuals: [number, number];
  /** N×2 row-major. */
  points: Float64Array;
}

export const PCA_DEFAULT_ITERS = 200;

/** The shader's pca_init: a hashed value in [−½, ½) for entry i of component c (u32 arithmetic). */
export function pcaInit(i: number, c: number): number {
  let h = (Math.imul(i, 2654435761) + Math.imul(c, 40503) + 12345) >>> 0;
  h = Math.imul((h ^ (h >>> 15)) >>> 0, 2246822519) >>> 0;
  h = (h ^ (h >>> 13)) >>> 0;
  return (h >>> 8) / 16777216 - 0.5;
}

export function pcaReference(x: ArrayLike<number>, N: number, D: number, iters = PCA_DEFAULT_ITERS): PcaRef {
  if (!(Number.isInteger(N) && N >= 2 && Number.isInteger(D) && D >= 2)) throw new RangeError(`pcaReference: needs N ≥ 2 rows and D ≥ 2 columns, got ${N}×${D}`);
  if (x.length !== N * D) throw new RangeError(`pcaReference: X holds ${x.length} values, N×D = ${N}×${D} needs ${N * D}`);
  const mean = new Float64Array(D);
  for (let n = 0; n < N; n++) for (let d = 0; d < D; d++) mean[d]! += x[n * D + d]!;
  for (let d = 0; d < D; d++) mean[d]! /= N;
  const cov = new Float64Array(D * D);
  const row = new Float64Array(D);
  for (let n = 0; n < N; n++) {
    for (let d = 0; d < D; d++) row[d] = x[n * D + d]! - mean[d]!;
    for (let i = 0; i < D; i++) for (let j = 0; j < D; j++) cov[i * D + j]! += row[i]! * row[j]!;
  }
  for (let k = 0; k < D * D; k++) cov[k]! /= N - 1;
  let trace = 0;
  for (let i = 0; i < D; i++) trace += cov[i * D + i]!;

  const matVec = (v: Float64Array): Float64Array => {
    const w = new Float64Array(D);
    for (let i = 0; i < D; i++) {
      let s = 0;
      for (let j = 0; j < D; j++) s += cov[i * D + j]! * v[j]!;
      w[i] = s;
    }
    return w;
  };
  const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, ai, i) => s + ai * b[i]!, 0);
  const vectors = new Float64Array(2 * D);
  const eigenvalues: [number, number] = [0, 0];
  const residuals: [number, number] = [0, 0];
  let v1: Float64Array | null = null;
  for (let c = 0; c < 2; c++) {
    let v = new Float64Array(D);
    const settle = (w: Float64Array) => {
      if (v1) {
        const d = dot(w, v1);
        for (let i = 0; i < D; i++) w[i]! -= d * v1[i]!;
      }
      const nrm = Math.sqrt(dot(w, w));
      if (nrm > 0) v = w.map((wi) => wi / nrm);
    };
    settle(Float64Array.from({ length: D }, (_, i) => pcaInit(i, c)));
    for (let it = 0; it < iters; it++) settle(matVec(v));
    let top = 0;
    for (let i = 1; i < D; i++) if (Math.abs(v[i]!) > Math.abs(v[top]!)) top = i;
    if (v[top]! < 0) v = v.map((vi) => -vi);
    const w = matVec(v);
    const lambda = dot(v, w);
    eigenvalues[c] = lambda;
    let r = 0;
    for (let i = 0; i < D; i++) r += (w[i]! - lambda * v[i]!) ** 2;
    residuals[c] = Math.sqrt(r) / Math.max(eigenvalues[0], 1e-30);
    vectors.set(v, c * D);
    if (c === 0) v1 = v;
  }
  const points = new Float64Array(2 * N);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < 2; c++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += (x[n * D + d]! - mean[d]!) * vectors[c * D + d]!;
      points[2 * n + c] = s;
    }
  return { mean, cov, vectors, eigenvalues, trace, residuals, points };
}
