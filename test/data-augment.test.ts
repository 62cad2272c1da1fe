// GPU augmentation (src/shaders/augment.wgsl via src/data/augment.ts) against the float64
// reference (src/ref/augment.ts): the hash RNG bit for bit, the drawn parameters, the pixels to
// 1e-5 given the same parameters; determinism (same seed → same bits, other seed → different).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { Augmenter, MultiCropAugmenter, decodeAugmentParams, resolveAugmentConfig, uploadImages, type AugmenterOptions, type AugmentSampleParams } from '../src/data/augment.ts';
import { epochPermutation, pcg, randBase, randWord, AUGMENT_OPS } from '../src/data/rng.ts';
import { augmentParamsRef, augmentRef, roundHalfEven } from '../src/ref/augment.ts';
import { submitChecked } from '../src/gpu/kernel.ts';
import { createTensor, readTensor, uploadTensor, type Tensor } from '../src/gpu/tensor.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import type { GpuContext } from '../src/gpu/context.ts';
import { compareClose, seededRandom, testGpu } from './helpers/gpu.ts';

function randomImages(n: number, h: number, w: number, c: number, seed: number): Uint8Array {
  const r = seededRandom(seed);
  const out = new Uint8Array(n * h * w * c);
  // Smooth-ish content (gradients + noise) so crops and jitter see structure, plus exact 128s.
  for (let i = 0; i < n; i++) {
    const a = r() * 255;
    const gx = (r() - 0.5) * 16;
    const gy = (r() - 0.5) * 16;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let ch = 0; ch < c; ch++) {
          const v = a + gx * x + gy * y + (r() - 0.5) * 60 + ch * 20;
          out[((i * h + y) * w + x) * c + ch] = Math.max(0, Math.min(255, Math.round(v)));
        }
  }
  return out;
}

interface Run {
  aug: Augmenter;
  out: Float32Array;
  params: Uint32Array;
}

async function setup(ctx: GpuContext, opts: AugmenterOptions, n: number, imgSeed: number) {
  const images = randomImages(n, opts.height, opts.width, opts.channels, imgSeed);
  const imgT = uploadImages(ctx, { images, count: n, height: opts.height, width: opts.width, channels: opts.channels, name: 'test' });
  const idx = new Uint32Array(opts.batch);
  const r = seededRandom(imgSeed + 1);
  for (let i = 0; i < idx.length; i++) idx[i] = Math.floor(r() * n);
  const idxT = uploadTensor(ctx, idx, [opts.batch], 'test.indices');
  const aug = await Augmenter.create(ctx, opts);
  const out = aug.createOutput();
  aug.bind(imgT, idxT, out);
  return { images, idx, aug, out, imgT, idxT };
}

async function runStep(ctx: GpuContext, aug: Augmenter, out: Tensor, step: number, seed?: number): Promise<Run> {
  aug.setStep(step, seed);
  await submitChecked(ctx, 'augment test', (enc) => aug.record(enc));
  return { aug, out: (await readTensor(ctx, out)) as Float32Array, params: (await readTensor(ctx, aug.params)) as Uint32Array };
}

function compareParams(gpu: AugmentSampleParams[][], ref: AugmentSampleParams[][]) {
  let intMismatch = 0;
  let maxFloat = 0;
  const first: string[] = [];
  for (let v = 0; v < ref.length; v++)
    for (let s = 0; s < ref[v]!.length; s++) {
      const g = gpu[v]![s]!;
      const r = ref[v]![s]!;
      for (const k of ['cropY', 'cropX', 'cropH', 'cropW', 'flip', 'jitter', 'grayscale', 'solarize', 'attempt', 'image', 'check'] as const) {
        if (g[k] !== r[k]) {
          intMismatch++;
          if (first.length < 5) first.push(`view ${v} sample ${s} ${k}: gpu ${g[k]} ref ${r[k]}`);
        }
      }
      if (g.order.join() !== r.order.join()) intMismatch++;
      for (const k of ['brightness', 'contrast', 'saturation', 'hue'] as const) maxFloat = Math.max(maxFloat, Math.abs(g[k] - r[k]));
    }
  return { intMismatch, maxFloat, first };
}

const PINNED_WORDS = [129708002, 2831084092, 3861530882, 2368882721, 3194102287];

const CIFAR: Omit<AugmenterOptions, 'batch'> = { height: 32, width: 32, channels: 3, outSize: 32, preset: 'cifar', views: 2 };
const FASHION: Omit<AugmenterOptions, 'batch'> = { height: 28, width: 28, channels: 1, outSize: 32, preset: 'fashion-mnist', views: 2 };

