// Float64 reference of the MIO objective (Mutual Information Optimization, Manna et al. 2021, v1 of
// the paper as its released code; issue 12 "The objectives"): contrastive learning as binary
// classification of positive and negative pairs plus an additive L2 term, on the L2-normalised
// projector outputs of two views. No teacher, no prototypes.
//
//   z⁽ᵛ⁾ = p⁽ᵛ⁾/max(‖p⁽ᵛ⁾‖, 1e-12) row-wise (F.normalize);  Z = [z⁽¹⁾; z⁽²⁾] (2B×D);  S = Z Zᵀ;  a' = a ± B
//   L = 1/(2B)        Σ_a softplus(−s_aa'/τ₊)                       (the 2B ordered positive pairs)
//     + 1/(2B(2B−2))  Σ_a Σ_{b∉{a,a'}} softplus(s_ab/τ₋)           (the ordered negative pairs)
//     + μ/(BD)        Σ_i ‖z⁽¹⁾_i − z⁽²⁾_i‖²                       (the B·D entries of (z⁽¹⁾ − z⁽²⁾)²)
//   ∂L/∂z_a = −(1/(Bτ₊))·σ(−s_aa'/τ₊)·z_a' + (1/(2B(B−1)τ₋))·Σ_{b∉{a,a'}} σ(s_ab/τ₋)·z_b + (2μ/(BD))·(z_a − z_a')
//   ∂L/∂p   = (I − z zᵀ) ∂L/∂z / ‖p‖   (through the normalisation; src/ref/l2norm.ts)
// Stats (MioPlan.statNames): the mean positive pair probability mean_a σ(s_aa'/τ₊) and the mean
// negative pair probability mean over the ordered negative pairs of σ(s_ab/τ₋).
// Defaults τ₊ = τ₋ = 0.5, μ = 1. B = 1 has no negative pairs and is refused.
import { l2NormalizeBackward, l2NormalizeForward } from './l2norm.ts';

export interface MioParams {
  /** τ₊ (`--tau-pos`), > 0. */
  tauPos: number;
  /** τ₋ (`--tau-neg`), > 0. */
  tauNeg: number;
  /** μ (`--l2-weight`), ≥ 0. */
  l2Weight: number;
  /** ν, the negative term's weight (1, MIO; 0 switches the negatives off, `--mio-negatives off`, the classroom's dimensional-collapse preset); in [0, 1]. */
  negWeight?: number;
}

export const MIO_DEFAULTS: Readonly<MioParams> = { tauPos: 0.5, tauNeg: 0.5, l2Weight: 1 };

/** The statistics' names, in the order of MioPlan's `stats` tensor. */
export const MIO_STAT_NAMES = ['pos_prob', 'neg_prob'] as const;

/** Refuses parameters outside their ranges, naming the CLI flag (before any work or dispatch). */
export function checkMioParams(p: MioParams, what = 'MIO'): void {
  const finite = (x: number) => typeof x === 'number' && Number.isFinite(x);
  if (!(finite(p.tauPos) && p.tauPos > 0)) throw new RangeError(`${what}: --tau-pos (τ₊, the positive pairs' temperature) must be a finite number > 0, got ${p.tauPos}`);
  if (!(finite(p.tauNeg) && p.tauNeg > 0)) throw new RangeError(`${what}: --tau-neg (τ₋, the negative pairs' temperature) must be a finite number > 0, got ${p.tauNeg}`);
  if (!(finite(p.l2Weight) && p.l2Weight >= 0)) throw new RangeError(`${what}: --l2-weight (μ, the weight of the L2 term) must be a finite number ≥ 0, got ${p.l2Weight}`);
  if (p.negWeight !== undefined && !(finite(p.negWeight) && p.negWeight >= 0 && p.negWeight <= 1)) throw new RangeError(`${what}: the negative term's weight ν (--mio-negatives on = 1, off = 0) must be a finite number in [0, 1], got ${p.negWeight}`);
}

/** Refuses a batch without negative pairs or a non-integer shape. */
export function checkMioShape(B: number, D: number, what = 'MIO'): void {
  if (!Number.isInteger(D) || D < 1) throw new RangeError(`${what}: the embedding width D must be an integer ≥ 1, got ${D}`);
  if (!Number.isInteger(B) || B < 2) {
    throw new RangeError(`${what}: the batch B must be an integer ≥ 2, got ${B}: with B = 1 a row's only other row is its positive partner, so there are no negative pairs (use --batch 2 or more)`);
  }
}

