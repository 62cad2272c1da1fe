// The float64 assignment references (src/ref/softmax.ts, scaling.ts, assignment.ts,
// assignment-dual.ts, sinkhorn.ts, metrics.ts, loss.ts), checked without a GPU:
//   - MIRA's fixed point against an independent solver (damped Newton on the convex dual) to
//     1e-10, strong duality, the stationarity condition, and B = 1 (optimum = softmax(ℓ/τ));
//   - hard cases (logits ±100, near one-hot rows, logits ≥ 80 and 200, B = 1, K = 2) stay
//     finite where the direct formulas give NaN / Inf;
//   - a 512×3000 batch of clustered cosine logits: MIRA after 30 iterations vs its optimum,
//     Sinkhorn-Knopp's marginal error per iteration (printed);
//   - the trace's definitions, the step API, invariance of the targets under scaling v;
//   - SwAV's Sinkhorn against its literal (direct) form, SeLa, the metrics;
//   - the swapped-prediction and multi-crop losses against finite differences;
//   - PyTorch / NumPy golden values (scripts/fixtures/make_mira_fixture.py) to 1e-10.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, test } from 'vitest';
import { parseNpy } from '../src/io/npy.ts';
import type { IterationRecord } from '../src/mira/iteration-record.ts';
import { miraInit, miraObjective, miraOptimum, type MiraResult, miraSolve, miraStep, miraTargets, naiveTargets } from '../src/ref/assignment.ts';
import { miraDualNewton, type MiraDualResult } from '../src/ref/assignment-dual.ts';
import { crossEntropy, multiCropLoss, swappedLoss } from '../src/ref/loss.ts';
import { assignmentMetrics, KL_EPS, klDivergence } from '../src/ref/metrics.ts';
import { type ScalingState, stateV } from '../src/ref/scaling.ts';
import { selaSinkhorn, sinkhornInit, sinkhornStep, sinkhornSwav, sinkhornTargets } from '../src/ref/sinkhorn.ts';
import { logSoftmax, softmax } from '../src/ref/softmax.ts';
import { makeClusteredLogits } from '../src/ref/synthetic.ts';
import { expectClose64, expectGradientsMatch, randomF64 } from './helpers/gradcheck.ts';

const log = (...a: unknown[]) => console.log('[ref-mira]', ...a);

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

/** Every entry finite and ≥ 0, every row summing to 1 within tol; returns the worst row error. */
function expectSimplexRows(w: ArrayLike<number>, B: number, K: number, what: string, tol = 1e-12): number {
  let worst = 0;
  for (let i = 0; i < B; i++) {
    let s = 0;
    for (let j = 0; j < K; j++) {
      const x = w[i * K + j]!;
      if (!(Number.isFinite(x) && x >= 0)) throw new Error(`${what}: w[${i}][${j}] = ${x}`);
      s += x;
    }
    worst = Math.max(worst, Math.abs(s - 1));
  }
  expect(worst, `${what}: worst |row sum − 1|`).toBeLessThan(tol);
  return worst;
}

/** Every field finite; `v` too unless `skipV` (Sinkhorn's exp(u) may overflow, by definition). */
function expectFiniteRecord(r: IterationRecord, what: string, skipV = false): void {
  for (const [k, x] of Object.entries(r)) {
    if (k === 'v') {
      if (!skipV) (x as number[]).forEach((vj, j) => expect(Number.isFinite(vj), `${what}: v[${j}] = ${vj}`).toBe(true));
    } else expect(Number.isFinite(x as number), `${what}: ${k} = ${x}`).toBe(true);
  }
}

/** The official direct form of MIRA (no logs), for the cases where it works and to show where it fails. */
function miraDirect(logits: ArrayLike<number>, B: number, K: number, tau: number, beta: number, iters: number): { w: Float64Array; v: Float64Array } {
  const a = beta / (1 - beta);
  const k = softmax(logits, B, K, tau * (1 - beta));
  const colMean = (m: Float64Array) => {
    const c = new Float64Array(K);
    for (let i = 0; i < B * K; i++) c[i % K]! += m[i]! / B;
    return c;
  };
  let v = colMean(k).map((x) => x ** (1 - beta));
  const scaledRows = () => {
    const out = new Float64Array(B * K);
    for (let i = 0; i < B; i++) {
      let s = 0;
      for (let j = 0; j < K; j++) s += k[i * K + j]! * v[j]! ** -a;
      for (let j = 0; j < K; j++) out[i * K + j] = k[i * K + j]! / s;
    }
    return out;
  };
  for (let n = 0; n < iters; n++) v = colMean(scaledRows()).map((x) => x ** (1 - beta));
  const w = scaledRows().map((x, i) => x * v[i % K]! ** -a);
  return { w, v };
}

