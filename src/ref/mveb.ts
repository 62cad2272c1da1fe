// Float64 CPU reference of the MVEB objective (Multi-View Entropy Bottleneck, Wen et al., TPAMI
// 2024; the authors' released code), the twin of src/mira/mveb.ts and src/shaders/mveb.wgsl.
// Pure TS, no I/O; inputs may be Float32Array or Float64Array, outputs are Float64Array.
//
// Notation (docs/ARCHITECTURE.md, embedding objectives): student projector outputs p⁽¹⁾, p⁽²⁾
// (B×D, row-major), EMA-teacher outputs q⁽¹⁾, q⁽²⁾; z = p/max(‖p‖, 1e-12) and t = q/max(‖q‖,
// 1e-12) row-wise (F.normalize).
//   align  = ½ [ mean_i ⟨z⁽¹⁾_i, t⁽²⁾_i⟩ + mean_i ⟨z⁽²⁾_i, t⁽¹⁾_i⟩ ]
//   Stein score of one chunk Z (N×D rows of one view; no gradient):
//     A = Z Zᵀ;  τ = max(0.1, the ⌊N²/2⌋-th largest entry of 1 − A, diagonal included)
//     K = exp(A/τ);  Ψ_i = (1/τ)(Σ_j K_ij) z_i;  S = −(K + ηI)⁻¹ Ψ  (Cholesky, K not rescaled)
//   unif   = ½ [ Ĥ(Z⁽¹⁾) + Ĥ(Z⁽²⁾) ],  Ĥ = −(1/B) Σ_i ⟨sg(S_i), z_i⟩ (the mean over chunks of
//            each chunk's −(1/N)Σ⟨S_i, z_i⟩: chunks have equal sizes)
//   L      = −align − λ·unif
//   ∂L/∂z⁽ᵛ⁾_i = (1/(2B)) (−t⁽ᵛ'⁾_i + λ S⁽ᵛ⁾_i)          (v' the other view; S held fixed)
//   ∂L/∂p_i   = (∂L/∂z_i − z_i ⟨z_i, ∂L/∂z_i⟩) / ‖p_i‖  (∂L/∂z_i / 1e-12 where ‖p_i‖ < 1e-12)
// `steinChunk` N (default B) estimates S on sub-batches of N consecutive rows, as the official
// code did per GPU.
//
// Cholesky pivot floor (the GPU does the same): every pivot of K + ηI is at least η in exact
// arithmetic (a Schur complement of a matrix ⪰ ηI is ⪰ ηI), so a computed pivot below η (or NaN)
// is rounding error of a near-singular K: the pivot is replaced by η, the rest of its column
// (noise) by 0, and it is counted (`pivotsFloored`). In float64 this does not happen on any batch
// whose rows are not almost equal.

export const MVEB_DEFAULTS = { entropyWeight: 0.01, steinEta: 0.01 } as const;
/** τ's lower clamp in the official code. */
export const MVEB_TAU_MIN = 0.1;
const NORM_EPS = 1e-12;

export interface MvebParams {
  /** λ (`--entropy-weight`), ≥ 0. */
  entropyWeight?: number;
  /** η (`--stein-eta`), > 0. */
  steinEta?: number;
  /** N (`--stein-chunk`): rows per Stein estimate; divides B; default B. */
  steinChunk?: number;
}

/** λ, η and the chunk with their defaults. The GPU host (src/mira/mveb.ts) validates the same
 *  ranges with messages naming the CLI flags; the reference only refuses what it cannot compute. */
function resolveParams(B: number, p: MvebParams): { lambda: number; eta: number; chunk: number } {
  const lambda = p.entropyWeight ?? MVEB_DEFAULTS.entropyWeight;
  const eta = p.steinEta ?? MVEB_DEFAULTS.steinEta;
  const chunk = p.steinChunk ?? B;
  if (!(lambda >= 0 && eta > 0 && Number.isInteger(chunk) && chunk >= 2 && B % chunk === 0)) {
    throw new RangeError(`mveb reference: needs λ ≥ 0, η > 0 and a chunk ≥ 2 dividing B = ${B}; got λ = ${lambda}, η = ${eta}, chunk = ${chunk}`);
  }
  return { lambda, eta, chunk };
}

