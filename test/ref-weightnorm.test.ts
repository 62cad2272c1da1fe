// The float64 weight-normalised head reference (W_k = v_k/‖v_k‖, logits = x·Wᵀ, v stored K×D):
// forward as cosines and against the linear reference, backward (dx, dv) against finite
// differences.
import { describe, expect, test } from 'vitest';
import { normalizeRows, weightNormLinearBackward, weightNormLinearForward, type WeightNormShape } from '../src/ref/weightnorm.ts';
import { linearForward } from '../src/ref/linear.ts';
import { dot, expectClose64, expectGradientsMatch, gradientCheck, perturbGradient, randomF64 } from './helpers/gradcheck.ts';

const s: WeightNormShape = { batch: 3, dim: 5, prototypes: 7 };

describe('weight-normalised linear', () => {
  test('logits are x·Wᵀ with unit rows W: the linear layer with weight Wᵀ, and cosines for unit x', () => {
    const x = randomF64(15, 1);
    const v = randomF64(35, 2, -3, 3);
    const { logits, weight } = weightNormLinearForward(x, v, s);
    for (let k = 0; k < 7; k++) expect(Math.hypot(...weight.subarray(k * 5, k * 5 + 5))).toBeCloseTo(1, 14);
    // Our linear stores [in][out], so it takes Wᵀ (D×K).
    const wt = new Float64Array(35);
    for (let k = 0; k < 7; k++) for (let d = 0; d < 5; d++) wt[d * 7 + k] = weight[k * 5 + d]!;
    expectClose64('logits', logits, linearForward(x, wt, null, { batch: 3, inFeatures: 5, outFeatures: 7 }), 1e-15, 1e-14);
    // Scaling a row of v changes nothing.
    const v2 = Float64Array.from(v);
    for (let d = 0; d < 5; d++) v2[10 + d]! *= 4.5;
    expectClose64('scale invariance', weightNormLinearForward(x, v2, s).logits, logits, 1e-15, 1e-13);
    expect(normalizeRows(Float64Array.from([3, 4]), 1, 2).weight).toEqual(Float64Array.from([0.6, 0.8]));
  });

  test('backward (dx, dv) against finite differences; a 1e-4 error in one element is caught', () => {
    const x = randomF64(15, 11);
    const v = randomF64(35, 12, -2, 2);
    const r = randomF64(21, 13);
    const fwd = weightNormLinearForward(x, v, s);
    const g = weightNormLinearBackward(r, x, fwd.weight, fwd.norms, s);
    const c = { loss: () => dot(weightNormLinearForward(x, v, s).logits, r), inputs: { x, v }, grads: { x: g.dx, v: g.dV } };
    expectGradientsMatch(c, { h: 1e-5 });
    expect(gradientCheck({ ...c, grads: perturbGradient(c.grads, 'v', 20) }, { h: 1e-5 }).ok).toBe(false);
    expect(gradientCheck({ ...c, grads: perturbGradient(c.grads, 'x', 4) }, { h: 1e-5 }).ok).toBe(false);
    // dv is orthogonal to v row by row (the norm's scale invariance).
    for (let k = 0; k < 7; k++) expect(Math.abs(dot(g.dV.subarray(k * 5, k * 5 + 5), v.subarray(k * 5, k * 5 + 5)))).toBeLessThan(1e-14);
  });
});
