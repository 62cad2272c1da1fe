// `npm run cli -- embed --checkpoint model.safetensors --in images.npy --out feats.npy [--batch N]`
// `npm run cli -- embed --checkpoint model.safetensors --dataset bundled|fashion-mnist|cifar10|<dir>
//   [--split train|test] [--limit N] --out feats.npy`
// Pooled encoder features (evaluation-mode BN) as float32 N×D; images are uint8 N×H×W×C scaled
// to [0, 1] and normalised with the checkpoint's mean/std. An image size or channel count the
// checkpoint does not have is refused with the reason, before the GPU is touched; so is an --out
// that cannot be written. The features are written atomically. Exit code 2 for bad input, 1 for a
// failure (README, "Exit codes").
import { readFileSync } from 'node:fs';
import { nodeGpu } from '../../src/gpu/node.ts';
import { createTensor, readF32 } from '../../src/gpu/tensor.ts';
import { encodeNpy, parseNpy } from '../../src/io/npy.ts';
import { checkImageBatch, normalizeImages } from '../../src/data/image-batch.ts';
import { loadDataset } from '../../src/data/node-fs.ts';
import { decodeCheckpoint } from '../../src/nn/checkpoint.ts';
import { ParamLayout, ParamStore } from '../../src/nn/param-store.ts';
import { Embedder } from '../../src/nn/embedder.ts';
import { CliError, parseFlags, usage, type FlagSpec } from '../args.ts';
import { checkWritableFile, npyInput, writeAtomic } from '../files.ts';

export const summary = 'pooled encoder features (eval-mode BN) of uint8 images or a dataset split, as float32 N×D .npy';

const FLAGS: Record<string, FlagSpec> = {
  checkpoint: { kind: 'string', required: true, help: 'model.safetensors' },
  in: { kind: 'string', help: 'uint8 N×H×W×C .npy (or use --dataset)' },
  dataset: { kind: 'string', help: 'bundled | fashion-mnist | cifar10 | a directory (instead of --in)' },
  split: { kind: 'string', choices: ['train', 'test'], default: 'test', help: 'dataset split' },
  limit: { kind: 'int', min: 1, help: 'embed only the first N images of the split' },
  out: { kind: 'string', required: true, help: 'float32 N×D .npy' },
  batch: { kind: 'int', default: 128, min: 1, help: 'images per GPU batch' },
  teacher: { kind: 'boolean', help: 'embed with the EMA teacher (ema.*) instead of the student' },
};

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(argv, FLAGS, 'embed');
  if (!f) {
    console.log(usage('embed', '--checkpoint model.safetensors (--in images.npy | --dataset NAME) --out feats.npy', FLAGS));
    return 0;
  }
  if (!!f.in === !!f.dataset) throw new CliError('embed: give exactly one of --in images.npy or --dataset NAME');
  if (f.in && f.limit !== undefined) throw new CliError('embed: --limit applies to --dataset; with --in every image of the file is embedded');
  if (f.in && f.split !== 'test') throw new CliError('embed: --split applies to --dataset, not to --in');
  checkWritableFile(f.out as string, 'out', 'embed');
  const ckptPath = f.checkpoint as string;
  let ckptBytes: Uint8Array;
  try {
    ckptBytes = new Uint8Array(readFileSync(ckptPath));
  } catch (e) {
    throw new CliError(`cannot read checkpoint ${ckptPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const state = decodeCheckpoint(ckptBytes, ckptPath);
  const { config } = state;
  let pixels: Uint8Array;
  let count: number;
  let source: string;
  if (f.in) {
    const path = f.in as string;
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(path));
    } catch (e) {
      throw new CliError(`cannot read images ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const arr = npyInput(() => parseNpy(bytes, path), 'embed');
    [count] = checkImageBatch(arr.shape, arr.dtype, config, path);
    pixels = arr.data as Uint8Array;
    source = path;
  } else {
    const splits = await loadDataset(f.dataset as string);
    const ds = f.split === 'train' ? splits.train : splits.test;
    const pad = (config.imageSize - ds.height) / 2;
    if (ds.channels !== config.inChannels) throw new CliError(`embed: ${splits.name} images have ${ds.channels} channel(s) but the checkpoint takes ${config.inChannels}`);
    if (ds.height !== ds.width || pad < 0 || !Number.isInteger(pad)) throw new CliError(`embed: ${splits.name} images are ${ds.height}×${ds.width}; the checkpoint takes ${config.imageSize}×${config.imageSize}`);
    count = Math.min(ds.count, (f.limit as number | undefined) ?? ds.count);
    pixels = padImages(ds.images, count, ds.height, ds.channels, pad);
    source = `${splits.name} ${f.split} (${count} images${pad ? `, zero-padded ${ds.height}→${config.imageSize}` : ''})`;
  }
  const { ctx } = await nodeGpu();
  const store = new ParamStore(ctx, new ParamLayout(config));
  store.upload(state);
  const batch = Math.min(f.batch as number, count);
  const embedder = await Embedder.create(ctx, config, f.teacher ? store.teacherWeights : store.student, batch);
  const out = createTensor(ctx, [count, embedder.dim], 'f32', 'embed.features');
  const t0 = performance.now();
  await embedder.embed(normalizeImages(pixels, config.inChannels, config.mean, config.std), count, out);
  const feats = await readF32(ctx, out);
  writeAtomic(f.out as string, encodeNpy(feats, [count, embedder.dim]));
  const s = (performance.now() - t0) / 1000;
  console.log(`embedded ${count} images from ${source} → ${f.out} (float32 ${count}×${embedder.dim}) in ${s.toFixed(2)} s, ${(count / s).toFixed(1)} images/s on ${ctx.adapterName}`);
  return 0;
}

/** Zero-pads square images by `pad` pixels on each side (Fashion-MNIST 28 → 32). */
export function padImages(images: Uint8Array, count: number, size: number, channels: number, pad: number): Uint8Array {
  if (pad === 0) return images.subarray(0, count * size * size * channels);
  const S = size + 2 * pad;
  const out = new Uint8Array(count * S * S * channels);
  for (let n = 0; n < count; n++)
    for (let y = 0; y < size; y++) {
      const src = ((n * size + y) * size) * channels;
      const dst = ((n * S + y + pad) * S + pad) * channels;
      out.set(images.subarray(src, src + size * channels), dst);
    }
  return out;
}
