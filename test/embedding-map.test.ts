// The embedding map's UMAP (src/worker/embedding-map.ts): seeded, so one seed gives the same map
// twice and another seed a different one; it keeps clustered data clustered; sizes it refuses are
// named. (PCA, the GPU projection, is test/pca.test.ts.)
import { describe, expect, test } from 'vitest';
import { seededUniform, umapProject } from '../src/worker/embedding-map.ts';
import { UMAP_MAX_POINTS } from '../src/worker/protocol.ts';
import { seededRandom } from './helpers/gpu.ts';

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
