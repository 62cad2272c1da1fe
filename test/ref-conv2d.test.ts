// The float64 convolution reference: forward against a hand-worked example and against an
// independent im2col + GEMM formulation; dgrad and wgrad against central finite differences
// over odd shapes (stride 2, padding 0/1/2, 1×1 and 3×3 kernels, Cin ≠ Cout).
import { describe, expect, test } from 'vitest';
import { conv2dOutShape, type Conv2dShape } from '../src/nn/conv2d-shape.ts';
import { conv2dAt, conv2dBackward, conv2dForward } from '../src/ref/conv2d.ts';
import { gemm } from '../src/ref/gemm.ts';
import { dot, expectClose64, expectGradientsMatch, gradientCheck, perturbGradient, randomF64 } from './helpers/gradcheck.ts';

const SHAPES: Conv2dShape[] = [
  { batch: 2, height: 5, width: 6, inChannels: 3, outChannels: 4, kernel: 3, stride: 1, padding: 1 },
  { batch: 2, height: 7, width: 5, inChannels: 2, outChannels: 5, kernel: 3, stride: 2, padding: 1 },
  { batch: 1, height: 6, width: 7, inChannels: 4, outChannels: 3, kernel: 3, stride: 2, padding: 0 },
  { batch: 2, height: 4, width: 5, inChannels: 3, outChannels: 2, kernel: 3, stride: 1, padding: 2 },
  { batch: 2, height: 7, width: 6, inChannels: 5, outChannels: 3, kernel: 1, stride: 2, padding: 0 },
  { batch: 3, height: 3, width: 4, inChannels: 2, outChannels: 6, kernel: 1, stride: 1, padding: 0 },
];

const label = (s: Conv2dShape) => `${s.batch}×${s.height}×${s.width}×${s.inChannels}→${s.outChannels} k${s.kernel} s${s.stride} p${s.padding}`;

function sizes(s: Conv2dShape) {
  const o = conv2dOutShape(s);
  return { x: s.batch * s.height * s.width * s.inChannels, w: s.kernel ** 2 * s.inChannels * s.outChannels, y: s.batch * o.outHeight * o.outWidth * s.outChannels, ...o };
}

/** The same convolution as an explicit patch matrix times the weight (M×K · K×N). */
function im2colConv(x: Float64Array, w: Float64Array, s: Conv2dShape): Float64Array {
  const { outHeight, outWidth } = conv2dOutShape(s);
  const M = s.batch * outHeight * outWidth;
  const K = s.kernel * s.kernel * s.inChannels;
  const patches = new Float64Array(M * K);
  for (let n = 0; n < s.batch; n++)
    for (let oh = 0; oh < outHeight; oh++)
      for (let ow = 0; ow < outWidth; ow++) {
        const m = (n * outHeight + oh) * outWidth + ow;
        for (let kh = 0; kh < s.kernel; kh++)
          for (let kw = 0; kw < s.kernel; kw++)
            for (let ci = 0; ci < s.inChannels; ci++) {
              const ih = oh * s.stride - s.padding + kh;
              const iw = ow * s.stride - s.padding + kw;
              const inside = ih >= 0 && ih < s.height && iw >= 0 && iw < s.width;
              patches[m * K + (kh * s.kernel + kw) * s.inChannels + ci] = inside ? x[((n * s.height + ih) * s.width + iw) * s.inChannels + ci]! : 0;
            }
      }
  return gemm(patches, w, M, s.outChannels, K);
}