/** SwAV's Sinkhorn-Knopp literally (exp(ℓ/ε) formed), float64. */
function sinkhornDirect(logits: ArrayLike<number>, B: number, K: number, eps: number, iters: number): Float64Array {
  const Q = new Float64Array(B * K); // stored B×K, Q_ij = SwAV's Q[j][i]
  let total = 0;
  for (let i = 0; i < B * K; i++) total += Q[i] = Math.exp(logits[i]! / eps);
  for (let i = 0; i < B * K; i++) Q[i]! /= total;
  for (let n = 0; n < iters; n++) {
    const proto = new Float64Array(K);
    for (let i = 0; i < B * K; i++) proto[i % K]! += Q[i]!;
    for (let i = 0; i < B * K; i++) Q[i]! /= proto[i % K]! * K;
    for (let i = 0; i < B; i++) {
      let s = 0;
      for (let j = 0; j < K; j++) s += Q[i * K + j]!;
      for (let j = 0; j < K; j++) Q[i * K + j]! /= s * B;
    }
  }
  return Q.map((x) => x * B);
}

// ---------------------------------------------------------------------------------------------

describe('softmax, logSoftmax, naive targets', () => {
  test('rows sum to 1, log form agrees, τ scales, float32 input accepted, huge logits finite', () => {
    const x = Float32Array.from([1, 2, 3, -1, 0, 1]);
    const p = softmax(x, 2, 3, 0.5);
    expectSimplexRows(p, 2, 3, 'softmax');
    const z = Math.exp(2) + Math.exp(4) + Math.exp(6);
    expect(p[2]).toBeCloseTo(Math.exp(6) / z, 15);
    expectClose64('log softmax', logSoftmax(x, 2, 3, 0.5).map(Math.exp), p, 1e-16, 1e-15);
    expect(Array.from(naiveTargets(x, 2, 3, { tau: 0.5 }))).toEqual(Array.from(p));
    expect(Array.from(naiveTargets(x, 2, 3, 0.5))).toEqual(Array.from(p));
    const big = softmax([1000, 999, -1000, 1e4], 2, 2, 0.01);
    expectSimplexRows(big, 2, 2, 'softmax of ±1000 at τ = 0.01');
    expect(Array.from(logSoftmax([1000, -1000], 1, 2, 0.01))).toEqual([0, -200000]);
  });
});

describe('MIRA: the fixed point is the optimum of its objective', () => {
  const CASES: [number, number, number, number, number][] = [
    // B, K, τ, β, seed
    [1, 2, 0.225, 0.7, 1],
    [2, 3, 0.5, 0.3, 2],
    [7, 5, 0.225, 0.7, 3],
    [32, 10, 0.1, 0.5, 4],
    [64, 100, 0.225, 2 / 3, 5],
    [100, 17, 1.0, 0.9, 6],
    [50, 300, 0.225, 0.75, 7],
  ];

  test.each(CASES)('B=%i K=%i τ=%f β=%f: fixed point = dual Newton to 1e-10, strong duality, stationarity', (B, K, tau, beta, seed) => {
    const logits = randomF64(B * K, seed, -1, 1);
    const fp = miraOptimum(logits, B, K, { tau, beta });
    const dual = miraDualNewton(logits, B, K, { tau, beta });
    expect(fp.converged, `fixed point stalled at max|Δw| ${fp.deltaW} after ${fp.iters}`).toBe(true);
    expect(dual.gradNorm).toBeLessThan(1e-14);
    const dw = maxAbsDiff(fp.w, dual.targets);
    const dv = maxAbsDiff(fp.v, dual.v);
    const F = miraObjective(logits, B, K, fp.w, { tau, beta });
    log(`B=${B} K=${K} τ=${tau} β=${beta.toFixed(3)}: fixed point ${fp.iters} it, Newton ${dual.newtonSteps} steps; max|Δw| ${dw.toExponential(2)}, max|Δv| ${dv.toExponential(2)}, F − D ${(F - dual.dualValue).toExponential(2)}`);
    expect(dw).toBeLessThan(1e-10);
    expect(dv).toBeLessThan(1e-10);
    expectSimplexRows(fp.w, B, K, 'optimum');
    // Strong duality: the primal objective at the fixed point equals the dual value.
    expect(Math.abs(F - dual.dualValue)).toBeLessThan(1e-11);
    // And the optimum beats what 3 iterations, the plain softmax and the uniform targets reach.
    for (const [name, w] of [
      ['3 iterations', miraSolve(logits, B, K, { tau, beta, iters: 3 }).w],
      ['softmax(ℓ/τ)', softmax(logits, B, K, tau)],
      ['uniform', new Float64Array(B * K).fill(1 / K)],
    ] as const) {
      expect(miraObjective(logits, B, K, w, { tau, beta }), name).toBeGreaterThanOrEqual(F - 1e-14);
    }

    // Stationarity: w_i ∝ p_i^(1/(1−β)) · (mean w)^(−β/(1−β)), and v = mean w, Σ v = 1.
    const a = beta / (1 - beta);
    const logP = logSoftmax(logits, B, K, tau);
    const mean = new Float64Array(K);
    for (let i = 0; i < B * K; i++) mean[i % K]! += fp.w[i]! / B;
    const rhs = new Float64Array(B * K);
    for (let i = 0; i < B * K; i++) rhs[i] = logP[i]! / (1 - beta) - a * Math.log(mean[i % K]!);
    const predicted = softmax(rhs, B, K, 1);
    expect(maxAbsDiff(predicted, fp.w)).toBeLessThan(1e-10);
    expect(maxAbsDiff(fp.v, mean)).toBeLessThan(1e-12);
    expect(Math.abs(fp.v.reduce((s, x) => s + x, 0) - 1)).toBeLessThan(1e-12);
  });

  test('B = 1: the optimum is p = softmax(ℓ/τ) (the MI term vanishes); v reaches it only at rate β', () => {
    // With one row every pass gives targets ∝ k^(1−β) ∝ p at once; v = exp(g) still carries a
    // scale error that shrinks by β per iteration: the targets do not see it.
    const logits = [0.9, -0.3, 0.1, 0.4];
    const p = softmax(logits, 1, 4, 0.225);
    const st = miraInit(logits, 1, 4, { tau: 0.225, beta: 0.7 });
    expect(maxAbsDiff(miraTargets(st), p)).toBeLessThan(1e-15);
    const vErr: number[] = [];
    for (let n = 0; n < 20; n++) {
      miraStep(st);
      expect(maxAbsDiff(miraTargets(st), p)).toBeLessThan(1e-15);
      vErr.push(maxAbsDiff(Array.from(st.g), Array.from(p, Math.log)));
    }
    const rate = vErr[19]! / vErr[18]!;
    log(`B = 1: targets = p from v⁽⁰⁾ on; max|log v − log p| after 1, 10, 20 iterations ${[0, 9, 19].map((n) => vErr[n]!.toExponential(2)).join(', ')} (rate ${rate.toFixed(4)}, β = 0.7)`);
    expect(rate).toBeCloseTo(0.7, 6);
  });

  test('agrees with the official direct form where that is finite (random cosines)', () => {
    for (const [B, K, tau, beta, iters] of [
      [48, 20, 0.225, 0.7, 30],
      [5, 3, 0.5, 0.4, 0],
      [200, 64, 0.1, 0.9, 12],
    ] as const) {
      const logits = randomF64(B * K, B + K, -1, 1);
      const d = miraDirect(logits, B, K, tau, beta, iters);
      const r = miraSolve(logits, B, K, { tau, beta, iters });
      expectClose64(`targets ${B}×${K}`, r.w, d.w, 1e-14, 1e-11);
      expectClose64(`v ${B}×${K}`, r.v, d.v, 1e-14, 1e-11);
    }
  });
});

