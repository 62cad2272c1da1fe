// Float64 reference of the representation-health metrics every method reports (issue 12, build
// item 4), for one batch's embeddings of two views (B×D each, not normalised; normalised here as
// F.normalize does, z = p/max(‖p‖, 1e-12)):
//   alignment       mean_i ⟨z⁽¹⁾_i, z⁽²⁾_i⟩ (the mean cosine of the two views' embeddings; 1 = aligned)
//   uniformity      log mean_{i≠j} exp(−2‖z⁽¹⁾_i − z⁽¹⁾_j‖²) over VIEW 1's normalised embeddings
//                   (Wang & Isola 2020; from −4 at best spread down to … 0 when collapsed)
//   effective rank  exp(H(p)), p_k = σ_k/Σσ, σ the singular values of view 1's normalised B×D matrix
//                   (Roy & Vetterli 2007; 1 for a rank-1 batch, min(B, D) for orthogonal rows)
// The singular values come from the eigenvalues of the smaller Gram (Z Zᵀ, B×B, or ZᵀZ, D×D) by
// the cyclic Jacobi eigenvalue method in float64, σ_k = √max(λ_k, 0). (The GPU runs one-sided
// Jacobi on Z itself, the same rotations without squaring the condition number in float32: a
// different algorithm, so this reference checks it rather than repeats it.) B ≥ 2 (uniformity needs a pair).
import { l2NormalizeForward } from './l2norm.ts';

export interface RepresentationHealthValues {
  alignment: number;
  uniformity: number;
  effectiveRank: number;
  /** View 1's singular values, largest first. */
  singularValues: Float64Array;
}

export const REPRESENTATION_HEALTH_NAMES = ['alignment', 'uniformity', 'effective_rank'] as const;

/** Eigenvalues of a symmetric n×n matrix (row-major, not modified) by cyclic Jacobi sweeps until the off-diagonal mass is negligible. */
export function symmetricEigenvalues(a: ArrayLike<number>, n: number, maxSweeps = 100): Float64Array {
  if (a.length !== n * n) throw new RangeError(`symmetricEigenvalues: ${a.length} values for a ${n}×${n} matrix`);
  const A = Float64Array.from(a);
  const at = (i: number, j: number) => A[i * n + j]!;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    let diag = 0;
    for (let i = 0; i < n; i++) {
      diag += at(i, i) ** 2;
      for (let j = i + 1; j < n; j++) off += at(i, j) ** 2;
    }
    if (off <= 1e-32 * diag || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = at(p, q);
        if (apq === 0) continue;
        const zeta = (at(q, q) - at(p, p)) / (2 * apq);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        // A ← Jᵀ A J with J the rotation in the (p, q) plane: columns, then rows.
        for (let k = 0; k < n; k++) {
          const akp = A[k * n + p]!;
          const akq = A[k * n + q]!;
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = A[p * n + k]!;
          const aqk = A[q * n + k]!;
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
      }
    }
  }
  return Float64Array.from({ length: n }, (_, i) => at(i, i)).sort((x, y) => y - x);
}

/** Singular values of a rows×cols matrix from the eigenvalues of its smaller Gram, largest first. */
export function singularValues(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const n = Math.min(rows, cols);
  const g = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      if (rows <= cols) for (let k = 0; k < cols; k++) s += x[i * cols + k]! * x[j * cols + k]!;
      else for (let k = 0; k < rows; k++) s += x[k * cols + i]! * x[k * cols + j]!;
      g[i * n + j] = s;
      g[j * n + i] = s;
    }
  }
  return symmetricEigenvalues(g, n).map((l) => Math.sqrt(Math.max(l, 0)));
}

/** exp of the entropy of σ/Σσ (0·log 0 = 0); 0 when every σ is 0. */
export function effectiveRankOf(sigma: ArrayLike<number>): number {
  let total = 0;
  for (let k = 0; k < sigma.length; k++) total += sigma[k]!;
  if (!(total > 0)) return 0;
  let h = 0;
  for (let k = 0; k < sigma.length; k++) {
    const p = sigma[k]! / total;
    if (p > 0) h -= p * Math.log(p);
  }
  return Math.exp(h);
}

export function representationHealth(p1: ArrayLike<number>, p2: ArrayLike<number>, B: number, D: number): RepresentationHealthValues {
  if (!Number.isInteger(B) || B < 2) throw new RangeError(`representationHealth: the batch B must be an integer ≥ 2 (uniformity needs a pair of rows), got ${B}`);
  if (!Number.isInteger(D) || D < 1) throw new RangeError(`representationHealth: the width D must be an integer ≥ 1, got ${D}`);
  if (p1.length !== B * D || p2.length !== B * D) throw new RangeError(`representationHealth: views of ${p1.length} and ${p2.length} values, expected ${B}×${D} each`);
  const z1 = l2NormalizeForward(Float64Array.from(p1), { rows: B, dim: D }).y;
  const z2 = l2NormalizeForward(Float64Array.from(p2), { rows: B, dim: D }).y;
  let align = 0;
  for (let i = 0; i < B * D; i++) align += z1[i]! * z2[i]!;
  let u = 0;
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < B; j++) {
      if (i === j) continue;
      let d2 = 0;
      for (let d = 0; d < D; d++) d2 += (z1[i * D + d]! - z1[j * D + d]!) ** 2;
      u += Math.exp(-2 * d2);
    }
  }
  const sigma = singularValues(z1, B, D);
  return { alignment: align / B, uniformity: Math.log(u / (B * (B - 1))), effectiveRank: effectiveRankOf(sigma), singularValues: sigma };
}
