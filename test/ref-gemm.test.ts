// The float64 GEMM reference: C = alpha·op(A)·op(B) + beta·C (+ bias), row-major, against
// explicitly transposed operands and a hand-worked product.
import { describe, expect, test } from 'vitest';
import { gemm, gemmAt } from '../src/ref/gemm.ts';
import { expectClose64, randomF64 } from './helpers/gradcheck.ts';

function transpose(a: Float64Array, rows: number, cols: number): Float64Array {
  const t = new Float64Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c]!;
  return t;
}

describe('gemm reference', () => {
  test('a hand-worked 2×3 · 3×2 product with alpha, beta and bias', () => {
    const a = Float64Array.from([1, 2, 3, 4, 5, 6]);
    const b = Float64Array.from([7, 8, 9, 10, 11, 12]);
    expect(Array.from(gemm(a, b, 2, 2, 3))).toEqual([58, 64, 139, 154]);
    const c = Float64Array.from([1, 1, 1, 1]);
    expect(Array.from(gemm(a, b, 2, 2, 3, { alpha: 2, beta: -1, c, bias: Float64Array.from([100, 200]) }))).toEqual([215, 327, 377, 507]);
    expect(Array.from(c)).toEqual([1, 1, 1, 1]); // the prior C is not modified
  });

  test.each([
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ])('transA=%s transB=%s equals the product of explicitly transposed operands', (transA, transB) => {
    const [M, N, K] = [5, 7, 3];
    const a = randomF64(M * K, 1);
    const b = randomF64(K * N, 2);
    const plain = gemm(a, b, M, N, K);
    const got = gemm(transA ? transpose(a, M, K) : a, transB ? transpose(b, K, N) : b, M, N, K, { transA, transB });
    expectClose64('gemm', got, plain, 0, 1e-15);
  });

  test('beta = 0 never reads C (NaN there does not leak), and shapes are checked', () => {
    const c = new Float64Array(4).fill(NaN);
    expect(Array.from(gemm(Float64Array.of(1, 0, 0, 1), Float64Array.of(1, 2, 3, 4), 2, 2, 2, { c }))).toEqual([1, 2, 3, 4]);
    expect(() => gemm(new Float64Array(5), new Float64Array(6), 2, 2, 3)).toThrow(/A has 5 elements, expected 2×3/);
    expect(() => gemm(new Float64Array(6), new Float64Array(6), 2, 2, 3, { beta: 1 })).toThrow(/needs a prior C/);
  });

  test('gemmAt (one element, for the benchmarks\' sampled checks) equals gemm everywhere, with the magnitude of its terms', () => {
    const [M, N, K] = [4, 6, 5];
    const a = randomF64(M * K, 3);
    const b = randomF64(K * N, 4);
    for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const full = gemm(a, b, M, N, K, { transA, transB, alpha: -2 });
      const abs = gemm(a.map(Math.abs), b.map(Math.abs), M, N, K, { transA, transB, alpha: 2 });
      for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
        const r = gemmAt(a, b, M, N, K, m, n, { transA, transB, alpha: -2 });
        expect(r.value).toBeCloseTo(full[m * N + n]!, 14);
        expect(r.absSum).toBeCloseTo(abs[m * N + n]!, 14);
      }
    }
    expect(() => gemmAt(a, b, M, N, K, M, 0)).toThrow(/element \[4\]\[0\] is outside the 4×6 result/);
  });
});