describe('hard cases stay finite in the log domain', () => {
  interface HardCase {
    name: string;
    B: number;
    K: number;
    logits: Float64Array;
  }
  const rnd = (() => {
    const u = randomF64(1 << 16, 99, 0, 1);
    let k = 0;
    return () => u[k++ % u.length]!;
  })();
  const cases: HardCase[] = [];
  {
    const B = 128;
    const K = 64;
    const x = new Float64Array(B * K);
    for (let i = 0; i < B; i++) {
      const hot = Math.floor(rnd() * 8); // most prototypes never win a row: their columns underflow
      for (let j = 0; j < K; j++) x[i * K + j] = j === hot ? 100 : -100 + rnd();
    }
    cases.push({ name: 'near one-hot ±100', B, K, logits: x });
  }
  cases.push({ name: 'spread ±100', B: 128, K: 16, logits: randomF64(128 * 16, 11, -100, 100) });
  cases.push({ name: 'logits in [80, 100]', B: 96, K: 40, logits: randomF64(96 * 40, 12, 80, 100) });
  cases.push({ name: 'logits 200 ± 1', B: 64, K: 32, logits: randomF64(64 * 32, 13, 199, 201) });
  cases.push({ name: 'B=1 K=2', B: 1, K: 2, logits: Float64Array.from([0.3, -0.2]) });
  cases.push({ name: 'B=1 K=2 extreme', B: 1, K: 2, logits: Float64Array.from([100, -100]) });
  cases.push({ name: 'K=2 B=500', B: 500, K: 2, logits: randomF64(1000, 14, -1, 1) });
  cases.push({ name: 'all equal', B: 10, K: 7, logits: new Float64Array(70).fill(0.25) });

  test.each(cases.map((c) => [c.name, c] as const))('%s: MIRA and Sinkhorn targets, v and every trace field finite', (_name, c) => {
    const { B, K, logits } = c;
    for (const [tau, beta] of [
      [0.225, 0.7],
      [0.1, 0.9],
    ] as const) {
      const r = miraSolve(logits, B, K, { tau, beta, iters: 30, trace: true });
      expectSimplexRows(r.w, B, K, `${c.name} MIRA τ=${tau} β=${beta}`);
      r.v.forEach((x, j) => expect(Number.isFinite(x), `v[${j}] = ${x}`).toBe(true));
      r.g.forEach((x, j) => expect(Number.isFinite(x), `g[${j}] = ${x}`).toBe(true));
      expect(r.trace).toHaveLength(30);
      r.trace.forEach((rec) => expectFiniteRecord(rec, `${c.name} MIRA iteration ${rec.iter}`));
      const m = assignmentMetrics(r.w, B, K);
      for (const k of ['mean_entropy', 'marginal_entropy', 'mi', 'largest_cluster_fraction'] as const) expect(Number.isFinite(m[k])).toBe(true);
    }
    const s = sinkhornSwav(logits, B, K, { eps: 0.05, iters: 3, trace: true });
    expectSimplexRows(s.q, B, K, `${c.name} Sinkhorn`);
    // Sinkhorn's reported v = exp(u) is SwAV's prototype scaling, which overflows for near
    // one-hot rows (u ~ 200/ε); its log u and every other field (residual included) stay finite.
    s.trace.forEach((rec) => expectFiniteRecord(rec, `${c.name} Sinkhorn iteration ${rec.iter}`, true));
    s.u.forEach((x, j) => expect(Number.isFinite(x), `u[${j}] = ${x}`).toBe(true));
  });

  test('where the direct forms give NaN / Inf: near one-hot ±100 (MIRA), logits ≥ 80 (SwAV)', () => {
    const oneHot = cases[0]!;
    const direct = miraDirect(oneHot.logits, oneHot.B, oneHot.K, 0.225, 0.7, 30);
    expect(direct.w.some((x) => Number.isNaN(x))).toBe(true);
    const big = cases[2]!;
    expect(Math.exp(80 / 0.05)).toBe(Infinity);
    expect(sinkhornDirect(big.logits, big.B, big.K, 0.05, 3).some((x) => !Number.isFinite(x))).toBe(true);
    log(`direct forms: MIRA on ${oneHot.B}×${oneHot.K} one-hot ±100 → NaN; SwAV on ${big.B}×${big.K} logits ≥ 80 → Inf/NaN; log domain finite`);
  });

  test('large logits give the same targets as shifted moderate ones (MIRA: per-row shift; SwAV: global)', () => {
    const B = 64;
    const K = 32;
    const base = randomF64(B * K, 15, -1, 1);
    const rowShift = Float64Array.from(base, (x, i) => x + 200 + Math.floor(i / K) * 3);
    for (const [tau, beta] of [
      [0.225, 0.7],
      [0.1, 0.9],
    ] as const) {
      const d = maxAbsDiff(miraSolve(rowShift, B, K, { tau, beta }).w, miraSolve(base, B, K, { tau, beta }).w);
      expect(d).toBeLessThan(1e-10);
    }
    const shifted = Float64Array.from(base, (x) => x + 200);
    const d = maxAbsDiff(sinkhornSwav(shifted, B, K).q, sinkhornDirect(base, B, K, 0.05, 3));
    expect(d).toBeLessThan(1e-9);
  });
});

