// Honest baselines for the accuracy charts (docs/ARCHITECTURE.md, "One training-run driver"): the
// kNN and linear-probe top-1 of the raw pixels, standardised per pixel with the bank's mean and
// std, on exactly the kNN bank and queries a run evaluates (same indices, same seed). kNN runs on
// the GPU with the run's evaluator (k = 20, T = 0.07, cosine similarity); the linear probe is the
// offline logistic regression (src/mira/linear-probe.ts). On Fashion-MNIST the pixels alone reach
// about 80 % kNN — above short self-supervised runs; CIFAR-10's pixels are the real test.
// Cached per dataset and evaluation set, so a comparison of many runs computes them once.
import type { GpuContext } from '../gpu/context.ts';
import { createTensor } from '../gpu/tensor.ts';
import type { Dataset, DatasetSplits } from '../data/dataset.ts';
import { chooseEvalIndices, KnnEvaluator } from '../mira/knn.ts';
import { featureStats, fitLinearClassifier, standardize } from '../mira/linear-probe.ts';
import type { TrainConfig } from './config.ts';
import { classCount } from './trainer.ts';

export interface PixelBaselines {
  /** Weighted 20-NN top-1 (%) of standardised raw pixels. */
  knn_top1_pixels: number;
  /** Linear-probe top-1 (%) of standardised raw pixels (fitted on the bank, tested on the queries). */
  linear_top1_pixels: number;
}

const cache = new Map<string, Promise<PixelBaselines>>();

/** The same bank and queries as the trainer's kNN (src/train/trainer.ts knnSetup). */
function pick(ds: Dataset, count: number, seed: number): { x: Float32Array; labels: Uint32Array } {
  const idx = chooseEvalIndices(ds.count, Math.min(count, ds.count), seed, ds.labels);
  const per = ds.height * ds.width * ds.channels;
  const x = new Float32Array(idx.length * per);
  idx.forEach((n, i) => {
    for (let j = 0; j < per; j++) x[i * per + j] = ds.images[n * per + j]! / 255;
  });
  return { x, labels: Uint32Array.from(idx, (i) => ds.labels[i]!) };
}

export function pixelBaselines(ctx: GpuContext, data: DatasetSplits, c: Pick<TrainConfig, 'seed' | 'knnBank' | 'knnQueries'>): Promise<PixelBaselines> {
  const key = `${data.name}|${data.train.count}|${data.test.count}|${c.seed}|${c.knnBank}|${c.knnQueries}`;
  let p = cache.get(key);
  if (!p) {
    p = compute(ctx, data, c);
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
}

async function compute(ctx: GpuContext, data: DatasetSplits, c: Pick<TrainConfig, 'seed' | 'knnBank' | 'knnQueries'>): Promise<PixelBaselines> {
  const bank = pick(data.train, c.knnBank, c.seed);
  const queries = pick(data.test, c.knnQueries, c.seed + 1);
  const dim = data.train.height * data.train.width * data.train.channels;
  const classes = classCount(data);
  const stats = featureStats(bank.x, bank.labels.length, dim);
  const xb = standardize(bank.x, dim, stats);
  const xq = standardize(queries.x, dim, stats);
  const nb = bank.labels.length;
  const nq = queries.labels.length;
  const evaluator = await KnnEvaluator.create(ctx, { bankSize: nb, querySize: nq, dim, classes, ks: [20, 200].filter((k) => k <= nb), temperatures: [0.07, 0.1], label: 'knn.pixels' });
  const up = (a: Float32Array | Uint32Array, shape: number[], dtype: 'f32' | 'u32', label: string) => {
    const t = createTensor(ctx, shape, dtype, label);
    ctx.device.queue.writeBuffer(t.buffer, t.byteOffset, a as Float32Array<ArrayBuffer>);
    return t;
  };
  const tensors = [up(xb, [nb, dim], 'f32', 'pixels.bank'), up(bank.labels, [nb], 'u32', 'pixels.bank_labels'), up(xq, [nq, dim], 'f32', 'pixels.queries'), up(queries.labels, [nq], 'u32', 'pixels.query_labels')] as const;
  const knn = await evaluator.evaluate(tensors[0], tensors[1], tensors[2], tensors[3]);
  for (const t of tensors) t.buffer.destroy();
  const linear = await fitLinearClassifier(ctx, { features: bank.x, labels: bank.labels }, { features: queries.x, labels: queries.labels }, { classes, epochs: 20, batch: Math.min(256, nb), seed: c.seed });
  return { knn_top1_pixels: knn.top1_k20, linear_top1_pixels: linear.top1 };
}
