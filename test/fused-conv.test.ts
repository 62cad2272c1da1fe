// Fused convolutions (issue 15; src/nn/resnet18.ts fuseBnRelu):
// - each block's bn1 + ReLU applied by conv2 as it loads: the values conv2 reads are the ones bn1's apply pass would have
//   stored (the same fma and max), so on the CPU emulators' core the fused encoder gives the unfused one's results bit
//   for bit — features, every parameter gradient, the running statistics;
// - on the GPUs' core ('tiled') each convolution also gathers its batch norm's statistics as it stores its output (group
//   pivots and shifted sums, added in a fixed order): the same up to summation order, and the same bits run after run.
// The golden PyTorch comparison of the fused encoder (both cores) is in resnet18.test.ts.
import { describe, expect, test } from 'vitest';
import { ShapeError } from '../src/gpu/errors.ts';
import { submitChecked } from '../src/gpu/kernel.ts';
import { createTensor, readF32, Tensor, uploadTensor } from '../src/gpu/tensor.ts';
import { BatchNorm } from '../src/nn/batchnorm.ts';
import { initialState } from '../src/nn/checkpoint.ts';
import { defaultModelConfig } from '../src/nn/config.ts';
import { bnStatsGroups, Conv2d } from '../src/nn/conv2d.ts';
import { ParamLayout, ParamStore } from '../src/nn/param-store.ts';
import { encoderConvWeightNames, F16WeightLayout } from '../src/nn/f16-weights.ts';
import { EncoderLayers, EncoderRun, Scratch } from '../src/nn/resnet18.ts';
import { defaultGemmVariant } from '../src/gpu/gemm.ts';
import { expectClose, randomArray, testGpuAs } from './helpers/gpu.ts';

