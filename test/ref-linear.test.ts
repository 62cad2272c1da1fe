// The float64 linear-layer reference ([in][out] weights, y = x·W + b): forward by hand and
// against the GEMM reference, backward against finite differences with and without bias.
import { describe, expect, test } from 'vitest';
import { linearBackward, linearForward, type LinearShape } from '../src/ref/linear.ts';
import { gemm } from '../src/ref/gemm.ts';
import { dot, expectClose64, expectGradientsMatch, gradientCheck, perturbGradient, randomF64 } from './helpers/gradcheck.ts';

const s: LinearShape = { batch: 3, inFeatures: 5, outFeatures: 4 };

describe('linear forward', () => {
  test('weights are [in][out]: y = x·W + b', () => {
    // x = [1, 2], W = [[1, 2, 3], [4, 5, 6]] (2 in × 3 out), b = [10, 20, 30].
    const y = linearForward(Float64Array.from([1, 2]), Float64Array.from([1, 2, 3, 4, 5, 6]), Float64Array.from([10, 20, 30]), { batch: 1, inFeatures: 2, outFeatures: 3 });
    expect(Array.from(y)).toEqual([19, 32, 45]);
  });

  test('agrees with the GEMM reference (with bias)', () => {
    const x = randomF64(15, 1);
    const w = randomF64(20, 2);
    const b = randomF64(4, 3);
    expectClose64('linear', linearForward(x, w, b, s), gemm(x, w, 3, 4, 5, { bias: b }), 1e-15, 1e-14);
    expectClose64('linear, no bias', linearForward(x, w, null, s), gemm(x, w, 3, 4, 5), 1e-15, 1e-14);
  });

  test('refuses wrong lengths', () => {
    expect(() => linearForward(new Float64Array(15), new Float64Array(19), null, s)).toThrow(/weight has 19 elements, expected 20/);
  });
});

describe('linear backward against finite differences', () => {
  function gradientCase(hasBias: boolean) {
    const x = randomF64(15, 11);
    const w = randomF64(20, 12);
    const b = randomF64(4, 13);
    const r = randomF64(12, 14);
    const g = linearBackward(r, x, w, s, hasBias);
    const inputs: Record<string, Float64Array> = { x, w };
    const grads: Record<string, Float64Array> = { x: g.dx, w: g.dWeight };
    if (hasBias) {
      inputs.b = b;
      grads.b = g.dBias!;
    } else {
      expect(g.dBias).toBeNull();
    }
    return { loss: () => dot(linearForward(x, w, hasBias ? b : null, s), r), inputs, grads };
  }

  test.each([true, false])('bias = %s: dx, dW (and db)', (hasBias) => {
    expectGradientsMatch(gradientCase(hasBias));
  });

  test('the check catches a gradient off by 1e-4 in one element', () => {
    const c = gradientCase(true);
    for (const name of ['x', 'w', 'b']) expect(gradientCheck({ ...c, grads: perturbGradient(c.grads, name, 1) }).ok).toBe(false);
  });
});
