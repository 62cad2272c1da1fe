// The convolution layer (implicit GEMMs over the GEMM core) against the float64 reference
// src/ref/conv2d.ts: forward, input grad (`=`) and weight grad (`=` and `+=`) over odd shapes,
// for both core variants ('tiled' must be right even though emulators run it slowly); split-K
// (forced and chosen) and its determinism; the stride-2 dgrad phase classes; the naive baseline;
// and the bad-input paths (ShapeError before any dispatch, naming the layer and the sizes).
import { describe, expect, test } from 'vitest';
import { Conv2d, chooseSplits, dgradClasses, reduceLanes, wgradLanes, wgradLanesTile, type Conv2dShape, type Conv2dOptions, type Conv2dVariant } from '../src/nn/conv2d.ts';
import { gemmTile } from '../src/gpu/gemm.ts';
import { conv2dBackwardInput, conv2dBackwardWeight, conv2dForward } from '../src/ref/conv2d.ts';
import { submitChecked } from '../src/gpu/kernel.ts';
import { createTensor, readF32, uploadTensor, type Tensor } from '../src/gpu/tensor.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { expectClose, randomArray, testGpu, testGpuAs } from './helpers/gpu.ts';

// (B, H, W, Cin, Cout, k, s, p)
type Tuple = [number, number, number, number, number, number, number, number];
const SHAPES: Tuple[] = [
  [2, 5, 7, 3, 5, 3, 1, 1], // the stem's 3 channels, odd sizes
  [1, 9, 9, 4, 8, 3, 2, 1], // stride 2, padding 1, odd H/W
  [3, 8, 8, 16, 32, 1, 2, 0], // the 1×1 stride-2 downsample
  [2, 6, 6, 1, 4, 3, 1, 2], // one channel, padding 2
  [2, 4, 4, 64, 64, 3, 1, 1], // a real block's channels
  [2, 7, 5, 4, 6, 3, 2, 0], // stride 2, padding 0, odd H/W, Cout % 4 ≠ 0
  [2, 9, 7, 8, 4, 1, 2, 1], // 1×1 stride 2 with padding 1: some outputs see only padding
  [1, 7, 9, 4, 8, 1, 2, 0], // the 1×1 stride-2 downsample on odd H/W
];

const toShape = ([batch, height, width, inChannels, outChannels, kernel, stride, padding]: Tuple): Conv2dShape => ({
  batch,
  height,
  width,
  inChannels,
  outChannels,
  kernel,
  stride,
  padding,
});
const name = (t: Tuple) => `B${t[0]} ${t[1]}×${t[2]}×${t[3]}→${t[4]} k${t[5]} s${t[6]} p${t[7]}`;

interface Case {
  conv: Conv2d;
  x: Float32Array;
  w: Float32Array;
  dy: Float32Array;
  dw0: Float32Array;
  ref: { y: Float64Array; dx: Float64Array; dw: Float64Array };
  got: { y: Float32Array; dx: Float32Array; dw: Float32Array; dwAcc: Float32Array };
}

// Reference results per shape, computed once and shared by the variants.
const refs = new Map<string, Case['ref']>();

