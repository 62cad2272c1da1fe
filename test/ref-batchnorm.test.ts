// The float64 batch-norm reference: training forward statistics, PyTorch's running-stat update
// (unbiased variance), eval forward, and the training backward against finite differences,
// both as BatchNorm2d (rows = N·H·W) and BatchNorm1d (rows = N).
import { describe, expect, test } from 'vitest';
import {
  batchNormBackwardTrain,
  batchNormForwardEval,
  batchNormForwardTrain,
  batchNormUpdateRunningStats,
  type BatchNormShape,
} from '../src/ref/batchnorm.ts';
import { dot, expectClose64, expectGradientsMatch, gradientCheck, perturbGradient, randomF64 } from './helpers/gradcheck.ts';

describe('batchnorm forward', () => {
  test('training output has per-channel mean β and standard deviation γ·√(var/(var+eps))', () => {
    const s = { rows: 2 * 3 * 5, channels: 4 };
    const x = randomF64(s.rows * s.channels, 1, -2, 3);
    const gamma = Float64Array.from([1, 2, 0.5, -1]);
    const beta = Float64Array.from([0, 1, -1, 0.25]);
    const { y, mean, variance, invstd } = batchNormForwardTrain(x, gamma, beta, s);
    for (let c = 0; c < s.channels; c++) {
      const col = Array.from({ length: s.rows }, (_, r) => y[r * s.channels + c]!);
      const m = col.reduce((a, b) => a + b, 0) / s.rows;
      const v = col.reduce((a, b) => a + (b - m) ** 2, 0) / s.rows;
      expect(m).toBeCloseTo(beta[c]!, 12);
      expect(Math.sqrt(v)).toBeCloseTo(Math.abs(gamma[c]!) * Math.sqrt(variance[c]! / (variance[c]! + 1e-5)), 12);
      expect(invstd[c]).toBeCloseTo(1 / Math.sqrt(variance[c]! + 1e-5), 12);
      const xs = Array.from({ length: s.rows }, (_, r) => x[r * s.channels + c]!);
      expect(mean[c]).toBeCloseTo(xs.reduce((a, b) => a + b, 0) / s.rows, 13);
    }
  });

  test('running statistics follow PyTorch: momentum 0.1, unbiased variance n/(n−1)', () => {
    // One channel, x = [1, 2, 3, 6]: mean 3, biased var 3.5, unbiased 14/3.
    const x = Float64Array.from([1, 2, 3, 6]);
    const out = batchNormForwardTrain(x, Float64Array.of(1), Float64Array.of(0), { rows: 4, channels: 1 });
    expect(out.mean[0]).toBe(3);
    expect(out.variance[0]).toBe(3.5);
    const { runningMean, runningVar } = batchNormUpdateRunningStats(Float64Array.of(0.5), Float64Array.of(2), out.mean, out.variance, 4);
    expect(runningMean[0]).toBeCloseTo(0.9 * 0.5 + 0.1 * 3, 15);
    expect(runningVar[0]).toBeCloseTo(0.9 * 2 + 0.1 * (14 / 3), 15);
    expect(() => batchNormUpdateRunningStats(Float64Array.of(0), Float64Array.of(1), out.mean, out.variance, 1)).toThrow(/more than 1 value per channel/);
  });

  test('eval mode with running stats equal to the batch stats reproduces the training output', () => {
    const s = { rows: 12, channels: 3 };
    const x = randomF64(36, 3);
    const gamma = randomF64(3, 4, 0.5, 1.5);
    const beta = randomF64(3, 5);
    const train = batchNormForwardTrain(x, gamma, beta, s);
    expectClose64('eval vs train', batchNormForwardEval(x, gamma, beta, train.mean, train.variance, s), train.y, 1e-14, 1e-13);
  });

  test('refuses arrays of the wrong length', () => {
    expect(() => batchNormForwardTrain(new Float64Array(10), new Float64Array(3), new Float64Array(3), { rows: 4, channels: 3 })).toThrow(/x has 10 elements, expected 12/);
  });
});

describe('batchnorm training backward against finite differences', () => {
  function gradientCase(s: BatchNormShape, seed: number) {
    const x = randomF64(s.rows * s.channels, seed, -2, 2);
    const gamma = randomF64(s.channels, seed + 1, 0.5, 1.5);
    const beta = randomF64(s.channels, seed + 2);
    const r = randomF64(s.rows * s.channels, seed + 3);
    const fwd = batchNormForwardTrain(x, gamma, beta, s);
    const g = batchNormBackwardTrain(r, x, gamma, fwd.mean, fwd.invstd, s);
    return {
      loss: () => dot(batchNormForwardTrain(x, gamma, beta, s).y, r),
      inputs: { x, gamma, beta },
      grads: { x: g.dx, gamma: g.dGamma, beta: g.dBeta },
    };
  }

  test.each([
    ['2d: N·H·W = 2·3·3 rows, 5 channels', { rows: 18, channels: 5 }],
    ['1d: N = 7 rows, 3 channels', { rows: 7, channels: 3 }],
    ['1d: N = 2 rows (the smallest training batch)', { rows: 2, channels: 4 }],
  ] as const)('%s', (_, s) => {
    expectGradientsMatch(gradientCase(s, 21), { h: 1e-5 });
  });

  test('the check catches a gradient off by 1e-4 in one element (dx, dγ, dβ)', () => {
    const c = gradientCase({ rows: 18, channels: 5 }, 21);
    expect(gradientCheck(c, { h: 1e-5 }).ok).toBe(true);
    for (const name of ['x', 'gamma', 'beta']) {
      expect(gradientCheck({ ...c, grads: perturbGradient(c.grads, name, 2) }, { h: 1e-5 }).ok).toBe(false);
    }
  });
});