/** Row-wise z = x / max(‖x‖, 1e-12); also returns the unclamped norms. */
export function normalizeRows(x: ArrayLike<number>, rows: number, D: number): { z: Float64Array; norm: Float64Array } {
  const z = new Float64Array(rows * D);
  const norm = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let d = 0; d < D; d++) s += x[i * D + d]! ** 2;
    norm[i] = Math.sqrt(s);
    const inv = 1 / Math.max(norm[i]!, NORM_EPS);
    for (let d = 0; d < D; d++) z[i * D + d] = x[i * D + d]! * inv;
  }
  return { z, norm };
}

/** The k-th largest (k ≥ 1) of the values, ties counted. */
export function kthLargest(values: ArrayLike<number>, k: number): number {
  const sorted = Float64Array.from(values).sort();
  return sorted[sorted.length - k]!;
}

export interface SteinResult {
  /** S (N×D). */
  S: Float64Array;
  tau: number;
  /** Pivots of K + ηI below η (or NaN) replaced by η. */
  pivotsFloored: number;
}

/** In-place Cholesky of the N×N SPD matrix M (lower triangle → L), with the pivot floor η. */
export function choleskyInPlace(M: Float64Array, N: number, floor: number): number {
  let floored = 0;
  for (let j = 0; j < N; j++) {
    let d = M[j * N + j]!;
    for (let l = 0; l < j; l++) d -= M[j * N + l]! ** 2;
    const low = !(d >= floor);
    if (low) {
      d = floor;
      floored++;
    }
    const s = Math.sqrt(d);
    M[j * N + j] = s;
    for (let i = j + 1; i < N; i++) {
      if (low) {
        M[i * N + j] = 0;
        continue;
      }
      let v = M[i * N + j]!;
      for (let l = 0; l < j; l++) v -= M[i * N + l]! * M[j * N + l]!;
      M[i * N + j] = v / s;
    }
  }
  return floored;
}

/** X = (L Lᵀ)⁻¹ R for R N×D (forward then backward substitution), L from choleskyInPlace. */
export function choleskySolve(L: Float64Array, N: number, R: Float64Array, D: number): Float64Array {
  const X = Float64Array.from(R);
  for (let c = 0; c < D; c++) {
    for (let j = 0; j < N; j++) {
      let v = X[j * D + c]!;
      for (let l = 0; l < j; l++) v -= L[j * N + l]! * X[l * D + c]!;
      X[j * D + c] = v / L[j * N + j]!;
    }
    for (let j = N - 1; j >= 0; j--) {
      let v = X[j * D + c]!;
      for (let l = j + 1; l < N; l++) v -= L[l * N + j]! * X[l * D + c]!;
      X[j * D + c] = v / L[j * N + j]!;
    }
  }
  return X;
}

/** The Stein score estimate of one chunk of unit rows Z (N×D). */
export function steinScore(Z: ArrayLike<number>, N: number, D: number, eta: number): SteinResult {
  const A = new Float64Array(N * N);
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += Z[i * D + d]! * Z[j * D + d]!;
      A[i * N + j] = s;
    }
  }
  const tau = Math.max(MVEB_TAU_MIN, kthLargest(A.map((a) => 1 - a), Math.floor((N * N) / 2)));
  const M = new Float64Array(N * N);
  const psi = new Float64Array(N * D);
  for (let i = 0; i < N; i++) {
    let r = 0;
    for (let j = 0; j < N; j++) {
      const k = Math.exp(A[i * N + j]! / tau);
      r += k;
      M[i * N + j] = k + (i === j ? eta : 0);
    }
    for (let d = 0; d < D; d++) psi[i * D + d] = (r / tau) * Z[i * D + d]!;
  }
  const pivotsFloored = choleskyInPlace(M, N, eta);
  const X = choleskySolve(M, N, psi, D);
  return { S: X.map((v) => -v), tau, pivotsFloored };
}

