// The method arena's worker (src/worker/arena.ts) on the real GPU (Dawn over lavapipe in Node), on
// the bundled sample at width 1/16: two methods, three steps each, kNN every 2 steps. Its events
// come interleaved (every method's step s before any method's step s + 1), each method gets its
// random-init evaluation, one at the shared cadence and one at the end, the raw-pixel baselines
// come once; and a method trained in the arena logs exactly what the same configuration logs
// trained alone through the run driver — the interleaving shares nothing between the models. Pause
// holds it between steps; stop ends it; a method that cannot be built ends it with what to do.
import { beforeAll, describe, expect, test } from 'vitest';
import { loadDataset } from '../src/data/node-fs.ts';
import type { DatasetSplits } from '../src/data/dataset.ts';
import { defaultTrainConfig } from '../src/train/config.ts';
import type { StepMetrics } from '../src/train/metric-layout.ts';
import { TrainingRun } from '../src/train/run-driver.ts';
import { Trainer } from '../src/train/trainer.ts';
import { arenaConfig, MethodArena } from '../src/worker/arena.ts';
import type { EngineEvent } from '../src/worker/protocol.ts';
import { testGpu } from './helpers/gpu.ts';

const BASE = defaultTrainConfig({ width: 1 / 16, batch: 16, prototypes: 32, projHidden: 64, projOut: 32, knnBank: 100, knnQueries: 100, knnEvery: 2, seed: 5 });

let data: DatasetSplits;
beforeAll(async () => {
  data = await loadDataset('bundled');
});

