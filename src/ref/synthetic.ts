// Deterministic synthetic teacher logits for the assignment tests and benches: cosines between
// L2-normalised embeddings that sit near a few cluster centres and K unit prototypes, as a
// trained projector + weight-normalised head would produce them. Same seed, same bits.

/** mulberry32: a small, fast, seeded uniform generator on [0, 1). */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples by Box–Muller over a uniform generator. */
export function gaussian(uniform: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

function randomUnit(dim: number, normal: () => number): Float64Array {
  const v = Float64Array.from({ length: dim }, normal);
  return normalise(v);
}

function normalise(v: Float64Array): Float64Array {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n) || 1;
  for (let d = 0; d < v.length; d++) v[d]! /= n;
  return v;
}

export interface ClusteredLogitsOptions {
  /** Embedding dimension (default 32). */
  dim?: number;
  /** Number of true clusters the rows are drawn from (default 10). */
  clusters?: number;
  /** Norm of the Gaussian offset added to a centre before normalising (default 0.5). */
  noise?: number;
  /** Cluster sizes ∝ (1 − imbalance)^c; 0 (default) is balanced. */
  imbalance?: number;
  /**
   * Prototypes: normalise(centre + prototypeNoise·ξ/√dim) around a random centre, as after
   * training (default 0.5); Infinity draws them uniformly on the sphere instead (an easier
   * problem: MIRA then converges in a few tens of iterations to rounding).
   */
  prototypeNoise?: number;
}

/**
 * B×K logits ℓ_ik = ⟨x_i, μ_k⟩ ∈ [−1, 1]: x_i = normalise(centre_{c(i)} + noise·ξ/√dim), ξ
 * standard normal, c(i) a random cluster; μ_k unit prototypes near random centres (see
 * `prototypeNoise`). Many prototypes compete for each cluster, which is what makes MIRA's
 * fixed point take its 30 iterations. Float32Array, so the GPU and the float64 reference see
 * exactly the same numbers.
 */
export function makeClusteredLogits(B: number, K: number, seed: number, o: ClusteredLogitsOptions = {}): Float32Array {
  const dim = o.dim ?? 32;
  const clusters = o.clusters ?? 10;
  const noise = o.noise ?? 0.5;
  const imbalance = o.imbalance ?? 0;
  if (!Number.isInteger(B) || B < 1 || !Number.isInteger(K) || K < 1) throw new RangeError(`makeClusteredLogits: bad shape ${B}×${K}`);
  const uniform = mulberry32(seed * 2654435761 + 12345);
  const normal = gaussian(uniform);
  const centres = Array.from({ length: clusters }, () => randomUnit(dim, normal));
  const prototypeNoise = o.prototypeNoise ?? 0.5;
  const prototypes = Array.from({ length: K }, () => {
    if (!Number.isFinite(prototypeNoise)) return randomUnit(dim, normal);
    const centre = centres[Math.floor(uniform() * clusters)]!;
    const s = prototypeNoise / Math.sqrt(dim);
    return normalise(centre.map((m) => m + s * normal()));
  });
  const weights = Array.from({ length: clusters }, (_, c) => Math.max(1 - imbalance, 1e-3) ** c);
  const total = weights.reduce((s, w) => s + w, 0);
  const out = new Float32Array(B * K);
  const sigma = noise / Math.sqrt(dim);
  for (let i = 0; i < B; i++) {
    let u = uniform() * total;
    let c = 0;
    while (c < clusters - 1 && u >= weights[c]!) u -= weights[c++]!;
    const x = normalise(centres[c]!.map((m) => m + sigma * normal()));
    for (let k = 0; k < K; k++) {
      const mu = prototypes[k]!;
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += x[d]! * mu[d]!;
      out[i * K + k] = dot;
    }
  }
  return out;
}