describe('hash RNG', () => {
  test('known values and TS helpers', () => {
    // Pinned so that any change to the hash (which would change every run's augmentations) is noticed.
    expect([pcg(0), pcg(1), pcg(0xffffffff), randBase(0, 0, 0, 0), randWord(randBase(1, 2, 3, 4), 5)]).toEqual(PINNED_WORDS);
    // pcg against an independent BigInt implementation of the same formula.
    const pcgBig = (x: bigint) => {
      const st = (x * 747796405n + 2891336453n) & 0xffffffffn;
      const w = (((st >> ((st >> 28n) + 4n)) ^ st) * 277803737n) & 0xffffffffn;
      return Number((w >> 22n) ^ w);
    };
    const r = seededRandom(3);
    for (let i = 0; i < 2000; i++) {
      const x = Math.floor(r() * 4294967296);
      expect(pcg(x)).toBe(pcgBig(BigInt(x)));
    }
    expect(roundHalfEven(2.5)).toBe(2);
    expect(roundHalfEven(3.5)).toBe(4);
    expect(roundHalfEven(2.4999)).toBe(2);
    const p = epochPermutation(7, 0, 100);
    expect([...p].sort((a, b) => a - b)).toEqual([...Array(100).keys()]);
    expect(epochPermutation(7, 0, 100)).toEqual(p);
    expect(epochPermutation(7, 1, 100)).not.toEqual(p);
  });
});

describe('augment parameters: distributions (reference, CPU)', () => {
  test('probabilities, crop areas and ratios, factor ranges follow the preset', () => {
    const batch = 4000;
    const cfg = resolveAugmentConfig({ ...CIFAR, batch, views: 2 });
    const p = augmentParamsRef(cfg, 5, 0, new Uint32Array(batch), 1);
    const frac = (xs: AugmentSampleParams[], f: (q: AugmentSampleParams) => boolean) => xs.filter(f).length / xs.length;
    const v0 = p[0]!;
    const v1 = p[1]!;
    expect(frac(v0, (q) => q.flip)).toBeCloseTo(0.5, 1);
    expect(frac(v0, (q) => q.jitter)).toBeCloseTo(0.8, 1);
    expect(frac(v0, (q) => q.grayscale)).toBeCloseTo(0.2, 1);
    expect(frac(v0, (q) => q.solarize)).toBe(0);
    expect(frac(v1, (q) => q.solarize)).toBeCloseTo(0.2, 1);
    for (const q of v0) {
      const area = (q.cropH * q.cropW) / 1024;
      if (q.attempt < 10) {
        // Rounding w and h moves the area a little outside [0.2, 1].
        expect(area).toBeGreaterThan(0.2 * 0.8);
        expect(area).toBeLessThanOrEqual(1);
        expect(q.cropW / q.cropH).toBeGreaterThan(0.75 * 0.8);
        expect(q.cropW / q.cropH).toBeLessThan((4 / 3) * 1.25);
      } else expect([q.cropY, q.cropX, q.cropH, q.cropW]).toEqual([0, 0, 32, 32]);
      expect(q.cropY + q.cropH).toBeLessThanOrEqual(32);
      expect(q.cropX + q.cropW).toBeLessThanOrEqual(32);
      expect(q.brightness).toBeGreaterThanOrEqual(0.6 - 1e-7);
      expect(q.brightness).toBeLessThanOrEqual(1.4 + 1e-7);
      expect(q.saturation).toBeGreaterThanOrEqual(0.8 - 1e-7);
      expect(Math.abs(q.hue)).toBeLessThanOrEqual(0.1 + 1e-7);
      expect([...q.order].sort()).toEqual([0, 1, 2, 3]);
    }
    // Large crops fail their attempts often enough to reach the fallback now and then.
    expect(frac(v0, (q) => q.attempt > 0)).toBeGreaterThan(0.05);
    // All 24 jitter orders occur.
    expect(new Set(v0.map((q) => q.order.join())).size).toBe(24);
    // Fashion-MNIST: no saturation / hue / grayscale / solarize; pad 2.
    const fcfg = resolveAugmentConfig({ ...FASHION, batch: 8 });
    expect([fcfg.pad, fcfg.paddedHeight, fcfg.jitterOps, fcfg.grayscaleThreshold, fcfg.solarizeThreshold]).toEqual([2, 32, 3, 0, 0]);
  });
});

