// The f16 path (issue 15, item 3): f16 storage with f32 arithmetic. Host conversions against
// known bit patterns; the storage views' round trip through a real kernel (vec4 and scalar,
// loads widen exactly, stores round to nearest like the host); the refusal of f16 on a device
// without shader-f16 (the feature flag turned off in the context, the real kernels); and the
// layers with f16 operands against the float64 references (tolerances derived below).
import { describe, expect, test } from 'vitest';
import { decodeF16, encodeF16, f16BitsToF32, f32ToF16Bits, hoistEnableF16, roundToF16 } from '../src/gpu/f16.ts';
import { createKernel, submitChecked } from '../src/gpu/kernel.ts';
import { storageView } from '../src/gpu/storage-view.ts';
import { createTensor, readF32, uploadTensor } from '../src/gpu/tensor.ts';
import { GpuKernelError } from '../src/gpu/errors.ts';
import type { GpuContext } from '../src/gpu/context.ts';
import { randomArray, relErr, testGpu } from './helpers/gpu.ts';

/** The same device with shader-f16 switched off in its context: what a device without the feature looks like to our code. */
const withoutF16 = (ctx: GpuContext): GpuContext => ({ ...ctx, features: { ...ctx.features, shaderF16: false } });

describe('host f16 conversions', () => {
  test('known bit patterns, rounding to nearest even, subnormals, overflow', () => {
    expect(f32ToF16Bits(1)).toBe(0x3c00);
    expect(f32ToF16Bits(-2)).toBe(0xc000);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // rounds up to Inf
    expect(f32ToF16Bits(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(f32ToF16Bits(2 ** -26)).toBe(0x0000); // below half of it
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    expect(f16BitsToF32(0x3555)).toBeCloseTo(1 / 3, 3);
    expect(f16BitsToF32(0x0200)).toBe(2 ** -15);
    const v = randomArray(1000, 5, -100, 100);
    const back = decodeF16(encodeF16(v));
    for (let i = 0; i < v.length; i++) expect(Math.abs(back[i]! - v[i]!)).toBeLessThanOrEqual(Math.abs(v[i]!) * 2 ** -11);
  });

  test('`enable f16;` is moved to the top once; code without it is unchanged', () => {
    const code = 'alias V = f32;\nenable f16;\nfn a() {}\nenable f16;\n';
    expect(hoistEnableF16(code)).toBe('enable f16;\nalias V = f32;\nfn a() {}\n');
    expect(hoistEnableF16('fn a() {}\n')).toBe('fn a() {}\n');
  });
});

// A copy through two storage views: out = in, element by element, with the scalar and the vec4 accessors.
const COPY = `
override N: u32;
@compute @workgroup_size(64)
fn copy1(@builtin(global_invocation_id) g: vec3<u32>) { if (g.x < N) { dst_st(g.x, src_ld(g.x)); } }
@compute @workgroup_size(64)
fn copy4(@builtin(global_invocation_id) g: vec3<u32>) { let i = 4u * g.x; if (i < N) { dst_st4(i, src_ld4(i)); } }
`;

describe('f16 storage views', () => {
  const N = 1024;
  for (const vec4 of [true, false]) {
    for (const entry of ['copy1', 'copy4'] as const) {
      test(`${vec4 ? 'array<vec4<f16>>' : 'array<f16>'} ${entry}: f32 → f16 rounds like the host, f16 → f32 is exact`, async () => {
        const ctx = await testGpu();
        const values = randomArray(N, 11, -300, 300);
        values[0] = 1e-6; // an f16 subnormal
        values[1] = 1 + 2 ** -11; // a tie
        const grid: [number] = [Math.ceil((entry === 'copy4' ? N / 4 : N) / 64)];
        // f32 → f16
        const down = await createKernel(ctx, { label: 'test.f16_store', code: storageView(0, 'src', 'read', vec4) + storageView(1, 'dst', 'read_write', vec4, 'f16') + COPY, entryPoint: entry, constants: { N } });
        const src = uploadTensor(ctx, values, [N], 'src');
        const half = createTensor(ctx, [N], 'f16', 'half');
        // f16 → f32
        const up = await createKernel(ctx, { label: 'test.f16_load', code: storageView(0, 'src', 'read', vec4, 'f16') + storageView(1, 'dst', 'read_write', vec4) + COPY, entryPoint: entry, constants: { N } });
        const back = createTensor(ctx, [N], 'f32', 'back');
        await submitChecked(ctx, 'f16 round trip', (enc) => {
          down.bind([src, half]).record(enc, grid);
          up.bind([half, back]).record(enc, grid);
        });
        const want = roundToF16(values);
        expect(Array.from(await readF32(ctx, half))).toEqual(Array.from(want));
        expect(Array.from(await readF32(ctx, back))).toEqual(Array.from(want));
      });
    }
  }

  test('a device without shader-f16 refuses f16 tensors and f16 kernels, naming what to do', async () => {
    const ctx = withoutF16(await testGpu());
    expect(() => createTensor(ctx, [4], 'f16', 'acts')).toThrow(/acts.*shader-f16.*--precision f32/);
    await expect(createKernel(ctx, { label: 'test.f16_store', code: storageView(0, 'src', 'read', true, 'f16') + COPY, entryPoint: 'copy1', constants: { N: 4 } })).rejects.toThrow(GpuKernelError);
    await expect(createKernel(ctx, { label: 'test.f16_store', code: storageView(0, 'src', 'read', true, 'f16') + COPY, entryPoint: 'copy1', constants: { N: 4 } })).rejects.toThrow(/test.f16_store.*shader-f16/);
  });
});

// ------------------------------------------------------------------------------ convolution
// Tolerance. Storing an operand in f16 rounds it (relative error ≤ 2^-11); that rounding is what
// the f16 path IS, so the float64 reference gets the same rounded operands and everything else
// must match as tightly as f32 does: the products and sums are f32 (loads widen exactly), so the
// error is f32 accumulation, tol(K) = 2e-6·√K + 1e-6 as in test/conv2d.test.ts, plus, for an
// output stored in f16 (y), one rounding at the store: ≤ 2^-11·|y| (relative, half an ulp). A
// kernel that accumulated in f16, truncated instead of rounding, or read the wrong half of a
// vec4<f16> breaks this by orders of magnitude; so does forgetting to round the reference's
// inputs (errors ~2^-11·√K·|x||w|, well over tol for K ≥ 27).
import { Conv2d, type Conv2dOptions, type Conv2dShape } from '../src/nn/conv2d.ts';
import { conv2dBackwardInput, conv2dBackwardWeight, conv2dForward } from '../src/ref/conv2d.ts';
import { F16_EPS } from '../src/gpu/f16.ts';
import { expectClose } from './helpers/gpu.ts';

const convTol = (reduction: number) => 2e-6 * Math.sqrt(reduction) + 1e-6;

// (B, H, W, Cin, Cout, k, s, p)
type ConvTuple = [number, number, number, number, number, number, number, number];
const CONV_SHAPES: ConvTuple[] = [
  [2, 5, 7, 3, 8, 3, 1, 1], // the stem's 3 channels (scalar x loads), vec4 w and y
  [1, 9, 9, 4, 8, 3, 2, 1], // stride 2
  [3, 8, 8, 16, 32, 1, 2, 0], // the 1×1 downsample
  [2, 7, 5, 4, 6, 3, 2, 0], // Cout % 4 ≠ 0: array<f16> for w and y
  [2, 4, 4, 64, 64, 3, 1, 1], // a real block's channels
];

async function convF16Case(t: ConvTuple, variant: 'tiled' | 'direct', xF16: boolean, extra: Conv2dOptions = {}) {
  const ctx = await testGpu();
  const [batch, height, width, inChannels, outChannels, kernel, stride, padding] = t;
  const s: Conv2dShape = { batch, height, width, inChannels, outChannels, kernel, stride, padding };
  const storage = { x: xF16 ? 'f16' : 'f32', w: 'f16', y: 'f16' } as const;
  const conv = await Conv2d.create(ctx, s, variant, { ...extra, storage });
  const seed = t.reduce((a, b) => a * 31 + b, 3);
  const x = randomArray(conv.xElements, seed + 1);
  const w = randomArray(conv.wElements, seed + 2);
  const dy = randomArray(conv.yElements, seed + 3);
  const xs = xF16 ? roundToF16(x) : x;
  const ws = roundToF16(w);
  const x64 = Float64Array.from(xs);
  const w64 = Float64Array.from(ws);
  const dy64 = Float64Array.from(dy);
  const ref = { y: conv2dForward(x64, w64, s), dx: conv2dBackwardInput(dy64, w64, s), dw: conv2dBackwardWeight(x64, dy64, s) };
  const X = uploadTensor(ctx, x, [conv.xElements], 'x', storage.x);
  const W = uploadTensor(ctx, w, [conv.wElements], 'w', 'f16');
  const DY = uploadTensor(ctx, dy, [conv.yElements], 'dy');
  const Y = uploadTensor(ctx, randomArray(conv.yElements, 99, -1e3, 1e3), [conv.yElements], 'y', 'f16');
  const DX = uploadTensor(ctx, randomArray(conv.xElements, 98, -1e3, 1e3), [conv.xElements], 'dx');
  const DW = uploadTensor(ctx, randomArray(conv.wElements, 97, -1e3, 1e3), [conv.wElements], 'dw');
  const passes = [conv.bindForward(X, W, Y), conv.bindInputGrad(DY, W, DX), conv.bindWeightGrad(X, DY, DW, { accumulate: false })];
  await submitChecked(ctx, 'conv2d f16', (enc) => passes.forEach((p) => p.record(enc)));
  const got = { y: await readF32(ctx, Y), dx: await readF32(ctx, DX), dw: await readF32(ctx, DW) };
  for (const b of [X, W, DY, Y, DX, DW]) b.buffer.destroy();
  const kk = kernel * kernel;
  const tf = convTol(kk * inChannels);
  const td = convTol(kk * outChannels);
  const tw = convTol(batch * conv.outHeight * conv.outWidth);
  const what = `conv2d.${variant} f16 ${t.join(',')}${extra.splits ? ' split-K' : ''}`;
  expectClose(ref.y, got.y, tf, tf + F16_EPS, `${what} forward y (f16)`);
  expectClose(ref.dx, got.dx, td, td, `${what} input grad dx (f32, from f16 w)`);
  expectClose(ref.dw, got.dw, tw, tw, `${what} weight grad dw (f32, from f16 x)`);
  return { conv, got, ref };
}

describe.each(['tiled', 'direct'] as const)('conv2d.%s with f16 operands against the float64 reference on the rounded operands', (variant) => {
  test.each(CONV_SHAPES.map((t) => [t.join(','), t] as const))('%s: x, w, y f16', async (_, t) => {
    await convF16Case(t, variant, true);
  });
  test('the stem: x f32 (the image), w and y f16', async () => {
    await convF16Case(CONV_SHAPES[0]!, variant, false);
  });
  test('forced split-K: f32 partials, the forward reduce rounds into f16 y', async () => {
    const c = await convF16Case(CONV_SHAPES[4]!, variant, true, { splits: { forward: 3, inputGrad: 2, weightGrad: 4 } });
    expect(c.conv.splits.forward).toBeGreaterThan(1);
  });
  test('the output really is f16: y holds f16 values only', async () => {
    const c = await convF16Case(CONV_SHAPES[1]!, variant, true);
    expect(Array.from(roundToF16(c.got.y))).toEqual(Array.from(c.got.y));
  });
});

test('conv2d refuses an f32 tensor where it was created for f16, naming the operand', async () => {
  const ctx = await testGpu();
  const conv = await Conv2d.create(ctx, { batch: 1, height: 4, width: 4, inChannels: 4, outChannels: 4, kernel: 3, stride: 1, padding: 1 }, 'direct', { storage: { x: 'f16', w: 'f16', y: 'f16' } });
  const f32 = (n: number) => createTensor(ctx, [n], 'f32', 'an_f32_tensor');
  const f16 = (n: number) => createTensor(ctx, [n], 'f16', 'an_f16_tensor');
  expect(() => conv.bindForward(f32(conv.xElements), f16(conv.wElements), f16(conv.yElements))).toThrow(/forward: x an_f32_tensor.* should hold 64 f16 values/);
  expect(() => conv.bindInputGrad(f16(conv.yElements), f16(conv.wElements), f32(conv.xElements))).toThrow(/inputGrad: dy an_f16_tensor.* should hold 64 f32 values/);
  await expect(Conv2d.create(withoutF16(ctx), conv.shape, 'direct', { storage: { y: 'f16' } })).rejects.toThrow(/shader-f16/);
});

// ------------------------------------------------------------------------------ batch norm, pool
// Same rule: the reference gets the f16-rounded activations (x, residual), the f32 tolerances of
// test/batchnorm.test.ts (2e-5 forward, 1e-4 backward), plus 2^-11·|y| for the f16 output y.
// The backward's ReLU mask is the stored f16 y (what the next layer saw).
import { BatchNorm } from '../src/nn/batchnorm.ts';
import { GlobalAvgPool } from '../src/nn/pool.ts';
import { batchNormBackwardTrain, batchNormForwardTrain } from '../src/ref/batchnorm.ts';

describe.each(['tree', 'direct'] as const)('batchnorm.%s on f16 activations (x, y, residual f16; statistics, dy, dx f32)', (variant) => {
  test.each([[8, 4], [6, 5]] as const)('%i channels (vec4 lanes when 4 | C, else scalar), maps of side %i: BN + residual + ReLU forward and backward', async (C, HW) => {
    const ctx = await testGpu();
    const B = 3;
    const R = B * HW * HW;
    const bn = await BatchNorm.create(ctx, { batch: B, channels: C, height: HW, width: HW }, { relu: true, residual: true, variant, activations: 'f16', accumulate: false });
    const x = randomArray(R * C, 21, -2, 3);
    const res = randomArray(R * C, 22);
    const gamma = randomArray(C, 23, 0.5, 1.5);
    const beta = randomArray(C, 24, -0.5, 0.5);
    const dy = randomArray(R * C, 25);
    const up = (a: Float32Array, label: string, dtype: 'f32' | 'f16' = 'f32') => uploadTensor(ctx, a, [a.length], label, dtype);
    const X = up(x, 'x', 'f16');
    const RES = up(res, 'res', 'f16');
    const Y = createTensor(ctx, [R * C], 'f16', 'y');
    const t = { gamma: up(gamma, 'gamma'), beta: up(beta, 'beta'), rm: up(new Float32Array(C), 'rm'), rv: up(new Float32Array(C).fill(1), 'rv') };
    const DY = up(dy, 'dy');
    const DX = createTensor(ctx, [R * C], 'f32', 'dx');
    const DRES = createTensor(ctx, [R * C], 'f32', 'dres');
    const DG = createTensor(ctx, [C], 'f32', 'dgamma');
    const DB = createTensor(ctx, [C], 'f32', 'dbeta');
    const fwd = bn.bindForward({ x: X, y: Y, gamma: t.gamma, beta: t.beta, runningMean: t.rm, runningVar: t.rv, residual: RES });
    const bwd = bn.bindBackward({ x: X, y: Y, dy: DY, dx: DX, gamma: t.gamma, mean: fwd.mean!, invstd: fwd.invstd!, dgamma: DG, dbeta: DB, dresidual: DRES });
    await submitChecked(ctx, 'bn f16', (enc) => {
      fwd.record(enc);
      bwd.record(enc);
    });
    const xr = Float64Array.from(roundToF16(x));
    const rr = roundToF16(res);
    const ref = batchNormForwardTrain(xr, Float64Array.from(gamma), Float64Array.from(beta), { rows: R, channels: C });
    const yRef = ref.y.map((v, i) => Math.max(v + rr[i]!, 0));
    const y = await readF32(ctx, Y);
    expectClose(yRef, y, 2e-5, 2e-5 + F16_EPS, `bn f16 ${variant} forward y`);
    const g = Float64Array.from(dy, (v, i) => (y[i]! > 0 ? v : 0));
    const back = batchNormBackwardTrain(g, xr, Float64Array.from(gamma), ref.mean, ref.invstd, { rows: R, channels: C });
    expectClose(back.dx, await readF32(ctx, DX), 1e-4, 1e-4, `bn f16 ${variant} dx`);
    expectClose(back.dGamma, await readF32(ctx, DG), 1e-4, 1e-4, `bn f16 ${variant} dgamma`);
    expectClose(back.dBeta, await readF32(ctx, DB), 1e-4, 1e-4, `bn f16 ${variant} dbeta`);
    expectClose(g, await readF32(ctx, DRES), 1e-30, 0, `bn f16 ${variant} dresidual`);
    expect(() => bn.bindForward({ x: up(x, 'x32'), y: Y, gamma: t.gamma, beta: t.beta, runningMean: t.rm, runningVar: t.rv, residual: RES })).toThrow(/x x32.*should hold \d+ f16 values/);
  });
});

test('global average pool of an f16 activation into f32 features', async () => {
  const ctx = await testGpu();
  const [B, HW, C] = [3, 4, 8];
  const pool = await GlobalAvgPool.create(ctx, { batch: B, height: HW, width: HW, channels: C }, 'pool_f16', { input: 'f16' });
  const x = randomArray(B * HW * HW * C, 31);
  const X = uploadTensor(ctx, x, [x.length], 'x', 'f16');
  const Y = createTensor(ctx, [B * C], 'f32', 'y');
  await submitChecked(ctx, 'pool f16', (enc) => pool.bindForward(X, Y).record(enc));
  const xr = roundToF16(x);
  const ref = new Float64Array(B * C);
  for (let n = 0; n < B; n++) for (let p = 0; p < HW * HW; p++) for (let c = 0; c < C; c++) ref[n * C + c]! += xr[(n * HW * HW + p) * C + c]! / (HW * HW);
  expectClose(ref, await readF32(ctx, Y), 1e-6, 1e-6, 'pool f16 → f32');
});

// ------------------------------------------------------------------------------ the whole encoder
// The encoder in f16 (activations and the conv weight copy f16, all sums and every gradient f32)
// on the PyTorch fixture of test/resnet18.test.ts (width 1/16, 16×16, batch 4; its weights and
// inputs are f16-exact), against two float64 references: the same network with every stored
// activation rounded to f16 (src/ref/resnet18.ts with an f16 ActivationStore: what the f16 path
// computes, up to f32 arithmetic), and PyTorch's exact float64 (what f16 storage costs; the
// f32 run beside it). Relative error per tensor: max |got − ref| / max |ref|.
//   Rounding every stored activation is a 2^-11 perturbation at every layer, and batch norm's
//   backward subtracts the projections of the gradient onto 1 and x̂ (cancellation), so the
//   gradients are very sensitive to it: in float64, the f16 model differs from the exact network
//   by up to 3e-1 per tensor here (median 3e-2), and nudging every activation by 1e-6 before
//   rounding — which flips a few roundings, as f32-vs-float64 differences do on the GPU — moves
//   the model's own gradients by up to 1e-1 (median 4e-2; at batch 16–32 on random weights 2e-1
//   to 3e-1, median ~8e-2). No per-tensor max bound below that can hold; the checks are:
//     forward (features, running statistics) vs the f16 model: ≤ 8·2^-11 (flips move them ~1e-4);
//     all 60 gradients as one vector vs the f16 model: cosine ≥ 0.98, relative L2 error ≤ 0.2 (measured 0.996, 0.09);
//     the f32 run vs PyTorch: ≤ 5e-5 as in test/resnet18.test.ts (f32 unchanged).
//   A wrong cast, a stale or missing weight copy, or a swapped f16 operand breaks the forward
//   bound by orders of magnitude and the gradient cosine to ~0. That the gradients come out
//   this noisy is the cost of f16 activations (no gradient is stored in f16, so no loss scaling
//   would help); the learning run in docs/results-cpu.md §4 measures what it does to training.
import { readFileSync } from 'node:fs';
import { parseSafetensors, type SafeTensor } from '../src/io/safetensors.ts';
import { initialState } from '../src/nn/checkpoint.ts';
import { defaultModelConfig } from '../src/nn/config.ts';
import { ParamLayout, ParamStore, type FlatTensors } from '../src/nn/param-store.ts';
import { EncoderLayers, EncoderRun, Scratch } from '../src/nn/resnet18.ts';
import { encoderConvWeightNames, F16WeightLayout } from '../src/nn/f16-weights.ts';
import { nchwToNhwc, oihwToHwio } from '../src/nn/layout.ts';
import { resnet18Backward, resnet18Forward } from '../src/ref/resnet18.ts';

const F16_FORWARD_BOUND = 8 * F16_EPS;


test('the encoder forward + backward in f16 vs the float64 f16 model and vs PyTorch float64 (f32 beside it)', async () => {
  const ctx = await testGpu();
  const file = 'resnet18_w16_c3.safetensors';
  const f32 = (t: SafeTensor) => Float32Array.from(t.data as ArrayLike<number>);
  const fx = parseSafetensors(new Uint8Array(readFileSync(new URL(`./fixtures/${file}`, import.meta.url))), file);
  const meta = JSON.parse(fx.metadata['fixture.config']!);
  const B = meta.batch as number;
  const S = meta.image_size as number;
  const config = defaultModelConfig(3, { width: meta.width, imageSize: S, stemPadding: meta.stem_padding, projHidden: 8, projOut: 4, prototypes: 3 });
  const state = initialState(config, 0);
  const params64 = new Map<string, Float64Array>();
  for (const [name, t] of fx.tensors) {
    if (!name.startsWith('encoder.') || name.endsWith('num_batches_tracked')) continue;
    const v = t.shape.length === 4 ? oihwToHwio(f32(t), t.shape as [number, number, number, number]) : f32(t);
    state.student.set(name, v);
    params64.set(name.slice('encoder.'.length), Float64Array.from(name.endsWith('.weight') && t.shape.length === 4 ? roundToF16(v) : v));
  }
  const input = fx.tensors.get('input')!;
  const xHost = nchwToNhwc(f32(input), input.shape as [number, number, number, number]);
  const dFeatHost = f32(fx.tensors.get('R')!);

  // The float64 model of the f16 path: every stored activation rounded to f16.
  const toF16 = (a: Float64Array) => Float64Array.from(roundToF16(a));
  const fwd64 = resnet18Forward(params64, Float64Array.from(xHost), { batch: B, height: S, width: S }, { width: meta.width, inChannels: 3, stemPadding: meta.stem_padding }, 'train', toF16);
  const back64 = resnet18Backward(params64, fwd64.cache, Float64Array.from(dFeatHost));
  const model: Record<string, ArrayLike<number>> = { features: fwd64.features };
  for (const [k, v] of back64.grads) model[`grad.encoder.${k}`] = v;
  for (const [k, v] of fwd64.runningStats) model[`after.encoder.${k}`] = v;

  const layout = new ParamLayout(config);
  const errors: Record<'f32' | 'f16' | 'f16model', Record<string, number>> = { f32: {}, f16: {}, f16model: {} };
  const gradsF16: Record<string, Float32Array> = {};
  for (const precision of ['f32', 'f16'] as const) {
    const store = new ParamStore(ctx, layout);
    store.upload(state);
    const x = uploadTensor(ctx, xHost, [B, S, S, 3], 'input');
    const layers = await EncoderLayers.create(ctx, config, B, undefined, undefined, { precision });
    const copy = precision === 'f16' ? (await F16WeightLayout.create(ctx, layout, encoderConvWeightNames(config))).copyOf(store.params, 'student_f16') : null;
    const run = new EncoderRun(ctx, layers, store.student, x, 'train', `train_${precision}`, copy);
    const dFeat = uploadTensor(ctx, dFeatHost, [B, layers.spec.featureDim], 'dfeatures');
    const backward = run.bindBackward(dFeat, store.grads, new Scratch(ctx, `scratch_${precision}`));
    await submitChecked(ctx, `encoder ${precision}`, (enc) => {
      enc.clearBuffer(store.grads.buffer);
      copy?.cast.record(enc);
      run.forward.record(enc);
      backward.record(enc);
    });
    const got: Record<string, Float32Array> = { features: await readF32(ctx, run.features) };
    const read = async (flat: FlatTensors, name: string) => readF32(ctx, flat.get(name));
    for (const name of fx.tensors.keys()) {
      if (name.startsWith('grad.encoder.')) got[name] = await read(store.grads, name.slice(5));
      else if (name.startsWith('after.encoder.')) got[name] = await read(store.stats, name.slice(6));
    }
    for (const [name, g] of Object.entries(got)) {
      const t = fx.tensors.get(name)!;
      errors[precision][name] = relErr(t.shape.length === 4 && name.startsWith('grad.') ? oihwToHwio(f32(t), t.shape as [number, number, number, number]) : f32(t), g);
      if (precision === 'f16') {
        errors.f16model[name] = relErr(model[name]!, g);
        gradsF16[name] = g;
      }
    }
    if (copy) {
      // The copy is the master rounded to f16, exactly.
      const w = 'encoder.layer2.0.conv1.weight';
      const master = await read(store.params, w);
      expect(Array.from(await readF32(ctx, copy.get(w)))).toEqual(Array.from(roundToF16(master)));
      copy.destroy();
    }
    store.destroy();
  }
  const summary = (p: keyof typeof errors) => {
    const v = Object.values(errors[p]).sort((a, b) => a - b);
    return `max ${v[v.length - 1]!.toExponential(2)}, median ${v[v.length >> 1]!.toExponential(2)}`;
  };
  const worst = (p: keyof typeof errors) => Object.entries(errors[p]).sort((a, b) => b[1] - a[1]);
  console.log(
    `[encoder f16] ${worst('f16').length} tensors (features, 60 gradients, 40 running stats). f16 vs the float64 f16 model: ${summary('f16model')}; ` +
      `f16 vs PyTorch float64: ${summary('f16')} (worst ${worst('f16').slice(0, 3).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}); f32 vs PyTorch float64: ${summary('f32')}`,
  );
  expect(worst('f16model').length).toBe(1 + 60 + 40);
  for (const [name, e] of worst('f16model')) if (!name.startsWith('grad.')) expect(e, `${name} vs the f16 model`).toBeLessThan(F16_FORWARD_BOUND);
  const gradNames = Object.keys(model).filter((k) => k.startsWith('grad.'));
  const cat = (src: Record<string, ArrayLike<number>>) => Float64Array.from(gradNames.flatMap((k) => Array.from(src[k]!)));
  const [a, b] = [cat(model), cat(gradsF16)];
  let dot = 0, na = 0, nb = 0, d2 = 0;
  for (let i = 0; i < a.length; i++) [dot, na, nb, d2] = [dot + a[i]! * b[i]!, na + a[i]! ** 2, nb + b[i]! ** 2, d2 + (a[i]! - b[i]!) ** 2];
  const cosine = dot / Math.sqrt(na * nb);
  const l2 = Math.sqrt(d2 / na);
  console.log(`[encoder f16] all gradients vs the f16 model: cosine ${cosine.toFixed(5)}, relative L2 error ${l2.toExponential(2)}`);
  expect(cosine).toBeGreaterThanOrEqual(0.98);
  expect(l2).toBeLessThanOrEqual(0.2);
  for (const [name, e] of Object.entries(errors.f32)) expect(e, name).toBeLessThan(5e-5);
});

// ------------------------------------------------------------------------------ the step parity fixture
// `cli step --precision f16` on the PyTorch float64 fixture of test/step-parity.test.ts (width 1/16,
// batch 6, MIRA with its EMA teacher), f32 beside it: relative errors of the loss, of every
// gradient (max |got − ref| / max |ref| per tensor; max and median over the tensors), and of the
// weights after one plain SGD step w − lr·g at the default lr (0.6·6/256) from the fixture's
// student. The numbers go to docs/results-cpu.md §4. Bounds: f32 as in test/step-parity.test.ts
// (1e-4 loss, 1e-3 gradients); f16: the loss within 1e-2 relative (measured 9e-4), the median
// updated weight tensor within 2e-2 (measured 4e-3). The gradients themselves are as noisy as in
// the encoder test above (median 1.5e-1 per tensor, measured): f16 activation rounding amplified by
// batch norm's backward and by the loss's temperatures (τ_s = 0.1), at batch 6 — reported, not bounded.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { vi } from 'vitest';
import { run as cliStep } from '../cli/commands/step.ts';
import { decodeCheckpoint } from '../src/nn/checkpoint.ts';

test(
  'cli step --precision f16 on the step parity fixture: loss, gradients and SGD-updated weights vs PyTorch, f32 beside it',
  async () => {
    const dir = fileURLToPath(new URL('./fixtures/step', import.meta.url));
    const fixture = (n: string) => join(dir, n);
    const expected = parseSafetensors(new Uint8Array(readFileSync(fixture('expected.safetensors'))), 'expected.safetensors');
    const cfg = JSON.parse(expected.metadata['fixture.config']!) as { tau_s: number; tau_t: number; beta: number; iters: number; batch: number };
    const student = decodeCheckpoint(new Uint8Array(readFileSync(fixture('model.safetensors'))), 'model.safetensors').student;
    const lr = (0.6 * cfg.batch) / 256;
    const f64 = (file: typeof expected, name: string) => Float64Array.from(file.tensors.get(name)!.data as ArrayLike<number>);
    const refLoss = f64(expected, 'loss')[0]!;
    const names = [...expected.tensors.keys()].filter((k) => k !== 'loss' && k !== 'eval_features');
    const stats = (v: number[]) => {
      const s = [...v].sort((a, b) => a - b);
      return { max: s[s.length - 1]!, median: s[s.length >> 1]! };
    };
    const report: Record<string, { loss: number; grads: { max: number; median: number }; weights: { max: number; median: number } }> = {};
    for (const precision of ['f32', 'f16'] as const) {
      const grads = join(mkdtempSync(join(tmpdir(), 'mira-f16-step-')), 'grads.safetensors');
      const lines: string[] = [];
      const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
      let rc: number;
      try {
        rc = await cliStep(['--checkpoint', fixture('model.safetensors'), '--view1', fixture('view1.npy'), '--view2', fixture('view2.npy'), '--grads', grads, '--tau-s', String(cfg.tau_s), '--tau-t', String(cfg.tau_t), '--beta', String(cfg.beta), '--iters', String(cfg.iters), '--precision', precision, '--json']);
      } finally {
        spy.mockRestore();
      }
      expect(rc).toBe(0);
      const out = JSON.parse(lines.find((l) => l.startsWith('{'))!) as { loss: number };
      const got = parseSafetensors(new Uint8Array(readFileSync(grads)), grads);
      const gradErr: number[] = [];
      const weightErr: number[] = [];
      for (const n of names) {
        const g = f64(got, n);
        const r = f64(expected, n);
        gradErr.push(relErr(r, g));
        const w = student.get(n)!;
        weightErr.push(relErr(Float64Array.from(w, (v, i) => v - lr * r[i]!), Float64Array.from(w, (v, i) => v - lr * g[i]!)));
      }
      if (precision === 'f16') {
        const worst = names.map((n, i) => [n, gradErr[i]!] as const).sort((a, b) => b[1] - a[1]);
        console.log(`[f16 step parity] f16 worst gradients: ${worst.slice(0, 3).map(([n, e]) => `${n} ${e.toExponential(2)}`).join(', ')}; best: ${worst.slice(-3).map(([n, e]) => `${n} ${e.toExponential(2)}`).join(', ')}`);
      }
      report[precision] = { loss: Math.abs(out.loss - refLoss) / Math.abs(refLoss), grads: stats(gradErr), weights: stats(weightErr) };
    }
    const fmt = (p: string) => {
      const r = report[p]!;
      return `${p}: loss ${r.loss.toExponential(2)}; gradients max ${r.grads.max.toExponential(2)} median ${r.grads.median.toExponential(2)}; updated weights max ${r.weights.max.toExponential(2)} median ${r.weights.median.toExponential(2)}`;
    };
    console.log(`[f16 step parity] ${names.length} gradients vs PyTorch float64, relative errors — ${fmt('f32')} | ${fmt('f16')}`);
    expect(report.f32!.loss).toBeLessThan(1e-4);
    expect(report.f32!.grads.max).toBeLessThanOrEqual(1e-3);
    expect(report.f16!.loss).toBeLessThan(1e-2);
    expect(report.f16!.weights.median).toBeLessThan(2e-2);
  },
  600_000,
);

test('precision: f32 by default, auto = f16 only on a hardware adapter with shader-f16, f16 without the feature refused naming --precision', async () => {
  const { resolvePrecision } = await import('../src/gpu/f16.ts');
  const { defaultTrainConfig, trainConfigProblems } = await import('../src/train/config.ts');
  const ctx = await testGpu();
  expect(defaultTrainConfig().precision).toBe('f32');
  expect(trainConfigProblems({ ...defaultTrainConfig(), precision: 'f8' }).join('; ')).toMatch(/--precision/);
  expect(resolvePrecision(ctx, 'f32')).toBe('f32');
  expect(resolvePrecision({ ...ctx, info: { ...ctx.info, isSoftware: true } }, 'auto')).toBe('f32');
  expect(resolvePrecision({ ...ctx, info: { ...ctx.info, isSoftware: false }, features: { ...ctx.features, shaderF16: true } }, 'auto')).toBe('f16');
  expect(resolvePrecision({ ...ctx, info: { ...ctx.info, isSoftware: false }, features: { ...ctx.features, shaderF16: false } }, 'auto')).toBe('f32');
  expect(() => resolvePrecision(withoutF16(ctx), 'f16')).toThrow(/--precision f16 needs WebGPU's shader-f16 feature.*use --precision f32/);
});