describe('the method arena on the GPU', () => {
  test('two methods interleaved step by step, evaluated at the shared cadence, each identical to its run alone', async () => {
    const ctx = await testGpu();
    const events: EngineEvent[] = [];
    const arena = new MethodArena(ctx, (e) => events.push(e));
    await arena.run(data, BASE, ['naive', 'mveb'], 3);
    expect(arena.running).toBe(false);

    const last = events.filter((e) => e.type === 'arena-status').at(-1);
    expect(last).toMatchObject({ status: { running: false, detail: 'done', done: { naive: 3, mveb: 3 }, steps: 3 } });
    expect(last?.type === 'arena-status' && last.status.error).toBeFalsy();

    const points = events.flatMap((e) => (e.type === 'arena-points' ? e.points : []));
    expect(points.map((p) => `${p.method}${p.point.step}`).sort()).toEqual(['mveb1', 'mveb2', 'mveb3', 'naive1', 'naive2', 'naive3']);
    // Metrics are read back asynchronously, but a round ends only when every method's step is flushed.
    const rank = (m: string, s: number) => points.findIndex((p) => p.method === m && p.point.step === s);
    for (const s of [1, 2]) for (const a of ['naive', 'mveb']) for (const b of ['naive', 'mveb']) expect(rank(a, s)).toBeLessThan(rank(b, s + 1));
    expect(points.find((p) => p.method === 'mveb')!.point.used_clusters).toBeNull();
    expect(points.find((p) => p.method === 'naive')!.point.used_clusters).toBeGreaterThan(0);

    const evals = events.flatMap((e) => (e.type === 'arena-eval' ? [e] : []));
    for (const m of ['naive', 'mveb']) {
      const mine = evals.filter((e) => e.method === m);
      expect(mine.map((e) => [e.init, e.point.step])).toEqual([
        [true, 0],
        [false, 2],
        [false, 3],
      ]);
      for (const e of mine) {
        expect(e.point.knn).toBeGreaterThan(0);
        expect(e.point.linear).not.toBeNull();
      }
    }
    expect(events.filter((e) => e.type === 'arena-pixels')).toHaveLength(1);
    // The maps side by side: one PCA map per method, of the same test images, at the last step.
    const maps = events.flatMap((e) => (e.type === 'arena-maps' ? e.maps : []));
    expect(maps.map((m) => [m.method, m.step, m.projection])).toEqual([
      ['naive', 3, 'pca'],
      ['mveb', 3, 'pca'],
    ]);
    expect(Array.from(maps[0]!.indices)).toEqual(Array.from(maps[1]!.indices));
    for (const m of maps) expect(m.points.every(Number.isFinite) && m.points.length === 2 * m.labels.length).toBe(true);

    // The same configuration alone, through the same driver: the same losses and health metrics, bit for bit.
    const alone: StepMetrics[] = [];
    let run: TrainingRun | null = null;
    const trainer = await Trainer.create(ctx, data, arenaConfig(BASE, 'naive', 3), { onLog: (m) => run?.onLog(m) });
    run = new TrainingRun(trainer, { metrics: (m) => alone.push(m) });
    await run.begin();
    while (!trainer.done) await run.step();
    await trainer.flush();
    trainer.destroy();
    const inArena = points.filter((p) => p.method === 'naive').map((p) => p.point);
    expect(inArena.map((p) => [p.loss, p.effective_rank, p.used_clusters, p.alignment])).toEqual(alone.map((m) => [m.loss, m.effective_rank, m.used_clusters, m.alignment]));
  }, 900_000);

  test('stop ends the run between steps and says so; an empty method list is refused', async () => {
    const ctx = await testGpu();
    const events: EngineEvent[] = [];
    const arena = new MethodArena(ctx, (e) => {
      events.push(e);
      if (e.type === 'arena-points' && e.points.some((p) => p.point.step === 1)) arena.stop();
    });
    await arena.run(data, { ...BASE, knnEvery: 0 }, ['naive'], 50);
    const last = events.filter((e) => e.type === 'arena-status').at(-1);
    expect(last).toMatchObject({ status: { running: false, detail: 'stopped' } });
    expect(last?.type === 'arena-status' && last.status.done.naive).toBeLessThan(50);
    await expect(arena.run(data, BASE, [], 3)).rejects.toThrow('at least one method');
  }, 900_000);

  test('pause holds the run between steps until resume; it then finishes', async () => {
    const ctx = await testGpu();
    const events: EngineEvent[] = [];
    let pausedAt = -1;
    const arena = new MethodArena(ctx, (e) => {
      events.push(e);
      if (e.type === 'arena-points' && e.points.some((p) => p.point.step === 1) && pausedAt < 0) {
        arena.pause();
        pausedAt = events.length;
      }
      if (e.type === 'arena-status' && e.status.paused) setTimeout(() => arena.resume(), 50);
    });
    await arena.run(data, { ...BASE, knnEvery: 0 }, ['naive'], 3);
    const statuses = events.flatMap((e) => (e.type === 'arena-status' ? [e.status] : []));
    const paused = statuses.findIndex((s) => s.paused && s.detail === 'paused');
    expect(paused).toBeGreaterThan(-1);
    expect(statuses[paused]!.done.naive).toBeLessThan(3);
    expect(statuses.slice(paused).some((s) => s.detail === 'resumed')).toBe(true);
    expect(statuses.at(-1)).toMatchObject({ running: false, paused: false, detail: 'done', done: { naive: 3 } });
  }, 900_000);

  test('a method that cannot be built ends the arena with a message naming it, how many fit and what to do', async () => {
    const ctx = await testGpu();
    const events: EngineEvent[] = [];
    const arena = new MethodArena(ctx, (e) => events.push(e));
    await arena.run(data, { ...BASE, batch: 4096 }, ['mira', 'naive'], 2);
    const last = events.filter((e) => e.type === 'arena-status').at(-1);
    expect(last?.type).toBe('arena-status');
    const error = last?.type === 'arena-status' ? (last.status.error ?? '') : '';
    expect(error).toContain('could not build mira (method 1 of 2)');
    expect(error).toContain('fewer than the batch of 4096');
    expect(error).toContain('lower the width or the batch');
    expect(arena.running).toBe(false);
  }, 900_000);
});
