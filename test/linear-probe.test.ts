// The linear probe (src/mira/linear-probe.ts): the one-hot kernel, top-k accuracy, the GPU
// logistic regression on separable data, and the acceptance test of the online probe — the
// same seed with and without it gives identical self-supervised metrics.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test, vi } from 'vitest';
import { run as linearCli } from '../cli/commands/linear.ts';
import { encodeCheckpoint, initialState } from '../src/nn/checkpoint.ts';
import { defaultModelConfig } from '../src/nn/config.ts';
import { loadDataset } from '../src/data/node-fs.ts';
import type { DatasetSplits } from '../src/data/dataset.ts';
import { fitLinearClassifier, LinearProbe, topKAccuracy } from '../src/mira/linear-probe.ts';
import { createTensor, readF32 } from '../src/gpu/tensor.ts';
import { Trainer } from '../src/train/trainer.ts';
import { defaultTrainConfig, type TrainConfig } from '../src/train/config.ts';
import type { StepMetrics } from '../src/train/metric-layout.ts';
import { seededRandom, testGpu } from './helpers/gpu.ts';

/** Gaussian blobs: class c centred at a random unit-scale point, noise σ. */
function blobs(n: number, dim: number, classes: number, sigma: number, seed: number) {
  const r = seededRandom(seed);
  const centre = new Float32Array(classes * dim).map(() => 2 * r() - 1);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const features = new Float32Array(n * dim);
  const labels = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % classes;
    labels[i] = c;
    for (let d = 0; d < dim; d++) features[i * dim + d] = centre[c * dim + d]! + sigma * gauss();
  }
  return { features, labels };
}

describe('linear probe kernels', () => {
  test('top-k accuracy counts ranks (ties against the true class when earlier)', () => {
    const logits = new Float32Array([0, 1, 2, 3, 4, 5, 6, 0, 9, 1, 1, 1]);
    // rows of C = 6: row 0 best is 5, row 1 best is class 2 (9)
    expect(topKAccuracy(logits, [5, 2], 6)).toEqual({ top1: 100, top5: 100 });
    expect(topKAccuracy(logits, [1, 0], 6)).toEqual({ top1: 0, top5: 100 });
    expect(topKAccuracy(logits, [0, 1], 6)).toEqual({ top1: 0, top5: 0 });
  });

  test('one training step: one-hot targets, gradients of the mean cross-entropy, SGD from zero', async () => {
    const ctx = await testGpu();
    const B = 4;
    const D = 3;
    const C = 5;
    const probe = await LinearProbe.create(ctx, { batch: B, dim: D, classes: C });
    const x = new Float32Array([1, 2, 3, -1, 0, 1, 0.5, 0.5, -2, 2, -1, 0]);
    const labels = new Uint32Array([0, 4, 2, 2]);
    const feats = createTensor(ctx, [B, D], 'f32', 'x');
    ctx.device.queue.writeBuffer(feats.buffer, 0, x);
    const pass = probe.bindTraining(feats);
    probe.reset();
    probe.setLabels(labels);
    probe.setLr(0.5);
    const enc = ctx.device.createCommandEncoder();
    pass.record(enc);
    ctx.device.queue.submit([enc.finish()]);
    const [w, b, loss] = await Promise.all([readF32(ctx, probe.weight), readF32(ctx, probe.bias), readF32(ctx, probe.loss)]);
    // From zero weights p = 1/C everywhere: loss = log C, dlogits = (1/C − onehot)/B, the step −lr·grad.
    expect(loss[0]).toBeCloseTo(Math.log(C), 5);
    for (let c = 0; c < C; c++) {
      let gb = 0;
      for (let i = 0; i < B; i++) gb += (1 / C - (labels[i] === c ? 1 : 0)) / B;
      expect(b[c]).toBeCloseTo(-0.5 * gb, 6);
      for (let d = 0; d < D; d++) {
        let gw = 0;
        for (let i = 0; i < B; i++) gw += (x[i * D + d]! * (1 / C - (labels[i] === c ? 1 : 0))) / B;
        expect(w[d * C + c]).toBeCloseTo(-0.5 * gw, 6);
      }
    }
    probe.destroy();
  });

  test('logistic regression on the GPU separates Gaussian blobs; chance on shuffled labels', async () => {
    const ctx = await testGpu();
    const train = blobs(600, 16, 4, 0.5, 1);
    const test_ = blobs(200, 16, 4, 0.5, 1);
    const r = await fitLinearClassifier(ctx, train, test_, { classes: 4, epochs: 10, batch: 64 });
    console.log(`[linear-probe] blobs: top-1 ${r.top1.toFixed(1)}%, top-5 ${r.top5.toFixed(1)}%, loss ${r.loss.toFixed(4)} after ${r.steps} steps`);
    expect(r.top1).toBeGreaterThan(97);
    expect(r.top5).toBe(100);
    const r2 = seededRandom(9);
    const shuffled = { features: train.features, labels: train.labels.map(() => Math.floor(r2() * 4)) };
    const s = await fitLinearClassifier(ctx, shuffled, test_, { classes: 4, epochs: 10, batch: 64 });
    expect(s.top1).toBeLessThan(60);
  }, 120_000);
});

