// The page measures a fresh run's random-init baselines after its first step (issue 15: Play is enabled as soon as the
// step's pipelines are built), on a copy of the initial student taken before that step (Trainer.snapshotInit,
// TrainingRun.begin({ defer: true })). These tests hold it to the same numbers as the baseline measured before the
// first step, kNN and the fitted linear probe alike, and to the same training metrics with or without the snapshot
// and the evaluation between steps (determinism: same seed → same metrics).
import { beforeAll, expect, test } from 'vitest';
import { loadDataset } from '../src/data/node-fs.ts';
import type { DatasetSplits } from '../src/data/dataset.ts';
import { Trainer } from '../src/train/trainer.ts';
import { TrainingRun, type KnnPoint } from '../src/train/run-driver.ts';
import { defaultTrainConfig } from '../src/train/config.ts';
import type { StepMetrics } from '../src/train/metric-layout.ts';
import { testGpu } from './helpers/gpu.ts';

const CONFIG = defaultTrainConfig({ width: 1 / 16, batch: 16, prototypes: 32, projHidden: 64, projOut: 32, knnBank: 120, knnQueries: 80, steps: 3, logEvery: 1, linearProbe: 'on' });
const volatile = new Set(['wall_s', 'images_per_s', 'views_per_s']);
const stable = (m: StepMetrics) => Object.fromEntries(Object.entries(m).filter(([k]) => !volatile.has(k)));

let data: DatasetSplits;
beforeAll(async () => {
  data = await loadDataset('bundled');
});

async function runOf(defer: boolean) {
  const ctx = await testGpu();
  const logs: StepMetrics[] = [];
  const knn: KnnPoint[] = [];
  // The trainer logs only once steps run, after `run` exists.
  const trainer = await Trainer.create(ctx, data, { ...CONFIG }, { onLog: (m) => run.onLog(m) });
  const run = new TrainingRun(trainer, { metrics: (m) => logs.push(m), knn: (p) => knn.push(p) });
  await run.begin({ defer });
  const pendingAfterBegin = trainer.initPending;
  const knnInitAfterBegin = trainer.knnInit;
  await run.step();
  const deferred = defer ? await run.evaluateInit() : null;
  while (!trainer.done) await run.step();
  await trainer.flush();
  const out = { logs: logs.map(stable), knn, knnInit: trainer.knnInit, linearInit: trainer.linearInit, pendingAfterBegin, knnInitAfterBegin, deferred, pendingAtEnd: trainer.initPending };
  trainer.destroy();
  return out;
}

test('the random-init kNN and linear-probe baselines measured after the first step (on the snapshot) equal those measured before it, and the steps are unchanged', async () => {
  const before = await runOf(false);
  const after = await runOf(true);
  expect(before.knnInitAfterBegin).not.toBeNull();
  expect(before.pendingAfterBegin).toBe(false);
  // Deferred: nothing measured at begin, a snapshot waiting; measured after step 1 as an init point at step 0.
  expect(after.knnInitAfterBegin).toBeNull();
  expect(after.pendingAfterBegin).toBe(true);
  expect(after.pendingAtEnd).toBe(false);
  expect(after.deferred).toMatchObject({ step: 0, init: true, top1: before.knnInit });
  expect(after.knnInit).toBe(before.knnInit);
  expect(after.linearInit).not.toBeNull();
  expect(after.linearInit).toBe(before.linearInit);
  expect(after.deferred!.all).toEqual(before.knn.find((p) => p.init)!.all);
  expect(after.logs).toHaveLength(CONFIG.steps);
  expect(after.logs).toEqual(before.logs);
}, 600_000);

test('a deferred baseline that was never measured is dropped when the step-0 kNN runs on the same weights, and a second evaluateInit has nothing to do', async () => {
  const ctx = await testGpu();
  const trainer = await Trainer.create(ctx, data, { ...CONFIG, linearProbe: 'off' });
  const run = new TrainingRun(trainer, {});
  await run.begin({ defer: true });
  expect(trainer.initPending).toBe(true);
  const r = await run.evaluate();
  expect(trainer.knnInit).toBe(r.top1);
  expect(trainer.initPending).toBe(false);
  expect(await run.evaluateInit()).toBeNull();
  trainer.destroy();
}, 600_000);