describe('512×3000 clustered cosine logits (τ = 0.225, β = 0.7)', () => {
  const B = 512;
  const K = 3000;
  const tau = 0.225;
  const beta = 0.7;
  let logits: Float32Array;
  let mira30: MiraResult;
  let dual: MiraDualResult;

  beforeAll(() => {
    logits = makeClusteredLogits(B, K, 1);
    mira30 = miraSolve(logits, B, K, { tau, beta, iters: 30, trace: true });
    dual = miraDualNewton(logits, B, K, { tau, beta });
  });

  test('MIRA after 30 iterations is within 1e-7 of its optimum (Newton on the dual)', () => {
    const d30 = maxAbsDiff(mira30.w, dual.targets);
    const F30 = miraObjective(logits, B, K, mira30.w, { tau, beta });
    const Fopt = miraObjective(logits, B, K, dual.targets, { tau, beta });
    const last = mira30.trace[29]!;
    const sumV = mira30.v.reduce((s, x) => s + x, 0);
    log(
      `512×3000: max|w30 − w*| ${d30.toExponential(3)}, F30 − F* ${(F30 - Fopt).toExponential(2)}, Newton ${dual.newtonSteps} steps; ` +
        `iteration 30: delta_w ${last.delta_w.toExponential(2)}, residual(v) ${last.residual.toExponential(2)}, Σv ${sumV.toFixed(6)}`,
    );
    expect(d30).toBeLessThan(1e-7);
    expect(F30 - Fopt).toBeGreaterThanOrEqual(-1e-13);
    expect(F30 - Fopt).toBeLessThan(1e-12);
    // delta_w falls every iteration; v's scale lags (Σv → 1 at rate β), so residual ≫ delta_w.
    for (let n = 1; n < 30; n++) expect(mira30.trace[n]!.delta_w).toBeLessThan(mira30.trace[n - 1]!.delta_w);
    expect(last.residual).toBeGreaterThan(100 * last.delta_w);
    log(`MIRA delta_w by iteration: ${mira30.trace.map((r) => r.delta_w.toExponential(1)).join(' ')}`);
  });

  test('the fixed point run to convergence agrees with Newton on the dual to 1e-10', () => {
    const fp = miraOptimum(logits, B, K, { tau, beta });
    const d = maxAbsDiff(fp.w, dual.targets);
    log(`512×3000: fixed point to max|Δw| ${fp.deltaW.toExponential(2)} in ${fp.iters} iterations; |fixed point − Newton| ${d.toExponential(2)}`);
    expect(fp.converged).toBe(true);
    expect(d).toBeLessThan(1e-10);
  });

  test('SwAV Sinkhorn-Knopp: the trace shows the marginal error it leaves after 3 iterations', () => {
    const s = sinkhornSwav(logits, B, K, { eps: 0.05, iters: 3, trace: true });
    const errors = s.trace.map((r) => r.marginal_error);
    const miraErr = mira30.trace[29]!.marginal_error;
    log(`Sinkhorn (ε 0.05) marginal error ‖mean q − 1/K‖₁ by iteration: ${errors.map((e) => e.toExponential(3)).join(', ')}; MIRA's at 30 iterations ${miraErr.toExponential(3)} (not a constraint of MIRA)`);
    log(`Sinkhorn delta_w by iteration: ${s.trace.map((r) => r.delta_w.toExponential(2)).join(', ')}; max|q − w_MIRA*| ${maxAbsDiff(s.q, dual.targets).toExponential(2)}`);
    expect(errors[2]!).toBeLessThan(errors[0]!);
    expect(errors[2]!).toBeGreaterThan(1e-3);
    expectSimplexRows(s.q, B, K, 'Sinkhorn targets');
    // The trace's marginal error is that of the targets returned.
    const m = new Float64Array(K);
    for (let i = 0; i < B * K; i++) m[i % K]! += s.q[i]! / B;
    expect(Math.abs(m.reduce((acc, x) => acc + Math.abs(x - 1 / K), 0) - errors[2]!)).toBeLessThan(1e-12);
  });

  test('β = 0.9, τ = 0.5: 30 iterations are not enough', () => {
    const r = miraSolve(logits, B, K, { tau: 0.5, beta: 0.9, iters: 30 });
    const opt = miraDualNewton(logits, B, K, { tau: 0.5, beta: 0.9 });
    const d = maxAbsDiff(r.w, opt.targets);
    log(`512×3000 β 0.9 τ 0.5: max|w30 − w*| ${d.toExponential(3)}`);
    expect(d).toBeGreaterThan(1e-6);
  });
});

