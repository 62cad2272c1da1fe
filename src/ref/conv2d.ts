// Float64 reference of the 2-D convolution (no bias): forward, input gradient (dgrad) and weight
// gradient (wgrad). The GPU's implicit-GEMM convolutions are checked against these.
//
// Layouts: activations NHWC, x[n][h][w][c]; weights HWIO, w[kh][kw][Cin][Cout]. Square kernels,
// the same stride and zero padding on both axes (all that ResNet-18 uses).
//   y[n][oh][ow][co] = Σ_{kh,kw,ci} x[n][oh·stride − pad + kh][ow·stride − pad + kw][ci] · w[kh][kw][ci][co]
// with out-of-range input positions reading zero; Ho = ⌊(H + 2·pad − k)/stride⌋ + 1.
//
// Backward convention (llm.c style): each backward returns freshly allocated gradients — the
// input gradient is *assigned* (it is dx for this call alone); the parameter gradient is this
// call's contribution, which the GPU kernels *accumulate* (+=) into the gradient buffer.

import { conv2dOutShape, type Conv2dShape } from '../nn/conv2d-shape.ts';
import type { SampledValue } from './gemm.ts';

function check(s: Conv2dShape, arrays: [string, Float64Array, number][]): void {
  const { outHeight, outWidth } = conv2dOutShape(s);
  if (outHeight < 1 || outWidth < 1) throw new Error(`conv2d: ${s.height}×${s.width} input with kernel ${s.kernel}, stride ${s.stride}, padding ${s.padding} leaves no output`);
  for (const [what, a, n] of arrays) {
    if (a.length !== n) throw new Error(`conv2d: ${what} has ${a.length} elements, expected ${n}`);
  }
}

const sizes = (s: Conv2dShape) => {
  const { outHeight, outWidth } = conv2dOutShape(s);
  return {
    x: s.batch * s.height * s.width * s.inChannels,
    y: s.batch * outHeight * outWidth * s.outChannels,
    w: s.kernel * s.kernel * s.inChannels * s.outChannels,
    outHeight,
    outWidth,
  };
};

/**
 * Visits every (output position, kernel tap) pair whose input position is inside the image,
 * with the base offsets of x[n][ih][iw][0], y[n][oh][ow][0] and w[kh][kw][0][0]. Forward,
 * dgrad and wgrad are the same sum over these pairs, contracted differently.
 */
function forEachTap(s: Conv2dShape, visit: (xBase: number, yBase: number, wBase: number) => void): void {
  const { outHeight, outWidth } = conv2dOutShape(s);
  const { height: H, width: W, inChannels: Ci, outChannels: Co, kernel: K } = s;
  for (let n = 0; n < s.batch; n++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        const yBase = ((n * outHeight + oh) * outWidth + ow) * Co;
        for (let kh = 0; kh < K; kh++) {
          const ih = oh * s.stride - s.padding + kh;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < K; kw++) {
            const iw = ow * s.stride - s.padding + kw;
            if (iw < 0 || iw >= W) continue;
            visit(((n * H + ih) * W + iw) * Ci, yBase, (kh * K + kw) * Ci * Co);
          }
        }
      }
    }
  }
}

/** y = conv(x, w), NHWC N×Ho×Wo×Cout. */
export function conv2dForward(x: Float64Array, weight: Float64Array, s: Conv2dShape): Float64Array {
  const n = sizes(s);
  check(s, [['x', x, n.x], ['weight', weight, n.w]]);
  const y = new Float64Array(n.y);
  const { inChannels: Ci, outChannels: Co } = s;
  forEachTap(s, (xb, yb, wb) => {
    for (let ci = 0; ci < Ci; ci++) {
      const xv = x[xb + ci]!;
      const wRow = wb + ci * Co;
      for (let co = 0; co < Co; co++) y[yb + co]! += xv * weight[wRow + co]!;
    }
  });
  return y;
}

/** dx = ∂L/∂x given dy = ∂L/∂y (dgrad), NHWC N×H×W×Cin. */
export function conv2dBackwardInput(dy: Float64Array, weight: Float64Array, s: Conv2dShape): Float64Array {
  const n = sizes(s);
  check(s, [['dy', dy, n.y], ['weight', weight, n.w]]);
  const dx = new Float64Array(n.x);
  const { inChannels: Ci, outChannels: Co } = s;
  forEachTap(s, (xb, yb, wb) => {
    for (let ci = 0; ci < Ci; ci++) {
      const wRow = wb + ci * Co;
      let sum = 0;
      for (let co = 0; co < Co; co++) sum += dy[yb + co]! * weight[wRow + co]!;
      dx[xb + ci]! += sum;
    }
  });
  return dx;
}

