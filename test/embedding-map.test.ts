// The embedding map (src/worker/embedding-map.ts). UMAP: seeded, so one seed gives the same map
// twice and another seed a different one; it keeps clustered data clustered; sizes it refuses are
// named. The whole path on a real trainer after two steps: the kNN query images, their labels and
// pixels, clusters within K, and the PCA map equal to the float64 PCA of the same features (the
// kernel itself: test/pca.test.ts).
import { describe, expect, test } from 'vitest';
import { loadDataset } from '../src/data/node-fs.ts';
import { readF32 } from '../src/gpu/tensor.ts';
import { pcaReference } from '../src/ref/pca.ts';
import { defaultTrainConfig } from '../src/train/config.ts';
import { Trainer } from '../src/train/trainer.ts';
import { embeddingMap, seededUniform, umapProject } from '../src/worker/embedding-map.ts';
import { UMAP_MAX_POINTS } from '../src/worker/protocol.ts';
import { expectClose, seededRandom, testGpu } from './helpers/gpu.ts';

/** N points of D features in 3 well-separated blobs; point n is in blob n % 3. */
function blobs(N: number, D: number): Float32Array {
  const rnd = seededRandom(3);
  const x = new Float32Array(N * D);
  for (let n = 0; n < N; n++) for (let d = 0; d < D; d++) x[n * D + d] = (d % 3 === n % 3 ? 8 : 0) + rnd() - 0.5;
  return x;
}

describe('embedding map: UMAP', () => {
  test('the seeded stream is uniform in [0, 1) and reproducible', () => {
    const a = seededUniform(7);
    const b = seededUniform(7);
    const xs = Array.from({ length: 2000 }, () => a());
    expect(xs).toEqual(Array.from({ length: 2000 }, () => b()));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(xs.reduce((s, x) => s + x, 0) / xs.length).toBeCloseTo(0.5, 1);
    expect(seededUniform(8)()).not.toBe(seededUniform(7)());
  });

  test('one seed, one map; another seed, another; blobs stay apart', { timeout: 120_000 }, () => {
    const N = 60;
    const D = 6;
    const x = blobs(N, D);
    const a = umapProject(x, N, D, 1);
    expect(Array.from(umapProject(x, N, D, 1))).toEqual(Array.from(a));
    expect(Array.from(umapProject(x, N, D, 2))).not.toEqual(Array.from(a));
    // Each point's nearest other point on the map is in its own blob.
    let same = 0;
    for (let i = 0; i < N; i++) {
      let best = -1;
      let bestD = Infinity;
      for (let j = 0; j < N; j++) {
        if (j === i) continue;
        const d = (a[2 * i]! - a[2 * j]!) ** 2 + (a[2 * i + 1]! - a[2 * j + 1]!) ** 2;
        if (d < bestD) [best, bestD] = [j, d];
      }
      if (best % 3 === i % 3) same++;
    }
    expect(same / N).toBeGreaterThan(0.95);
  });

  test('sizes it refuses are named with what to do', () => {
    expect(() => umapProject(new Float32Array((UMAP_MAX_POINTS + 1) * 2), UMAP_MAX_POINTS + 1, 2, 1)).toThrow(
      new RegExp(`UMAP maps at most ${UMAP_MAX_POINTS} points.*lower "kNN queries" or use PCA`),
    );
    expect(() => umapProject(new Float32Array(4), 2, 2, 1)).toThrow(/UMAP needs at least 3 points.*raise "kNN queries"/);
  });
});

describe('embedding map of a run', () => {
  test('MIRA after two steps: the test images, their classes and clusters, PCA equal to float64, UMAP reproducible', { timeout: 600_000 }, async () => {
    const ctx = await testGpu();
    const data = await loadDataset('bundled');
    const N = 90;
    const cfg = defaultTrainConfig({ width: 1 / 16, batch: 16, prototypes: 32, projHidden: 64, projOut: 32, knnBank: 60, knnQueries: N, steps: 2, linearProbe: 'off' });
    const trainer = await Trainer.create(ctx, data, cfg);
    while (!trainer.done) await trainer.step();
    const map = await embeddingMap(trainer, data, 'pca');
    expect(map).toMatchObject({ projection: 'pca', step: 2, method: 'mira', prototypes: 32, dim: 32, height: 28, width: 28, channels: 1 });
    expect(map.points.length).toBe(2 * N);
    expect(new Set(map.indices).size, 'distinct test images').toBe(N);
    const per = 28 * 28;
    map.indices.forEach((idx, i) => {
      expect(map.labels[i]).toBe(data.test.labels[idx]);
      expect(map.images.subarray(i * per, (i + 1) * per)).toEqual(data.test.images.subarray(idx * per, (idx + 1) * per));
    });
    expect(map.clusters).not.toBeNull();
    for (const k of map.clusters!) expect(k).toBeLessThan(32);
    expect(map.purity).toBeGreaterThan(0);
    // The same features again (evaluation mode is deterministic) through the float64 PCA.
    const e = await trainer.embedTestImages();
    const ref = pcaReference(await readF32(ctx, e.features), N, e.dim);
    expectClose(ref.points, map.points, 1e-3 * Math.sqrt(ref.eigenvalues[0]), 1e-2, 'map points vs float64 PCA');
    expect(map.explained![0]).toBeCloseTo(ref.eigenvalues[0] / ref.trace, 3);
    const u1 = await embeddingMap(trainer, data, 'umap');
    const u2 = await embeddingMap(trainer, data, 'umap');
    expect(u1.explained).toBeNull();
    expect(Array.from(u2.points)).toEqual(Array.from(u1.points));
    trainer.destroy();
  });
});