describe('trace records, step API, scale of v', () => {
  const B = 40;
  const K = 12;
  const logits = randomF64(B * K, 21, -1, 1);
  const o = { tau: 0.225, beta: 0.7 };

  test('the step API reproduces miraSolve / sinkhornSwav exactly', () => {
    const st = miraInit(logits, B, K, o);
    const recs = Array.from({ length: 7 }, () => miraStep(st));
    const r = miraSolve(logits, B, K, { ...o, iters: 7, trace: true });
    expect(recs).toEqual(r.trace);
    expect(Array.from(miraTargets(st))).toEqual(Array.from(r.w));
    expect(Array.from(stateV(st))).toEqual(Array.from(r.v));
    const ss = sinkhornInit(logits, B, K, { eps: 0.05 });
    expect(Array.from(sinkhornTargets(ss))).toEqual(Array.from(softmax(logits, B, K, 0.05)));
    const srecs = Array.from({ length: 4 }, () => sinkhornStep(ss));
    const s = sinkhornSwav(logits, B, K, { eps: 0.05, iters: 4, trace: true });
    expect(srecs).toEqual(s.trace);
    expect(Array.from(sinkhornTargets(ss))).toEqual(Array.from(s.q));
    expect(() => miraStep(ss)).toThrow(/sinkhorn state/);
  });

  test('every record field means what the trace format says', () => {
    const st = miraInit(logits, B, K, o);
    let vPrev = stateV(st);
    // v⁽⁰⁾ = (mean_i k_i)^(1−β)
    const k = softmax(logits, B, K, o.tau * (1 - o.beta));
    for (let j = 0; j < K; j++) {
      let m = 0;
      for (let i = 0; i < B; i++) m += k[i * K + j]! / B;
      expect(vPrev[j]).toBeCloseTo(m ** (1 - o.beta), 14);
    }
    let wPrev = miraTargets(st);
    for (let n = 1; n <= 5; n++) {
      const r = miraStep(st);
      const v = stateV(st);
      const w = miraTargets(st);
      expect(r.iter).toBe(n);
      expect(r.v).toEqual(Array.from(v));
      let num = 0;
      let den = 0;
      for (let j = 0; j < K; j++) {
        num += Math.abs(v[j]! - vPrev[j]!);
        den += vPrev[j]!;
      }
      expect(r.residual).toBeCloseTo(num / den, 14);
      expect(r.delta_w).toBe(maxAbsDiff(w, wPrev));
      const m = assignmentMetrics(w, B, K);
      expect(r.marginal_entropy).toBeCloseTo(m.marginal_entropy, 13);
      expect(r.mean_entropy).toBeCloseTo(m.mean_entropy, 13);
      expect(r.mi).toBeCloseTo(m.mi, 13);
      expect(r.objective).toBeCloseTo(miraObjective(logits, B, K, w, o), 13);
      const mean = new Float64Array(K);
      for (let i = 0; i < B * K; i++) mean[i % K]! += w[i]! / B;
      expect(r.marginal_error).toBeCloseTo(mean.reduce((s, x) => s + Math.abs(x - 1 / K), 0), 14);
      vPrev = v;
      wPrev = w;
    }
    // Sinkhorn: v = exp(u), u⁽⁰⁾ = 0; objective = mean KL(q‖softmax(ℓ/ε)).
    const ss = sinkhornInit(logits, B, K, { eps: 0.05 });
    const r1 = sinkhornStep(ss);
    const q = sinkhornTargets(ss);
    expect(r1.iter).toBe(1);
    expect(r1.delta_w).toBe(maxAbsDiff(q, softmax(logits, B, K, 0.05)));
    expect(r1.objective).toBeCloseTo(klDivergence(q, softmax(logits, B, K, 0.05), B, K), 13);
    expect(r1.residual).toBeCloseTo(r1.v.reduce((s, x) => s + Math.abs(x - 1), 0) / K, 13);
  });

  test('the targets do not change when v is scaled; the next v keeps β times the log-scale offset', () => {
    const st = miraInit(logits, B, K, o);
    for (let n = 0; n < 3; n++) miraStep(st);
    const c = 2.5;
    const shifted: ScalingState = { ...st, g: st.g.map((x) => x + c), cache: undefined };
    expect(maxAbsDiff(miraTargets(shifted), miraTargets(st))).toBeLessThan(1e-15);
    miraStep(st);
    miraStep(shifted);
    expect(maxAbsDiff(miraTargets(shifted), miraTargets(st))).toBeLessThan(1e-15);
    for (let j = 0; j < K; j++) expect(shifted.g[j]! - st.g[j]!).toBeCloseTo(o.beta * c, 12);
    // v's scale settles like βⁿ: v⁽⁰⁾ is far from summing to 1, after 150 iterations v = mean w.
    expect(Math.abs(stateV(miraInit(logits, B, K, o)).reduce((s, x) => s + x, 0) - 1)).toBeGreaterThan(1e-2);
    const long = miraSolve(logits, B, K, { ...o, iters: 150 });
    const mean = new Float64Array(K);
    for (let i = 0; i < B * K; i++) mean[i % K]! += long.w[i]! / B;
    expect(maxAbsDiff(long.v, mean)).toBeLessThan(1e-14);
    expect(maxAbsDiff(long.v, miraDualNewton(logits, B, K, o).v)).toBeLessThan(1e-12);
  });
});