/** dw = ∂L/∂w given dy (wgrad), HWIO k×k×Cin×Cout, summed over the batch and all positions. */
export function conv2dBackwardWeight(x: Float64Array, dy: Float64Array, s: Conv2dShape): Float64Array {
  const n = sizes(s);
  check(s, [['x', x, n.x], ['dy', dy, n.y]]);
  const dw = new Float64Array(n.w);
  const { inChannels: Ci, outChannels: Co } = s;
  forEachTap(s, (xb, yb, wb) => {
    for (let ci = 0; ci < Ci; ci++) {
      const xv = x[xb + ci]!;
      const wRow = wb + ci * Co;
      for (let co = 0; co < Co; co++) dw[wRow + co]! += xv * dy[yb + co]!;
    }
  });
  return dw;
}

/** Both gradients of one convolution. */
export function conv2dBackward(x: Float64Array, weight: Float64Array, dy: Float64Array, s: Conv2dShape): { dx: Float64Array; dWeight: Float64Array } {
  return { dx: conv2dBackwardInput(dy, weight, s), dWeight: conv2dBackwardWeight(x, dy, s) };
}

/**
 * One element of one pass, in float64, without computing the whole output: what a benchmark
 * checks a few sampled elements of a large layer against (bench/conv2d.bench.ts). The operands
 * come in the order the GPU layer binds them — forward (x, w) → y[index], inputGrad (dy, w) →
 * dx[index], weightGrad (x, dy) → dw[index] — in the layouts above.
 */
export function conv2dAt(s: Conv2dShape, pass: 'forward' | 'inputGrad' | 'weightGrad', a: ArrayLike<number>, b: ArrayLike<number>, index: number): SampledValue {
  const { outHeight: Ho, outWidth: Wo } = conv2dOutShape(s);
  const { height: H, width: W, inChannels: Ci, outChannels: Co, kernel: K, stride: S, padding: P } = s;
  const n = sizes(s);
  const [na, nb, nOut] = pass === 'forward' ? [n.x, n.w, n.y] : pass === 'inputGrad' ? [n.y, n.w, n.x] : [n.x, n.y, n.w];
  if (a.length !== na || b.length !== nb) throw new Error(`conv2dAt ${pass}: operands have ${a.length} and ${b.length} elements, expected ${na} and ${nb}`);
  if (!(Number.isInteger(index) && index >= 0 && index < nOut)) throw new Error(`conv2dAt ${pass}: index ${index} is outside the ${nOut} outputs`);
  let value = 0;
  let absSum = 0;
  const add = (t: number) => {
    value += t;
    absSum += Math.abs(t);
  };
  if (pass === 'forward') {
    const co = index % Co;
    const ow = Math.floor(index / Co) % Wo;
    const oh = Math.floor(index / (Co * Wo)) % Ho;
    const b0 = Math.floor(index / (Co * Wo * Ho));
    for (let kh = 0; kh < K; kh++) {
      const ih = oh * S - P + kh;
      if (ih < 0 || ih >= H) continue;
      for (let kw = 0; kw < K; kw++) {
        const iw = ow * S - P + kw;
        if (iw < 0 || iw >= W) continue;
        for (let ci = 0; ci < Ci; ci++) add(a[((b0 * H + ih) * W + iw) * Ci + ci]! * b[((kh * K + kw) * Ci + ci) * Co + co]!);
      }
    }
  } else if (pass === 'inputGrad') {
    const ci = index % Ci;
    const iw = Math.floor(index / Ci) % W;
    const ih = Math.floor(index / (Ci * W)) % H;
    const b0 = Math.floor(index / (Ci * W * H));
    for (let kh = 0; kh < K; kh++) {
      const oh = (ih + P - kh) / S;
      if (!Number.isInteger(oh) || oh < 0 || oh >= Ho) continue;
      for (let kw = 0; kw < K; kw++) {
        const ow = (iw + P - kw) / S;
        if (!Number.isInteger(ow) || ow < 0 || ow >= Wo) continue;
        for (let co = 0; co < Co; co++) add(a[((b0 * Ho + oh) * Wo + ow) * Co + co]! * b[((kh * K + kw) * Ci + ci) * Co + co]!);
      }
    }
  } else {
    const co = index % Co;
    const ci = Math.floor(index / Co) % Ci;
    const kw = Math.floor(index / (Co * Ci)) % K;
    const kh = Math.floor(index / (Co * Ci * K));
    for (let b0 = 0; b0 < s.batch; b0++) {
      for (let oh = 0; oh < Ho; oh++) {
        const ih = oh * S - P + kh;
        if (ih < 0 || ih >= H) continue;
        for (let ow = 0; ow < Wo; ow++) {
          const iw = ow * S - P + kw;
          if (iw < 0 || iw >= W) continue;
          add(a[((b0 * H + ih) * W + iw) * Ci + ci]! * b[((b0 * Ho + oh) * Wo + ow) * Co + co]!);
        }
      }
    }
  }
  return { value, absSum };
}
