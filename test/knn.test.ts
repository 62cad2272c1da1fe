// Weighted kNN on the GPU (src/mira/knn.ts + src/shaders/knn.wgsl) against the float64
// reference (src/ref/knn.ts): identical predictions on random features built without near-ties
// (no top-k boundary and no vote margin within reach of float32 rounding), several chunks and a
// partial last chunk; exact ties broken by the lower bank index; clustered features near 100 %,
// random ones near chance; the record/read split; the checks that run before any dispatch; and
// the deterministic choice of evaluation subsets.
import { describe, expect, test } from 'vitest';
import type { GpuContext } from '../src/gpu/context.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { submitChecked } from '../src/gpu/kernel.ts';
import { readTensor, uploadTensor, writeTensor } from '../src/gpu/tensor.ts';
import { chooseEvalIndices, KnnEvaluator, knnKey, type KnnShape } from '../src/mira/knn.ts';
import { knnReference, type KnnRefResult } from '../src/ref/knn.ts';
import { seededRandom, testGpu } from './helpers/gpu.ts';

function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

function randomLabels(n: number, classes: number, seed: number): Uint32Array {
  const r = seededRandom(seed);
  return Uint32Array.from({ length: n }, () => Math.floor(r() * classes));
}

/** Queries whose top-k boundary (for any k) or best-vs-second vote lies within reach of f32. */
function nearTies(ref: KnnRefResult, ks: readonly number[], classes: number, nq: number, bankSize: number): number[] {
  const bad = new Set<number>();
  for (let q = 0; q < nq; q++) {
    const s = ref.topSims[q]!;
    for (const k of ks) if (k < bankSize && Math.abs(s[k - 1]! - s[k]!) < 1e-5) bad.add(q);
    for (const key of ref.keys) {
      const v = Array.from(ref.votes[key]!.subarray(q * classes, (q + 1) * classes)).sort((a, b) => b - a);
      if (v.length > 1 && v[0]! - v[1]! < 1e-4 * v[0]!) bad.add(q);
    }
  }
  return [...bad];
}

async function runGpu(ctx: GpuContext, shape: KnnShape, bank: Float32Array, bankLabels: Uint32Array, query: Float32Array, queryLabels: Uint32Array) {
  const ev = await KnnEvaluator.create(ctx, shape);
  const B = uploadTensor(ctx, bank, [shape.bankSize, shape.dim], 'bank');
  const BL = uploadTensor(ctx, bankLabels, [shape.bankSize], 'bank_labels');
  const Q = uploadTensor(ctx, query, [shape.querySize, shape.dim], 'query');
  const QL = uploadTensor(ctx, queryLabels, [shape.querySize], 'query_labels');
  const result = await ev.evaluate(B, BL, Q, QL);
  const preds = (await readTensor(ctx, ev.predictions)) as Uint32Array;
  for (const t of [B, BL, Q, QL]) t.buffer.destroy();
  return { ev, result, preds };
}