describe('Sinkhorn-Knopp and SeLa', () => {
  test('equals SwAV\'s literal algorithm (float64) on moderate logits', () => {
    const B = 33;
    const K = 9;
    const logits = randomF64(B * K, 31, -1, 1);
    for (const iters of [1, 3, 10]) {
      const s = sinkhornSwav(logits, B, K, { eps: 0.05, iters });
      expectClose64(`Sinkhorn, ${iters} iterations`, s.q, sinkhornDirect(logits, B, K, 0.05, iters), 1e-15, 1e-11);
    }
  });

  test('run long, it balances the clusters (marginal error → 0)', () => {
    const B = 64;
    const K = 10;
    const logits = randomF64(B * K, 32, -1, 1);
    const s = sinkhornSwav(logits, B, K, { eps: 0.05, iters: 300, trace: true });
    const errs = s.trace.map((r) => r.marginal_error);
    log(`Sinkhorn 64×10 marginal error at iterations 1, 3, 10, 30, 300: ${[0, 2, 9, 29, 299].map((n) => errs[n]!.toExponential(2)).join(', ')}`);
    expect(errs[299]!).toBeLessThan(1e-10);
  });

  test('SeLa: balanced soft assignment, hard labels, logits and probabilities agree', () => {
    const N = 300;
    const K = 7;
    const logits = randomF64(N * K, 33, -2, 2);
    const r = selaSinkhorn(logits, N, K, { input: 'logits', lambda: 10, tol: 1e-12 });
    expect(r.converged).toBe(true);
    const mean = new Float64Array(K);
    for (let i = 0; i < N * K; i++) mean[i % K]! += r.q[i]! / N;
    for (const m of mean) expect(m).toBeCloseTo(1 / K, 10);
    expectSimplexRows(r.q, N, K, 'SeLa q');
    for (let i = 0; i < N; i++) {
      const row = Array.from(r.q.subarray(i * K, (i + 1) * K));
      expect(r.labels[i]).toBe(row.indexOf(Math.max(...row)));
    }
    const p = selaSinkhorn(softmax(logits, N, K), N, K, { lambda: 10, tol: 1e-12 });
    expect(Array.from(p.labels)).toEqual(Array.from(r.labels));
    expectClose64('SeLa q from probabilities', p.q, r.q, 1e-12, 1e-10);
    const every = selaSinkhorn(logits, N, K, { input: 'logits', tol: 1e-3, checkEvery: 10 });
    expect(every.iters % 10).toBe(0);
    log(`SeLa ${N}×${K} λ 10: ${r.iters} iterations to Σ|c/c' − 1| < 1e-12, ${new Set(r.labels).size} clusters used`);
  });
});