describe('augment: GPU vs float64 reference', () => {
  for (const [name, base, seed, step] of [
    ['cifar', CIFAR, 1234, 5],
    ['fashion-mnist', FASHION, 99, 0],
  ] as const) {
    test(`${name}: hash words, parameters and pixels`, async () => {
      const ctx = await testGpu();
      const opts = { ...base, batch: 48 };
      const n = 20;
      const { images, idx, aug, out } = await setup(ctx, opts, n, 17);
      const run = await runStep(ctx, aug, out, step, seed);
      const cfg = aug.config;
      const gpuParams = decodeAugmentParams(run.params, cfg.views, cfg.batch);
      const refParams = augmentParamsRef(cfg, seed, step, idx, n);
      // The hash itself: bit for bit.
      for (let v = 0; v < cfg.views; v++)
        for (let s = 0; s < cfg.batch; s++) expect(gpuParams[v]![s]!.check).toBe(randWord(randBase(seed, step, s, v), AUGMENT_OPS.CHECK));
      const cmp = compareParams(gpuParams, refParams);
      expect(cmp.first).toEqual([]);
      expect(cmp.intMismatch).toBe(0);
      expect(cmp.maxFloat).toBeLessThan(1e-6);
      // The draws exercise every branch somewhere in the batch.
      const all = gpuParams.flat();
      expect(all.some((p) => p.flip) && all.some((p) => !p.flip)).toBe(true);
      expect(all.some((p) => p.jitter) && all.some((p) => !p.jitter)).toBe(true);
      expect(all.some((p) => p.cropH < cfg.paddedHeight)).toBe(true);
      if (name === 'cifar') {
        expect(all.some((p) => p.grayscale)).toBe(true);
        expect(gpuParams[1]!.some((p) => p.solarize)).toBe(true);
        expect(gpuParams[0]!.some((p) => p.solarize)).toBe(false);
      }
      // Pixels, given the GPU's own parameters.
      const ref = augmentRef(cfg, images, gpuParams);
      const rep = compareClose(ref, run.out, 1e-5, 1e-5, `augment.${name}`);
      if (!rep.ok) throw new Error(rep.message);
      console.log(`[augment ${name}] max |gpu − ref| ${rep.maxAbs.toExponential(2)} over ${ref.length}`);
      // Padded channel is zero; for Fashion-MNIST the 2-pixel border of an uncropped view is the
      // normalised zero.
      if (cfg.outChannels === 4) for (let i = 3; i < run.out.length; i += 4) expect(run.out[i]).toBe(0);
      aug.destroy();
    });
  }

  test('preset none: pad + normalise only (exact)', async () => {
    const ctx = await testGpu();
    const opts = { ...FASHION, preset: 'none' as const, batch: 4, views: 1 };
    const { images, idx, aug, out } = await setup(ctx, opts, 6, 5);
    const run = await runStep(ctx, aug, out, 3, 1);
    const S = 32;
    for (let s = 0; s < 4; s++)
      for (let y = 0; y < S; y++)
        for (let x = 0; x < S; x++) {
          const inside = y >= 2 && y < 30 && x >= 2 && x < 30;
          const raw = inside ? images[(idx[s]! * 28 + (y - 2)) * 28 + (x - 2)]! : 0;
          const want = (raw / 255 - Math.fround(0.286)) / Math.fround(0.353);
          const got = run.out[(s * S + y) * S + x]!;
          expect(Math.abs(got - want)).toBeLessThan(1e-5);
        }
    aug.destroy();
  });

  test('configurable output channels: C = 3 → C_out = 3, and a 24×24 output from 32×32', async () => {
    const ctx = await testGpu();
    const { images, aug, out } = await setup(ctx, { ...CIFAR, batch: 6, outChannels: 3, outSize: 24 }, 5, 9);
    expect(aug.outShape).toEqual([2, 6, 24, 24, 3]);
    const run = await runStep(ctx, aug, out, 1, 3);
    const params = decodeAugmentParams(run.params, 2, 6);
    const rep = compareClose(augmentRef(aug.config, images, params), run.out, 1e-5, 1e-5, 'augment.c3');
    if (!rep.ok) throw new Error(rep.message);
    aug.destroy();
  });

  test('multi-crop: local views match the reference and use their own view numbers', async () => {
    const ctx = await testGpu();
    const n = 10;
    const images = randomImages(n, 32, 32, 3, 3);
    const imgT = uploadImages(ctx, { images, count: n, height: 32, width: 32, channels: 3, name: 'mc' });
    const idx = Uint32Array.from({ length: 8 }, (_, i) => (i * 3) % n);
    const idxT = uploadTensor(ctx, idx, [8], 'mc.idx');
    const mc = await MultiCropAugmenter.create(ctx, { ...CIFAR, batch: 8, local: { count: 3, size: 16, scale: [0.05, 0.2] } });
    const og = mc.global.createOutput();
    const ol = mc.local.createOutput();
    expect(ol.shape).toEqual([3, 8, 16, 16, 4]);
    mc.bind(imgT, idxT, og, ol);
    mc.setStep(11, 42);
    await submitChecked(ctx, 'multicrop', (enc) => mc.record(enc));
    const got = (await readTensor(ctx, ol)) as Float32Array;
    const params = decodeAugmentParams((await readTensor(ctx, mc.local.params)) as Uint32Array, 3, 8);
    expect(mc.local.config.viewOffset).toBe(2);
    const refP = augmentParamsRef(mc.local.config, 42, 11, idx, n);
    expect(compareParams(params, refP).intMismatch).toBe(0);
    expect(params.flat().every((p) => p.cropH * p.cropW <= 0.2 * 1024 * 1.5 && !p.solarize)).toBe(true);
    const rep = compareClose(augmentRef(mc.local.config, images, params), got, 1e-5, 1e-5, 'multicrop.local');
    if (!rep.ok) throw new Error(rep.message);
    mc.destroy();
  });
});