describe('the online probe never changes the self-supervised run', () => {
  let data: DatasetSplits;
  beforeAll(async () => {
    data = await loadDataset('bundled');
  });
  const TINY: Partial<TrainConfig> = { width: 1 / 16, batch: 16, prototypes: 32, projHidden: 32, projOut: 16, knnBank: 200, knnQueries: 200, logEvery: 2, steps: 8, seed: 3 };
  async function run(linearProbe: 'on' | 'off') {
    const ctx = await testGpu();
    const logs: StepMetrics[] = [];
    const trainer = await Trainer.create(ctx, data, defaultTrainConfig({ ...TINY, linearProbe }), { onLog: (m) => logs.push(m) });
    const init = await trainer.evaluateKnn();
    while (!trainer.done) await trainer.step();
    const final = await trainer.evaluateKnn();
    trainer.destroy();
    return { logs, init, final };
  }
  const ssl = (m: Record<string, unknown>) => Object.fromEntries(Object.entries(m).filter(([k]) => !['wall_s', 'images_per_s', 'views_per_s'].includes(k) && !k.startsWith('linear_')));

  test('same seed with and without the probe: identical metrics and kNN; the probe reports a top-1', async () => {
    const on = await run('on');
    const off = await run('off');
    console.log(`[linear-probe] kNN ${on.init.top1.toFixed(1)} → ${on.final.top1.toFixed(1)}%, linear ${on.init.linear!.toFixed(1)} → ${on.final.linear!.toFixed(1)}%, linear at init (fitted on the bank) ${on.init.linearInit!.toFixed(1)}%`);
    expect(on.logs.length).toBe(4);
    expect(on.logs.map(ssl)).toEqual(off.logs.map(ssl));
    expect(on.final.top1).toBe(off.final.top1);
    expect(on.final.all).toEqual(off.final.all);
    expect(off.final.linear).toBeUndefined();
    // The online probe's lr (0.1·16/256) moves it little in 8 steps; that it learns is the blobs test's job.
    expect(on.final.linear).toBeGreaterThanOrEqual(0);
    expect(on.final.linear).toBeLessThanOrEqual(100);
    // A probe fitted on the frozen initial network's 200 bank features (20 steps) is above chance (10 classes).
    expect(on.init.linearInit).toBeGreaterThan(15);
  }, 600_000);
});

describe('cli linear', () => {
  const tiny = { width: 1 / 16, projHidden: 16, projOut: 8, prototypes: 16 };
  const write = (name: string, state: ReturnType<typeof initialState>) => {
    const path = join(mkdtempSync(join(tmpdir(), 'linear-')), name);
    writeFileSync(path, encodeCheckpoint(state));
    return path;
  };
  test('refuses a checkpoint whose channels or image size do not fit the dataset, naming both', async () => {
    const rgb = write('rgb.safetensors', initialState(defaultModelConfig(3, tiny), 1));
    await expect(linearCli(['--checkpoint', rgb, '--dataset', 'bundled'])).rejects.toThrow(/train images have 1 channel\(s\) but the checkpoint takes 3/);
    const small = write('small.safetensors', initialState(defaultModelConfig(1, { ...tiny, imageSize: 24 }), 1));
    await expect(linearCli(['--checkpoint', small, '--dataset', 'bundled'])).rejects.toThrow(/images are 28×28 but the checkpoint takes 24×24/);
  });
  test('one JSON line with top-1/top-5 for a checkpoint (any method: here an untrained one); --flip doubles the training set', async () => {
    // The method comes from the checkpoint's mira.config (it was always null before).
    const ckpt = write('init.safetensors', { ...initialState(defaultModelConfig(1, tiny), 1), method: 'swav' });
    const out: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((s: string) => void out.push(s));
    try {
      expect(await linearCli(['--checkpoint', ckpt, '--dataset', 'bundled', '--limit', '300', '--epochs', '5', '--batch', '64', '--flip', '--json'])).toBe(0);
    } finally {
      spy.mockRestore();
    }
    expect(out.length).toBe(1);
    const r = JSON.parse(out[0]!);
    console.log(`[linear-probe] cli linear on the init network: ${out[0]}`);
    expect(r.method).toBe('swav');
    expect(r.train).toBe(600);
    expect(r.test).toBe(300);
    expect(r.top5).toBeGreaterThanOrEqual(r.top1);
    expect(r.top1).toBeGreaterThan(20);
  }, 300_000);
});
