// The embedding map's PCA on the GPU (src/mira/pca.ts, src/shaders/pca.wgsl) against its float64
// reference (src/ref/pca.ts) on odd shapes, and the reference against planted principal axes.
import { describe, expect, test } from 'vitest';
import { uploadTensor, createTensor, readF32 } from '../src/gpu/tensor.ts';
import { Pca } from '../src/mira/pca.ts';
import { pcaReference } from '../src/ref/pca.ts';
import { expectClose, randomArray, seededRandom, testGpu } from './helpers/gpu.ts';

/**
 * N rows in D columns with variances planted along two random orthonormal axes a (σ² = s1) and b
 * (σ² = s2), isotropic noise (σ² = noise) elsewhere, and an offset, so the true top-2 axes are known.
 */
function planted(N: number, D: number, seed: number, s1 = 9, s2 = 4, noise = 0.05): { x: Float32Array; a: Float64Array; b: Float64Array } {
  const rnd = seededRandom(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
  const unit = (v: Float64Array) => v.map((x) => x / Math.hypot(...v));
  const a = unit(Float64Array.from({ length: D }, gauss));
  let b = Float64Array.from({ length: D }, gauss);
  const ab = b.reduce((s, bi, i) => s + bi * a[i]!, 0);
  b = unit(b.map((bi, i) => bi - ab * a[i]!));
  const x = new Float32Array(N * D);
  for (let n = 0; n < N; n++) {
    const ca = Math.sqrt(s1) * gauss();
    const cb = Math.sqrt(s2) * gauss();
    for (let d = 0; d < D; d++) x[n * D + d] = 3 + 0.5 * d + ca * a[d]! + cb * b[d]! + Math.sqrt(noise) * gauss();
  }
  return { x, a, b };
}

describe('pca reference', () => {
  test('finds planted axes: eigenvectors to 1e-6 residual, |cos| with the planted axes ≈ 1', () => {
    const { x, a, b } = planted(400, 9, 1);
    const r = pcaReference(x, 400, 9);
    expect(r.residuals[0]).toBeLessThan(1e-6);
    expect(r.residuals[1]).toBeLessThan(1e-6);
    const cos = (u: Float64Array, off: number) => Math.abs(u.reduce((s, ui, i) => s + ui * r.vectors[off + i]!, 0));
    expect(cos(a, 0)).toBeGreaterThan(0.99);
    expect(cos(b, 9)).toBeGreaterThan(0.99);
    expect(r.eigenvalues[0]).toBeGreaterThan(r.eigenvalues[1]);
    // The projected points' variances are the eigenvalues, and their covariance is 0.
    let v0 = 0;
    let v1 = 0;
    let c01 = 0;
    for (let n = 0; n < 400; n++) {
      v0 += r.points[2 * n]! ** 2;
      v1 += r.points[2 * n + 1]! ** 2;
      c01 += r.points[2 * n]! * r.points[2 * n + 1]!;
    }
    expect(v0 / 399).toBeCloseTo(r.eigenvalues[0], 8);
    expect(v1 / 399).toBeCloseTo(r.eigenvalues[1], 8);
    expect(Math.abs(c01 / 399)).toBeLessThan(1e-6 * r.eigenvalues[0]);
  });

  test('refuses shapes it cannot map, naming them', () => {
    expect(() => pcaReference(new Float32Array(3), 1, 3)).toThrow(/N ≥ 2 rows and D ≥ 2 columns, got 1×3/);
    expect(() => pcaReference(new Float32Array(5), 2, 3)).toThrow(/X holds 5 values, N×D = 2×3 needs 6/);
  });
});

describe('pca on the GPU', () => {
  test.each([
    [37, 5, 'planted'],
    [203, 67, 'planted'],
    [1000, 33, 'planted'],
    [61, 130, 'random'],
    [3, 17, 'random'],
  ] as const)('%i×%i %s: mean, covariance, axes, eigenvalues and points match float64', async (N, D, kind) => {
    const ctx = await testGpu();
    const x = kind === 'planted' ? planted(N, D, N + D).x : randomArray(N * D, N * 7 + D, -2, 2);
    const ref = pcaReference(x, N, D);
    const pca = await Pca.create(ctx, { rows: N, dim: D, label: 'map.pca' });
    const X = uploadTensor(ctx, x, [N, D], 'features');
    const got = await pca.project(X);
    const what = `pca ${N}×${D}`;
    expectClose(ref.mean, await readF32(ctx, pca.mean), 1e-5, 1e-5, `${what} mean`);
    const scale = ref.eigenvalues[0];
    expectClose(ref.cov, await readF32(ctx, pca.cov), 2e-5 * scale, 1e-4, `${what} covariance`);
    expectClose(ref.eigenvalues, got.eigenvalues, 1e-5 * scale, 1e-4, `${what} eigenvalues`);
    // Axes are compared where float32 can pin them: a well-separated spectrum (planted) converges
    // in both; on random data only the first pair of a near-degenerate spectrum is pinned loosely.
    if (kind === 'planted') {
      expectClose(ref.vectors, got.vectors, 1e-4, 1e-3, `${what} axes`);
      const spread = Math.sqrt(scale);
      expectClose(ref.points, got.points, 2e-4 * spread, 1e-3, `${what} points`);
      expect(got.residuals[0]).toBeLessThan(1e-4);
      expect(got.residuals[1]).toBeLessThan(1e-4);
    } else {
      // Each GPU axis is a unit vector along which the variance is (nearly) the reference's.
      for (let c = 0; c < 2; c++) {
        const v = got.vectors.subarray(c * D, (c + 1) * D);
        expect(Math.hypot(...v)).toBeCloseTo(1, 5);
      }
    }
    expect(got.explained[0]).toBeCloseTo(ref.eigenvalues[0] / ref.trace, 4);
    expect(got.explained[1]).toBeCloseTo(ref.eigenvalues[1] / ref.trace, 4);
    // The axes are orthonormal.
    const v1 = got.vectors.subarray(0, D);
    const v2 = got.vectors.subarray(D, 2 * D);
    expect(Math.abs(v1.reduce((s, a, i) => s + a * v2[i]!, 0))).toBeLessThan(1e-5);
  });

  test('the same input gives the same bits twice', async () => {
    const ctx = await testGpu();
    const { x } = planted(130, 19, 5);
    const pca = await Pca.create(ctx, { rows: 130, dim: 19 });
    const X = uploadTensor(ctx, x, [130, 19], 'features');
    const a = await pca.project(X);
    const b = await pca.project(X);
    expect(Array.from(b.points)).toEqual(Array.from(a.points));
  });

  test('shapes are checked before any dispatch, naming what is wrong', async () => {
    const ctx = await testGpu();
    await expect(Pca.create(ctx, { rows: 1, dim: 4, label: 'map.pca' })).rejects.toThrow(/map\.pca: a map needs at least 2 points, got rows = 1/);
    await expect(Pca.create(ctx, { rows: 8, dim: 1 })).rejects.toThrow(/at least 2 feature columns, got dim = 1/);
    await expect(Pca.create(ctx, { rows: 8, dim: 5000 })).rejects.toThrow(/pca: dim = 5000 feature columns; at most 4096/);
    const pca = await Pca.create(ctx, { rows: 8, dim: 4, label: 'map.pca' });
    expect(() => pca.record(ctx.device.createCommandEncoder(), createTensor(ctx, [8, 5], 'f32', 'feats'))).toThrow(/map\.pca: the features feats \[8×5\] f32 should hold 8×4 f32 values/);
  });
});
