// Finite-difference checks of the float64 references' backward passes (no GPU). A check
// perturbs each chosen input element by ±h in place, recomputes the scalar loss, restores the
// element, and compares (L(x+h) − L(x−h)) / 2h with the analytic gradient:
//   |analytic − numeric| ≤ atol + rtol · max(|analytic|, |numeric|)
// and reports the worst element by name and index.
//
// Networks with ReLU are only piecewise smooth: if x ± h straddles a kink the central difference
// is wrong however right the gradient is. With `kinkRetries`, an element that fails is retried
// with h/10, h/100, …: a kink crossing (a fixed distance from x) disappears as h shrinks, a wrong
// gradient does not. The allowed absolute error grows like 1/h on retries, as rounding noise does.

/** Deterministic uniform values in [lo, hi) (mulberry32), as float64. */
export function randomF64(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  let s = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}

/** Values with |v| in [0.1, 1): safely away from ReLU's kink at 0. */
export function awayFromZero(n: number, seed: number): Float64Array {
  const u = randomF64(n, seed, -1, 1);
  return u.map((v) => Math.sign(v || 1) * (0.1 + 0.9 * Math.abs(v)));
}

/** Σ a·b, the usual probe loss L = Σ y·R whose gradient with respect to y is R. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`dot: lengths ${a.length} and ${b.length}`);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

export interface GradientCase {
  /** Recomputes the loss from the current contents of `inputs`. */
  loss: () => number;
  /** The arrays the loss depends on; perturbed in place and restored. */
  inputs: Record<string, Float64Array>;
  /** The analytic gradient of each input (same keys). */
  grads: Record<string, Float64Array>;
}

export interface GradientCheckOptions {
  h?: number;
  atol?: number;
  rtol?: number;
  /** Check at most this many elements of each input (first, last and a seeded sample); default all. */
  maxPerInput?: number;
  /** Retries of a failing element with a 10× smaller step (for losses with ReLU kinks); default 0. */
  kinkRetries?: number;
  seed?: number;
}

export interface GradientReport {
  ok: boolean;
  checked: number;
  /** Elements that passed only with a smaller step (their ±h straddled a kink). */
  retried: number;
  /** Worst error / allowed error over all checked elements (≤ 1 passes). */
  worstRatio: number;
  message: string;
}

function chooseIndices(n: number, max: number, seed: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const picked = new Set([0, n - 1]);
  const r = randomF64(4 * max, seed, 0, 1);
  for (let k = 0; picked.size < max && k < r.length; k++) picked.add(Math.floor(r[k]! * n));
  return [...picked].sort((a, b) => a - b);
}

export function gradientCheck(c: GradientCase, o: GradientCheckOptions = {}): GradientReport {
  const { h = 1e-6, atol = 1e-8, rtol = 1e-6, maxPerInput = Infinity, seed = 7, kinkRetries = 0 } = o;
  let checked = 0;
  let retried = 0;
  let worstRatio = -1;
  let worst = '';
  for (const [name, x] of Object.entries(c.inputs)) {
    const g = c.grads[name];
    if (!g || g.length !== x.length) throw new Error(`gradientCheck: gradient of "${name}" has ${g?.length} elements, the input ${x.length}`);
    for (const i of chooseIndices(x.length, maxPerInput, seed + checked)) {
      const analytic = g[i]!;
      let step = h;
      let result = { ratio: Infinity, numeric: NaN, err: NaN };
      for (let attempt = 0; attempt <= kinkRetries; attempt++, step /= 10) {
        const saved = x[i]!;
        x[i] = saved + step;
        const plus = c.loss();
        x[i] = saved - step;
        const minus = c.loss();
        x[i] = saved;
        const numeric = (plus - minus) / (2 * step);
        const err = Math.abs(analytic - numeric);
        const ratio = err / ((atol * h) / step + rtol * Math.max(Math.abs(analytic), Math.abs(numeric)));
        result = { ratio: Number.isNaN(ratio) ? Infinity : ratio, numeric, err };
        if (ratio <= 1) {
          if (attempt > 0) retried++;
          break;
        }
      }
      checked++;
      if (result.ratio > worstRatio) {
        worstRatio = result.ratio;
        worst = `${name}[${i}]: analytic ${analytic} numeric ${result.numeric} |err| ${result.err.toExponential(3)}`;
      }
    }
  }
  const ok = worstRatio <= 1;
  const retries = retried ? `, ${retried} passed only with a smaller step (kink)` : '';
  return { ok, checked, retried, worstRatio, message: `${checked} elements checked${retries}, worst ${worst} (${worstRatio.toFixed(3)}× the tolerance)` };
}

/** Throws with the worst element when the analytic gradients disagree with finite differences. */
export function expectGradientsMatch(c: GradientCase, o: GradientCheckOptions = {}): GradientReport {
  const report = gradientCheck(c, o);
  if (!report.ok) throw new Error(`gradient check failed: ${report.message}`);
  return report;
}

/** A copy of `grads` with one element nudged by `delta` (relative to its size, at least `delta`). */
export function perturbGradient(grads: Record<string, Float64Array>, name: string, index: number, delta = 1e-4): Record<string, Float64Array> {
  const copy: Record<string, Float64Array> = {};
  for (const [k, v] of Object.entries(grads)) copy[k] = Float64Array.from(v);
  const g = copy[name]!;
  g[index] = g[index]! + delta * Math.max(1, Math.abs(g[index]!));
  return copy;
}

/** Largest |a − b| / (atol + rtol·|b|) over two arrays, with the worst index (b is the reference). */
export function closeness(got: ArrayLike<number>, ref: ArrayLike<number>, atol: number, rtol: number): { ok: boolean; ratio: number; message: string } {
  if (got.length !== ref.length) return { ok: false, ratio: Infinity, message: `length ${got.length}, expected ${ref.length}` };
  let ratio = -1;
  let at = -1;
  for (let i = 0; i < ref.length; i++) {
    const r = Math.abs(got[i]! - ref[i]!) / (atol + rtol * Math.abs(ref[i]!));
    if (!(r <= ratio)) {
      ratio = Number.isNaN(r) ? Infinity : r;
      at = i;
    }
  }
  return { ok: ratio <= 1, ratio, message: `worst [${at}] got ${got[at]} ref ${ref[at]} (${ratio.toFixed(3)}× the tolerance, over ${ref.length})` };
}

export function expectClose64(what: string, got: ArrayLike<number>, ref: ArrayLike<number>, atol: number, rtol: number): void {
  const c = closeness(got, ref, atol, rtol);
  if (!c.ok) throw new Error(`${what}: ${c.message}`);
}
