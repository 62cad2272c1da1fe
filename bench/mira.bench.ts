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
import type { BenchResult, BenchSuite } from '../src/bench/types.ts';
import { createTensor, uploadTensor } from '../src/gpu/tensor.ts';
import { MiraSolver } from '../src/mira/assignment.ts';
import { SinkhornSolver } from '../src/mira/sinkhorn.ts';
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

export const suite: BenchSuite = {
  name: 'mira',
  async run(ctx, { quick, filter }) {
    const shapes: [number, number][] = quick ? [[512, 3000]] : [[512, 3000], [4096, 3000]];
    const out: BenchResult[] = [];
    for (const [B, K] of shapes) {
      const L = uploadTensor(ctx, cosineLogits(B, K, 7), [B, K], 'bench.logits');
      const W = createTensor(ctx, [B, K], 'f32', 'bench.targets');
      const opts = { warmup: 1, iters: quick ? 3 : 8, budgetMs: quick ? 4000 : 15000 };
      const miraName = `mira.solve30 ${B}x${K}`;
      if (!filter || miraName.includes(filter)) {
        const plan = (await MiraSolver.create(ctx, { B, K })).bind(L, W, 'bench.mira');
        plan.setParams({ tau: 0.225, beta: 0.7 });
        const t = await timeGpu(ctx, (enc, timer) => plan.record(enc, { iters: 30 }, timer), opts);
        out.push({ suite: 'mira', name: miraName, ms: t.ms, bytes: solveBytes(B, K, 31), extra: { B, K, iters: 30, per_iter_ms: +(t.ms / 31).toFixed(3), clock: t.clock } });
        plan.destroy();
      }
      const skName = `sinkhorn.swav3 ${B}x${K}`;
      if (!filter || skName.includes(filter)) {
        const plan = (await SinkhornSolver.create(ctx, { B, K })).bind(L, W, 'bench.sinkhorn');
        plan.setParams({ eps: 0.05 });
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
