// `npm run cli -- linear --checkpoint model.safetensors --dataset bundled|fashion-mnist|cifar10|<dir>
//   [--epochs 20] [--batch 256] [--lr 0.1·batch/256] [--flip] [--limit N] [--seed S] [--json]`
// Offline linear evaluation of a frozen encoder, for any method's checkpoint: pooled features
// (evaluation-mode BN, no augmentation) of the train and test splits, a multinomial logistic
// regression trained on the GPU (src/mira/linear-probe.ts fitLinearClassifier: features
// standardised with the training split's statistics, SGD momentum 0.9, no weight decay, cosine
// lr), top-1 and top-5 on the test split, one JSON line. --flip adds the horizontally mirrored
// training images (flip-only augmentation, fixed: the training set doubles). A checkpoint whose
// channels or image size do not fit the dataset is refused before the GPU is touched.
// scripts/linear_reference.py fits the same model in PyTorch on `embed` output, as a cross-check.
import { readFileSync } from 'node:fs';
import { nodeGpu } from '../../src/gpu/node.ts';
import { createTensor, readF32 } from '../../src/gpu/tensor.ts';
import { normalizeImages } from '../../src/data/image-batch.ts';
import { loadDataset } from '../../src/data/node-fs.ts';
import type { Dataset } from '../../src/data/dataset.ts';
import { decodeCheckpoint } from '../../src/nn/checkpoint.ts';
import type { ModelConfig } from '../../src/nn/config.ts';
import { ParamLayout, ParamStore } from '../../src/nn/param-store.ts';
import { Embedder } from '../../src/nn/embedder.ts';
import { fitLinearClassifier, probeLearningRate } from '../../src/mira/linear-probe.ts';
import type { GpuContext } from '../../src/gpu/context.ts';
import { CliError, parseFlags, usage, type FlagSpec } from '../args.ts';
import { padImages } from './embed.ts';

export const summary = 'offline linear evaluation: logistic regression on frozen encoder features (train → test), top-1/top-5 as one JSON line';

const FLAGS: Record<string, FlagSpec> = {
  checkpoint: { kind: 'string', required: true, help: 'model.safetensors (any method)' },
  dataset: { kind: 'string', required: true, help: 'bundled | fashion-mnist | cifar10 | a directory' },
  epochs: { kind: 'int', default: 20, min: 1, help: 'passes over the training features' },
  batch: { kind: 'int', default: 256, min: 1, help: 'features per SGD step' },
  lr: { kind: 'number', help: 'peak learning rate, cosine to 0 (default 0.1 × batch / 256, solo-learn’s scaling)' },
  flip: { kind: 'boolean', help: 'also train on the horizontally mirrored training images (flip-only augmentation)' },
  limit: { kind: 'int', min: 1, help: 'use only the first N images of each split' },
  seed: { kind: 'int', default: 0, min: 0, help: 'order of the mini-batches' },
  json: { kind: 'boolean', help: 'print only the JSON line' },
};

/** The checkpoint must take the dataset's images: same channels, a square side that pads up to its size. */
export function checkImagesFit(config: ModelConfig, ds: Pick<Dataset, 'channels' | 'height' | 'width'>, what: string, command: string): number {
  if (ds.channels !== config.inChannels) throw new CliError(`${command}: ${what} images have ${ds.channels} channel(s) but the checkpoint takes ${config.inChannels}; use a checkpoint trained on this dataset`);
  const pad = (config.imageSize - ds.height) / 2;
  if (ds.height !== ds.width || pad < 0 || !Number.isInteger(pad)) throw new CliError(`${command}: ${what} images are ${ds.height}×${ds.width} but the checkpoint takes ${config.imageSize}×${config.imageSize}; use a checkpoint trained on this dataset`);
  return pad;
}

/** Mirrors NHWC uint8 images left–right. */
function flipImages(px: Uint8Array, count: number, size: number, channels: number): Uint8Array {
  const out = new Uint8Array(px.length);
  for (let n = 0; n < count; n++)
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        const src = ((n * size + y) * size + x) * channels;
        const dst = ((n * size + y) * size + (size - 1 - x)) * channels;
        out.set(px.subarray(src, src + channels), dst);
      }
  return out;
}