describe('knn vs float64 reference', () => {
  test.each([
    // bank, queries, dim, classes, chunk
    [300, 64, 30, 10, 24],
    [700, 40, 64, 7, undefined],
  ])('bank %i, %i queries, D %i, %i classes, chunk %s: identical predictions', async (nb, nq, dim, classes, chunk) => {
    const ctx = await testGpu();
    const ks = nb >= 600 ? [1, 20, 200, 600] : [1, 20, 200];
    const temperatures = [0.07, 0.1, 0.5];
    const rand = seededRandom(nb * 7 + nq);
    const bank = Float32Array.from({ length: nb * dim }, () => gaussian(rand));
    // Some bank rows far from unit length, one zero row: normalisation must not matter.
    for (let d = 0; d < dim; d++) {
      bank[3 * dim + d] = bank[3 * dim + d]! * 1e3;
      bank[5 * dim + d] = bank[5 * dim + d]! * 1e-3;
      bank[7 * dim + d] = 0;
    }
    const query = Float32Array.from({ length: nq * dim }, () => gaussian(rand));
    const bankLabels = randomLabels(nb, classes, 11);
    const queryLabels = randomLabels(nq, classes, 12);
    const opts = { dim, classes, ks, temperatures };
    // Redraw queries that sit on a near-tie until none do.
    let ref = knnReference(bank, bankLabels, query, queryLabels, opts);
    for (let round = 0; round < 50; round++) {
      const bad = nearTies(ref, ks, classes, nq, nb);
      if (bad.length === 0) break;
      for (const q of bad) for (let d = 0; d < dim; d++) query[q * dim + d] = gaussian(rand);
      ref = knnReference(bank, bankLabels, query, queryLabels, opts);
    }
    expect(nearTies(ref, ks, classes, nq, nb)).toEqual([]);

    const { ev, result, preds } = await runGpu(ctx, { bankSize: nb, querySize: nq, dim, classes, ks, temperatures, queryChunk: chunk }, bank, bankLabels, query, queryLabels);
    if (chunk) expect(ev.chunks).toBe(Math.ceil(nq / chunk));
    expect(ev.keys).toEqual(ref.keys);
    ev.keys.forEach((key, p) => {
      const got = preds.subarray(p * nq, (p + 1) * nq);
      const mismatch = Array.from(got).findIndex((g, q) => g !== ref.predictions[key]![q]);
      expect(mismatch, `${key}: first differing query ${mismatch}`).toBe(-1);
      expect(result.top1[key]).toBeCloseTo(ref.top1[key]!, 10);
    });
    expect(result.headline).toBe('k20_t0.07');
    expect(result.top1_k20).toBe(result.top1['k20_t0.07']);
    expect(result.queries).toBe(nq);
    ev.destroy();
  });

  test('exact ties go to the lower bank index; vote ties to the lower class', async () => {
    const ctx = await testGpu();
    const dim = 8;
    const nb = 600;
    const v = Float32Array.from({ length: dim }, (_, d) => (d % 3) - 0.7);
    // Every bank row is the same vector (all similarities equal): the top 10 are rows 0…9.
    const bank = new Float32Array(nb * dim);
    for (let j = 0; j < nb; j++) bank.set(v, j * dim);
    const bankLabels = Uint32Array.from({ length: nb }, (_, j) => (j < 10 ? 3 : 1));
    // Query 0: k = 10 → all class 3; k = 20 → 10 votes each for 3 and 1 → the lower class, 1.
    // Query 1: the opposite vector, same ties.
    const query = new Float32Array(2 * dim);
    query.set(v, 0);
    query.set(v.map((x) => -2 * x), dim);
    const queryLabels = Uint32Array.from([3, 1]);
    const ks = [10, 20];
    const { ev, result, preds } = await runGpu(ctx, { bankSize: nb, querySize: 2, dim, classes: 5, ks, temperatures: [0.1] }, bank, bankLabels, query, queryLabels);
    expect(Array.from(preds)).toEqual([3, 3, 1, 1]);
    expect(result.top1).toEqual({ 'k10_t0.1': 50, 'k20_t0.1': 50 });
    const ref = knnReference(bank, bankLabels, query, queryLabels, { dim, classes: 5, ks, temperatures: [0.1] });
    expect(Array.from(ref.predictions['k10_t0.1']!)).toEqual([3, 3]);
    expect(Array.from(ref.predictions['k20_t0.1']!)).toEqual([1, 1]);
    ev.destroy();
  });

  test('ties at the boundary mixed with larger values; k = bank size', async () => {
    const ctx = await testGpu();
    const dim = 4;
    const nb = 40;
    // Rows j: angle-coded so that similarity to e0 takes few distinct values with many repeats.
    const levels = [0.9, 0.5, 0.5, 0.5, 0.1];
    const bank = new Float32Array(nb * dim);
    const bankLabels = new Uint32Array(nb);
    for (let j = 0; j < nb; j++) {
      const c = levels[j % levels.length]!;
      bank[j * dim] = c;
      bank[j * dim + 1] = Math.sqrt(1 - c * c);
      bankLabels[j] = (j * 7) % 4;
    }
    const query = Float32Array.from([1, 0, 0, 0]);
    const ks = [3, 9, 10, 40];
    const temperatures = [0.07];
    const { ev, preds } = await runGpu(ctx, { bankSize: nb, querySize: 1, dim, classes: 4, ks, temperatures }, bank, bankLabels, query, Uint32Array.from([0]));
    const ref = knnReference(bank, bankLabels, query, Uint32Array.from([0]), { dim, classes: 4, ks, temperatures });
    expect(Array.from(preds)).toEqual(ref.keys.map((k) => ref.predictions[k]![0]));
    ev.destroy();
  });
});

