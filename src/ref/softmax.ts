// Float64 row softmax and the log-domain building blocks the pseudo-labelling references share
// (src/ref/scaling.ts, assignment.ts, sinkhorn.ts, metrics.ts, loss.ts): argument checks and
// max-shifted log-sum-exps over rows and columns. The twin of src/shaders/softmax.wgsl
// (src/mira/softmax.ts).
//
// Every matrix is row-major B×K (rows = samples, columns = clusters / prototypes); inputs may
// be Float64Array or Float32Array (any ArrayLike<number>), outputs are Float64Array. Pure TS, no I/O.

export type Matrix = ArrayLike<number>;

// ------------------------------------------------------------------------------------------
// Argument checks: a reference that silently accepts nonsense would "verify" nonsense.

export function checkShape(x: Matrix, B: number, K: number, what: string, name = 'logits'): void {
  if (!Number.isInteger(B) || B < 1) throw new RangeError(`${what}: B must be an integer ≥ 1, got ${B}`);
  if (!Number.isInteger(K) || K < 2) throw new RangeError(`${what}: K must be an integer ≥ 2, got ${K}`);
  if (x.length !== B * K) throw new RangeError(`${what}: ${name} hold ${x.length} values, expected ${B}×${K} = ${B * K}`);
  for (let i = 0; i < B * K; i++) {
    if (!Number.isFinite(x[i])) throw new RangeError(`${what}: ${name}[${Math.floor(i / K)}][${i % K}] = ${x[i]} is not finite`);
  }
}

export function checkPositive(x: number, name: string, what: string): void {
  if (!(typeof x === 'number' && Number.isFinite(x) && x > 0)) throw new RangeError(`${what}: ${name} must be a finite number > 0, got ${x}`);
}

export function checkBeta(beta: number, what: string): void {
  if (!(typeof beta === 'number' && beta > 0 && beta < 1)) throw new RangeError(`${what}: β must lie strictly between 0 and 1, got ${beta}`);
}

export function checkIters(iters: number, what: string): void {
  if (!Number.isInteger(iters) || iters < 0) throw new RangeError(`${what}: iterations must be an integer ≥ 0, got ${iters}`);
}

// ------------------------------------------------------------------------------------------
// Log-sum-exp building blocks (max-shifted: finite for any finite input).

/** out_i = LSE_j(x_ij − shift_j); shift = null means 0. */
export function rowLse(x: Float64Array, B: number, K: number, shift: Float64Array | null, out: Float64Array): Float64Array {
  for (let i = 0; i < B; i++) {
    const o = i * K;
    let m = -Infinity;
    for (let j = 0; j < K; j++) {
      const t = shift ? x[o + j]! - shift[j]! : x[o + j]!;
      if (t > m) m = t;
    }
    let s = 0;
    for (let j = 0; j < K; j++) s += Math.exp((shift ? x[o + j]! - shift[j]! : x[o + j]!) - m);
    out[i] = m + Math.log(s);
  }
  return out;
}

/** out_j = LSE_i(x_ij − rowShift_i); rowShift = null means 0. Row-major sweeps. */
export function columnLse(x: Float64Array, B: number, K: number, rowShift: Float64Array | null, out: Float64Array): Float64Array {
  const colMax = new Float64Array(K).fill(-Infinity);
  for (let i = 0; i < B; i++) {
    const o = i * K;
    const r = rowShift ? rowShift[i]! : 0;
    for (let j = 0; j < K; j++) {
      const t = x[o + j]! - r;
      if (t > colMax[j]!) colMax[j] = t;
    }
  }
  const sum = new Float64Array(K);
  for (let i = 0; i < B; i++) {
    const o = i * K;
    const r = rowShift ? rowShift[i]! : 0;
    for (let j = 0; j < K; j++) sum[j]! += Math.exp(x[o + j]! - r - colMax[j]!);
  }
  for (let j = 0; j < K; j++) out[j] = colMax[j]! + Math.log(sum[j]!);
  return out;
}

/** scale·x as a fresh Float64Array. */
export function scaled(x: Matrix, scale: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! * scale;
  return out;
}

/** Subtracts each row's LSE in place: rows become log-probabilities. */
export function normaliseRowsLog(x: Float64Array, B: number, K: number): Float64Array {
  const lse = rowLse(x, B, K, null, new Float64Array(B));
  for (let i = 0; i < B; i++) for (let j = 0; j < K; j++) x[i * K + j]! -= lse[i]!;
  return x;
}

/** log softmax(ℓ/τ) per row, B×K. */
export function logSoftmax(logits: Matrix, B: number, K: number, tau = 1): Float64Array {
  checkShape(logits, B, K, 'logSoftmax');
  checkPositive(tau, 'τ', 'logSoftmax');
  return normaliseRowsLog(scaled(logits, 1 / tau), B, K);
}

/** softmax(ℓ/τ) per row, B×K. */
export function softmax(logits: Matrix, B: number, K: number, tau = 1): Float64Array {
  const out = logSoftmax(logits, B, K, tau);
  for (let i = 0; i < out.length; i++) out[i] = Math.exp(out[i]!);
  return out;
}
