// Weighted kNN evaluation (src/mira/knn.ts): a 2000-bank × 2000-query × 512-d evaluation
// (quick: 1000 × 1000 × 64), 10 classes, k ∈ {20, 200}, T ∈ {0.07, 0.1}, queries in one chunk.
//   knn.similarity  the query · bankᵀ GEMM alone (the evaluator's own shape: M = chunk,
//                   N = bank, K = D, transB), FLOPs 2·M·N·K, bytes its operands and output once
//   knn.total       normalisation + GEMM + top-k selection + votes, one command buffer;
//                   GFLOP/s counts the GEMM's FLOPs only (what the evaluation is bound by on a GPU);
//                   `select_ms` = total − GEMM (normalisation, selection and votes).
// The similarity GEMM is checked on sampled outputs against the float64 reference before it is
// timed (bench/check.ts); the total is not (test/knn.test.ts checks it against src/ref/knn.ts).
import type { BenchResult, BenchSuite } from '../src/bench/types.ts';
import { Gemm } from '../src/gpu/gemm.ts';
import { submitChecked } from '../src/gpu/kernel.ts';
import { createTensor, uploadTensor } from '../src/gpu/tensor.ts';
import { KnnEvaluator } from '../src/mira/knn.ts';
import { gemmAt } from '../src/ref/gemm.ts';
import { checkSampled } from './check.ts';
import { timeGpu } from './timing.ts';

function features(n: number, d: number, seed: number): Float32Array {
  const out = new Float32Array(n * d);
  let s = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296) * 2 - 1;
  }
  return out;
}

export const suite: BenchSuite = {
  name: 'knn',
  async run(ctx, { quick, filter }) {
    const [nb, nq, dim] = quick ? [1000, 1000, 64] : [2000, 2000, 512];
    const classes = 10;
    const tag = `${nb}x${nq}x${dim}`;
    const opts = { warmup: 1, iters: quick ? 3 : 5, budgetMs: quick ? 5000 : 15000 };
    const out: BenchResult[] = [];
    const bankHost = features(nb, dim, 1);
    const bank = uploadTensor(ctx, bankHost, [nb, dim], 'bench.bank');
    const query = uploadTensor(ctx, features(nq, dim, 2), [nq, dim], 'bench.query');
    const bl = uploadTensor(ctx, Uint32Array.from({ length: nb }, (_, i) => i % classes), [nb], 'bench.bank_labels');
    const ql = uploadTensor(ctx, Uint32Array.from({ length: nq }, (_, i) => (i * 7) % classes), [nq], 'bench.query_labels');
    const ev = await KnnEvaluator.create(ctx, { bankSize: nb, querySize: nq, dim, classes, ks: [20, 200], temperatures: [0.07, 0.1], queryChunk: nq });
    const M = ev.queryChunk;
    const gemmName = `knn.similarity ${tag}`;
    let gemmMs = NaN;
    if (!filter || gemmName.includes(filter)) {
      const g = await Gemm.create(ctx, { M, N: nb, K: dim, transB: true });
      const aHost = features(M, dim, 3);
      const a = uploadTensor(ctx, aHost, [M, dim], 'bench.q_hat');
      const c = createTensor(ctx, [M, nb], 'f32', 'bench.sims');
      const bound = g.bind(a, bank, c);
      await submitChecked(ctx, gemmName, (enc) => bound.record(enc));
      await checkSampled(ctx, gemmName, c, (i) => gemmAt(aHost, bankHost, M, nb, dim, Math.floor(i / nb), i % nb, { transB: true }));
      const t = await timeGpu(ctx, (enc, timer) => bound.record(enc, timer), opts);
      gemmMs = t.ms;
      out.push({ suite: 'knn', name: gemmName, ms: t.ms, flops: g.flops, bytes: 4 * (M * dim + nb * dim + M * nb), extra: { variant: g.variant, M, N: nb, K: dim, clock: t.clock } });
      a.buffer.destroy();
      c.buffer.destroy();
    }
    const totalName = `knn.total ${tag}`;
    if (!filter || totalName.includes(filter)) {
      ev.bind(bank, bl, query, ql);
      const t = await timeGpu(ctx, (enc, timer) => ev.record(enc, timer), opts);
      const extra: Record<string, string | number> = { chunks: ev.chunks, pairs: ev.keys.length, kmax: 200 };
      if (Number.isFinite(gemmMs)) extra.select_ms = +(t.ms - gemmMs).toFixed(2);
      out.push({ suite: 'knn', name: totalName, ms: t.ms, flops: ev.gemmFlops, bytes: 4 * (nb * dim + nq * dim + 2 * nq * nb), extra });
    }
    ev.destroy();
    for (const x of [bank, query, bl, ql]) x.buffer.destroy();
    return out;
  },
};
