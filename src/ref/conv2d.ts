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

export interface Conv2dShape {
  batch: number;
  /** Input height and width. */
  height: number;
  width: number;
  inChannels: number;
  outChannels: number;
  /** Square kernel side (1 or 3 in ResNet-18). */
  kernel: number;
  stride: number;
  padding: number;
}

export function convOutSize(size: number, kernel: number, stride: number, padding: number): number {
  return Math.floor((size + 2 * padding - kernel) / stride) + 1;
}

export function conv2dOutShape(s: Conv2dShape): { outHeight: number; outWidth: number } {
  return { outHeight: convOutSize(s.height, s.kernel, s.stride, s.padding), outWidth: convOutSize(s.width, s.kernel, s.stride, s.padding) };
}

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