/** Runs all three passes (and wgrad twice: `=` and `+=`) in one submit; outputs start as garbage. */
async function runCase(t: Tuple, variant: Conv2dVariant, options: Conv2dOptions = {}): Promise<Case> {
  const ctx = await testGpu();
  const s = toShape(t);
  const conv = await Conv2d.create(ctx, s, variant, options);
  const seed = t.reduce((a, b) => a * 31 + b, 7);
  const x = randomArray(conv.xElements, seed + 1);
  const w = randomArray(conv.wElements, seed + 2);
  const dy = randomArray(conv.yElements, seed + 3);
  const dw0 = randomArray(conv.wElements, seed + 4);
  const key = name(t);
  let ref = refs.get(key);
  if (!ref) {
    const x64 = Float64Array.from(x);
    const w64 = Float64Array.from(w);
    const dy64 = Float64Array.from(dy);
    ref = { y: conv2dForward(x64, w64, s), dx: conv2dBackwardInput(dy64, w64, s), dw: conv2dBackwardWeight(x64, dy64, s) };
    refs.set(key, ref);
  }
  const X = uploadTensor(ctx, x, [s.batch, s.height, s.width, s.inChannels], 'x');
  const W = uploadTensor(ctx, w, [s.kernel, s.kernel, s.inChannels, s.outChannels], 'w');
  const DY = uploadTensor(ctx, dy, [s.batch, conv.outHeight, conv.outWidth, s.outChannels], 'dy');
  const garbage = (n: number, label: string, shape: number[]) => uploadTensor(ctx, randomArray(n, 99, -1e3, 1e3), shape, label);
  const Y = garbage(conv.yElements, 'y', [conv.yElements]);
  const DX = garbage(conv.xElements, 'dx', [conv.xElements]);
  const DW = garbage(conv.wElements, 'dw', [conv.wElements]);
  const DWACC = uploadTensor(ctx, dw0, [conv.wElements], 'dw_acc');
  const passes = [conv.bindForward(X, W, Y), conv.bindInputGrad(DY, W, DX), conv.bindWeightGrad(X, DY, DW, { accumulate: false }), conv.bindWeightGrad(X, DY, DWACC, { accumulate: true })];
  await submitChecked(ctx, `conv2d test ${key}`, (enc) => passes.forEach((p) => p.record(enc)));
  const got = { y: await readF32(ctx, Y), dx: await readF32(ctx, DX), dw: await readF32(ctx, DW), dwAcc: await readF32(ctx, DWACC) };
  for (const tensor of [X, W, DY, Y, DX, DW, DWACC]) tensor.buffer.destroy();
  expect(ctx.uncaptured.filter((m) => /conv2d/.test(m))).toEqual([]);
  return { conv, x, w, dy, dw0, ref, got };
}

/** f32 accumulation error grows like √(reduction length); inputs are O(1). */
const tol = (reduction: number) => 2e-6 * Math.sqrt(reduction) + 1e-6;

function checkCase(c: Case, what: string): void {
  const s = c.conv.shape;
  const kk = s.kernel * s.kernel;
  const tf = tol(kk * s.inChannels);
  const td = tol(kk * s.outChannels);
  const tw = tol(s.batch * c.conv.outHeight * c.conv.outWidth);
  expectClose(c.ref.y, c.got.y, tf, tf, `${what} forward y`);
  expectClose(c.ref.dx, c.got.dx, td, td, `${what} input grad dx (=)`);
  expectClose(c.ref.dw, c.got.dw, tw, tw, `${what} weight grad dw (=)`);
  const want = c.ref.dw.map((v, i) => v + c.dw0[i]!);
  expectClose(want, c.got.dwAcc, tw, tw, `${what} weight grad dw (+=)`);
}

describe.each(['tiled', 'direct'] as const)('conv2d.%s against the float64 reference', (variant) => {
  test.each(SHAPES.map((t) => [name(t), t] as const))('%s: forward, input grad, weight grad = and +=', async (_, t) => {
    const c = await runCase(t, variant);
    checkCase(c, `conv2d.${variant} ${name(t)}`);
  });

  test('forced split-K in every pass matches, and runs the same bits twice', async () => {
    // The forward's partial products are still in the scratch when dgrad runs: that dgrad writes
    // every element of every slab (zeros for the classes no tap reaches) is tested.
    for (const t of [SHAPES[0]!, SHAPES[1]!, SHAPES[2]!, SHAPES[4]!, SHAPES[6]!]) {
      const options = { splits: { forward: 3, inputGrad: 2, weightGrad: 5 } };
      const c = await runCase(t, variant, options);
      // Chunks are whole 16-wide K-steps: a reduction of ≤ 16 cannot be split.
      if (t[5] * t[5] * t[3] > 16) expect(c.conv.splits.forward).toBeGreaterThan(1);
      if (Math.max(...dgradClasses(toShape(t)).map((k) => k.K)) > 16) expect(c.conv.splits.inputGrad).toBeGreaterThan(1);
      expect(c.conv.splits.weightGrad).toBeGreaterThan(1);
      checkCase(c, `conv2d.${variant} ${name(t)} split-K`);
      const again = await runCase(t, variant, options);
      expect(Array.from(again.got.dw)).toEqual(Array.from(c.got.dw));
      expect(Array.from(again.got.dx)).toEqual(Array.from(c.got.dx));
    }
  });
});