async function features(ctx: GpuContext, embedder: Embedder, config: ModelConfig, px: Uint8Array, count: number): Promise<Float32Array> {
  const out = createTensor(ctx, [count, embedder.dim], 'f32', 'linear.features');
  await embedder.embed(normalizeImages(px, config.inChannels, config.mean, config.std), count, out);
  const host = await readF32(ctx, out);
  out.buffer.destroy();
  return host;
}

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(argv, FLAGS, 'linear');
  if (!f) {
    console.log(usage('linear', '--checkpoint model.safetensors --dataset NAME [--epochs 20] [--batch 256] [--lr …] [--flip] [--json]', FLAGS));
    return 0;
  }
  const ckptPath = f.checkpoint as string;
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(ckptPath));
  } catch (e) {
    throw new CliError(`linear: cannot read --checkpoint ${ckptPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const state = decodeCheckpoint(bytes, ckptPath);
  const { config } = state;
  const data = await loadDataset(f.dataset as string);
  const pad = checkImagesFit(config, data.train, `${data.name} train`, 'linear');
  checkImagesFit(config, data.test, `${data.name} test`, 'linear');
  const limit = (f.limit as number | undefined) ?? Infinity;
  const nTrain = Math.min(data.train.count, limit);
  const nTest = Math.min(data.test.count, limit);
  const classes = Math.max(data.train.classes.length, 1 + Math.max(...data.train.labels.subarray(0, nTrain), ...data.test.labels.subarray(0, nTest)));
  const S = config.imageSize;
  const C = config.inChannels;
  const say = (s: string) => (f.json ? undefined : console.error(s));
  const { ctx } = await nodeGpu();
  const t0 = performance.now();
  const store = new ParamStore(ctx, new ParamLayout(config));
  store.upload(state);
  const embedder = await Embedder.create(ctx, config, store.student, Math.min(256, nTrain, nTest));
  const trainPx = padImages(data.train.images, nTrain, data.train.height, C, pad);
  let trainFeats = await features(ctx, embedder, config, trainPx, nTrain);
  let trainLabels = Uint32Array.from(data.train.labels.subarray(0, nTrain));
  if (f.flip) {
    const mirrored = await features(ctx, embedder, config, flipImages(trainPx, nTrain, S, C), nTrain);
    const both = new Float32Array(trainFeats.length * 2);
    both.set(trainFeats);
    both.set(mirrored, trainFeats.length);
    trainFeats = both;
    const ys = new Uint32Array(nTrain * 2);
    ys.set(trainLabels);
    ys.set(trainLabels, nTrain);
    trainLabels = ys;
  }
  const testFeats = await features(ctx, embedder, config, padImages(data.test.images, nTest, data.test.height, C, pad), nTest);
  const embedS = (performance.now() - t0) / 1000;
  say(`[linear] features of ${trainLabels.length} train${f.flip ? ' (with mirrored copies)' : ''} / ${nTest} test images (dim ${embedder.dim}) in ${embedS.toFixed(1)} s; fitting ${classes}-class logistic regression, ${f.epochs} epochs, batch ${f.batch}`);
  const batch = Math.min(f.batch as number, trainLabels.length);
  const lr = (f.lr as number | undefined) ?? probeLearningRate(batch);
  if (!(lr > 0)) throw new CliError(`linear: --lr must be > 0; got ${lr}`);
  const r = await fitLinearClassifier(ctx, { features: trainFeats, labels: trainLabels }, { features: testFeats, labels: Uint32Array.from(data.test.labels.subarray(0, nTest)) }, { classes, epochs: f.epochs as number, batch, lr, seed: f.seed as number });
  const method = state.method ?? null;
  const line = { checkpoint: ckptPath, method, step: state.step, dataset: data.name, train: trainLabels.length, test: nTest, dim: embedder.dim, classes, epochs: f.epochs, batch, lr, flip: !!f.flip, steps: r.steps, final_loss: r.loss, top1: r.top1, top5: r.top5, wall_s: (performance.now() - t0) / 1000, adapter: ctx.adapterName };
  console.log(JSON.stringify(line));
  return 0;
}
