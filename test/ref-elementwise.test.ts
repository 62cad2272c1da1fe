// The float64 references of ReLU, the residual add and global average pooling, with their
// backwards against finite differences.
import { describe, expect, test } from 'vitest';
import { globalAvgPoolBackward, globalAvgPoolForward, reluBackward, reluForward, residualAdd } from '../src/ref/elementwise.ts';
import { awayFromZero, dot, expectGradientsMatch, gradientCheck, perturbGradient, randomF64 } from './helpers/gradcheck.ts';

describe('relu', () => {
  test('forward clamps at zero; backward passes dy where the input was positive (0 at 0)', () => {
    const x = Float64Array.from([-2, -0, 0, 0.5, 3]);
    expect(Array.from(reluForward(x))).toEqual([0, 0, 0, 0.5, 3]);
    const dy = Float64Array.from([1, 2, 3, 4, 5]);
    expect(Array.from(reluBackward(dy, x))).toEqual([0, 0, 0, 4, 5]);
    expect(Array.from(reluBackward(dy, reluForward(x)))).toEqual([0, 0, 0, 4, 5]);
  });

  test('backward against finite differences (inputs away from the kink)', () => {
    const x = awayFromZero(40, 1);
    const r = randomF64(40, 2);
    const c = { loss: () => dot(reluForward(x), r), inputs: { x }, grads: { x: reluBackward(r, x) } };
    expectGradientsMatch(c);
    expect(gradientCheck({ ...c, grads: perturbGradient(c.grads, 'x', 3) }).ok).toBe(false);
  });
});

describe('residual add', () => {
  test('sums elementwise and refuses different lengths', () => {
    expect(Array.from(residualAdd(Float64Array.from([1, 2]), Float64Array.from([10, 20])))).toEqual([11, 22]);
    expect(() => residualAdd(new Float64Array(2), new Float64Array(3))).toThrow(/2 and 3 elements/);
  });
});

describe('global average pool', () => {
  const s = { batch: 2, height: 3, width: 5, channels: 4 };
  const n = 2 * 3 * 5 * 4;

  test('forward averages each channel of each image (NHWC → N×C)', () => {
    // x[n][h][w][c] = 100·n + c + (h·W + w): the spatial mean of (h·W + w) over 15 positions is 7.
    const x = new Float64Array(n);
    for (let b = 0; b < 2; b++) for (let p = 0; p < 15; p++) for (let c = 0; c < 4; c++) x[(b * 15 + p) * 4 + c] = 100 * b + c + p;
    expect(Array.from(globalAvgPoolForward(x, s))).toEqual([7, 8, 9, 10, 107, 108, 109, 110]);
  });

  test('backward against finite differences', () => {
    const x = randomF64(n, 3);
    const r = randomF64(8, 4);
    const c = { loss: () => dot(globalAvgPoolForward(x, s), r), inputs: { x }, grads: { x: globalAvgPoolBackward(r, s) } };
    expectGradientsMatch(c);
    expect(gradientCheck({ ...c, grads: perturbGradient(c.grads, 'x', 50) }).ok).toBe(false);
  });
});