describe('knn accuracy', () => {
  test('clustered features near 100 %, random features near chance', async () => {
    const ctx = await testGpu();
    const dim = 64;
    const classes = 10;
    const nb = 1000;
    const nq = 200;
    const rand = seededRandom(99);
    const centres = Float32Array.from({ length: classes * dim }, () => gaussian(rand));
    const sample = (labels: Uint32Array, noise: number) => {
      const x = new Float32Array(labels.length * dim);
      for (let i = 0; i < labels.length; i++) for (let d = 0; d < dim; d++) x[i * dim + d] = centres[labels[i]! * dim + d]! + noise * gaussian(rand);
      return x;
    };
    const bl = randomLabels(nb, classes, 1);
    const ql = randomLabels(nq, classes, 2);
    const shape = { bankSize: nb, querySize: nq, dim, classes, ks: [20, 200], temperatures: [0.07, 0.1], queryChunk: 64 };
    const clustered = await runGpu(ctx, shape, sample(bl, 0.5), bl, sample(ql, 0.5), ql);
    expect(Object.keys(clustered.result.top1).sort()).toEqual(['k200_t0.07', 'k200_t0.1', 'k20_t0.07', 'k20_t0.1']);
    for (const v of Object.values(clustered.result.top1)) expect(v).toBeGreaterThanOrEqual(98);
    // Random features: the labels carry no information.
    const noise = Float32Array.from({ length: nb * dim }, () => gaussian(rand));
    const qnoise = Float32Array.from({ length: nq * dim }, () => gaussian(rand));
    const random = await runGpu(ctx, shape, noise, bl, qnoise, ql);
    for (const v of Object.values(random.result.top1)) {
      expect(v).toBeGreaterThan(2);
      expect(v).toBeLessThan(22);
    }
    clustered.ev.destroy();
    random.ev.destroy();
  });

  test('record into the caller encoder, then read(); bound once, evaluated twice', async () => {
    const ctx = await testGpu();
    const dim = 16;
    const nb = 120;
    const nq = 50;
    const rand = seededRandom(5);
    const bank = Float32Array.from({ length: nb * dim }, () => gaussian(rand));
    const query = Float32Array.from({ length: nq * dim }, () => gaussian(rand));
    const bl = randomLabels(nb, 3, 7);
    const ql = randomLabels(nq, 3, 8);
    const ev = await KnnEvaluator.create(ctx, { bankSize: nb, querySize: nq, dim, classes: 3, ks: [20], temperatures: [0.07], queryChunk: 16 });
    const B = uploadTensor(ctx, bank, [nb, dim], 'bank');
    const BL = uploadTensor(ctx, bl, [nb], 'bl');
    const Q = uploadTensor(ctx, query, [nq, dim], 'q');
    const QL = uploadTensor(ctx, ql, [nq], 'ql');
    const expected = await ev.evaluate(B, BL, Q, QL);
    await expect(ev.read()).rejects.toThrow(/read\(\) before record\(\)/);
    ev.bind(B, BL, Q, QL);
    for (let i = 0; i < 2; i++) {
      const enc = ctx.device.createCommandEncoder({ label: 'step' });
      ev.record(enc);
      ctx.device.queue.submit([enc.finish()]);
      const got = await ev.read();
      expect(got).toEqual(expected);
    }
    ev.destroy();
  });
});