describe('metrics', () => {
  test('entropies, MI, histogram (ties to the lowest k), used clusters, largest fraction', () => {
    const p = [0.5, 0.5, 0, 0, 1, 0, 0.2, 0.3, 0.5, 0.1, 0.8, 0.1];
    const m = assignmentMetrics(p, 4, 3);
    expect(Array.from(m.histogram)).toEqual([1, 2, 1]);
    expect(m.used_clusters).toBe(3);
    expect(m.largest_cluster_fraction).toBe(0.5);
    const H = (q: number[]) => -q.reduce((s, x) => s + (x > 0 ? x * Math.log(x) : 0), 0);
    const meanH = (H([0.5, 0.5, 0]) + H([0, 1, 0]) + H([0.2, 0.3, 0.5]) + H([0.1, 0.8, 0.1])) / 4;
    const margH = H([0.2, 0.65, 0.15]);
    expect(m.mean_entropy).toBeCloseTo(meanH, 15);
    expect(m.marginal_entropy).toBeCloseTo(margH, 15);
    expect(m.mi).toBeCloseTo(margH - meanH, 15);
    const collapsed = assignmentMetrics([0, 1, 0, 0, 1, 0], 2, 3);
    expect(collapsed).toMatchObject({ used_clusters: 1, largest_cluster_fraction: 1, mi: 0, marginal_entropy: 0 });
  });

  test('KL(p‖w): zero for equal rows, the textbook value otherwise, finite when w underflows', () => {
    const p = [0.25, 0.75, 0.5, 0.5];
    expect(klDivergence(p, p, 2, 2)).toBe(0);
    const w = [0.5, 0.5, 0.9, 0.1];
    const want = (0.25 * Math.log(0.5) + 0.75 * Math.log(1.5) + 0.5 * Math.log(0.5 / 0.9) + 0.5 * Math.log(5)) / 2;
    expect(klDivergence(p, w, 2, 2)).toBeCloseTo(want, 15);
    expect(klDivergence([0.5, 0.5], [1, 0], 1, 2)).toBeCloseTo(0.5 * Math.log(0.5) + 0.5 * (Math.log(0.5) - Math.log(KL_EPS)), 12);
  });
});

describe('swapped-prediction loss', () => {
  const B = 6;
  const K = 5;
  const tauS = 0.1;
  const q1 = randomF64(B * K, 41, -1, 1);
  const q2 = randomF64(B * K, 42, -1, 1);
  const w1 = softmax(randomF64(B * K, 43, -3, 3), B, K);
  const w2 = softmax(randomF64(B * K, 44, -3, 3), B, K);

  test('gradients match finite differences; L = ½[CE(w1, q2) + CE(w2, q1)]', () => {
    const r = swappedLoss(q1, q2, w1, w2, B, K, tauS);
    const ce = (w: Float64Array, q: Float64Array) => {
      const ls = logSoftmax(q, B, K, tauS);
      let s = 0;
      for (let i = 0; i < B * K; i++) s -= w[i]! * ls[i]!;
      return s / B;
    };
    expect(r.loss).toBeCloseTo(0.5 * (ce(w1, q2) + ce(w2, q1)), 14);
    expect(crossEntropy(w1, q2, B, K, tauS).loss).toBeCloseTo(ce(w1, q2), 14);
    const rep = expectGradientsMatch(
      { loss: () => swappedLoss(q1, q2, w1, w2, B, K, tauS).loss, inputs: { q1, q2 }, grads: { q1: r.grad1, q2: r.grad2 } },
      { h: 1e-6, atol: 1e-9, rtol: 1e-6 },
    );
    log(`swapped loss gradient check: ${rep.message}`);
    // Targets on the simplex: every gradient row sums to 0.
    for (let i = 0; i < B; i++) expect(r.grad1.subarray(i * K, (i + 1) * K).reduce((s, x) => s + x, 0)).toBeCloseTo(0, 14);
  });

  test('multi-crop: finite differences, weight 1/(2(V−1)) per term, two crops = swapped loss', () => {
    const l1 = randomF64(B * K, 45, -1, 1);
    const l2 = randomF64(B * K, 46, -1, 1);
    const r = multiCropLoss([w1, w2], [q1, q2, l1, l2], B, K, tauS);
    const ce = (w: Float64Array, q: Float64Array) => crossEntropy(w, q, B, K, tauS).loss;
    const want = (ce(w2, q1) + ce(w1, q2) + ce(w1, l1) + ce(w2, l1) + ce(w1, l2) + ce(w2, l2)) / 6;
    expect(r.loss).toBeCloseTo(want, 14);
    expectGradientsMatch(
      {
        loss: () => multiCropLoss([w1, w2], [q1, q2, l1, l2], B, K, tauS).loss,
        inputs: { q1, q2, l1, l2 },
        grads: { q1: r.grads[0]!, q2: r.grads[1]!, l1: r.grads[2]!, l2: r.grads[3]! },
      },
      { h: 1e-6, atol: 1e-9, rtol: 1e-6 },
    );
    const two = multiCropLoss([w1, w2], [q1, q2], B, K, tauS);
    const sw = swappedLoss(q1, q2, w1, w2, B, K, tauS);
    expect(two.loss).toBe(sw.loss);
    expect(Array.from(two.grads[0]!)).toEqual(Array.from(sw.grad1));
  });
});

