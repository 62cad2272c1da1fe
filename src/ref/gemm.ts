// Float64 reference of the GEMM core (src/gpu/gemm.ts, src/shaders/gemm_plain.wgsl):
//   C = alpha · op(A) · op(B) + beta · C (+ bias[n] on every row),  C is M×N.
// Row-major. op(A) is M×K: A stored M×K, or K×M when transA. op(B) is K×N: B stored K×N, or
// N×K when transB. The bias is added after alpha scaling, as the kernel does. As in BLAS and
// the kernel, C is not read when beta = 0 (so NaN or garbage there does not leak through).
// No layers here, so no backward; the other references use their own loops.

export interface GemmOptions {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
  /** The prior C (M×N), read when beta ≠ 0; not modified. */
  c?: Float64Array;
  /** Per-column bias (N). */
  bias?: Float64Array;
}

/** Returns a new M×N array. */
export function gemm(a: Float64Array, b: Float64Array, M: number, N: number, K: number, opts: GemmOptions = {}): Float64Array {
  const { transA = false, transB = false, alpha = 1, beta = 0, c, bias } = opts;
  if (a.length !== M * K) throw new Error(`gemm: A has ${a.length} elements, expected ${M}×${K} = ${M * K}`);
  if (b.length !== K * N) throw new Error(`gemm: B has ${b.length} elements, expected ${K}×${N} = ${K * N}`);
  if (beta !== 0 && (!c || c.length !== M * N)) throw new Error(`gemm: beta = ${beta} needs a prior C of ${M}×${N} elements`);
  if (bias && bias.length !== N) throw new Error(`gemm: bias has ${bias.length} elements, expected ${N}`);
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let sum = 0;
      for (let k = 0; k < K; k++) {
        const av = transA ? a[k * M + m]! : a[m * K + k]!;
        const bv = transB ? b[n * K + k]! : b[k * N + n]!;
        sum += av * bv;
      }
      let r = alpha * sum;
      if (bias) r += bias[n]!;
      if (beta !== 0) r += beta * c![m * N + n]!;
      out[m * N + n] = r;
    }
  }
  return out;
}

/** One element of a reference result and the sum of its terms' magnitudes (the scale its float32 rounding error grows with). */
export interface SampledValue {
  value: number;
  absSum: number;
}

/**
 * C[m][n] of alpha · op(A) · op(B) alone, in float64, without forming C: what a benchmark checks
 * a few sampled elements of a large GEMM against (bench/gemm.bench.ts). Same layouts as `gemm`.
 */
export function gemmAt(a: ArrayLike<number>, b: ArrayLike<number>, M: number, N: number, K: number, m: number, n: number, opts: Pick<GemmOptions, 'transA' | 'transB' | 'alpha'> = {}): SampledValue {
  const { transA = false, transB = false, alpha = 1 } = opts;
  if (a.length !== M * K || b.length !== K * N) throw new Error(`gemmAt: A has ${a.length} and B ${b.length} elements, expected ${M}×${K} and ${K}×${N}`);
  if (!(m >= 0 && m < M && n >= 0 && n < N)) throw new Error(`gemmAt: element [${m}][${n}] is outside the ${M}×${N} result`);
  let sum = 0;
  let absSum = 0;
  for (let k = 0; k < K; k++) {
    const t = (transA ? a[k * M + m]! : a[m * K + k]!) * (transB ? b[n * K + k]! : b[k * N + n]!);
    sum += t;
    absSum += Math.abs(t);
  }
  return { value: alpha * sum, absSum: Math.abs(alpha) * absSum };
}