describe('augment: determinism', () => {
  test('same seed and step → identical bits; other seed, step or view → different', async () => {
    const ctx = await testGpu();
    const { aug, out } = await setup(ctx, { ...CIFAR, batch: 16 }, 12, 8);
    const a = await runStep(ctx, aug, out, 7, 2024);
    const b = await runStep(ctx, aug, out, 7, 2024);
    expect(Buffer.from(b.out.buffer).equals(Buffer.from(a.out.buffer))).toBe(true);
    expect(Buffer.from(b.params.buffer).equals(Buffer.from(a.params.buffer))).toBe(true);
    const c = await runStep(ctx, aug, out, 7, 2025);
    const d = await runStep(ctx, aug, out, 8, 2024);
    expect(Buffer.from(c.out.buffer).equals(Buffer.from(a.out.buffer))).toBe(false);
    expect(Buffer.from(d.out.buffer).equals(Buffer.from(a.out.buffer))).toBe(false);
    // The two views of one image differ.
    const half = a.out.length / 2;
    expect(Buffer.from(a.out.buffer, 0, half * 4).equals(Buffer.from(a.out.buffer, half * 4, half * 4))).toBe(false);
    // A second augmenter with the same settings reproduces the first (nothing hidden in state).
    const again = await setup(ctx, { ...CIFAR, batch: 16 }, 12, 8);
    const e = await runStep(ctx, again.aug, again.out, 7, 2024);
    expect(Buffer.from(e.out.buffer).equals(Buffer.from(a.out.buffer))).toBe(true);
    aug.destroy();
    again.aug.destroy();
  });
});

describe('augment: bad inputs', () => {
  test('options and shapes are checked before anything runs', async () => {
    const ctx = await testGpu();
    await expect(Augmenter.create(ctx, { ...CIFAR, batch: 4, channels: 2 })).rejects.toThrow(/channels must be 1 or 3/);
    await expect(Augmenter.create(ctx, { ...CIFAR, batch: 4, outChannels: 2 })).rejects.toThrow(/outChannels \(2\) must be at least channels \(3\)/);
    await expect(Augmenter.create(ctx, { ...CIFAR, batch: 0 })).rejects.toThrow(/batch must be a positive integer/);
    await expect(Augmenter.create(ctx, { ...CIFAR, batch: 4, mean: [0.5] })).rejects.toThrow(/mean and std need 3 values/);
    expect(() => resolveAugmentConfig({ ...CIFAR, batch: 4, preset: 'nope' as never })).toThrow(/unknown preset "nope"/);
    const aug = await Augmenter.create(ctx, { ...CIFAR, batch: 4 });
    const imgs = createTensor(ctx, [3, 28, 28, 1], 'u8', 'wrong');
    const idx = createTensor(ctx, [4], 'u32', 'idx');
    expect(() => aug.record(ctx.device.createCommandEncoder())).toThrow(/record\(\) before bind\(\)/);
    expect(() => aug.bind(imgs, idx, aug.createOutput())).toThrow(ShapeError);
    const good = createTensor(ctx, [3, 32, 32, 3], 'u8', 'good');
    expect(() => aug.bind(good, createTensor(ctx, [5], 'u32', 'idx5'), aug.createOutput())).toThrow(/indices .* must be 4 u32 values/);
    expect(() => aug.bind(good, idx, createTensor(ctx, [2, 4, 32, 32, 3], 'f32', 'out3'))).toThrow(/must hold 32768 f32 values/);
    expect(() => aug.setStep(-1)).toThrow(/step must be an integer/);
    aug.destroy();
  });

  test('out-of-range indices give zero images (normalised), not garbage', async () => {
    const ctx = await testGpu();
    const { aug, imgT, out } = await setup(ctx, { ...FASHION, preset: 'none', batch: 2, views: 1 }, 3, 1);
    aug.bind(imgT, uploadTensor(ctx, new Uint32Array([1, 99]), [2], 'idx.bad'), out);
    const run = await runStep(ctx, aug, out, 0);
    const params = decodeAugmentParams(run.params, 1, 2);
    expect(params[0]![1]!.image).toBe(0xffffffff);
    const z = (0 - Math.fround(0.286)) / Math.fround(0.353);
    for (let i = 1024; i < 2048; i++) expect(run.out[i]).toBeCloseTo(z, 5);
    aug.destroy();
  });
});