describe('thread layouts other than the chosen one', () => {
  // Narrow and wide tiles (gemmTileLayouts) through every pass, with and without split-K; the
  // shapes cover the stride-2 phase classes, Cin/Cout not multiples of 4 and the 1×1 downsample.
  const forced = {
    tiled: [{ tx: 1, ty: 32 }, { tx: 32, ty: 2 }, { tx: 4, ty: 8 }],
    direct: [{ tx: 1, ty: 64 }, { tx: 64, ty: 1 }, { tx: 4, ty: 2 }],
  } as const;
  for (const variant of ['tiled', 'direct'] as const) {
    test.each(forced[variant].map((t) => [t.tx, t.ty, t] as const))(`conv2d.${variant} with %i×%i threads`, async (_x, _y, tile) => {
      const tiles = { forward: tile, inputGrad: tile, weightGrad: tile };
      for (const t of [SHAPES[1]!, SHAPES[5]!, SHAPES[7]!]) {
        checkCase(await runCase(t, variant, { tiles }), `conv2d.${variant} ${name(t)} tiles ${tile.tx}×${tile.ty}`);
        checkCase(await runCase(t, variant, { tiles, splits: { forward: 2, inputGrad: 2, weightGrad: 3 } }), `conv2d.${variant} ${name(t)} tiles ${tile.tx}×${tile.ty} split-K`);
      }
    });
  }
});

test('a ResNet-18 layer at width 1/8 (layer2.0.conv1: 8→16 channels, 3×3 stride 2 on 16×16) with the chosen splits', async () => {
  const t: Tuple = [8, 16, 16, 8, 16, 3, 2, 1];
  const c = await runCase(t, 'direct');
  // wgrad's 72×16 output is 3 tiles of 32, so its reduction over B·Ho·Wo = 512 pixels is split.
  expect(c.conv.splits.weightGrad).toBeGreaterThan(1);
  checkCase(c, `conv2d.direct ${name(t)}`);
});

describe('dgrad at stride 2 runs only the taps that reach each input pixel', () => {
  test('3×3 stride 2: four phase classes with 4, 2, 2 and 1 taps', () => {
    const cls = dgradClasses(toShape([1, 9, 9, 4, 8, 3, 2, 1]));
    expect(cls.map((c) => c.th * c.tw).sort()).toEqual([1, 2, 2, 4]);
    // Every input pixel is in exactly one class.
    expect(cls.reduce((a, c) => a + c.ch * c.cw, 0)).toBe(81);
    // Useful multiply-adds equal the taps over the pixels (vs 9 taps everywhere without classes).
    const macs = cls.reduce((a, c) => a + c.ch * c.cw * c.th * c.tw, 0);
    expect(macs).toBeLessThan(81 * 9 * 0.3);
  });

  test('1×1 stride 2: one class carries the taps; all four run in one dispatch (+ reduce), the other three storing zeros', async () => {
    const cls = dgradClasses(toShape([3, 8, 8, 16, 32, 1, 2, 0]));
    expect(cls.map((c) => c.K)).toEqual([32, 0, 0, 0]);
    const ctx = await testGpu();
    const conv = await Conv2d.create(ctx, toShape([3, 8, 8, 16, 32, 1, 2, 0]), 'direct');
    const bound = conv.bindInputGrad(createTensor(ctx, [conv.yElements], 'f32', 'dy'), createTensor(ctx, [conv.wElements], 'f32', 'w'), createTensor(ctx, [conv.xElements], 'f32', 'dx'));
    expect(bound.dispatches).toBe(1 + (conv.splits.inputGrad > 1 ? 1 : 0));
  });

  test('3×3 stride 2: the four classes in one dispatch (+ reduce)', async () => {
    const ctx = await testGpu();
    const conv = await Conv2d.create(ctx, toShape([1, 9, 9, 4, 8, 3, 2, 1]), 'direct');
    const bound = conv.bindInputGrad(createTensor(ctx, [conv.yElements], 'f32', 'dy'), createTensor(ctx, [conv.wElements], 'f32', 'w'), createTensor(ctx, [conv.xElements], 'f32', 'dx'));
    expect(bound.dispatches).toBe(1 + (conv.splits.inputGrad > 1 ? 1 : 0));
  });

  test('the stem (Cin 1 and 3) at stride 2, odd sizes', async () => {
    for (const t of [[1, 7, 9, 3, 4, 3, 2, 1], [2, 5, 5, 1, 3, 3, 2, 2]] as Tuple[]) {
      checkCase(await runCase(t, 'direct'), `conv2d.direct ${name(t)}`);
    }
  });
});

