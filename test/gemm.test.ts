// The GEMM core against the float64 reference, over odd shapes and all transposes, for every
// variant; and its bad-input paths: mismatched shapes throw before any dispatch.
import { describe, expect, test } from 'vitest';
import { Gemm, gemmTile, gemmTileLayouts, type GemmTile, type GemmVariant } from '../src/gpu/gemm.ts';
import { submitChecked } from '../src/gpu/kernel.ts';
import { createTensor, readF32, uploadTensor } from '../src/gpu/tensor.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { gemm as gemmRef } from '../src/ref/gemm.ts';
import { expectClose, randomArray, testGpu } from './helpers/gpu.ts';

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 13, 5],
  [64, 64, 64],
  [257, 129, 65],
];

async function runGemm(variant: GemmVariant, M: number, N: number, K: number, opts: { transA?: boolean; transB?: boolean; alpha?: number; beta?: number; bias?: boolean; splitK?: number; tile?: GemmTile } = {}) {
  const ctx = await testGpu();
  const a = randomArray(M * K, 11 + M);
  const b = randomArray(K * N, 23 + N);
  const c0 = randomArray(M * N, 37);
  const bias = randomArray(N, 41);
  const g = await Gemm.create(ctx, { M, N, K, ...opts }, variant);
  const A = uploadTensor(ctx, a, [M * K], 'a');
  const B = uploadTensor(ctx, b, [K * N], 'b');
  const C = uploadTensor(ctx, c0, [M * N], 'c');
  const Bias = uploadTensor(ctx, bias, [N], 'bias');
  const bound = g.bind(A, B, C, opts.bias ? Bias : undefined);
  await submitChecked(ctx, 'gemm test', (enc) => bound.record(enc));
  const got = await readF32(ctx, C);
  const ref = gemmRef(Float64Array.from(a), Float64Array.from(b), M, N, K, {
    transA: opts.transA,
    transB: opts.transB,
    alpha: opts.alpha ?? 1,
    beta: opts.beta ?? 0,
    c: Float64Array.from(c0),
    bias: opts.bias ? Float64Array.from(bias) : undefined,
  });
  // f32 accumulation error grows like √K.
  const tol = 1e-5 * Math.sqrt(K);
  return expectClose(ref, got, tol, tol, `gemm.${variant} ${M}×${N}×${K}`);
}

describe.each(['tiled', 'direct'] as const)('gemm.%s', (variant) => {
  for (const [M, N, K] of SHAPES) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        test(`${M}×${N}×${K} transA=${transA} transB=${transB}`, async () => {
          await runGemm(variant, M, N, K, { transA, transB });
        });
      }
    }
  }
  test('alpha, beta and bias', async () => {
    await runGemm(variant, 33, 17, 9, { alpha: 0.5, beta: -2, bias: true });
  });
  test('split-K with a deterministic reduce equals the unsplit product', async () => {
    await runGemm(variant, 20, 12, 300, { splitK: 5, transA: true });
    await runGemm(variant, 20, 12, 300, { splitK: 3, alpha: 2, beta: 1 });
  });
  // Thread layouts from square to one thread wide or tall (the extremes of gemmTileLayouts), on a
  // shape that none of them divides, through both staging orientations of each operand
  // (transposed storage is read along the other axis).
  const layouts: [number, number][] =
    variant === 'tiled' ? [[16, 16], [2, 32], [32, 1], [1, 32], [4, 8], [1, 1]] : [[8, 8], [1, 64], [64, 1], [2, 32], [4, 2], [1, 1]];
  test.each(layouts)('thread layout %i×%i (N×M threads)', async (tx, ty) => {
    await runGemm(variant, 37, 21, 35, { tile: { tx, ty } });
    await runGemm(variant, 37, 21, 35, { tile: { tx, ty }, transA: true, transB: true, splitK: 2 });
  });
});

test('narrow products get narrow tiles, wide ones square tiles', () => {
  expect(gemmTile('tiled', 4096, 4)).toEqual({ tx: 1, ty: 32 });
  expect(gemmTile('tiled', 4096, 8)).toEqual({ tx: 2, ty: 32 });
  expect(gemmTile('tiled', 4096, 64)).toEqual({ tx: 16, ty: 16 });
  expect(gemmTile('tiled', 8, 4096)).toEqual({ tx: 32, ty: 2 });
  // The stem's weight gradient (36×64): a warp's 32 threads over an 8×64 tile.
  expect(gemmTile('tiled', 36, 64)).toEqual({ tx: 16, ty: 2 });
  expect(gemmTile('direct', 4096, 8)).toEqual({ tx: 2, ty: 32 });
  expect(gemmTile('direct', 4096, 64)).toEqual({ tx: 8, ty: 8 });
  // A width-1/8 projection's 8×16 weight gradient: one small workgroup, not a 32×32 tile.
  expect(gemmTile('direct', 8, 16)).toEqual({ tx: 4, ty: 2 });
  for (const v of ['tiled', 'direct'] as const) {
    for (const t of gemmTileLayouts(v)) expect(t.tx * t.ty).toBeLessThanOrEqual(v === 'tiled' ? 256 : 64);
  }
});

test('gemm.naive (the benchmark baseline) is correct too', async () => {
  await runGemm('naive', 257, 129, 65);
});

describe('bad input', () => {
  test('mismatched operand sizes throw a ShapeError before any dispatch', async () => {
    const ctx = await testGpu();
    const g = await Gemm.create(ctx, { M: 4, N: 5, K: 6 });
    const A = createTensor(ctx, [4, 6], 'f32', 'a');
    const wrongB = createTensor(ctx, [5, 5], 'f32', 'b');
    const C = createTensor(ctx, [4, 5], 'f32', 'c');
    expect(() => g.bind(A, wrongB, C)).toThrow(ShapeError);
    expect(() => g.bind(A, wrongB, C)).toThrow(/B b\[5×5\] f32 should hold 30 f32 values/);
  });
  test('a thread layout the core does not run is refused', async () => {
    const ctx = await testGpu();
    await expect(Gemm.create(ctx, { M: 8, N: 8, K: 8, tile: { tx: 3, ty: 5 } }, 'direct')).rejects.toThrow(/thread layout 3×5 is not one the direct core runs/);
  });

  test('non-positive or fractional sizes are refused', async () => {
    const ctx = await testGpu();
    await expect(Gemm.create(ctx, { M: 0, N: 5, K: 6 })).rejects.toThrow(/positive integers/);
    await expect(Gemm.create(ctx, { M: 2.5, N: 5, K: 6 })).rejects.toThrow(ShapeError);
  });
});
