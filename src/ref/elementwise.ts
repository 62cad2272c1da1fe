// Float64 references of the shape-preserving and pooling layers of ResNet-18: ReLU, the
// residual add and global average pooling.
//
// Layout: activations NHWC, x[n][h][w][c]; the pooled output is N×C (row-major).
//
// Backward convention (llm.c style): each backward returns freshly allocated input gradients,
// *assigned* (none of these layers has parameters).

/** y = max(x, 0). */
export function reluForward(x: Float64Array): Float64Array {
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = x[i]! > 0 ? x[i]! : 0;
  return y;
}

/**
 * dx = dy where the ReLU was active. `activated` may be the ReLU's input or its output: both
 * are > 0 at exactly the same places (and, as in PyTorch, the gradient at 0 is 0).
 */
export function reluBackward(dy: Float64Array, activated: Float64Array): Float64Array {
  if (dy.length !== activated.length) throw new Error(`reluBackward: dy has ${dy.length} elements, the activation ${activated.length}`);
  const dx = new Float64Array(dy.length);
  for (let i = 0; i < dy.length; i++) dx[i] = activated[i]! > 0 ? dy[i]! : 0;
  return dx;
}

/** y = a + b (the residual connection). Its backward passes dy unchanged to both inputs. */
export function residualAdd(a: Float64Array, b: Float64Array): Float64Array {
  if (a.length !== b.length) throw new Error(`residualAdd: operands have ${a.length} and ${b.length} elements`);
  const y = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) y[i] = a[i]! + b[i]!;
  return y;
}

export interface PoolShape {
  batch: number;
  height: number;
  width: number;
  channels: number;
}

/** Global average pool, NHWC → N×C: y[n][c] = mean over h, w of x[n][h][w][c]. */
export function globalAvgPoolForward(x: Float64Array, s: PoolShape): Float64Array {
  const { batch: N, channels: C } = s;
  const hw = s.height * s.width;
  if (x.length !== N * hw * C) throw new Error(`globalAvgPoolForward: x has ${x.length} elements, expected ${N * hw * C}`);
  const y = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    for (let p = 0; p < hw; p++) {
      for (let c = 0; c < C; c++) y[n * C + c]! += x[(n * hw + p) * C + c]!;
    }
    for (let c = 0; c < C; c++) y[n * C + c]! /= hw;
  }
  return y;
}

/** dx[n][h][w][c] = dy[n][c] / (H·W). */
export function globalAvgPoolBackward(dy: Float64Array, s: PoolShape): Float64Array {
  const { batch: N, channels: C } = s;
  const hw = s.height * s.width;
  if (dy.length !== N * C) throw new Error(`globalAvgPoolBackward: dy has ${dy.length} elements, expected ${N * C}`);
  const dx = new Float64Array(N * hw * C);
  for (let n = 0; n < N; n++) {
    for (let p = 0; p < hw; p++) {
      for (let c = 0; c < C; c++) dx[(n * hw + p) * C + c] = dy[n * C + c]! / hw;
    }
  }
  return dx;
}
