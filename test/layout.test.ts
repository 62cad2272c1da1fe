// Layout conversions NHWC ↔ NCHW and HWIO ↔ OIHW: exact index mapping and round trips.
import { describe, expect, test } from 'vitest';
import { hwioToOihw, nchwToNhwc, nhwcToNchw, oihwToHwio } from '../src/nn/layout.ts';

/** Element value = its NHWC (or HWIO) coordinates encoded as digits, so any misplacement shows. */
function coded(d: number[]): Float64Array {
  const out = new Float64Array(d.reduce((a, b) => a * b, 1));
  let i = 0;
  for (let a = 0; a < d[0]!; a++) for (let b = 0; b < d[1]!; b++) for (let c = 0; c < d[2]!; c++) for (let e = 0; e < d[3]!; e++) out[i++] = 1000 * a + 100 * b + 10 * c + e;
  return out;
}

describe('layout conversions', () => {
  test('nhwcToNchw puts x[n][h][w][c] at [n][c][h][w]; nchwToNhwc inverts it', () => {
    const [N, H, W, C] = [2, 3, 4, 5];
    const x = coded([N, H, W, C]);
    const y = nhwcToNchw(x, [N, H, W, C]);
    for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) {
      expect(y[((n * C + c) * H + h) * W + w]).toBe(1000 * n + 100 * h + 10 * w + c);
    }
    expect(nchwToNhwc(y, [N, C, H, W])).toEqual(x);
  });

  test('hwioToOihw puts w[kh][kw][i][o] at [o][i][kh][kw]; oihwToHwio inverts it; Float32 stays Float32', () => {
    const [KH, KW, I, O] = [3, 2, 4, 5];
    const w = coded([KH, KW, I, O]);
    const t = hwioToOihw(w, [KH, KW, I, O]);
    for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) for (let h = 0; h < KH; h++) for (let k = 0; k < KW; k++) {
      expect(t[((o * I + i) * KH + h) * KW + k]).toBe(1000 * h + 100 * k + 10 * i + o);
    }
    expect(oihwToHwio(t, [O, I, KH, KW])).toEqual(w);
    expect(hwioToOihw(Float32Array.from(w), [KH, KW, I, O])).toBeInstanceOf(Float32Array);
  });

  test('refuses a shape that does not match the array', () => {
    expect(() => nhwcToNchw(new Float64Array(10), [1, 2, 2, 2])).toThrow(/10 elements but shape \[1,2,2,2\] needs 8/);
  });
});