/** softplus(x) = log(1 + eˣ), without overflow or cancellation. */
export function softplus(x: number): number {
  return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
}

/** σ(x) = 1/(1 + e⁻ˣ), without overflow. */
export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

export interface MioResult {
  loss: number;
  /** The three terms: positive, negative, L2 (their sum is `loss`). */
  terms: { pos: number; neg: number; l2: number };
  /** ∂L/∂p⁽¹⁾, ∂L/∂p⁽²⁾ (B×D). */
  grads: [Float64Array, Float64Array];
  /** ∂L/∂z⁽¹⁾, ∂L/∂z⁽²⁾ (B×D): the gradient before the normalisation's backward. */
  gradsZ: [Float64Array, Float64Array];
  /** mean positive pair probability, mean negative pair probability (MIO_STAT_NAMES). */
  stats: [number, number];
}

/** The MIO loss, its gradient into both views' projector outputs, and its stats. */
export function mioObjective(p1: ArrayLike<number>, p2: ArrayLike<number>, B: number, D: number, params: MioParams = MIO_DEFAULTS): MioResult {
  checkMioShape(B, D, 'mioObjective');
  checkMioParams(params, 'mioObjective');
  if (p1.length !== B * D || p2.length !== B * D) throw new RangeError(`mioObjective: views of ${p1.length} and ${p2.length} values, expected ${B}×${D} = ${B * D} each`);
  const { tauPos, tauNeg, l2Weight: mu } = params;
  const nu = params.negWeight ?? 1;
  const n1 = l2NormalizeForward(Float64Array.from(p1), { rows: B, dim: D });
  const n2 = l2NormalizeForward(Float64Array.from(p2), { rows: B, dim: D });
  const N = 2 * B;
  const Z = new Float64Array(N * D);
  Z.set(n1.y, 0);
  Z.set(n2.y, B * D);
  const s = (a: number, b: number) => {
    let t = 0;
    for (let d = 0; d < D; d++) t += Z[a * D + d]! * Z[b * D + d]!;
    return t;
  };
  const partner = (a: number) => (a < B ? a + B : a - B);
  const cNeg = nu / (2 * B * (B - 1) * tauNeg);
  const cL2 = (2 * mu) / (B * D);
  const dZ = new Float64Array(N * D);
  let pos = 0;
  let neg = 0;
  let posProb = 0;
  let negProb = 0;
  for (let a = 0; a < N; a++) {
    const ap = partner(a);
    for (let b = 0; b < N; b++) {
      if (b === a) continue;
      const sab = s(a, b);
      let w: number;
      if (b === ap) {
        pos += softplus(-sab / tauPos);
        posProb += sigmoid(sab / tauPos);
        w = -sigmoid(-sab / tauPos) / (B * tauPos);
      } else {
        neg += softplus(sab / tauNeg);
        negProb += sigmoid(sab / tauNeg);
        w = cNeg * sigmoid(sab / tauNeg);
      }
      for (let d = 0; d < D; d++) dZ[a * D + d]! += w * Z[b * D + d]!;
    }
    for (let d = 0; d < D; d++) dZ[a * D + d]! += cL2 * (Z[a * D + d]! - Z[ap * D + d]!);
  }
  let l2 = 0;
  for (let i = 0; i < B * D; i++) l2 += (n1.y[i]! - n2.y[i]!) ** 2;
  const terms = { pos: pos / N, neg: (nu * neg) / (N * (N - 2)), l2: (mu * l2) / (B * D) };
  const g1 = dZ.slice(0, B * D);
  const g2 = dZ.slice(B * D);
  return {
    loss: terms.pos + terms.neg + terms.l2,
    terms,
    gradsZ: [g1, g2],
    grads: [l2NormalizeBackward(g1, n1.y, n1.norms, { rows: B, dim: D }), l2NormalizeBackward(g2, n2.y, n2.norms, { rows: B, dim: D })],
    stats: [posProb / N, negProb / (N * (N - 2))],
  };
}