describe('conv2d forward', () => {
  test('a hand-worked 3×3 example: one channel, padding 1, stride 2', () => {
    // x = 1..9 in a 3×3 image; a kernel of ones except the centre 10.
    const x = Float64Array.from({ length: 9 }, (_, i) => i + 1);
    const w = Float64Array.from([1, 1, 1, 1, 10, 1, 1, 1, 1]);
    const s: Conv2dShape = { batch: 1, height: 3, width: 3, inChannels: 1, outChannels: 1, kernel: 3, stride: 2, padding: 1 };
    // Output 2×2 at input centres (0,0), (0,2), (2,0), (2,2):
    // (0,0): 10·1 + 2 + 4 + 5 = 21; (0,2): 10·3 + 2 + 5 + 6 = 43; (2,0): 70 + 4 + 5 + 8 = 87; (2,2): 90 + 5 + 6 + 8 = 109.
    expect(Array.from(conv2dForward(x, w, s))).toEqual([21, 43, 87, 109]);
  });

  test('HWIO indexing: a 1×1 conv is a per-pixel matrix product x·W', () => {
    const s: Conv2dShape = { batch: 1, height: 1, width: 2, inChannels: 2, outChannels: 3, kernel: 1, stride: 1, padding: 0 };
    const x = Float64Array.from([1, 2, 3, 4]);
    const w = Float64Array.from([1, 10, 100, 1000, 10000, 100000]); // [ci][co]
    expect(Array.from(conv2dForward(x, w, s))).toEqual([1 + 2000, 10 + 20000, 100 + 200000, 3 + 4000, 30 + 40000, 300 + 400000]);
  });

  test.each(SHAPES.map((s) => [label(s), s] as const))('%s agrees with im2col + GEMM', (_, s) => {
    const n = sizes(s);
    const x = randomF64(n.x, 1);
    const w = randomF64(n.w, 2);
    expectClose64('conv2dForward', conv2dForward(x, w, s), im2colConv(x, w, s), 1e-13, 1e-12);
  });

  test('refuses mismatched arrays and shapes with no output', () => {
    const s = SHAPES[0]!;
    expect(() => conv2dForward(new Float64Array(3), randomF64(sizes(s).w, 1), s)).toThrow(/x has 3 elements, expected 180/);
    expect(() => conv2dForward(new Float64Array(4), new Float64Array(9), { ...s, batch: 1, height: 2, width: 2, inChannels: 1, outChannels: 1, padding: 0 })).toThrow(/leaves no output/);
  });
});

describe('conv2d backward against finite differences', () => {
  function gradientCase(s: Conv2dShape, seed: number) {
    const n = sizes(s);
    const x = randomF64(n.x, seed);
    const w = randomF64(n.w, seed + 1);
    const r = randomF64(n.y, seed + 2); // L = Σ conv(x, w) · R, so dL/dy = R
    const { dx, dWeight } = conv2dBackward(x, w, r, s);
    return { loss: () => dot(conv2dForward(x, w, s), r), inputs: { x, w }, grads: { x: dx, w: dWeight } };
  }

  test.each(SHAPES.map((s) => [label(s), s] as const))('%s: dx and dw', (_, s) => {
    const report = expectGradientsMatch(gradientCase(s, 11));
    expect(report.checked).toBe(sizes(s).x + sizes(s).w);
  });

  test('the check catches a gradient off by 1e-4 in one element (dx and dw)', () => {
    const c = gradientCase(SHAPES[1]!, 11);
    expect(gradientCheck(c).ok).toBe(true);
    expect(gradientCheck({ ...c, grads: perturbGradient(c.grads, 'x', 17) }).ok).toBe(false);
    expect(gradientCheck({ ...c, grads: perturbGradient(c.grads, 'w', 5, 1e-5) }).ok).toBe(false);
  });
});

describe('conv2dAt (one element, for the benchmarks\' sampled checks)', () => {
  test.each(SHAPES.map((s) => [label(s), s] as const))('%s: every element of forward, input grad and weight grad equals the full reference', (_, s) => {
    const n = sizes(s);
    const x = randomF64(n.x, 5);
    const w = randomF64(n.w, 6);
    const dy = randomF64(n.y, 7);
    const { dx, dWeight } = conv2dBackward(x, w, dy, s);
    const cases = [
      ['forward', x, w, conv2dForward(x, w, s)],
      ['inputGrad', dy, w, dx],
      ['weightGrad', x, dy, dWeight],
    ] as const;
    for (const [pass, a, b, full] of cases) {
      for (let i = 0; i < full.length; i++) {
        const r = conv2dAt(s, pass, a, b, i);
        expect(Math.abs(r.value - full[i]!), `${pass}[${i}]`).toBeLessThan(1e-12);
        expect(r.absSum).toBeGreaterThanOrEqual(Math.abs(r.value) - 1e-12);
      }
    }
    expect(() => conv2dAt(s, 'forward', x, w, n.y)).toThrow(/outside the \d+ outputs/);
  });
});
