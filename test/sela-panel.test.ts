// SeLa on the page, as data (the charts and the gallery draw exactly this):
//   - the class-size panel (src/ui/class-sizes.ts): sizes sorted largest first, bucketed to at
//     most 128 bars for K = 3000, N/K and the 1.5·N/K bound, classes over it and empty ones;
//   - the gallery of SeLa classes (src/worker/gallery.ts, source 'labels'): a few classes of the
//     label of every image, picked evenly from the purest to the least pure, their images in
//     dataset order and their purity; the targets gallery keeps the largest clusters;
//   - the method declares the panel, and a short run's driver hands the page head 0's class sizes
//     after each label optimisation (what the worker posts as 'class-sizes').
import { describe, expect, test } from 'vitest';
import { classSizesFromEvent, classSizeView } from '../src/ui/class-sizes.ts';
import { buildGallery } from '../src/worker/gallery.ts';
import { sela } from '../src/methods/sela.ts';
import { relabelSteps } from '../src/methods/sela-objective.ts';
import { loadDataset } from '../src/data/node-fs.ts';
import { defaultTrainConfig } from '../src/train/config.ts';
import { Trainer } from '../src/train/trainer.ts';
import { TrainingRun } from '../src/train/run-driver.ts';
import { testGpu } from './helpers/gpu.ts';

describe('SeLa class-size panel data', () => {
  test('sorted sizes, N/K and 1.5·N/K, over-bound and empty classes; K = 3000 in ≤ 128 bars', () => {
    const c = classSizesFromEvent(7, Uint32Array.from([3, 9, 0, 4, 4]), 20);
    expect(c).toEqual({ step: 7, sorted: [9, 4, 4, 3, 0], N: 20 });
    const v = classSizeView(c);
    expect(v.mean).toBe(4);
    expect(v.bound).toBe(6);
    expect([v.largest, v.smallest, v.over, v.empty]).toEqual([9, 0, 1, 1]);
    expect(v.largestOverMean).toBe(2.25);
    expect(v.bars).toEqual([9, 4, 4, 3, 0].map((size, i) => ({ rank: i + 1, size })));
    const K = 3000;
    const sizes = Uint32Array.from({ length: K }, (_, k) => 20 + (k % 3));
    const big = classSizeView(classSizesFromEvent(1, sizes, sizes.reduce((a, b) => a + b, 0)));
    expect(big.bars.length).toBeLessThanOrEqual(128);
    expect(big.bars[0]).toEqual({ rank: 1, size: 22 });
    expect(big.over).toBe(0);
    expect(sela.panels.some((p) => p.kind === 'class-sizes')).toBe(true);
  });
});

describe('gallery of SeLa classes', () => {
  // 12 images of 2×2 pixels; true classes 0/1/2; SeLa labels: class 5 pure (0,0,0,0), class 6 mixed 3:1, class 7 even 2:2.
  const ds = {
    images: Uint8Array.from({ length: 12 * 4 }, (_, i) => Math.floor(i / 4)),
    labels: Uint8Array.from([0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 1, 1]),
    height: 2,
    width: 2,
    channels: 1,
    classes: ['zero', 'one', 'two'],
  };
  const y = Uint32Array.from([5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7]);

  test('picks evenly from the purest to the least pure, images in dataset order, purity and majority', () => {
    const g = buildGallery(ds, { idx: Uint32Array.from(y.keys()), pred: y, steps: [40, 40], source: 'labels', clusters: 2, perCluster: 3 });
    expect(g.source).toBe('labels');
    expect(g.assigned).toBe(12);
    expect(g.clusters.map((c) => [c.cluster, c.size, c.purity, c.majority])).toEqual([
      [5, 4, 1, 'zero'],
      [7, 4, 0.5, 'one'],
    ]);
    // Class 7's first three images are 8, 9, 10 (pixel value = image index).
    expect(Array.from(g.clusters[1]!.images.filter((_, i) => i % 4 === 0))).toEqual([8, 9, 10]);
    expect(g.clusters[1]!.labels).toEqual([2, 2, 1]);
    expect(g.purity).toBeCloseTo((4 + 3 + 2) / 12, 12);
    const all = buildGallery(ds, { idx: Uint32Array.from(y.keys()), pred: y, steps: [40, 40], source: 'labels', clusters: 3, perCluster: 2 });
    expect(all.clusters.map((c) => c.cluster)).toEqual([5, 6, 7]);
  });

  test('the targets gallery keeps the largest clusters and their latest images', () => {
    const g = buildGallery(ds, { idx: [3, 4, 5, 6, 11], pred: [1, 0, 0, 0, 1], steps: [2, 9], source: 'targets', clusters: 1, perCluster: 2 });
    expect(g.clusters.map((c) => [c.cluster, c.size])).toEqual([[0, 3]]);
    expect(Array.from(g.clusters[0]!.images.filter((_, i) => i % 4 === 0))).toEqual([5, 6]);
    expect(() => buildGallery(ds, { idx: [1, 2], pred: [0], steps: [0, 0], source: 'targets', clusters: 1, perCluster: 1 })).toThrow(/1 clusters for 2 images/);
  });
});

describe('a SeLa run hands the page its class sizes and labels', () => {
  test('classSizes after each label optimisation (N images, ≤ ⌈N/K⌉ each), currentLabels for the gallery', async () => {
    const ctx = await testGpu();
    const data = await loadDataset('bundled');
    const cfg = defaultTrainConfig({ method: 'sela', width: 1 / 16, batch: 16, prototypes: 16, projHidden: 64, projOut: 32, steps: 8, relabelEvery: 4, logEvery: 4, knnEvery: 0, knnBank: 100, knnQueries: 100 });
    const trainer = await Trainer.create(ctx, data, cfg, { onLog: () => {} });
    const got: { step: number; sizes: Uint32Array }[] = [];
    const run = new TrainingRun(trainer, { classSizes: (step, sizes) => got.push({ step, sizes: sizes.slice() }) });
    while (!trainer.done) await run.step();
    const N = data.train.count;
    expect(got.map((g) => g.step)).toEqual(relabelSteps({ steps: 8, warmupSteps: cfg.warmupSteps, relabelEvery: 4, relabelCount: cfg.relabelCount }));
    expect(got.length).toBe(2);
    for (const g of got) {
      expect(g.sizes.length).toBe(16);
      expect(g.sizes.reduce((a, b) => a + b, 0)).toBe(N);
      expect(Math.max(...g.sizes)).toBeLessThanOrEqual(Math.ceil(N / 16));
    }
    const labels = trainer.currentLabels()!;
    expect(labels.length).toBe(N);
    const gallery = buildGallery(data.train, { idx: Uint32Array.from(labels.keys()), pred: labels, steps: [got.at(-1)!.step, got.at(-1)!.step], source: 'labels', clusters: 4, perCluster: 6 });
    expect(gallery.clusters.length).toBe(4);
    expect(gallery.clusters[0]!.purity).toBeGreaterThanOrEqual(gallery.clusters[3]!.purity);
    console.log(`[sela-panel] class sizes after steps ${got.map((g) => g.step).join(', ')}: largest ${got.map((g) => Math.max(...g.sizes)).join(', ')} of ⌈N/K⌉ = ${Math.ceil(N / 16)}; gallery purities ${gallery.clusters.map((c) => c.purity.toFixed(2)).join(' ')}`);
    trainer.destroy();
  }, 600_000);
});