describe('split-K rule', () => {
  test('no split when the output tiles already fill the device; a split of the long reduction when they do not', () => {
    // Forward of the 64→64 layer at 32×32, batch 128: 2048 row tiles.
    expect(chooseSplits('tiled', 128 * 32 * 32, 64, 576)).toBe(1);
    // Its wgrad: a 576×64 output (9 tiles) reduced over 131072 pixels.
    const s = chooseSplits('tiled', 576, 64, 128 * 32 * 32);
    expect(s).toBeGreaterThanOrEqual(64);
    expect((128 * 32 * 32) / s).toBeGreaterThanOrEqual(64);
    // Short reductions are not split below 64 per chunk on GPUs, 256 on CPU emulators.
    expect(chooseSplits('tiled', 8, 8, 100)).toBe(1);
    expect(chooseSplits('tiled', 8, 8, 300)).toBe(4);
    expect(chooseSplits('direct', 8, 8, 300)).toBe(1);
    // A 2-way split does not pay for its reduce pass on a GPU: 1×1 forward, 128 channels in.
    expect(chooseSplits('tiled', 32 * 8 * 8, 256, 128)).toBe(1);
    // A 1×1 projection's wgrad at width 1, batch 32 (64→128 at 32×32): two output tiles, 8192
    // pixels: 128 chunks of 64, the fastest count measured on an H100.
    expect(chooseSplits('tiled', 64, 128, 32 * 16 * 16)).toBe(128);
  });

  test('the chosen split count is what the layer uses', async () => {
    const ctx = await testGpu();
    const conv = await Conv2d.create(ctx, toShape([8, 8, 8, 16, 16, 3, 1, 1]), 'tiled');
    // A small output on 'tiled': the split is counted on the K-lanes thread layout's tiles, with chunks of ≥ 16 pixels per lane.
    expect(conv.wgradLanes.lanes).toBeGreaterThan(1);
    expect(conv.splits.weightGrad).toBe(chooseSplits('tiled', 144, 16, 512, 144 * 16, undefined, conv.tiles.weightGrad!, Math.max(64, 16 * conv.wgradLanes.lanes)));
    expect(conv.scratchElements).toBe(conv.splits.weightGrad > 1 ? conv.splits.weightGrad * conv.wElements : 0);
  });
});

