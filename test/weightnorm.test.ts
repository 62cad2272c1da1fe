// The weight-normalised prototype head (g = 1) on the GPU against the float64 reference
// (src/ref/weightnorm.ts): W = v/‖v‖, logits = x·Wᵀ, dx, and dv through the normalisation
// (+= and =), on odd and vec4 widths.
import { describe, expect, test } from 'vitest';
import { submitChecked } from '../src/gpu/kernel.ts';
import { createTensor, readF32, uploadTensor } from '../src/gpu/tensor.ts';
import { WeightNormLinear } from '../src/nn/weightnorm.ts';
import { weightNormLinearBackward, weightNormLinearForward } from '../src/ref/weightnorm.ts';
import { expectClose, randomArray, testGpu } from './helpers/gpu.ts';

const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

describe('weight-normalised head', () => {
  test.each([
    { batch: 6, dim: 7, prototypes: 10, accumulate: true },
    { batch: 33, dim: 64, prototypes: 300, accumulate: false },
  ])('B $batch, D $dim, K $prototypes, accumulate $accumulate', async ({ batch: B, dim: D, prototypes: K, accumulate }) => {
    const ctx = await testGpu();
    const x = randomArray(B * D, 1);
    const v = randomArray(K * D, 2, -0.3, 0.3);
    const dl = randomArray(B * K, 3);
    const dv0 = randomArray(K * D, 4);
    const head = await WeightNormLinear.create(ctx, { batch: B, dim: D, prototypes: K }, { accumulate });
    const X = uploadTensor(ctx, x, [B, D], 'x');
    const V = uploadTensor(ctx, v, [K, D], 'v');
    const L = createTensor(ctx, [B, K], 'f32', 'logits');
    const DL = uploadTensor(ctx, dl, [B, K], 'dlogits');
    const DX = createTensor(ctx, [B, D], 'f32', 'dx');
    const DV = uploadTensor(ctx, dv0, [K, D], 'dv');
    const norm = head.bindNormalize(V);
    const fwd = head.bindForward(X, norm.w, L);
    const bwd = head.bindBackward({ x: X, w: norm.w, vnorm: norm.vnorm, dlogits: DL, dx: DX, dv: DV });
    await submitChecked(ctx, 'head', (enc) => {
      norm.record(enc);
      fwd.record(enc);
      bwd.record(enc);
    });
    const s = { batch: B, dim: D, prototypes: K };
    const ref = weightNormLinearForward(f64(x), f64(v), s);
    expectClose(ref.weight, await readF32(ctx, norm.w), 1e-6, 1e-5, 'W = v/‖v‖');
    expectClose(ref.norms, await readF32(ctx, norm.vnorm), 1e-30, 1e-5, '‖v‖');
    expectClose(ref.logits, await readF32(ctx, L), 1e-5 * Math.sqrt(D), 1e-5, 'logits');
    const back = weightNormLinearBackward(f64(dl), f64(x), ref.weight, ref.norms, s);
    expectClose(back.dx, await readF32(ctx, DX), 1e-5 * Math.sqrt(K), 1e-5, 'dx');
    const dv = accumulate ? back.dV.map((e, i) => e + dv0[i]!) : back.dV;
    expectClose(dv, await readF32(ctx, DV), 1e-5 * Math.sqrt(B) * 4, 1e-4, 'dv');
  });

  test('wrong sizes are refused with the expected layout', async () => {
    const ctx = await testGpu();
    const head = await WeightNormLinear.create(ctx, { batch: 4, dim: 8, prototypes: 5 }, { label: 'head' });
    const V = createTensor(ctx, [8, 5], 'f32', 'v');
    expect(() => head.bindNormalize(createTensor(ctx, [8, 4], 'f32', 'v'))).toThrow(/head: v v\[8×4\] f32 should hold 40 f32 values \(K 5 × D 8\)/);
    const n = head.bindNormalize(V);
    const X = createTensor(ctx, [4, 8], 'f32', 'x');
    expect(() => head.bindForward(X, n.w, createTensor(ctx, [4, 4], 'f32', 'l'))).toThrow(/logits l\[4×4\] f32 should hold 20 f32 values \(batch 4 × K 5\)/);
  });
});
