// Assignment solves on the GPU: the 30-iteration MIRA fixed point and SwAV's 3-iteration
// Sinkhorn-Knopp on K = 3000 prototypes, B = 512 and 4096 (quick mode: 512 only), each one
// command buffer with no readback.
//
// Bytes (for GB/s): what the solve must move at least, counting the logits once per pass (the
// row kernel sweeps its block of rows twice, the second time from cache), plus the per-block
// column partials written and read back, the column scale and the targets:
//   per pass   4·B·K (ℓ) + 2·4·⌈B/8⌉·K (partials, write + read) + 4·4·K (g read, g/g_prev/v write)
//   targets    4·B·K (ℓ) + 4·B·K (w) + 4·K (g)
//   MIRA runs iters + 1 passes (the first gives v⁽⁰⁾); Sinkhorn runs iters passes.
// Before timing, each solve's targets are checked on sampled elements against the float64
// solve (src/ref/assignment.ts, sinkhorn.ts; bench/check.ts): |Δ| ≤ 2e-6 + 1e-3·|w|.
import type { BenchResult, BenchSuite } from '../src/bench/types.ts';
import { submitChecked } from '../src/gpu/kernel.ts';
import { createTensor, uploadTensor } from '../src/gpu/tensor.ts';
import { MiraSolver } from '../src/mira/assignment.ts';
import { SinkhornSolver } from '../src/mira/sinkhorn.ts';
import { miraSolve } from '../src/ref/assignment.ts';
import { sinkhornSwav } from '../src/ref/sinkhorn.ts';
import { checkSampled } from './check.ts';
import { timeGpu } from './timing.ts';

function cosineLogits(B: number, K: number, seed: number): Float32Array {
  const out = new Float32Array(B * K);
  let s = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296) * 2 - 1;
  }
  return out;
}

export function solveBytes(B: number, K: number, passes: number): number {
  const nb = Math.ceil(B / 8);
  const pass = 4 * B * K + 2 * 4 * nb * K + 4 * 4 * K;
  const targets = 4 * B * K + 4 * B * K + 4 * K;
  return passes * pass + targets;
}

/** Targets are probabilities: absolute 2e-6 (as the tests) plus 1e-3 of the value. */
const TARGET_TOLERANCE = { rtol: 1e-3, atol: 2e-6 };

export const suite: BenchSuite = {
  name: 'mira',
  async run(ctx, { quick, filter }) {
    const shapes: [number, number][] = quick ? [[512, 3000]] : [[512, 3000], [4096, 3000]];
    const out: BenchResult[] = [];
    for (const [B, K] of shapes) {
      const logits = cosineLogits(B, K, 7);
      const L = uploadTensor(ctx, logits, [B, K], 'bench.logits');
      const W = createTensor(ctx, [B, K], 'f32', 'bench.targets');
      const opts = { warmup: 1, iters: quick ? 3 : 8, budgetMs: quick ? 4000 : 15000 };
      const miraName = `mira.solve30 ${B}x${K}`;
      if (!filter || miraName.includes(filter)) {
        const plan = (await MiraSolver.create(ctx, { B, K })).bind(L, W, 'bench.mira');
        plan.setParams({ tau: 0.225, beta: 0.7 });
        await submitChecked(ctx, miraName, (enc) => plan.record(enc, { iters: 30 }));
        const ref = miraSolve(logits, B, K, { tau: 0.225, beta: 0.7, iters: 30 }).w;
        await checkSampled(ctx, miraName, W, (i) => ({ value: ref[i]!, absSum: Math.abs(ref[i]!) }), TARGET_TOLERANCE);
        const t = await timeGpu(ctx, (enc, timer) => plan.record(enc, { iters: 30 }, timer), opts);
        out.push({ suite: 'mira', name: miraName, ms: t.ms, bytes: solveBytes(B, K, 31), extra: { B, K, iters: 30, per_iter_ms: +(t.ms / 31).toFixed(3), clock: t.clock } });
        plan.destroy();
      }
      const skName = `sinkhorn.swav3 ${B}x${K}`;
      if (!filter || skName.includes(filter)) {
        const plan = (await SinkhornSolver.create(ctx, { B, K })).bind(L, W, 'bench.sinkhorn');
        plan.setParams({ eps: 0.05 });
        await submitChecked(ctx, skName, (enc) => plan.record(enc, { iters: 3 }));
        const ref = sinkhornSwav(logits, B, K, { eps: 0.05, iters: 3 }).q;
        await checkSampled(ctx, skName, W, (i) => ({ value: ref[i]!, absSum: Math.abs(ref[i]!) }), TARGET_TOLERANCE);
        const t = await timeGpu(ctx, (enc, timer) => plan.record(enc, { iters: 3 }, timer), opts);
        out.push({ suite: 'mira', name: skName, ms: t.ms, bytes: solveBytes(B, K, 3), extra: { B, K, iters: 3, clock: t.clock } });
        plan.destroy();
      }
      L.buffer.destroy();
      W.buffer.destroy();
    }
    return out;
  },
};