export interface MvebReference {
  loss: number;
  align: number;
  unif: number;
  /** τ averaged over the chunks of both views (the statistic the GPU reports). */
  tau: number;
  /** τ per chunk: view 1's chunks, then view 2's. */
  taus: number[];
  pivotsFloored: number;
  /** z⁽ᵛ⁾, S⁽ᵛ⁾, ∂L/∂z⁽ᵛ⁾, ∂L/∂p⁽ᵛ⁾: B×D each. */
  z: [Float64Array, Float64Array];
  S: [Float64Array, Float64Array];
  gradZ: [Float64Array, Float64Array];
  gradP: [Float64Array, Float64Array];
}

type Pair = [ArrayLike<number>, ArrayLike<number>];

/** The objective's loss, statistics and gradients (float64). */
export function mvebReference(student: Pair, teacher: Pair, B: number, D: number, params: MvebParams = {}): MvebReference {
  const { lambda, eta, chunk } = resolveParams(B, params);
  const zs = student.map((p) => normalizeRows(p, B, D)) as [ReturnType<typeof normalizeRows>, ReturnType<typeof normalizeRows>];
  const S: [Float64Array, Float64Array] = [new Float64Array(B * D), new Float64Array(B * D)];
  const taus: number[] = [];
  let pivotsFloored = 0;
  for (let v = 0; v < 2; v++) {
    for (let c = 0; c < B / chunk; c++) {
      const r = steinScore(zs[v]!.z.subarray(c * chunk * D, (c + 1) * chunk * D), chunk, D, eta);
      S[v]!.set(r.S, c * chunk * D);
      taus.push(r.tau);
      pivotsFloored += r.pivotsFloored;
    }
  }
  const s = mvebSurrogate(student, teacher, S, B, D, lambda);
  return { ...s, tau: taus.reduce((a, b) => a + b, 0) / taus.length, taus, pivotsFloored, z: [zs[0].z, zs[1].z], S };
}

/**
 * The surrogate with S held fixed: L(p) = −align(p) − λ·unif(p; S), its terms and its gradients
 * with respect to z and p. Its p-gradient is the objective's; finite differences of this function
 * check it.
 */
export function mvebSurrogate(
  student: Pair,
  teacher: Pair,
  S: [ArrayLike<number>, ArrayLike<number>],
  B: number,
  D: number,
  lambda: number,
): { loss: number; align: number; unif: number; gradZ: [Float64Array, Float64Array]; gradP: [Float64Array, Float64Array] } {
  const zs = student.map((p) => normalizeRows(p, B, D));
  const ts = teacher.map((q) => normalizeRows(q, B, D).z);
  let alignSum = 0;
  let unifSum = 0;
  const gradZ: [Float64Array, Float64Array] = [new Float64Array(B * D), new Float64Array(B * D)];
  const gradP: [Float64Array, Float64Array] = [new Float64Array(B * D), new Float64Array(B * D)];
  for (let v = 0; v < 2; v++) {
    const { z, norm } = zs[v]!;
    const t = ts[1 - v]!;
    const Sv = S[v]!;
    for (let i = 0; i < B; i++) {
      let zg = 0;
      for (let d = 0; d < D; d++) {
        const k = i * D + d;
        alignSum += z[k]! * t[k]!;
        unifSum += Sv[k]! * z[k]!;
        const g = (-t[k]! + lambda * Sv[k]!) / (2 * B);
        gradZ[v]![k] = g;
        zg += z[k]! * g;
      }
      const n = norm[i]!;
      for (let d = 0; d < D; d++) {
        const k = i * D + d;
        gradP[v]![k] = n < NORM_EPS ? gradZ[v]![k]! / NORM_EPS : (gradZ[v]![k]! - z[k]! * zg) / n;
      }
    }
  }
  const align = alignSum / (2 * B);
  const unif = -unifSum / (2 * B);
  return { loss: -align - lambda * unif, align, unif, gradZ, gradP };
}
