// Float64 reference of batch normalisation, as PyTorch's BatchNorm2d / BatchNorm1d compute it.
//
// Layout: channels last. A 2-d activation NHWC is viewed as rows × channels with
// rows = N·H·W; a 1-d activation N×C has rows = N. Statistics are per channel over all rows.
//   training: mean = Σx/n, var = Σ(x − mean)²/n (biased), invstd = 1/√(var + eps),
//             y = (x − mean)·invstd·γ + β
//   running stats (PyTorch, momentum 0.1): running_mean ← (1−m)·running_mean + m·mean,
//             running_var ← (1−m)·running_var + m·var·n/(n−1)   (the UNBIASED variance)
//   eval:     y = (x − running_mean)/√(running_var + eps)·γ + β
//
// Backward convention (llm.c style): the backward returns freshly allocated gradients — dx is
// *assigned*; dGamma and dBeta are this call's contribution, which the GPU kernels *accumulate*
// (+=) into the parameter gradients.

export const BN_EPS = 1e-5;
export const BN_MOMENTUM = 0.1;

export interface BatchNormShape {
  /** N·H·W for a 2-d (NHWC) activation, N for a 1-d one. */
  rows: number;
  channels: number;
}

export interface BatchNormTrainOutput {
  y: Float64Array;
  /** Per-channel batch mean, saved for the backward. */
  mean: Float64Array;
  /** Per-channel 1/√(var + eps), saved for the backward. */
  invstd: Float64Array;
  /** Per-channel biased batch variance (what invstd was computed from). */
  variance: Float64Array;
}

function checkLengths(what: string, s: BatchNormShape, arrays: [string, Float64Array, number][]): void {
  if (!(s.rows >= 1 && s.channels >= 1)) throw new Error(`${what}: rows and channels must be positive, got ${s.rows}×${s.channels}`);
  for (const [name, a, n] of arrays) {
    if (a.length !== n) throw new Error(`${what}: ${name} has ${a.length} elements, expected ${n}`);
  }
}

/** Training-mode forward with batch statistics. */
export function batchNormForwardTrain(x: Float64Array, gamma: Float64Array, beta: Float64Array, s: BatchNormShape, eps = BN_EPS): BatchNormTrainOutput {
  const { rows, channels: C } = s;
  checkLengths('batchNormForwardTrain', s, [['x', x, rows * C], ['gamma', gamma, C], ['beta', beta, C]]);
  const mean = new Float64Array(C);
  const variance = new Float64Array(C);
  for (let r = 0; r < rows; r++) for (let c = 0; c < C; c++) mean[c]! += x[r * C + c]!;
  for (let c = 0; c < C; c++) mean[c]! /= rows;
  // Two passes (mean first, then squared deviations): exact enough to be the reference.
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < C; c++) {
      const d = x[r * C + c]! - mean[c]!;
      variance[c]! += d * d;
    }
  }
  const invstd = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    variance[c]! /= rows;
    invstd[c] = 1 / Math.sqrt(variance[c]! + eps);
  }
  const y = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < C; c++) {
      const i = r * C + c;
      y[i] = (x[i]! - mean[c]!) * invstd[c]! * gamma[c]! + beta[c]!;
    }
  }
  return { y, mean, invstd, variance };
}

/**
 * PyTorch's running-statistics update after a training forward over `rows` values per channel.
 * Returns the new running mean and variance (the inputs are not modified).
 */
export function batchNormUpdateRunningStats(
  runningMean: Float64Array,
  runningVar: Float64Array,
  batchMean: Float64Array,
  batchVariance: Float64Array,
  rows: number,
  momentum = BN_MOMENTUM,
): { runningMean: Float64Array; runningVar: Float64Array } {
  // PyTorch itself refuses a training batch of one value per channel; n/(n−1) would divide by 0.
  if (rows < 2) throw new Error(`batchNormUpdateRunningStats: need more than 1 value per channel in training, got ${rows}`);
  const unbias = rows / (rows - 1);
  const C = runningMean.length;
  const mean = new Float64Array(C);
  const variance = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    mean[c] = (1 - momentum) * runningMean[c]! + momentum * batchMean[c]!;
    variance[c] = (1 - momentum) * runningVar[c]! + momentum * batchVariance[c]! * unbias;
  }
  return { runningMean: mean, runningVar: variance };
}

/** Evaluation-mode forward from the running statistics. */
export function batchNormForwardEval(
  x: Float64Array,
  gamma: Float64Array,
  beta: Float64Array,
  runningMean: Float64Array,
  runningVar: Float64Array,
  s: BatchNormShape,
  eps = BN_EPS,
): Float64Array {
  const { rows, channels: C } = s;
  checkLengths('batchNormForwardEval', s, [['x', x, rows * C], ['gamma', gamma, C], ['beta', beta, C], ['running_mean', runningMean, C], ['running_var', runningVar, C]]);
  const scale = new Float64Array(C);
  for (let c = 0; c < C; c++) scale[c] = gamma[c]! / Math.sqrt(runningVar[c]! + eps);
  const y = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < C; c++) {
      const i = r * C + c;
      y[i] = (x[i]! - runningMean[c]!) * scale[c]! + beta[c]!;
    }
  }
  return y;
}

/**
 * Training-mode backward through the batch statistics. With x̂ = (x − mean)·invstd:
 *   dβ = Σ dy,  dγ = Σ dy·x̂,  dx = γ·invstd·(dy − dβ/n − x̂·dγ/n).
 */
export function batchNormBackwardTrain(
  dy: Float64Array,
  x: Float64Array,
  gamma: Float64Array,
  mean: Float64Array,
  invstd: Float64Array,
  s: BatchNormShape,
): { dx: Float64Array; dGamma: Float64Array; dBeta: Float64Array } {
  const { rows, channels: C } = s;
  checkLengths('batchNormBackwardTrain', s, [['dy', dy, rows * C], ['x', x, rows * C], ['gamma', gamma, C], ['mean', mean, C], ['invstd', invstd, C]]);
  const dGamma = new Float64Array(C);
  const dBeta = new Float64Array(C);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < C; c++) {
      const i = r * C + c;
      const xhat = (x[i]! - mean[c]!) * invstd[c]!;
      dBeta[c]! += dy[i]!;
      dGamma[c]! += dy[i]! * xhat;
    }
  }
  const dx = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < C; c++) {
      const i = r * C + c;
      const xhat = (x[i]! - mean[c]!) * invstd[c]!;
      dx[i] = gamma[c]! * invstd[c]! * (dy[i]! - dBeta[c]! / rows - (xhat * dGamma[c]!) / rows);
    }
  }
  return { dx, dGamma, dBeta };
}
