// SeLa as a training method on the bundled Fashion-MNIST sample (tiny: width 1/16, batch 16,
// K 16, 40 steps, labels re-optimised every 8 steps): the labels' NMI against the hidden classes
// rises over the run, every optimisation keeps the class sizes near equal, labels.npy comes
// back from save() and a run resumes from it; bad λ, K > N, bad label tables and a resume
// without labels.npy are refused with messages naming the flag or file.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test, vi } from 'vitest';
import { run as trainCli } from '../cli/commands/train.ts';
import { loadDataset } from '../src/data/node-fs.ts';
import type { DatasetSplits } from '../src/data/dataset.ts';
import { Trainer } from '../src/train/trainer.ts';
import { defaultTrainConfig, validateTrainConfig, type TrainConfig } from '../src/train/config.ts';
import { encodeNpy, parseNpy } from '../src/io/npy.ts';
import { relabelSteps } from '../src/methods/sela-objective.ts';
import { testGpu } from './helpers/gpu.ts';

const TINY: Partial<TrainConfig> = { method: 'sela', width: 1 / 16, batch: 16, prototypes: 16, projHidden: 64, projOut: 32, steps: 40, relabelEvery: 8, logEvery: 8, knnBank: 500, knnQueries: 500, lr: 0.5 };

let data: DatasetSplits;
beforeAll(async () => {
  data = await loadDataset('bundled');
});