/** Index of the first element whose bits differ, or -1 (NaN = NaN here: bits, not values). */
function firstDifference(a: Float32Array, b: Float32Array): number {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  if (ua.length !== ub.length) return 0;
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

describe.each(['emulator', 'gpu'] as const)('fused convolutions (%s variants)', (kind) => {
  // The 'gpu' layers' tiled pipelines take lavapipe a minute or two to build.
  test(`the encoder: training forward + backward and evaluation, ${kind === 'emulator' ? 'bit for bit' : 'within summation order of'} the unfused results, the same bits twice`, { timeout: 400_000 }, async () => {
    const ctx = await testGpuAs(kind);
    const B = 6;
    const S = 16;
    const config = defaultModelConfig(3, { width: 1 / 16, imageSize: S, stemPadding: 1, projHidden: 8, projOut: 4, prototypes: 3 });
    const x = uploadTensor(ctx, randomArray(B * S * S * 3, 11), [B, S, S, 3], 'input');
    const dFeat = uploadTensor(ctx, randomArray(B * 32, 12), [B, 32], 'dfeatures');
    const results: Float32Array[][] = [];
    const built = await Promise.all([false, true].map((fuse) => EncoderLayers.create(ctx, config, B, defaultGemmVariant(ctx), undefined, { fuseBnRelu: fuse })));
    for (const fuse of [false, true, true]) {
      const layout = new ParamLayout(config);
      const store = new ParamStore(ctx, layout);
      store.upload(initialState(config, 3));
      const layers = built[Number(fuse)]!;
      expect(layers.fuseBnRelu).toBe(fuse);
      expect(layers.spec.featureDim).toBe(32);
      const evalRun = new EncoderRun(ctx, layers, store.student, x, 'eval', 'eval');
      const run = new EncoderRun(ctx, layers, store.student, x, 'train', 'train');
      const backward = run.bindBackward(dFeat, store.grads, new Scratch(ctx, 'scratch'));
      await submitChecked(ctx, 'encoder', (enc) => {
        evalRun.forward.record(enc);
        enc.clearBuffer(store.grads.buffer);
        run.forward.record(enc);
        backward.record(enc);
      });
      const whole = (buffer: GPUBuffer, n: number, label: string) => readF32(ctx, new Tensor(buffer, [n], 'f32', label));
      results.push([
        await readF32(ctx, evalRun.features),
        await readF32(ctx, run.features),
        await whole(store.grads.buffer, layout.size, 'grads'),
        await whole(store.stats.buffer, layout.statsSize, 'stats'),
      ]);
    }
    const names = ['eval features', 'training features', 'parameter gradients', 'running statistics'];
    const [unfused, fused, again] = results;
    // Statistics gathered in the 'tiled' epilogue: every convolution of this tiny encoder that is not split over K.
    const convs = [...built[1]!.convs.values()];
    expect(convs.length).toBe(20);
    const gathering = convs.filter((c) => c.statsGroups).length;
    if (kind === 'gpu') expect(gathering).toBe(convs.filter((c) => c.splits.forward === 1).length);
    expect(gathering).toBeGreaterThanOrEqual(kind === 'gpu' ? 5 : 0);
    if (kind === 'emulator') expect(gathering).toBe(0);
    names.forEach((name, i) => {
      expect(unfused![i]!.some((v) => v !== 0), name).toBe(true);
      if (kind === 'emulator') expect(firstDifference(unfused![i]!, fused![i]!), `${name}: fused vs unfused`).toBe(-1);
      // Relative to the tensor's scale: batch norm's statistics summed in another order move every later value a little.
      else expectClose(unfused![i]!, fused![i]!, 2e-5 * Math.max(...unfused![i]!.map(Math.abs)), 1e-4, `${name}: fused vs unfused`);
      expect(firstDifference(fused![i]!, again![i]!), `${name}: fused, second run`).toBe(-1);
    });
  });

  // One layer pair, apart from the encoder: padding, stride 2, a scalar-lane batch norm (3 channels) and vec4 lanes (8).
  test.each([
    [3, 1],
    [8, 2],
  ])('conv with %i input channels, stride %i: forward and weight gradient through the coefficients equal conv(relu(BN(x)))', async (cin, stride) => {
    const ctx = await testGpuAs(kind);
    const B = 3;
    const H = 9;
    const cout = 8;
    const shape = { batch: B, height: H, width: H, inChannels: cin, outChannels: cout, kernel: 3, stride, padding: 1 };
    const bnShape = { batch: B, channels: cin, height: H, width: H };
    const [applied, deferred] = await Promise.all([BatchNorm.create(ctx, bnShape, { relu: true }), BatchNorm.create(ctx, bnShape, { relu: true, applyInConsumer: true })]);
    const [plain, fused] = await Promise.all([Conv2d.create(ctx, shape), Conv2d.create(ctx, shape, undefined, { bnReluInput: { coefAt: deferred.coefAt } })]);
    const n = B * H * H * cin;
    const up = (data: Float32Array, label: string) => uploadTensor(ctx, data, [data.length], label);
    const c = up(randomArray(n, 21, -2, 3), 'c');
    const bnParams = () => ({ gamma: up(randomArray(cin, 22, 0.5, 1.5), 'gamma'), beta: up(randomArray(cin, 23), 'beta'), runningMean: up(new Float32Array(cin), 'rm'), runningVar: up(new Float32Array(cin).fill(1), 'rv') });
    const h = createTensor(ctx, [n], 'f32', 'h');
    const w = up(randomArray(9 * cin * cout, 24), 'w');
    const yN = plain.yElements;
    const dy = up(randomArray(yN, 25), 'dy');
    const [y0, y1] = [createTensor(ctx, [yN], 'f32', 'y0'), createTensor(ctx, [yN], 'f32', 'y1')];
    const [dw0, dw1] = [createTensor(ctx, [w.numel], 'f32', 'dw0'), createTensor(ctx, [w.numel], 'f32', 'dw1')];
    const bnA = applied.bindForward({ x: c, y: h, ...bnParams() });
    const bnD = deferred.bindForward({ x: c, ...bnParams() });
    await submitChecked(ctx, 'pair', (enc) => {
      bnA.record(enc);
      bnD.record(enc);
      plain.bindForward(h, w, y0).record(enc);
      fused.bindForward(c, w, y1, bnD.coef).record(enc);
      plain.bindWeightGrad(h, dy, dw0).record(enc);
      fused.bindWeightGrad(c, dy, dw1, { accumulate: false, coef: bnD.coef }).record(enc);
    });
    const hv = await readF32(ctx, h);
    expect(hv.some((v) => v === 0) && hv.some((v) => v > 0), 'the ReLU clips some values and keeps others').toBe(true);
    expect(firstDifference(await readF32(ctx, y0), await readF32(ctx, y1)), 'forward').toBe(-1);
    expect(firstDifference(await readF32(ctx, dw0), await readF32(ctx, dw1)), 'weight gradient').toBe(-1);
  });
});

// With f16 activations (the f16 path) on the GPUs' core: conv2 reads bn1's output unrounded (the unfused path stores it in
// f16) and the statistics come from the f16-rounded outputs as stored; fused and unfused agree to f16 rounding.
test('f16 activations, GPU core: the fused encoder within f16 rounding of the unfused one, the same bits twice', { timeout: 400_000 }, async () => {
  const ctx = await testGpuAs('gpu');
  const B = 6;
  const S = 16;
  const config = defaultModelConfig(3, { width: 1 / 16, imageSize: S, stemPadding: 1, projHidden: 8, projOut: 4, prototypes: 3 });
  const x = uploadTensor(ctx, randomArray(B * S * S * 3, 41), [B, S, S, 3], 'input');
  const dFeat = uploadTensor(ctx, randomArray(B * 32, 42), [B, 32], 'dfeatures');
  const layout = new ParamLayout(config);
  const [f16, ...built] = await Promise.all([
    F16WeightLayout.create(ctx, layout, encoderConvWeightNames(config)),
    ...[false, true].map((fuse) => EncoderLayers.create(ctx, config, B, 'tiled', undefined, { precision: 'f16', fuseBnRelu: fuse })),
  ]);
  const results: Float32Array[][] = [];
  for (const fuse of [false, true, true]) {
    const store = new ParamStore(ctx, layout);
    store.upload(initialState(config, 5));
    const copy = f16.copyOf(store.params, 'w16');
    const run = new EncoderRun(ctx, built[Number(fuse)]!, store.student, x, 'train', 'train', copy);
    const backward = run.bindBackward(dFeat, store.grads, new Scratch(ctx, 'scratch'));
    await submitChecked(ctx, 'encoder f16', (enc) => {
      enc.clearBuffer(store.grads.buffer);
      copy.cast.record(enc);
      run.forward.record(enc);
      backward.record(enc);
    });
    results.push([await readF32(ctx, run.features), await readF32(ctx, new Tensor(store.grads.buffer, [layout.size], 'f32', 'grads'))]);
    copy.destroy();
    store.destroy();
  }
  const [unfused, fused, again] = results;
  const scale = (a: Float32Array) => Math.max(...a.map(Math.abs));
  // f16 keeps 11 bits: features within a few f16 ulps of the feature scale; gradients, amplified by batch norm's backward
  // (test/f16.test.ts), by direction.
  expectClose(unfused![0]!, fused![0]!, 8 * 2 ** -11 * scale(unfused![0]!), 0, 'features: fused vs unfused');
  let dot = 0, na = 0, nb = 0;
  unfused![1]!.forEach((a, i) => ([dot, na, nb] = [dot + a * fused![1]![i]!, na + a * a, nb + fused![1]![i]! ** 2]));
  expect(dot / Math.sqrt(na * nb), 'gradients: cosine, fused vs unfused').toBeGreaterThan(0.98);
  expect(firstDifference(fused![0]!, again![0]!), 'features, fused twice').toBe(-1);
  expect(firstDifference(fused![1]!, again![1]!), 'gradients, fused twice').toBe(-1);
});

describe('bn1 + ReLU fusion refuses what it cannot do', () => {
  test('a conv reading through a batch norm without its coefficients, coefficients for a plain conv, a residual, a stored y', async () => {
    const ctx = await testGpuAs('emulator');
    const shape = { batch: 2, height: 4, width: 4, inChannels: 4, outChannels: 4, kernel: 3, stride: 1, padding: 1 };
    const n = 2 * 4 * 4 * 4;
    const t = (label: string, size = n) => createTensor(ctx, [size], 'f32', label);
    const fused = await Conv2d.create(ctx, shape, undefined, { label: 'layer1.0.conv2', bnReluInput: { coefAt: 12 }, passes: { forward: true, inputGrad: false, weightGrad: 'assign' } });
    expect(() => fused.bindForward(t('c1'), t('w', 144), t('c2'))).toThrow(ShapeError);
    expect(() => fused.bindForward(t('c1'), t('w', 144), t('c2'))).toThrow(/layer1\.0\.conv2.* forward: reads its input through a batch norm, so it needs that batch norm's coefficient tensor/);
    expect(() => fused.bindWeightGrad(t('c1'), t('dy'), t('dw', 144), { accumulate: false, coef: t('small', 8) })).toThrow(/≥ 20 f32 values\), got small/);
    const plain = await Conv2d.create(ctx, shape, undefined, { passes: { forward: true, inputGrad: false, weightGrad: false } });
    expect(() => plain.bindForward(t('x'), t('w', 144), t('y'), t('coef', 32))).toThrow(/coefficients were given but the layer was created without bnReluInput/);
    await expect(Conv2d.create(ctx, shape, 'naive', { bnReluInput: { coefAt: 0 } })).rejects.toThrow(/naive baseline cannot read its input through a batch norm/);
    await expect(BatchNorm.create(ctx, { batch: 2, channels: 4 }, { label: 'layer1.0.bn2', relu: true, residual: true, applyInConsumer: true })).rejects.toThrow(/layer1\.0\.bn2: applyInConsumer needs a fused ReLU and no residual/);
    const bn = await BatchNorm.create(ctx, { batch: 2, channels: 4, height: 4, width: 4 }, { label: 'layer1.0.bn1', relu: true, applyInConsumer: true });
    const p = () => t('p', 4);
    expect(() => bn.bindForward({ x: t('c1'), y: t('h1'), gamma: p(), beta: p(), runningMean: p(), runningVar: p() })).toThrow(/layer1\.0\.bn1: y was given but the layer applies in its consumer/);
    const fwd = bn.bindForward({ x: t('c1'), gamma: p(), beta: p(), runningMean: p(), runningVar: p() });
    const bwd = { x: t('c1'), dy: t('dh1'), dx: t('dc1'), gamma: p(), mean: fwd.mean!, invstd: fwd.invstd!, dgamma: p(), dbeta: p() };
    expect(() => bn.bindBackward(bwd)).toThrow(/layer1\.0\.bn1: coef \(the forward pass's coefficients, for the ReLU mask\) is required/);
    expect(() => bn.bindBackward({ ...bwd, coef: fwd.coef })).not.toThrow();
  });
});

// The epilogue statistics on the GPUs' core (run here on the emulator as a hardware GPU): output rows that do not fill the
// last group nor the last thread's 4 rows (M = 3·9·9 = 243, or 3·7·7 = 147 unpadded), scalar and vec4 channels, and a
// large common offset (no padding, so every output carries it whole: the variance must not cancel away). Against the
// float64 mean and variance of the very output the convolution stored.
describe('batch-norm statistics in the convolution epilogue', () => {
  test.each([
    [6, 0, 1],
    [8, 0, 1],
    [8, 1000, 0],
  ])('%i output channels, inputs offset by %i, padding %i: mean, invstd, running statistics and y', async (cout, offset, padding) => {
    const ctx = await testGpuAs('gpu');
    const B = 3;
    const H = 9;
    const cin = 4;
    const shape = { batch: B, height: H, width: H, inChannels: cin, outChannels: cout, kernel: 3, stride: 1, padding };
    const O = H - 2 + 2 * padding;
    const groups = bnStatsGroups('tiled', shape)!;
    expect(groups, 'this shape gathers statistics').not.toBeNull();
    const R = B * O * O;
    expect(R % groups.groupRows, 'the last group is short').not.toBe(0);
    const conv = await Conv2d.create(ctx, shape, 'tiled', { bnStats: true });
    const bnShape = { batch: B, channels: cout, height: O, width: O };
    const bn = await BatchNorm.create(ctx, bnShape, { relu: true, statsFromProducer: groups });
    const up = (data: Float32Array, label: string) => uploadTensor(ctx, data, [data.length], label);
    // A positive weight sum per output channel turns the input offset into an output offset.
    const x = up(randomArray(B * H * H * cin, 31).map((v) => v + offset), 'x');
    const w = up(randomArray(9 * cin * cout, 32, 0, 0.2), 'w');
    const y = createTensor(ctx, [R * cout], 'f32', 'y');
    const stats = createTensor(ctx, [groups.groups * 3 * cout], 'f32', 'stats');
    const h = createTensor(ctx, [R * cout], 'f32', 'h');
    const io = { x: y, y: h, gamma: up(new Float32Array(cout).fill(1), 'gamma'), beta: up(new Float32Array(cout), 'beta'), runningMean: up(new Float32Array(cout), 'rm'), runningVar: up(new Float32Array(cout).fill(1), 'rv'), groupStats: stats };
    const fwd = bn.bindForward(io);
    await submitChecked(ctx, 'conv + bn', (enc) => {
      conv.bindForward(x, w, y, undefined, stats).record(enc);
      fwd.record(enc);
    });
    const yv = await readF32(ctx, y);
    const mean = new Float64Array(cout);
    const varb = new Float64Array(cout);
    for (let r = 0; r < R; r++) for (let c = 0; c < cout; c++) mean[c]! += yv[r * cout + c]! / R;
    for (let r = 0; r < R; r++) for (let c = 0; c < cout; c++) varb[c]! += (yv[r * cout + c]! - mean[c]!) ** 2 / R;
    if (offset) expect(Math.min(...mean) / Math.sqrt(Math.max(...varb)), 'the offset dwarfs the spread').toBeGreaterThan(100);
    const scale = Math.max(...yv.map(Math.abs));
    expectClose(mean, await readF32(ctx, fwd.mean!), 1e-6 * scale, 1e-6, 'mean');
    expectClose(Float64Array.from(varb, (v) => 1 / Math.sqrt(v + 1e-5)), await readF32(ctx, fwd.invstd!), 0, offset ? 1e-4 : 1e-5, 'invstd');
    expectClose(Float64Array.from(mean, (m) => 0.1 * m), await readF32(ctx, io.runningMean), 1e-7 * scale, 1e-6, 'running mean');
    expectClose(Float64Array.from(varb, (v) => 0.9 + (0.1 * v * R) / (R - 1)), await readF32(ctx, io.runningVar), 0, offset ? 1e-4 : 1e-5, 'running var');
    const hv = await readF32(ctx, h);
    // The apply's scale·x + shift form in f32 leaves, with the offset, ~ulp(3600)·invstd ≈ 1e-3 (the unfused layer too).
    expectClose(Float64Array.from(yv, (v, i) => Math.max(0, (v - mean[i % cout]!) / Math.sqrt(varb[i % cout]! + 1e-5))), hv, offset ? 3e-3 : 1e-4, 1e-5, 'y = relu(BN(conv))');
  });

  test('refusals: a layer that cannot gather, statistics without bnStats, a batch norm without its groups', async () => {
    const ctx = await testGpuAs('emulator');
    const shape = { batch: 2, height: 4, width: 4, inChannels: 4, outChannels: 4, kernel: 3, stride: 1, padding: 1 };
    expect(bnStatsGroups('direct', shape)).toBeNull();
    await expect(Conv2d.create(ctx, shape, 'direct', { label: 'layer1.0.conv1', bnStats: true })).rejects.toThrow(/layer1\.0\.conv1.*cannot gather batch-norm statistics in the forward's epilogue \(bnStats\) with the direct core/);
    const plain = await Conv2d.create(ctx, shape, 'tiled', { passes: { forward: true, inputGrad: false, weightGrad: false } });
    const t = (label: string, n: number) => createTensor(ctx, [n], 'f32', label);
    expect(() => plain.bindForward(t('x', 128), t('w', 144), t('y', 128), undefined, t('stats', 8))).toThrow(/batch-norm statistics were asked for but the layer was created without bnStats/);
    const groups = bnStatsGroups('tiled', shape)!;
    const bn = await BatchNorm.create(ctx, { batch: 2, channels: 4, height: 4, width: 4 }, { label: 'layer1.0.bn1', statsFromProducer: groups, passes: { train: true, eval: false, backward: false } });
    const p = () => t('p', 4);
    expect(() => bn.bindForward({ x: t('c1', 128), y: t('h1', 128), gamma: p(), beta: p(), runningMean: p(), runningVar: p() })).toThrow(/layer1\.0\.bn1: groupStats \(the producer's per-group pivot and shifted sums\) is required/);
    await expect(BatchNorm.create(ctx, { batch: 2, channels: 4, height: 4, width: 4 }, { label: 'bn', statsFromProducer: { groupRows: 4, groups: 3 } })).rejects.toThrow(/bn: statsFromProducer has 3 groups of 4 rows, which do not cover the 32 rows/);
  });
});
