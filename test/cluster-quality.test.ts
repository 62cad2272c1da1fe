// Purity, NMI and the contingency table (src/mira/cluster-quality.ts) on hand-computed cases and
// the examples of scikit-learn's documentation (normalized_mutual_info_score, arithmetic mean).
import { describe, expect, test } from 'vitest';
import { contingency, entropyOfCounts, mutualInformation, nmi, purity } from '../src/mira/cluster-quality.ts';
import { seededRandom } from './helpers/gpu.ts';

describe('contingency', () => {
  test('counts per (cluster, class), row-major K×C', () => {
    const t = contingency(Int32Array.from([0, 0, 1, 2, 2, 2]), Uint32Array.from([1, 1, 0, 0, 1, 1]), 3, 2);
    expect(Array.from(t)).toEqual([0, 2, 1, 0, 1, 2]);
  });

  test('bad inputs', () => {
    expect(() => contingency([0, 1], [0], 2, 2)).toThrow(/2 assignments but 1 labels/);
    expect(() => contingency([0, 2], [0, 1], 2, 2)).toThrow(/assignments\[1\] = 2 is not in \[0, 2\)/);
    expect(() => contingency([0, 1], [0, -1], 2, 2)).toThrow(/labels\[1\] = -1/);
    expect(() => contingency([], [], 2, 2)).toThrow(/no samples/);
    expect(() => contingency([0], [0], 0, 2)).toThrow(/K must be/);
  });
});

describe('purity', () => {
  test('hand-computed', () => {
    // Cluster 0: classes {0, 0, 1} → 2; cluster 1: {1, 1, 2} → 2; cluster 2: {2, 2} → 2. 6 / 8.
    expect(purity([0, 0, 0, 1, 1, 1, 2, 2], [0, 0, 1, 1, 1, 2, 2, 2], 3, 3)).toBe(0.75);
    expect(purity([0, 0, 1, 1], [1, 1, 0, 0], 2, 2)).toBe(1);
    // One cluster for everything: the majority class's share.
    expect(purity([0, 0, 0, 0, 0], [0, 1, 1, 2, 1], 4, 3)).toBe(0.6);
    // One cluster per sample is trivially pure.
    expect(purity([0, 1, 2, 3], [0, 1, 0, 1], 4, 2)).toBe(1);
  });
});

describe('nmi', () => {
  test("scikit-learn's documented examples", () => {
    // normalized_mutual_info_score([0, 0, 1, 1], [0, 0, 1, 1]) == 1.0
    expect(nmi([0, 0, 1, 1], [0, 0, 1, 1], 2, 2)).toBe(1);
    // normalized_mutual_info_score([0, 0, 1, 1], [1, 1, 0, 0]) == 1.0
    expect(nmi([1, 1, 0, 0], [0, 0, 1, 1], 2, 2)).toBe(1);
    // normalized_mutual_info_score([0, 0, 0, 0], [0, 1, 2, 3]) == 0.0 (independent)
    expect(nmi([0, 1, 2, 3], [0, 0, 0, 0], 4, 1)).toBe(0);
    expect(nmi([0, 0, 0, 0], [0, 1, 2, 3], 1, 4)).toBe(0);
    // The user guide's labels_true = [0,0,0,1,1,1], labels_pred = [0,0,1,1,2,2]:
    // mutual_info_score = 0.46209812… = (2/3) ln 2.
    const t = contingency([0, 0, 1, 1, 2, 2], [0, 0, 0, 1, 1, 1], 3, 2);
    expect(mutualInformation(t, 3, 2)).toBeCloseTo(0.46209812, 8);
  });

  test('hand-computed: I = (2/3) ln 2, H(U) = ln 3, H(V) = ln 2 → (4/3) ln 2 / ln 6', () => {
    const want = (4 / 3) * Math.log(2) / Math.log(6);
    expect(nmi([0, 0, 1, 1, 2, 2], [0, 0, 0, 1, 1, 1], 3, 2)).toBeCloseTo(want, 14);
    expect(want).toBeCloseTo(0.515803743, 8);
    expect(entropyOfCounts([2, 2, 2])).toBeCloseTo(Math.log(3), 15);
  });

  test('independent labelings give exactly 0; both single groups give 1', () => {
    expect(nmi([0, 0, 1, 1], [0, 1, 0, 1], 2, 2)).toBe(0);
    expect(nmi([0, 0, 0, 1, 1, 1, 2, 2, 2], [0, 1, 2, 0, 1, 2, 0, 1, 2], 3, 3)).toBe(0);
    expect(nmi([2, 2, 2], [1, 1, 1], 3, 2)).toBe(1);
  });

  test('invariant to permutations of cluster and class ids, symmetric, unaffected by empty clusters', () => {
    const r = seededRandom(42);
    const n = 500;
    const labels = Uint32Array.from({ length: n }, () => Math.floor(r() * 10));
    // Clusters correlated with the labels, with noise.
    const clusters = Int32Array.from(labels, (l) => (r() < 0.7 ? (l * 3) % 12 : Math.floor(r() * 12)));
    const base = nmi(clusters, labels, 12, 10);
    expect(base).toBeGreaterThan(0.2);
    expect(base).toBeLessThan(1);
    const permK = [5, 11, 0, 3, 8, 1, 9, 2, 10, 4, 7, 6];
    const permC = [3, 9, 1, 0, 7, 2, 8, 4, 6, 5];
    expect(nmi(Int32Array.from(clusters, (k) => permK[k]!), Uint32Array.from(labels, (c) => permC[c]!), 12, 10)).toBeCloseTo(base, 13);
    expect(nmi(labels, clusters, 10, 12)).toBeCloseTo(base, 13);
    expect(nmi(clusters, labels, 100, 10)).toBeCloseTo(base, 13);
    expect(purity(Int32Array.from(clusters, (k) => permK[k]!), labels, 12, 10)).toBe(purity(clusters, labels, 12, 10));
    // Perfect clustering with renamed ids.
    expect(nmi(Int32Array.from(labels, (c) => permC[c]!), labels, 10, 10)).toBe(1);
  });
});

describe('K and C left out', () => {
  test('inferred as one more than the largest id', () => {
    expect(Array.from(contingency([0, 2], [1, 0]))).toEqual([0, 1, 0, 0, 1, 0]);
    expect(purity([0, 0, 0, 1, 1, 1, 2, 2], [0, 0, 1, 1, 1, 2, 2, 2])).toBe(0.75);
    expect(nmi([0, 0, 1, 1, 2, 2], [0, 0, 0, 1, 1, 1])).toBeCloseTo((4 / 3) * Math.log(2) / Math.log(6), 14);
    expect(() => purity([0, 1.5], [0, 1])).toThrow(RangeError);
  });
});
