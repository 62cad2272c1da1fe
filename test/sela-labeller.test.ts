// SeLa's whole-dataset label optimisation on the GPU (src/mira/sela-labeller.ts) against the
// float64 reference (src/ref/sela-labels.ts → SeLa's official loop): the same iteration count
// and the same labels except where the float64 winner and runner-up nearly tie; N not a
// multiple of K, K = 2, a bank split across many buffers by a small artificial chunk limit
// ("at the limit"), and N = 1 000 003 rows streamed at K = 4. Also the balanced initial labels,
// the statistics and the input checks.
import { describe, expect, test } from 'vitest';
import { SelaLabeller, balancedRandomLabels, balancedRounding, labelStats, planSelaBank, type SelaOptimiseOptions } from '../src/mira/sela-labeller.ts';
import { selaLabels } from '../src/ref/sela-labels.ts';
import { makeClusteredLogits } from '../src/ref/synthetic.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { ParamError } from '../src/mira/validate.ts';
import { randomArray, testGpu } from './helpers/gpu.ts';

/** Labels must agree wherever the float64 margin (winner − runner-up of log P + log r) is ≥ `tie`. */
function compareLabels(got: ArrayLike<number>, ref: { labels: ArrayLike<number>; margin: ArrayLike<number> }, tie: number) {
  let differ = 0;
  let forgiven = 0;
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    if (got[i] === ref.labels[i]) continue;
    differ++;
    if (ref.margin[i]! < tie) forgiven++;
    worst = Math.max(worst, ref.margin[i]!);
  }
  return { differ, forgiven, unforgiven: differ - forgiven, worstMargin: worst };
}

async function gpuLabels(logits: Float32Array, N: number, K: number, o: SelaOptimiseOptions & { T?: number; maxChunkBytes?: number }) {
  const ctx = await testGpu();
  const lab = await SelaLabeller.create(ctx, { N, K }, { maxChunkBytes: o.maxChunkBytes });
  lab.setTemperature(o.T ?? 1);
  await lab.uploadLogits(logits);
  const r = await lab.optimise(o);
  return { lab, r };
}