describe('the small weight gradients (the stem, the 1×1 projections): K-lanes and the many-slab reduce', () => {
  // Shapes whose weight gradient is a small output over a long reduction, at odd batch sizes: the
  // stem with 4 (padded), 3 and 1 input channels, and 1×1 stride-2 projections.
  const SMALL: Tuple[] = [
    [16, 32, 32, 4, 8, 3, 1, 1], // the width-1/8 stem: 36×8 over 16384 pixels: 2×2 threads × 64 lanes, split 16 ways on 'tiled'
    [3, 17, 15, 3, 5, 3, 1, 1], // the unpadded stem (no vec4 patch loads), Cout 5: a part-filled reduce group
    [5, 12, 12, 1, 4, 3, 1, 1], // one input channel
    [17, 32, 32, 8, 16, 1, 2, 0], // layer2.0.downsample.0 at width 1/8: 8×16 over 4352 pixels
    [16, 32, 32, 16, 32, 1, 2, 0], // layer2.0.downsample.0 at width 1/4: 16×32 over 4096 pixels, split 32 ways
    [3, 16, 16, 16, 32, 1, 2, 0], // layer3.0.downsample.0 at width 1/8
    [7, 9, 11, 12, 20, 1, 2, 0], // a 1×1 stride-2 projection on odd sizes
  ];

  test.each(SMALL.map((t) => [name(t), t] as const))("'tiled' as chosen (lanes, many-slab reduce): %s matches the reference and runs the same bits twice", async (_, t) => {
    const c = await runCase(t, 'tiled');
    expect(c.conv.wgradLanes.lanes).toBeGreaterThan(1);
    checkCase(c, `conv2d.tiled ${name(t)} lanes ${c.conv.wgradLanes.lanes} splits ${c.conv.splits.weightGrad} reduce ${c.conv.wgradLanes.reduceLanes}`);
    const again = await runCase(t, 'tiled');
    expect(Array.from(again.got.dw)).toEqual(Array.from(c.got.dw));
    expect(Array.from(again.got.dwAcc)).toEqual(Array.from(c.got.dwAcc));
  });

  test('the cases above get full thread layouts (no padding rows), the many-slab reduce from 32 splits, and the lanes kernel without split-K', async () => {
    const ctx = await testGpu();
    const plan = async (t: Tuple, options: Conv2dOptions = {}) => {
      const conv = await Conv2d.create(ctx, toShape(t), 'tiled', { ...options, passes: { forward: false, inputGrad: false, weightGrad: 'both' } });
      return { splits: conv.splits.weightGrad, ...conv.wgradLanes, tile: conv.tiles.weightGrad };
    };
    // 36×8: 5 tiles of 8×8 (gemmTile's 32-thread 2×16 layout padded it to 64 rows), chunks of ≥ 16 pixels per lane.
    expect(await plan(SMALL[0]!)).toEqual({ splits: 16, lanes: 64, reduceLanes: 1, tile: { tx: 2, ty: 2 } });
    // 8×16: one 8×16 tile (gemmTile's 4×8 layout was 32 rows, three quarters padding).
    expect(await plan(SMALL[3]!)).toEqual({ splits: 8, lanes: 32, reduceLanes: 1, tile: { tx: 4, ty: 2 } });
    expect(await plan(SMALL[4]!)).toEqual({ splits: 32, lanes: 8, reduceLanes: 4, tile: { tx: 8, ty: 4 } });
    expect(await plan(SMALL[1]!)).toMatchObject({ splits: 1, lanes: 16 });
  });

  test.each([
    ['direct', 4, 'chosen'],
    ['direct', 8, 1],
    ['tiled', 2, 7],
    ['tiled', 64, 1],
  ] as const)('forced: %s with %i lanes, splits %s: matches and runs the same bits twice', async (variant, lanes, splits) => {
    for (const t of [SMALL[1]!, SMALL[2]!, SMALL[6]!]) {
      const tile = variant === 'tiled' && lanes === 64 ? { tx: 2, ty: 2 } : undefined;
      const options: Conv2dOptions = { wgradLanes: lanes, ...(splits !== 'chosen' ? { splits: { weightGrad: splits } } : {}), ...(tile ? { tiles: { weightGrad: tile } } : {}) };
      const c = await runCase(t, variant, options);
      expect(c.conv.wgradLanes.lanes).toBe(lanes);
      checkCase(c, `conv2d.${variant} ${name(t)} lanes ${lanes} splits ${c.conv.splits.weightGrad}`);
      const again = await runCase(t, variant, options);
      expect(Array.from(again.got.dw)).toEqual(Array.from(c.got.dw));
    }
  });

  test('forced: the many-slab reduce with 4 and 64 threads per output on both variants, = and +=, the same bits twice', async () => {
    const t = SMALL[3]!;
    for (const variant of ['direct', 'tiled'] as const) {
      for (const [rl, splits] of [[4, 40], [64, 68]] as const) {
        const options: Conv2dOptions = { wgradReduceLanes: rl, splits: { weightGrad: splits } };
        const c = await runCase(t, variant, options);
        expect(c.conv.wgradLanes.reduceLanes).toBe(rl);
        checkCase(c, `conv2d.${variant} ${name(t)} reduce lanes ${rl} splits ${c.conv.splits.weightGrad}`);
        const again = await runCase(t, variant, options);
        expect(Array.from(again.got.dwAcc)).toEqual(Array.from(c.got.dwAcc));
      }
    }
  });

  test('the rule: lanes fill a thread layout under 256 threads on GPUs only; the reduce gives each thread at least 8 slabs, from 32 splits', async () => {
    // The stem at width 1: gemmTile gives its 36×64 output 16×2 threads (5 tiles of 8 rows: 40);
    // with lanes it gets 16×1 threads (9 tiles of 4 rows: 36, no padding), repeated 16 times along K.
    expect(gemmTile('tiled', 36, 64)).toEqual({ tx: 16, ty: 2 });
    expect(wgradLanesTile(36, 64)).toEqual({ tx: 16, ty: 1 });
    expect(wgradLanes('tiled', { tx: 16, ty: 1 })).toBe(16);
    // Never under 4 threads (64 lanes at most): a 4×4 output gets 1×4 threads, not one.
    expect(wgradLanesTile(4, 4).tx * wgradLanesTile(4, 4).ty).toBe(4);
    // A wide layer's 16×16 layout is left to the tiled core; CPU emulators keep their direct core.
    expect(wgradLanes('tiled', { tx: 16, ty: 16 })).toBe(1);
    expect(wgradLanes('direct', { tx: 2, ty: 4 })).toBe(1);
    // At most 64 lanes (WebGPU's guaranteed workgroup size along z).
    expect(wgradLanes('tiled', { tx: 1, ty: 1 })).toBe(64);
    expect([8, 16, 31, 32, 63, 64, 128, 255, 256].map((s) => reduceLanes('tiled', s))).toEqual([1, 1, 1, 4, 4, 8, 16, 16, 32]);
    expect(reduceLanes('direct', 256)).toBe(1);
    // A layer on a GPU adapter picks them (the emulator seen as hardware).
    const gpu = await testGpuAs('gpu');
    const stem = await Conv2d.create(gpu, toShape(SMALL[0]!), undefined, { passes: { forward: false, inputGrad: false, weightGrad: 'accumulate' } });
    expect(stem.variant).toBe('tiled');
    expect(stem.wgradLanes.lanes).toBe(64);
  });
});