describe('SeLa on the bundled sample', () => {
  test('relabelling schedule: every N after the warm-up, or C spread evenly', () => {
    expect(relabelSteps({ steps: 20, warmupSteps: 2, relabelEvery: 5, relabelCount: 40 })).toEqual([2, 7, 12, 17]);
    expect(relabelSteps({ steps: 40, warmupSteps: 4, relabelEvery: 8, relabelCount: 40 })).toEqual([4, 12, 20, 28, 36]);
    expect(relabelSteps({ steps: 100, warmupSteps: 10, relabelEvery: 0, relabelCount: 4 })).toEqual([10, 33, 55, 78]);
    expect(relabelSteps({ steps: 10, warmupSteps: 0, relabelEvery: 0, relabelCount: 40 })).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  test('label NMI rises, equipartition holds, labels.npy saves and resumes', async () => {
    const ctx = await testGpu();
    const logs: Record<string, number>[] = [];
    const steps: Record<string, number | undefined>[] = [];
    const trainer = await Trainer.create(ctx, data, defaultTrainConfig(TINY), { onLog: (m) => steps.push({ ...m }) });
    const init = (await trainer.evaluateKnn()).top1;
    while (!trainer.done) {
      await trainer.step();
      const rec = await trainer.afterStep();
      if (rec) logs.push(rec);
    }
    await trainer.flush();
    const final = (await trainer.evaluateKnn()).top1;
    const files = await trainer.saveRunFiles();
    const state = await trainer.saveState();
    trainer.destroy();
    console.log(`[sela] kNN ${init.toFixed(1)}% → ${final.toFixed(1)}%; per optimisation NMI / churn / largest÷mean / iters / s: ${logs.map((r) => `${r.sela_nmi!.toFixed(3)}/${r.sela_changed!.toFixed(2)}/${r.sela_largest_over_mean!.toFixed(2)}/${r.sela_iters}/${r.sela_relabel_s!.toFixed(1)}`).join(' ')}`);
    expect(logs.length).toBe(5);
    // Logged steps carry real metrics (a one-view step whose health pass failed validation would log zeros).
    expect(steps.length).toBe(5);
    for (const m of steps) {
      expect(m.loss, `loss at step ${m.step}`).toBeGreaterThan(0);
      expect(m.student_entropy, `student entropy at step ${m.step}`).toBeGreaterThan(0);
      expect(m.effective_rank, `effective rank at step ${m.step}`).toBeGreaterThan(1);
    }
    for (const r of logs) for (const [k, v] of Object.entries(r)) expect(Number.isFinite(v), k).toBe(true);
    // The first optimisation labels with the network at the end of the warm-up; the later ones beat it on average and at best
    // by 0.03 (40 tiny steps are noisy; the 120-step run in the report rises steadily).
    const later = logs.slice(1).map((r) => r.sela_nmi!);
    expect(later.reduce((a, b) => a + b, 0) / later.length).toBeGreaterThan(logs[0]!.sela_nmi!);
    expect(Math.max(...later)).toBeGreaterThan(logs[0]!.sela_nmi! + 0.03);
    for (const r of logs) expect(r.sela_largest_over_mean).toBeLessThanOrEqual(1.5);
    const labels = parseNpy(files['labels.npy']!, 'labels.npy');
    expect(labels.dtype).toBe('uint32');
    expect(labels.shape).toEqual([data.train.count, 1]);

    // Resume: the labels come back; a missing labels.npy is refused naming the file.
    const resumed = await Trainer.create(ctx, data, defaultTrainConfig({ ...TINY, steps: 45 }), { resume: state, resumeFiles: files, onLog: () => {} });
    expect(Array.from(parseNpy((await resumed.saveRunFiles())['labels.npy']!, 'labels.npy').data as Uint32Array)).toEqual(Array.from(labels.data as Uint32Array));
    await resumed.step();
    resumed.destroy();
    await expect(Trainer.create(ctx, data, defaultTrainConfig({ ...TINY, steps: 45 }), { resume: state, resumeFiles: {}, onLog: () => {} })).rejects.toThrow(/labels\.npy/);
    // A labels.npy with a label ≥ K, or of the wrong length, names the file.
    const bad = new Uint32Array(data.train.count);
    bad[7] = 16;
    await expect(Trainer.create(ctx, data, defaultTrainConfig({ ...TINY, steps: 45 }), { resume: state, resumeFiles: { 'labels.npy': encodeNpy(bad, [bad.length], 'uint32') }, onLog: () => {} })).rejects.toThrow(/labels\.npy: label of image 7 is 16/);
    await expect(Trainer.create(ctx, data, defaultTrainConfig({ ...TINY, steps: 45 }), { resume: state, resumeFiles: { 'labels.npy': encodeNpy(new Uint32Array(5), [5], 'uint32') }, onLog: () => {} })).rejects.toThrow(/labels\.npy: 5 rows/);
  }, 900_000);

  test('bad input: λ ≤ 0, K > N and a head count that is not an integer ≥ 1 are refused naming the flag', async () => {
    expect(() => validateTrainConfig(defaultTrainConfig({ ...TINY, selaLambda: 0 }))).toThrow(/--sela-lambda/);
    expect(() => validateTrainConfig(defaultTrainConfig({ ...TINY, selaLambda: -1 }))).toThrow(/--sela-lambda/);
    const ctx = await testGpu();
    await expect(Trainer.create(ctx, data, defaultTrainConfig({ ...TINY, prototypes: data.train.count + 1 }), { onLog: () => {} })).rejects.toThrow(/--prototypes|K/);
    expect(() => validateTrainConfig(defaultTrainConfig({ ...TINY, selaHeads: 0 }))).toThrow(/--sela-heads/);
    expect(() => validateTrainConfig(defaultTrainConfig({ ...TINY, selaHeads: 1.5 }))).toThrow(/--sela-heads/);
  }, 300_000);

  test('cli train --method sela writes labels.npy with the checkpoint; --resume continues with it; a missing labels.npy is refused naming the file', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    vi.spyOn(console, 'log').mockImplementation(() => {});
    const flags = ['--method', 'sela', '--dataset', 'bundled', '--width', '0.0625', '--batch', '16', '--prototypes', '16', '--proj-hidden', '64', '--proj-out', '32', '--knn-bank', '100', '--knn-queries', '100', '--log-every', '1', '--steps', '4', '--relabel-every', '2'];
    const whole = mkdtempSync(join(tmpdir(), 'sela-whole-'));
    const parts = mkdtempSync(join(tmpdir(), 'sela-parts-'));
    try {
      expect(await trainCli([...flags, '--out', whole])).toBe(0);
      expect(await trainCli([...flags, '--out', parts, '--stop-at-step', '2'])).toBe(0);
      const atStop = parseNpy(new Uint8Array(readFileSync(join(parts, 'labels.npy'))), 'labels.npy');
      expect(atStop.shape).toEqual([data.train.count, 1]);
      expect(await trainCli([...flags, '--out', parts, '--resume', join(parts, 'model.safetensors')])).toBe(0);
      // Resumed from the stop, the run ends with the same labels as the uninterrupted one.
      const a = parseNpy(new Uint8Array(readFileSync(join(whole, 'labels.npy'))), 'labels.npy').data as Uint32Array;
      const b = parseNpy(new Uint8Array(readFileSync(join(parts, 'labels.npy'))), 'labels.npy').data as Uint32Array;
      expect(Array.from(b)).toEqual(Array.from(a));
      rmSync(join(parts, 'labels.npy'));
      expect(existsSync(join(parts, 'labels.npy'))).toBe(false);
      await expect(trainCli([...flags, '--steps', '6', '--out', parts, '--resume', join(parts, 'model.safetensors')])).rejects.toThrow(/labels\.npy/);
    } finally {
      vi.restoreAllMocks();
    }
  }, 900_000);
});