describe('SeLa label optimisation: GPU vs float64', () => {
  const CASES: [string, number, number, number, number][] = [
    // name, N, K, T, λ
    ['N multiple of K', 1000, 10, 1, 10],
    ['N not a multiple of K', 1001, 7, 1, 10],
    ['K = 2', 37, 2, 1, 10],
    ['K = 129, T = 0.1 (cosine logits)', 2003, 129, 0.1, 10],
    ['λ = 1', 500, 13, 1, 1],
  ];
  test.each(CASES)('%s: N=%i K=%i T=%f λ=%f', async (_name, N, K, T, lambda) => {
    const logits = K > 100 ? randomArray(N * K, N + K, -1, 1) : makeClusteredLogits(N, K, N + K, { clusters: Math.max(2, K - 2), imbalance: 0.4 });
    const opts = { lambda, tol: 0.1, checkEvery: 1 };
    const { lab, r } = await gpuLabels(logits, N, K, { ...opts, T });
    const ref = selaLabels(logits, N, K, { ...opts, temperature: T });
    const cmp = compareLabels(r.labels, ref, 1e-6);
    console.log(
      `SeLa labels ${N}×${K} T=${T} λ=${lambda}: ${r.iters} iterations (float64 ${ref.iters}), change ${r.change.toExponential(2)} (float64 ${ref.change.toExponential(2)}), ` +
        `marginal error ${r.marginalError.toExponential(2)}, largest class ${r.largestOverMean.toFixed(3)}×N/K, ${cmp.differ} labels differ (${cmp.forgiven} within 1e-6 ties), ${r.ms.toFixed(0)} ms`,
    );
    expect(r.iters).toBe(ref.iters);
    expect(r.converged).toBe(true);
    expect(cmp.unforgiven).toBe(0);
    expect(r.histogram.reduce((a, b) => a + b, 0)).toBe(N);
    lab.destroy();
  });

  test('the change measure and marginal error at every iteration, from the first, track float64', async () => {
    const N = 777;
    const K = 9;
    const logits = makeClusteredLogits(N, K, 5, { clusters: 5, imbalance: 0.4 });
    const { lab, r } = await gpuLabels(logits, N, K, { lambda: 10, tol: 1e-30, checkEvery: 1, maxIters: 8 });
    const got = r.checks.map(([, c]) => c);
    const refs = [1, 2, 3, 4, 5, 6, 7, 8].map((t) => selaLabels(logits, N, K, { lambda: 10, tol: 1e-30, checkEvery: 1, maxIters: t }));
    const want = refs.map((x) => x.change);
    console.log(`SeLa change per iteration: GPU ${got.map((x) => x.toExponential(3)).join(' ')}; float64 ${want.map((x) => x.toExponential(3)).join(' ')}`);
    expect(r.checks.map(([t]) => t)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (let t = 0; t < 8; t++) expect(Math.abs(got[t]! - want[t]!)).toBeLessThan(1e-4 * want[t]! + 1e-4);
    console.log(`SeLa marginal error after 8 iterations: GPU ${r.marginalError.toExponential(4)}, float64 ${refs[7]!.marginalError.toExponential(4)}`);
    expect(Math.abs(r.marginalError - refs[7]!.marginalError)).toBeLessThan(1e-3 * refs[7]!.marginalError + 1e-6);
    lab.destroy();
  });

  test('at the limit: a bank over one buffer\'s (artificial) limit is split into many chunks and still agrees', async () => {
    const N = 3001;
    const K = 33;
    const logits = makeClusteredLogits(N, K, 77, { clusters: 20, imbalance: 0.5 });
    const limit = 16 * 1024; // 124 rows of 33 f32 per chunk → 25 chunks
    const opts = { lambda: 10, tol: 0.1, checkEvery: 10 };
    const { lab, r } = await gpuLabels(logits, N, K, { ...opts, maxChunkBytes: limit });
    expect(lab.plan.limitName).toBe('maxChunkBytes');
    expect(lab.plan.bankBytes).toBeGreaterThan(limit);
    expect(lab.chunkCount).toBe(Math.ceil(N / Math.floor(limit / (K * 4))));
    const ref = selaLabels(logits, N, K, opts);
    const cmp = compareLabels(r.labels, ref, 1e-6);
    console.log(`SeLa at the limit: ${N}×${K} in ${lab.chunkCount} chunks of ≤ ${limit} bytes: ${r.iters} iterations (float64 ${ref.iters}), ${cmp.differ} labels differ (${cmp.forgiven} within ties)`);
    expect(r.iters).toBe(ref.iters);
    expect(cmp.unforgiven).toBe(0);
    lab.destroy();
  });

  test('the device limits set the chunking: 60 000 × 3000 under 128 MiB bindings', () => {
    const p = planSelaBank({ maxStorageBufferBindingSize: 134217728, maxBufferSize: 268435456, maxComputeWorkgroupsPerDimension: 65535 }, 60000, 3000);
    expect(p.limitName).toBe('maxStorageBufferBindingSize');
    expect(p.chunks.length).toBe(6);
    expect(p.rowsPerChunk * 3000 * 4).toBeLessThanOrEqual(134217728);
    expect(p.chunks.reduce((s, c) => s + c.rows, 0)).toBe(60000);
    // Rows per chunk are also capped by 65535 workgroups of 8 rows.
    expect(planSelaBank({ maxStorageBufferBindingSize: 2 ** 31, maxBufferSize: 2 ** 31, maxComputeWorkgroupsPerDimension: 65535 }, 1_000_003, 4).rowsPerChunk).toBe(65535 * 8);
    expect(() => planSelaBank({ maxStorageBufferBindingSize: 1024, maxBufferSize: 1024, maxComputeWorkgroupsPerDimension: 65535 }, 1000, 300)).toThrow(/one row of K = 300 f32 \(1200 bytes\) is over/);
  });

  test('N = 1 000 003 rows streamed at K = 4 across chunks: float64 labels and equipartition', async () => {
    const N = 1_000_003;
    const K = 4;
    const logits = makeClusteredLogits(N, K, 1234, { clusters: 3, imbalance: 0.5 });
    // SeLa's tolerance and check interval.
    const opts = { lambda: 10, tol: 0.1, checkEvery: 10 };
    const t0 = performance.now();
    const { lab, r } = await gpuLabels(logits, N, K, { ...opts, maxChunkBytes: 4 << 20 });
    const gpuMs = performance.now() - t0;
    const ref = selaLabels(logits, N, K, opts);
    const cmp = compareLabels(r.labels, ref, 1e-6);
    const refSizes = labelStats(ref.labels, K);
    console.log(
      `SeLa ${N}×${K} in ${lab.chunkCount} chunks: ${r.iters} iterations, change ${r.change.toExponential(2)} (float64 ${ref.change.toExponential(2)}), marginal error ${r.marginalError.toExponential(2)}, ` +
        `largest class ${r.largestOverMean.toFixed(4)}×N/K (float64 ${refSizes.largestOverMean.toFixed(4)}), ${cmp.differ} labels differ (${cmp.forgiven} within 1e-6 ties, worst margin ${cmp.worstMargin.toExponential(2)}), GPU ${gpuMs.toFixed(0)} ms`,
    );
    expect(lab.chunkCount).toBeGreaterThanOrEqual(4);
    expect(r.iters).toBe(ref.iters);
    expect(r.converged).toBe(true);
    expect(cmp.unforgiven).toBe(0);
    // SeLa's tolerance is loose: the argmax classes of 3 true clusters spread over K = 4 stay
    // unequal (float64 alike); the bound is 1.5 × N/K.
    expect(r.largestOverMean).toBeLessThan(1.5);
    expect(r.largestOverMean).toBeCloseTo(refSizes.largestOverMean, 3);
    lab.destroy();
  }, 300_000);
});

describe('SeLa balanced rounding on the GPU: the bank never leaves it', () => {
  /** Labels of the GPU's balanced rounding vs the float64 rounding of the same (read back) scores; the cap holds exactly. */
  async function balancedCase(N: number, K: number, T: number, seed: number, maxChunkBytes?: number, withArgmax = true) {
    const logits = randomArray(N * K, seed, -1, 1);
    const { lab, r } = await gpuLabels(logits, N, K, { lambda: 10, tol: 0.1, checkEvery: 10, T, maxChunkBytes, rounding: 'balanced' });
    const argmax = withArgmax ? labelStats((await gpuLabels(logits, N, K, { lambda: 10, tol: 0.1, checkEvery: 10, T, maxChunkBytes })).r.labels, K) : null;
    const want = await balancedRounding(await lab.readScores(), N, K);
    let differ = 0;
    for (let i = 0; i < N; i++) differ += r.labels[i] !== want[i] ? 1 : 0;
    const cap = Math.ceil(N / K);
    expect(Math.max(...r.histogram)).toBeLessThanOrEqual(cap);
    expect(Math.max(...labelStats(want, K).histogram)).toBeLessThanOrEqual(cap);
    return { lab, r, differ, argmaxLargest: argmax?.largestOverMean ?? NaN, cap };
  }

  test('odd shape, rows that all fill up (flat p at T = 1): GPU candidates + masked passes = float64 rounding', async () => {
    const N = 1001;
    const K = 37;
    const { lab, r, differ, argmaxLargest } = await balancedCase(N, K, 1, 31, 16 * 1024);
    console.log(`SeLa balanced ${N}×${K} in ${lab.chunkCount} chunks: largest class ${r.largestOverMean.toFixed(3)}×N/K (argmax ${argmaxLargest.toFixed(3)}), ${r.rounding.leftover} rows past their candidates in ${r.rounding.rounds} masked rounds, ${differ} labels differ from the float64 rounding`);
    expect(lab.chunkCount).toBeGreaterThan(1);
    expect(r.rounding.leftover).toBeGreaterThan(0);
    expect(argmaxLargest).toBeGreaterThan(r.largestOverMean);
    // f32 vs float64 log-probabilities can swap the greedy order of near-equal candidates.
    expect(differ).toBeLessThanOrEqual(Math.ceil(0.002 * N));
    lab.destroy();
  }, 300_000);

  test('at the page limit: N × K = 3000 classes in chunks of ≤ 128 MiB (the default maxStorageBufferBindingSize), balanced, no bank readback', async () => {
    // 60 000 × 3000 (720 MB) is planned in 6 chunks above; here the GPU run at a reduced N = 12 000 (144 MB: 2 chunks of ≤ 128 MiB) that lavapipe affords.
    const N = 12_000;
    const K = 3000;
    const t0 = performance.now();
    const { lab, r, differ, cap } = await balancedCase(N, K, 0.1, 5, 128 * 2 ** 20, false);
    expect(lab.chunkCount).toBe(2);
    expect(lab.plan.rowsPerChunk * K * 4).toBeLessThanOrEqual(128 * 2 ** 20);
    console.log(`SeLa balanced ${N}×${K} (${(lab.plan.bankBytes / 2 ** 20).toFixed(0)} MiB in ${lab.chunkCount} chunks): ${r.iters} iterations, largest class ${Math.max(...r.histogram)} ≤ ${cap}, ${differ} labels differ from float64, ${(performance.now() - t0).toFixed(0)} ms`);
    expect(differ).toBeLessThanOrEqual(Math.ceil(0.002 * N));
    lab.destroy();
  }, 900_000);
});

describe('SeLa labels: initialisation, statistics, checks', () => {
  test('balanced random labels: every class ⌊N/K⌋ or ⌈N/K⌉, seeded, per head', () => {
    for (const [N, K] of [
      [60000, 128],
      [1001, 7],
      [5, 2],
      [10, 10],
    ] as const) {
      const y = balancedRandomLabels(N, K, 42);
      const { histogram } = labelStats(y, K);
      for (const c of histogram) expect([Math.floor(N / K), Math.ceil(N / K)]).toContain(c);
    }
    const a = balancedRandomLabels(1000, 10, 1);
    expect(balancedRandomLabels(1000, 10, 1)).toEqual(a);
    const other = [balancedRandomLabels(1000, 10, 2), balancedRandomLabels(1000, 10, 1, 1)];
    for (const b of other) {
      let same = 0;
      for (let i = 0; i < 1000; i++) same += a[i] === b[i] ? 1 : 0;
      expect(same).toBeLessThan(200); // independent streams agree on ≈ 1/K of the images
    }
    expect(() => balancedRandomLabels(5, 6, 0)).toThrow(/K = 6 classes for N = 5 images/);
  });

  test('statistics: churn, NMI and purity against the true classes', () => {
    const truth = Uint32Array.from({ length: 100 }, (_, i) => i % 4);
    const s = labelStats(truth, 4, Uint32Array.from(truth, (t, i) => (i < 10 ? (t + 1) % 4 : t)), truth);
    expect(s.changedFraction).toBeCloseTo(0.1, 12);
    expect(s.nmi).toBeCloseTo(1, 12);
    expect(s.purity).toBe(1);
    expect(s.largestOverMean).toBe(1);
  });

  test('checks: K > N, λ ≤ 0, an unfilled bank, logits of the wrong width', async () => {
    const ctx = await testGpu();
    await expect(SelaLabeller.create(ctx, { N: 3, K: 4 })).rejects.toThrow(ShapeError);
    const lab = await SelaLabeller.create(ctx, { N: 20, K: 4 }, { maxChunkBytes: 160 });
    await lab.uploadLogits(randomArray(10 * 4, 1), 0);
    await expect(lab.optimise()).rejects.toThrow(/chunk 1 \(rows 10…\) was never written/);
    await lab.uploadLogits(randomArray(10 * 4, 2), 10);
    await expect(lab.optimise({ lambda: 0 })).rejects.toThrow(ParamError);
    await expect(lab.optimise({ lambda: -1 })).rejects.toThrow(/λ \(--sela-lambda\) must be a finite number > 0/);
    await expect(lab.uploadLogits(randomArray(15, 3))).rejects.toThrow(/not whole rows of K = 4/);
    await expect(lab.uploadLogits(randomArray(8, 3), 19)).rejects.toThrow(/outside the bank's N = 20/);
    await expect(lab.optimise({ previous: new Uint32Array(19) })).rejects.toThrow(/19 previous labels for N = 20/);
    const r = await lab.optimise({ checkEvery: 1 });
    expect(r.labels.length).toBe(20);
    lab.destroy();
  });
});

describe('SeLa label table files', () => {
  test('checkSelaLabelTable: shape, length, dtype and range, naming the file', async () => {
    const { checkSelaLabelTable } = await import('../src/mira/sela-labeller.ts');
    const y = Uint32Array.from({ length: 12 }, (_, i) => i % 4);
    expect(Array.from(checkSelaLabelTable({ dtype: 'uint32', shape: [6, 2], data: y }, 'labels.npy', { N: 6, K: 4, H: 2 }))).toEqual(Array.from(y));
    expect(checkSelaLabelTable({ dtype: 'int64', shape: [12], data: Array.from(y, BigInt) }, 'y.npy', { N: 12, K: 4 }).length).toBe(12);
    expect(() => checkSelaLabelTable({ dtype: 'uint32', shape: [12], data: y }, 'y.npy', { N: 11, K: 4 })).toThrow(/y\.npy: 12 rows of labels for N = 11 training images/);
    expect(() => checkSelaLabelTable({ dtype: 'uint32', shape: [12], data: y }, 'y.npy', { N: 12, K: 3 })).toThrow(/y\.npy: label of image 3 is 3, not a class in \[0, 3\)/);
    expect(() => checkSelaLabelTable({ dtype: 'uint32', shape: [6, 2], data: y }, 'labels.npy', { N: 6, K: 4, H: 3 })).toThrow(/labels\.npy: labels of shape \[6, 2\]; expected \[6, 3\]/);
    expect(() => checkSelaLabelTable({ dtype: 'float32', shape: [12], data: y }, 'y.npy', { N: 12, K: 4 })).toThrow(/y\.npy: labels must be integers/);
    expect(() => checkSelaLabelTable({ dtype: 'int32', shape: [2, 2], data: [0, 1, -1, 2] }, 'y.npy', { N: 2, K: 4, H: 2 })).toThrow(/label of image 1, head 0 is -1/);
  });
});