describe('golden values from PyTorch / NumPy (scripts/fixtures/make_mira_fixture.py)', () => {
  const load = (name: string): { data: Float64Array; shape: number[] } => {
    const bytes = new Uint8Array(readFileSync(new URL(`./fixtures/mira_64x10/${name}.npy`, import.meta.url)));
    const a = parseNpy(bytes, `${name}.npy`);
    const data = a.data instanceof Float64Array ? a.data : Float64Array.from(a.data as ArrayLike<number>);
    return { data, shape: a.shape };
  };
  const f = (name: string) => load(name).data;
  const [tau, beta, iters, tauS, eps, skIters, tauB, betaB, itersB] = Array.from(f('params'));
  const B = 64;
  const K = 10;

  test('MIRA targets and v (official direct form) to 1e-10', () => {
    expect(load('teacher1').shape).toEqual([B, K]);
    for (const v of ['1', '2']) {
      const r = miraSolve(f(`teacher${v}`), B, K, { tau, beta, iters });
      expect(maxAbsDiff(r.w, f(`targets${v}`))).toBeLessThan(1e-10);
      expect(maxAbsDiff(r.v, f(`v${v}`))).toBeLessThan(1e-10);
    }
    const rb = miraSolve(f('teacher1'), B, K, { tau: tauB, beta: betaB, iters: itersB });
    const d = maxAbsDiff(rb.w, f('targets_b'));
    log(`PyTorch MIRA fixture: max |Δw| ${maxAbsDiff(miraSolve(f('teacher1'), B, K, { tau, beta, iters }).w, f('targets1')).toExponential(2)} (τ ${tau}, β ${beta}, ${iters} it), ${d.toExponential(2)} (τ ${tauB}, β ${betaB}, ${itersB} it)`);
    expect(d).toBeLessThan(1e-10);
    expect(maxAbsDiff(rb.v, f('v_b'))).toBeLessThan(1e-10);
  });

  test('swapped and multi-crop losses and their autograd gradients to 1e-10', () => {
    const w1 = f('targets1');
    const w2 = f('targets2');
    const r = swappedLoss(f('student1'), f('student2'), w1, w2, B, K, tauS);
    expect(Math.abs(r.loss - f('swapped_loss')[0]!)).toBeLessThan(1e-10);
    expect(maxAbsDiff(r.grad1, f('swapped_grad1'))).toBeLessThan(1e-10);
    expect(maxAbsDiff(r.grad2, f('swapped_grad2'))).toBeLessThan(1e-10);
    const mc = multiCropLoss([w1, w2], [f('student1'), f('student2'), f('local1'), f('local2')], B, K, tauS);
    expect(Math.abs(mc.loss - f('multicrop_loss')[0]!)).toBeLessThan(1e-10);
    mc.grads.forEach((g, c) => expect(maxAbsDiff(g, f(`multicrop_grad${c + 1}`)), `crop ${c + 1}`).toBeLessThan(1e-10));
    log(`PyTorch loss fixture: swapped ${r.loss.toFixed(12)} vs ${f('swapped_loss')[0]!.toFixed(12)}, multi-crop ${mc.loss.toFixed(12)} vs ${f('multicrop_loss')[0]!.toFixed(12)}`);
  });

  test('SwAV Sinkhorn-Knopp (distributed_sinkhorn) to 1e-10; SeLa labels', () => {
    for (const v of ['1', '2']) {
      const s = sinkhornSwav(f(`teacher${v}`), B, K, { eps, iters: skIters });
      expect(maxAbsDiff(s.q, f(`sinkhorn${v}`))).toBeLessThan(1e-10);
    }
    const probs = load('sela_probs');
    const [N, Ks] = probs.shape as [number, number];
    const r = selaSinkhorn(probs.data, N, Ks, { lambda: 10, tol: 1e-12 });
    expect(Array.from(r.labels)).toEqual(Array.from(f('sela_labels')));
    expect(maxAbsDiff(r.q, f('sela_q'))).toBeLessThan(1e-9);
  });
});

describe('bad arguments are refused', () => {
  const x = randomF64(6, 1);
  test.each([
    ['β = 1', () => miraSolve(x, 2, 3, { beta: 1 }), /β must lie strictly between 0 and 1/],
    ['τ = 0', () => miraSolve(x, 2, 3, { tau: 0 }), /τ must be a finite number > 0/],
    ['iterations −1', () => miraSolve(x, 2, 3, { iters: -1 }), /iterations must be an integer ≥ 0/],
    ['length', () => miraSolve(x, 2, 4), /hold 6 values, expected 2×4 = 8/],
    ['K = 1', () => sinkhornSwav(x, 6, 1), /K must be an integer ≥ 2/],
    ['NaN', () => sinkhornSwav([0, NaN, 1, 2], 2, 2), /logits\[0\]\[1\] = NaN is not finite/],
    ['ε = 0', () => sinkhornSwav(x, 2, 3, { eps: 0 }), /ε must be a finite number > 0/],
    ['negative probability', () => selaSinkhorn([0.5, 0.5, -0.1, 1.1], 2, 2), /negative/],
    ['one crop', () => multiCropLoss([x, x], [x], 2, 3), /at least the two global crops/],
  ] as const)('%s', (_name, f, msg) => {
    expect(f).toThrow(RangeError);
    expect(f).toThrow(msg);
  });
});
