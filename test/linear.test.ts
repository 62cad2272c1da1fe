// The Linear layer (GEMM core + column-sum bias gradient) against the float64 reference
// (src/ref/linear.ts): forward with and without bias, input / weight / bias gradients, += and =
// parameter gradients, split-K weight gradients, and the column sum's two-pass path.
import { describe, expect, test } from 'vitest';
import { submitChecked } from '../src/gpu/kernel.ts';
import { createTensor, readF32, uploadTensor } from '../src/gpu/tensor.ts';
import { ColumnSum, Linear, type LinearShape } from '../src/nn/linear.ts';
import { linearBackward, linearForward } from '../src/ref/linear.ts';
import { expectClose, randomArray, testGpu, testGpuAs } from './helpers/gpu.ts';

const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

async function linearCase(s: LinearShape, accumulate: boolean, seed: number) {
  const ctx = await testGpu();
  const { batch: B, inFeatures: I, outFeatures: O } = s;
  const x = randomArray(B * I, seed);
  const w = randomArray(I * O, seed + 1, -0.5, 0.5);
  const b = randomArray(O, seed + 2);
  const dy = randomArray(B * O, seed + 3);
  const dw0 = randomArray(I * O, seed + 4);
  const db0 = randomArray(O, seed + 5);
  const lin = await Linear.create(ctx, s, { accumulate, label: `linear ${B}×${I}→${O}` });
  const X = uploadTensor(ctx, x, [B, I], 'x');
  const W = uploadTensor(ctx, w, [I, O], 'w');
  const Bias = uploadTensor(ctx, b, [O], 'b');
  const Y = createTensor(ctx, [B, O], 'f32', 'y');
  const DY = uploadTensor(ctx, dy, [B, O], 'dy');
  const DX = createTensor(ctx, [B, I], 'f32', 'dx');
  const DW = uploadTensor(ctx, dw0, [I, O], 'dw');
  const DB = uploadTensor(ctx, db0, [O], 'db');
  const fwd = lin.bindForward(X, W, Y, s.bias ? Bias : undefined);
  const bwd = lin.bindBackward({ x: X, weight: W, dy: DY, dx: DX, dweight: DW, dbias: s.bias ? DB : undefined });
  await submitChecked(ctx, 'linear', (enc) => {
    fwd.record(enc);
    bwd.record(enc);
  });
  const shape = { batch: B, inFeatures: I, outFeatures: O };
  const tolF = 1e-5 * Math.sqrt(I);
  expectClose(linearForward(f64(x), f64(w), s.bias ? f64(b) : null, shape), await readF32(ctx, Y), tolF, tolF, 'linear forward');
  const ref = linearBackward(f64(dy), f64(x), f64(w), shape, s.bias);
  expectClose(ref.dx, await readF32(ctx, DX), 1e-5 * Math.sqrt(O), 1e-5, 'linear dx');
  const acc = (v: Float64Array, base: Float32Array) => (accumulate ? v.map((e, i) => e + base[i]!) : v);
  const tolB = 1e-5 * Math.sqrt(B);
  expectClose(acc(ref.dWeight, dw0), await readF32(ctx, DW), tolB, tolB, 'linear dweight');
  if (s.bias) expectClose(acc(ref.dBias!, db0), await readF32(ctx, DB), tolB, tolB, 'linear dbias');
  else expectClose(db0, await readF32(ctx, DB), 1e-30, 0, 'dbias untouched without bias');
  return bwd.dispatches;
}

describe('linear', () => {
  test('7×13→5 with bias, gradients accumulated', async () => {
    expect(await linearCase({ batch: 7, inFeatures: 13, outFeatures: 5, bias: true }, true, 1)).toBe(3);
  });
  test('33×64→20 without bias, gradients assigned', async () => {
    expect(await linearCase({ batch: 33, inFeatures: 64, outFeatures: 20, bias: false }, false, 2)).toBe(2);
  });
  test('batch 600 (split-K weight gradient, two-pass bias sum) 24→36 with bias', async () => {
    const dispatches = await linearCase({ batch: 600, inFeatures: 24, outFeatures: 36, bias: true }, true, 3);
    // dx GEMM; dW split-K GEMM + reduce; bias partials + final.
    expect(dispatches).toBe(5);
  });

  test('a wrong weight size is refused, naming the layer and the layout', async () => {
    const ctx = await testGpu();
    const lin = await Linear.create(ctx, { batch: 4, inFeatures: 6, outFeatures: 3, bias: true }, { label: 'projector.6' });
    const X = createTensor(ctx, [4, 6], 'f32', 'x');
    const W = createTensor(ctx, [3, 5], 'f32', 'w');
    const Y = createTensor(ctx, [4, 3], 'f32', 'y');
    expect(() => lin.bindForward(X, W, Y)).toThrow(/projector\.6: weight w\[3×5\] f32 should hold 18 f32 values \(\[in 6\]\[out 3\]\)/);
    const W2 = createTensor(ctx, [6, 3], 'f32', 'w2');
    expect(() => lin.bindForward(X, W2, Y)).toThrow(/projector\.6: bias is required \(3 f32 values/);
  });
});

describe('column sums', () => {
  test.each([
    [5, 3, 'emulator'],
    [1000, 7, 'emulator'],
    [2049, 64, 'emulator'],
    [5, 3, 'gpu'],
    [1000, 7, 'gpu'],
    [2049, 64, 'gpu'],
  ] as const)('%i×%i (%s variant)', async (R, C, kind) => {
    const ctx = await testGpuAs(kind);
    const x = randomArray(R * C, R + C);
    const cs = await ColumnSum.create(ctx, R, C, { accumulate: true });
    const X = uploadTensor(ctx, x, [R, C], 'x');
    const base = randomArray(C, 77);
    const O = uploadTensor(ctx, base, [C], 'out');
    const p = cs.bind(X, O);
    await submitChecked(ctx, 'colsum', (enc) => p.record(enc));
    const ref = new Float64Array(C);
    for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) ref[c]! += x[r * C + c]!;
    expectClose(ref.map((v, c) => v + base[c]!), await readF32(ctx, O), 1e-5 * Math.sqrt(R), 1e-6, `colsum ${R}×${C}`);
  });
});
