// The playground's augmentation of a fixed batch, for torch/tests/parity_augment.py (issue 17):
// for the 'cifar' (3 channels, 32×32) and 'fashion-mnist' (1 channel, 28×28 padded to 32) presets,
// draws every image's parameters (src/ref/augment.ts augmentParamsRef, the GPU's hash RNG) and
// applies them in float64 (augmentRef), then writes into DIR, per preset P:
//   P.images.npy  uint8 N×H×W×C   the batch (smooth random images from a seeded hash)
//   P.views.npy   float32 2×N×32×32×C   both views, normalised
//   P.params.json the drawn parameters ([view][sample]) and seed / step
//   npx vite-node scripts/torch-augment-views.ts -- DIR
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveAugmentConfig } from '../src/data/augment-config.ts';
import { pcg } from '../src/data/rng.ts';
import { encodeNpy } from '../src/io/npy.ts';
import { augmentParamsRef, augmentRef } from '../src/ref/augment.ts';

const dir = process.argv.slice(2).filter((a) => a !== '--')[0];
if (!dir) {
  console.error('usage: npx vite-node scripts/torch-augment-views.ts -- DIR');
  process.exit(2);
}
mkdirSync(dir, { recursive: true });
const SEED = 7;
const STEP = 3;
const N = 64;
for (const [preset, H, C] of [['cifar', 32, 3], ['fashion-mnist', 28, 1]] as const) {
  const images = new Uint8Array(N * H * H * C);
  for (let i = 0; i < images.length; i++) {
    const n = Math.floor(i / (H * H * C));
    const y = Math.floor(i / (H * C)) % H;
    const x = Math.floor(i / C) % H;
    const c = i % C;
    const smooth = 127.5 + 110 * Math.sin((x + 3 * c + n) / (3 + (n % 5))) * Math.cos((y - 2 * c) / (4 + (n % 3)));
    images[i] = Math.max(0, Math.min(255, Math.round(smooth + ((pcg(i) & 31) - 16))));
  }
  const cfg = resolveAugmentConfig({ batch: N, height: H, width: H, channels: C, outSize: 32, outChannels: C, preset, views: 2 });
  const indices = Uint32Array.from({ length: N }, (_, i) => i);
  const params = augmentParamsRef(cfg, SEED, STEP, indices, N);
  const views = augmentRef(cfg, images, params);
  writeFileSync(join(dir, `${preset}.images.npy`), encodeNpy(images, [N, H, H, C]));
  writeFileSync(join(dir, `${preset}.views.npy`), encodeNpy(Float32Array.from(views), [2, N, 32, 32, C]));
  writeFileSync(join(dir, `${preset}.params.json`), JSON.stringify({ seed: SEED, step: STEP, params }));
}
console.log(`wrote ${dir}/{cifar,fashion-mnist}.{images.npy,views.npy,params.json}`);