test('the naive baseline kernels are correct too', async () => {
  for (const t of [SHAPES[0]!, SHAPES[1]!, SHAPES[2]!]) {
    checkCase(await runCase(t, 'naive'), `conv2d.naive ${name(t)}`);
  }
});

describe('compiling only the passes a network binds (Conv2dOptions.passes: a shorter start, issue 15)', () => {
  // A training layer: forward, input grad, weight grad accumulated; with one split and with a forced split-K weight grad.
  test.each([['one split', {}], ['split-K weight grad', { weightGrad: 3 }]] as const)('%s: the compiled passes give the same bits as the fully compiled layer, the others refuse to bind and name what is missing', async (_, splits) => {
    const ctx = await testGpu();
    const t: Tuple = [2, 9, 9, 4, 8, 3, 2, 1];
    const full = await runCase(t, 'direct', { splits });
    const s = toShape(t);
    const conv = await Conv2d.create(ctx, s, 'direct', { label: 'layer2.0.conv1', splits, passes: { forward: true, inputGrad: true, weightGrad: 'accumulate' } });
    const X = uploadTensor(ctx, full.x, [full.x.length], 'x');
    const W = uploadTensor(ctx, full.w, [full.w.length], 'w');
    const DY = uploadTensor(ctx, full.dy, [full.dy.length], 'dy');
    const Y = createTensor(ctx, [conv.yElements], 'f32', 'y');
    const DX = createTensor(ctx, [conv.xElements], 'f32', 'dx');
    const DW = uploadTensor(ctx, full.dw0, [conv.wElements], 'dw_acc');
    const passes = [conv.bindForward(X, W, Y), conv.bindInputGrad(DY, W, DX), conv.bindWeightGrad(X, DY, DW, { accumulate: true })];
    await submitChecked(ctx, 'conv2d passes test', (enc) => passes.forEach((p) => p.record(enc)));
    // The same pipelines (shared by specialisation) as the fully compiled layer: the same bits.
    expect(await readF32(ctx, Y)).toEqual(full.got.y);
    expect(await readF32(ctx, DX)).toEqual(full.got.dx);
    expect(await readF32(ctx, DW)).toEqual(full.got.dwAcc);
    expect(() => conv.bindWeightGrad(X, DY, DW, { accumulate: false })).toThrow(/conv2d "layer2.0.conv1" .*: the weightGrad \(assign\) pipelines were not compiled \(Conv2d.create's passes option\)/);
    const evalOnly = await Conv2d.create(ctx, s, 'direct', { label: 'embed.conv1', passes: { forward: true, inputGrad: false, weightGrad: false } });
    expect(() => evalOnly.bindInputGrad(DY, W, DX)).toThrow(/the inputGrad pipelines were not compiled/);
    expect(() => evalOnly.bindWeightGrad(X, DY, DW, { accumulate: true })).toThrow(/the weightGrad \(accumulate\) pipelines were not compiled/);
    for (const tensor of [X, W, DY, Y, DX, DW]) tensor.buffer.destroy();
  });
});

describe('bad input', () => {
  const s = toShape([2, 5, 7, 3, 5, 3, 1, 1]);
  test('mismatched tensors throw a ShapeError naming the layer and the expected sizes, before any dispatch', async () => {
    const ctx = await testGpu();
    const conv = await Conv2d.create(ctx, s, 'direct', { label: 'layer0.conv' });
    const t = (n: number, label: string): Tensor => createTensor(ctx, [n], 'f32', label);
    const x = t(conv.xElements, 'x');
    const w = t(conv.wElements, 'w');
    const y = t(conv.yElements, 'y');
    const wrong = t(conv.xElements + 1, 'x_wrong');
    expect(() => conv.bindForward(wrong, w, y)).toThrow(ShapeError);
    expect(() => conv.bindForward(wrong, w, y)).toThrow(/conv2d "layer0.conv" \(2×5×7×3→5, 3×3 s1 p1\) forward: x x_wrong\[211\] f32 should hold 210 f32 values \(NHWC 2×5×7×3\)/);
    expect(() => conv.bindInputGrad(y, x, x)).toThrow(/inputGrad: w x\[210\] f32 should hold 135 f32 values \(HWIO 3×3×3×5\)/);
    expect(() => conv.bindWeightGrad(x, y, y, { accumulate: true })).toThrow(/weightGrad: dw y\[350\] f32 should hold 135 f32 values/);
    expect(() => conv.bindForward(x, w, createTensor(ctx, [conv.yElements], 'u32', 'y_u32'))).toThrow(/should hold 350 f32 values \(NHWC 2×5×7×5\)/);
  });

  test('impossible shapes are refused at creation', async () => {
    const ctx = await testGpu();
    await expect(Conv2d.create(ctx, s, 'direct', { tiles: { inputGrad: { tx: 128, ty: 1 } } })).rejects.toThrow(/tiles.inputGrad 128×1 is not a thread layout the direct core runs/);
    await expect(Conv2d.create(ctx, { ...s, inChannels: 0 })).rejects.toThrow(/inChannels must be a positive integer, got 0/);
    await expect(Conv2d.create(ctx, { ...s, padding: -1 })).rejects.toThrow(ShapeError);
    await expect(Conv2d.create(ctx, { ...s, height: 2, padding: 0 })).rejects.toThrow(/3×3 kernel does not fit the 2×7 input padded by 0/);
    await expect(Conv2d.create(ctx, s, 'direct', { splits: { weightGrad: 0 } })).rejects.toThrow(/splits.weightGrad/);
    await expect(Conv2d.create(ctx, s, 'tiled', { label: 'conv1', wgradLanes: 3 })).rejects.toThrow(/conv2d "conv1" .*: wgradLanes must be a power of two from 1 to 64, got 3/);
    await expect(Conv2d.create(ctx, s, 'tiled', { label: 'conv1', wgradReduceLanes: 12 })).rejects.toThrow(/conv2d "conv1" .*: wgradReduceLanes must be a power of two from 1 to 256, got 12/);
    await expect(Conv2d.create(ctx, s, 'tiled', { wgradLanes: 4, tiles: { weightGrad: { tx: 16, ty: 16 } } })).rejects.toThrow(/wgradLanes 4 × the 16×16 thread layout is over 256 threads/);
  });
});