describe('knn input checks (before any dispatch)', () => {
  const dim = 8;
  const nb = 30;
  const nq = 6;

  test('k larger than the bank, bad k and T', async () => {
    const ctx = await testGpu();
    const base = { bankSize: nb, querySize: nq, dim, classes: 3, temperatures: [0.1] };
    await expect(KnnEvaluator.create(ctx, { ...base, ks: [20, 31] })).rejects.toThrow(/k = 31 exceeds the bank size 30/);
    await expect(KnnEvaluator.create(ctx, { ...base, ks: [2.5] })).rejects.toThrow(ShapeError);
    await expect(KnnEvaluator.create(ctx, { ...base, ks: [] })).rejects.toThrow(/at least one k/);
    await expect(KnnEvaluator.create(ctx, { ...base, ks: [5], temperatures: [0] })).rejects.toThrow(/temperature must be a finite number > 0/);
    await expect(KnnEvaluator.create(ctx, { ...base, ks: [5, 5] })).rejects.toThrow(/duplicates/);
  });

  test('dimension mismatch, wrong dtypes, labels ≥ classes', async () => {
    const ctx = await testGpu();
    const ev = await KnnEvaluator.create(ctx, { bankSize: nb, querySize: nq, dim, classes: 3, ks: [5], temperatures: [0.1] });
    const sentinel = new Uint32Array(nq).fill(0xdeadbeef);
    writeTensor(ctx, ev.predictions, sentinel);
    const B = uploadTensor(ctx, new Float32Array(nb * dim).fill(1), [nb, dim], 'bank');
    const Bwide = uploadTensor(ctx, new Float32Array(nb * (dim + 1)).fill(1), [nb, dim + 1], 'bank_wide');
    const Q = uploadTensor(ctx, new Float32Array(nq * dim).fill(1), [nq, dim], 'query');
    const BL = uploadTensor(ctx, randomLabels(nb, 3, 1), [nb], 'bank_labels');
    const QL = uploadTensor(ctx, randomLabels(nq, 3, 2), [nq], 'query_labels');
    const BLf = uploadTensor(ctx, new Float32Array(nb), [nb], 'bank_labels_f32');
    const bad = randomLabels(nq, 3, 2);
    bad[4] = 3;
    const QLbad = uploadTensor(ctx, bad, [nq], 'query_labels_bad');
    const errorsBefore = ctx.uncapturedCount;
    await expect(ev.evaluate(Bwide, BL, Q, QL)).rejects.toThrow(/bank features bank_wide\[30×9\] f32 have dimension 9, expected D = 8/);
    await expect(ev.evaluate(B, BL, B, QL)).rejects.toThrow(/query features bank\[30×8\] f32 have 30 rows, expected 6/);
    await expect(ev.evaluate(B, BLf, Q, QL)).rejects.toThrow(/bank labels .* must be u32/);
    await expect(ev.evaluate(B, BL, Q, QLbad)).rejects.toThrow(/query labels: label 3 at index 4 is not a class index in \[0, 3\)/);
    // Nothing ran: the predictions still hold the sentinel.
    expect(Array.from((await readTensor(ctx, ev.predictions)) as Uint32Array)).toEqual(Array.from(sentinel));
    // The GPU-side guard when record() runs with bad labels anyway: read() refuses the result.
    ev.bind(B, BL, Q, QLbad);
    await submitChecked(ctx, 'knn bad labels', (enc) => ev.record(enc));
    await expect(ev.read()).rejects.toThrow(/labels must be < classes \(3\); 1 out-of-range/);
    // And with good labels it works.
    const ok = await ev.evaluate(B, BL, Q, QL);
    expect(ok.queries).toBe(nq);
    expect(ctx.uncapturedCount).toBe(errorsBefore);
    ev.destroy();
  });
});

describe('chooseEvalIndices', () => {
  test('deterministic, distinct, ascending; seeds differ', () => {
    const a = chooseEvalIndices(1000, 100, 7);
    expect(Array.from(a)).toEqual(Array.from(chooseEvalIndices(1000, 100, 7)));
    expect(new Set(a).size).toBe(100);
    expect(Array.from(a)).toEqual(Array.from(a).sort((x, y) => x - y));
    expect(a.every((i) => i < 1000)).toBe(true);
    expect(Array.from(chooseEvalIndices(1000, 100, 8))).not.toEqual(Array.from(a));
    expect(Array.from(chooseEvalIndices(5, 5, 1))).toEqual([0, 1, 2, 3, 4]);
    expect(() => chooseEvalIndices(5, 6, 1)).toThrow(RangeError);
  });

  test('balanced by class; scarce classes give their share to the others', () => {
    // 10 classes with 100 each, then a skewed set where class 2 has only 3 members.
    const labels = Uint32Array.from({ length: 1000 }, (_, i) => (i * 37) % 10);
    const idx = chooseEvalIndices(1000, 55, 3, labels);
    const per = new Array(10).fill(0);
    for (const i of idx) per[labels[i]!]++;
    expect(per).toEqual([6, 6, 6, 6, 6, 5, 5, 5, 5, 5]);
    const skew = Uint32Array.from({ length: 63 }, (_, i) => (i < 3 ? 2 : i % 2));
    const s = chooseEvalIndices(63, 30, 1, skew);
    const ps = [0, 0, 0];
    for (const i of s) ps[skew[i]!]!++;
    expect(ps).toEqual([14, 13, 3]);
    expect(new Set(s).size).toBe(30);
  });

  test('key format', () => {
    expect(knnKey(20, 0.07)).toBe('k20_t0.07');
    expect(knnKey(200, 0.1)).toBe('k200_t0.1');
  });
});