// ---------- optional: torchvision as an independent golden ----------

const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const hasTorchvision = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { stdio: 'ignore' }).status === 0;
if (!hasTorchvision) console.log('[augment] python3 with torch + torchvision not found: skipping the torchvision cross-check (apt-get install python3-torchvision)');

// Applies the GPU's parameters with torchvision.transforms.functional in float64.
const TORCHVISION_SCRIPT = String.raw`
import json, sys, warnings, torch
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode
warnings.filterwarnings("ignore")
d = json.load(open(sys.argv[1]))
c = d["cfg"]; H, W, C, S, pad = c["height"], c["width"], c["channels"], c["outSize"], c["pad"]
imgs = torch.tensor(d["images"], dtype=torch.uint8).reshape(-1, H, W, C)
outs = []
for v in range(c["views"]):
    for s in range(c["batch"]):
        p = d["params"][v][s]
        x = imgs[p["image"]].permute(2, 0, 1).double() / 255
        x = F.pad(x, [pad] * 4, fill=0)
        x = F.resized_crop(x, p["cropY"], p["cropX"], p["cropH"], p["cropW"], [S, S], interpolation=InterpolationMode.BILINEAR, antialias=False)
        if p["flip"]: x = F.hflip(x)
        if p["jitter"]:
            for op in p["order"]:
                if not (c["jitterOps"] >> op) & 1: continue
                x = [F.adjust_brightness, F.adjust_contrast, F.adjust_saturation, F.adjust_hue][op](x, p[["brightness", "contrast", "saturation", "hue"][op]])
        if p["grayscale"] and C == 3: x = F.rgb_to_grayscale(x, num_output_channels=3)
        if p["solarize"]: x = F.solarize(x, c["solarizeLevel"] / 255)
        x = F.normalize(x, c["mean"], c["std"])
        outs.append(x.permute(1, 2, 0).reshape(-1).tolist())
json.dump(outs, open(sys.argv[2], "w"))
`;

describe('augment: torchvision cross-check', () => {
  test.skipIf(!hasTorchvision)('GPU output equals torchvision.transforms.functional (float64) on the same parameters', async () => {
    const ctx = await testGpu();
    const dir = mkdtempSync(join(tmpdir(), 'mira-tv-'));
    try {
      for (const [name, base] of [
        ['cifar', CIFAR],
        ['fashion-mnist', FASHION],
      ] as const) {
        const { images, aug, out } = await setup(ctx, { ...base, batch: 24 }, 10, 31);
        const run = await runStep(ctx, aug, out, 2, 77);
        const cfg = aug.config;
        const params = decodeAugmentParams(run.params, cfg.views, cfg.batch);
        writeFileSync(join(dir, 'in.json'), JSON.stringify({ cfg, images: Array.from(images), params }));
        const res = spawnSync(PYTHON, ['-c', TORCHVISION_SCRIPT, join(dir, 'in.json'), join(dir, 'out.json')], { encoding: 'utf8' });
        if (res.status !== 0) throw new Error(`torchvision script failed: ${res.stderr}`);
        const tv = JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8')) as number[][];
        const C = cfg.channels;
        const co = cfg.outChannels;
        const gpu: number[] = [];
        for (let i = 0; i < run.out.length; i += co) for (let c = 0; c < C; c++) gpu.push(run.out[i + c]!);
        const rep = compareClose(tv.flat(), gpu, 1e-5, 1e-5, `torchvision vs gpu (${name})`);
        console.log(`[augment ${name}] max |gpu − torchvision| ${rep.maxAbs.toExponential(2)}`);
        if (!rep.ok) throw new Error(rep.message);
        aug.destroy();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
