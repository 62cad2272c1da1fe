// Synthetic CIFAR-shaped data for the whole-step benches (train-step, vs-torch, the objectives'
// share of a step): byte i of the training images is (i · 2654435761) >>> 24, NHWC 32×32×3, so
// the PyTorch side (bench/torch/mira_step_bench.py) makes the same bytes without a file.
import type { Dataset, DatasetSplits } from '../src/data/dataset.ts';
import type { BenchResult } from '../src/bench/types.ts';
import type { GpuContext } from '../src/gpu/context.ts';
import { defaultTrainConfig, type TrainConfig } from '../src/train/config.ts';
import { Trainer } from '../src/train/trainer.ts';

export function syntheticSplits(count: number): DatasetSplits {
  const make = (n: number): Dataset => {
    const images = new Uint8Array(n * 32 * 32 * 3);
    for (let i = 0; i < images.length; i++) images[i] = (i * 2654435761) >>> 24;
    return { name: 'synthetic', images, labels: Uint8Array.from({ length: n }, (_, i) => i % 10), count: n, height: 32, width: 32, channels: 3, classes: [...'0123456789'], mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
  };
  return { name: 'synthetic', train: make(count), test: make(16), source: 'generated' };
}

/** Milliseconds per whole training step (wall clock, after one warm-up step; `reps` steps in flight as in training). */
export async function timeTrainSteps(ctx: GpuContext, overrides: Partial<TrainConfig>, reps: number): Promise<{ ms: number; config: TrainConfig }> {
  const config = defaultTrainConfig({ steps: 1000, logEvery: 1000, ...overrides });
  const trainer = await Trainer.create(ctx, syntheticSplits(config.batch * 4), config);
  try {
    await trainer.step();
    await trainer.flush();
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) await trainer.step();
    await trainer.flush();
    return { ms: (performance.now() - t0) / reps, config };
  } finally {
    trainer.destroy();
  }
}

/** A whole training step of an embedding objective at the objective bench's B and D, with the objective's measured share of it. */
export async function objectiveShare(ctx: GpuContext, method: 'mveb' | 'mio', name: string, quick: boolean, B: number, D: number, objectiveMs: number): Promise<BenchResult> {
  const width = quick ? 1 / 16 : 1 / 8;
  const { ms } = await timeTrainSteps(ctx, { method, width, batch: B, projHidden: quick ? 128 : 512, projOut: D }, quick ? 1 : 2);
  const extra: Record<string, string | number> = { width, batch: B, proj_out: D, clock: 'wall' };
  if (Number.isFinite(objectiveMs)) {
    extra.objective_ms = +objectiveMs.toFixed(3);
    extra.objective_share = +(objectiveMs / ms).toFixed(4);
  }
  return { suite: method, name, ms, images: 2 * B, extra };
}
