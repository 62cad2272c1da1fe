// The float64 row L2-normalisation reference (F.normalize, eps 1e-12): unit rows, the clamped
// zero row, and the backward against finite differences.
import { describe, expect, test } from 'vitest';
import { l2NormalizeBackward, l2NormalizeForward, L2NORM_EPS } from '../src/ref/l2norm.ts';
import { dot, expectGradientsMatch, gradientCheck, perturbGradient, randomF64 } from './helpers/gradcheck.ts';

const s = { rows: 4, dim: 6 };

describe('l2 normalise', () => {
  test('rows come out with unit norm; a zero row stays zero (the norm is clamped to eps)', () => {
    const x = randomF64(24, 1, -3, 3);
    x.fill(0, 12, 18); // row 2 is zero
    const { y, norms } = l2NormalizeForward(x, s);
    for (const r of [0, 1, 3]) expect(Math.hypot(...y.subarray(r * 6, r * 6 + 6))).toBeCloseTo(1, 14);
    expect(Array.from(y.subarray(12, 18))).toEqual([0, 0, 0, 0, 0, 0]);
    expect(norms[2]).toBe(0);
    expect(y[0]).toBeCloseTo(x[0]! / Math.hypot(...x.subarray(0, 6)), 15);
  });

  test('backward against finite differences', () => {
    const x = randomF64(24, 2, -2, 2);
    const r = randomF64(24, 3);
    const fwd = l2NormalizeForward(x, s);
    const c = { loss: () => dot(l2NormalizeForward(x, s).y, r), inputs: { x }, grads: { x: l2NormalizeBackward(r, fwd.y, fwd.norms, s) } };
    expectGradientsMatch(c, { h: 1e-5 });
    expect(gradientCheck({ ...c, grads: perturbGradient(c.grads, 'x', 9) }, { h: 1e-5 }).ok).toBe(false);
  });

  test('below eps the layer is x/eps, so dx = dy/eps (checked with a step far below eps)', () => {
    const tiny = { rows: 1, dim: 3 };
    const x = Float64Array.from([1e-14, -2e-14, 3e-14]); // ‖x‖ ≈ 3.7e-14 < 1e-12
    const r = Float64Array.from([0.3, -0.7, 0.2]);
    const fwd = l2NormalizeForward(x, tiny);
    const dx = l2NormalizeBackward(r, fwd.y, fwd.norms, tiny);
    expect(Array.from(dx)).toEqual(Array.from(r, (v) => v / L2NORM_EPS));
    expectGradientsMatch({ loss: () => dot(l2NormalizeForward(x, tiny).y, r), inputs: { x }, grads: { x: dx } }, { h: 1e-16, rtol: 1e-5 });
  });
});
