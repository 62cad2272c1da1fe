// The counter-based hash RNG that drives augmentation (and data order) from one seed.
// The WGSL twin lives in src/shaders/augment.wgsl (`pcg`, `rand_base`, `rand_u32`); both must
// produce the same 32-bit words bit for bit, which test/data-augment.test.ts checks.
//
//   word(seed, step, sample, view, op) = pcg(pcg(pcg(pcg(pcg(seed) + step) + sample) + view) + op)
//
// pcg() is the PCG-RXS-M-XS output permutation of one LCG step (Jarzynski & Olano, "Hash
// Functions for GPU Rendering", JCGT 2020). Every random choice of the augmentation has its own
// `op` number (see AUGMENT_OPS), so choices never share a word and adding one never shifts others.
// All arithmetic is on u32 (wrapping), so JS and WGSL agree exactly.

/** One PCG hash round on a u32 (wrapping arithmetic). */
export function pcg(x: number): number {
  const state = (Math.imul(x >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** The per-(seed, step, sample, view) stream base; words are pcg(base + op). */
export function randBase(seed: number, step: number, sample: number, view: number): number {
  let h = pcg(seed >>> 0);
  h = pcg((h + (step >>> 0)) >>> 0);
  h = pcg((h + (sample >>> 0)) >>> 0);
  return pcg((h + (view >>> 0)) >>> 0);
}

export function randWord(base: number, op: number): number {
  return pcg((base + (op >>> 0)) >>> 0);
}

/** Uniform in [0, 1) with 24 random bits: exactly representable in f32 and f64 alike. */
export function wordToUnit(word: number): number {
  return (word >>> 8) * (1 / 16777216);
}

/** Uniform integer in [0, n) for 1 ≤ n ≤ 65536, by integer arithmetic only (exact on the GPU). */
export function wordToInt(word: number, n: number): number {
  return (((word >>> 16) * n) >>> 16) >>> 0;
}

/** A probability as the threshold t on the 24-bit word: the event is (word >>> 8) < t. */
export function probabilityThreshold(p: number): number {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`probability must be in [0, 1], got ${p}`);
  return Math.round(p * 16777216);
}

/** Op numbers: one per random choice. Crop attempt t uses CROP_BASE + 4t + {0 scale, 1 ratio, 2 top, 3 left}. */
export const AUGMENT_OPS = {
  CROP_BASE: 0,
  FLIP: 100,
  JITTER_APPLY: 101,
  BRIGHTNESS: 102,
  CONTRAST: 103,
  SATURATION: 104,
  HUE: 105,
  ORDER_0: 106,
  ORDER_1: 107,
  ORDER_2: 108,
  GRAYSCALE: 109,
  SOLARIZE: 110,
  /** A word stored verbatim in the params buffer so tests can compare the hash bit for bit. */
  CHECK: 0x7fff,
} as const;

/**
 * A permutation of 0…n−1 for one epoch (Fisher–Yates driven by the same hash), for the data
 * order: the same seed and epoch give the same order in Node and in the browser.
 */
export function epochPermutation(seed: number, epoch: number, n: number): Uint32Array {
  const perm = new Uint32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  const base = randBase(seed, epoch, 0xffffffff, 0x0da7a);
  for (let i = n - 1; i > 0; i--) {
    // One 32-bit word scaled to 0…i (bias below (i+1)/2^32: negligible for dataset sizes).
    const w = randWord(base, i);
    const j = Math.floor((w / 4294967296) * (i + 1));
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
  return perm;
}
