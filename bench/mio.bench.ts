// The MIO objective (src/mira/mio.ts) and the representation-health metrics
// (src/mira/representation.ts) at the benchmark shape, batch 256 per view and a 128-wide
// projector output (quick: 64 × 32). Each one command buffer, no readback.
//   mio.gram            S = Z Zᵀ alone (the GEMM core at 2B×2B×D, transB): GFLOP/s
//   mio.objective       the whole objective, 6 dispatches: FLOPs and bytes of MioPlan (GB/s is
//                       the figure for the non-GEMM kernels, which the Gram and W·Z do not dominate at D = 128)
//   mio.step            a whole MIO training step at width ⅛, batch 256, projector 512 → 128 (quick: width 1/16,
//                       batch 64, 128 → 32); `objective_ms`, `objective_share` = mio.objective's time over the step's
//   representation.health  normalise, Gram, uniformity rows and the one-workgroup Jacobi solve;
//                       FLOPs count the sweep cap (20 sweeps), so GFLOP/s is an upper bound's rate
import type { BenchResult, BenchSuite } from '../src/bench/types.ts';
import { Gemm } from '../src/gpu/gemm.ts';
import { createTensor, uploadTensor } from '../src/gpu/tensor.ts';
import { MioObjective } from '../src/mira/mio.ts';
import { RepresentationHealth } from '../src/mira/representation.ts';
import { objectiveShare } from './synthetic-data.ts';
import { timeGpu } from './timing.ts';

function embeddings(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296) * 2 - 1;
  }
  return out;
}

export const suite: BenchSuite = {
  name: 'mio',
  async run(ctx, { quick, filter }) {
    const [B, D] = quick ? [64, 32] : [256, 128];
    const tag = `B${B} D${D}`;
    const opts = { warmup: 1, iters: quick ? 3 : 10, budgetMs: quick ? 5000 : 15000, backToBack: { minMs: 20, max: 50 } };
    const out: BenchResult[] = [];
    let objectiveMs = NaN;
    const p1 = uploadTensor(ctx, embeddings(B * D, 1), [B, D], 'bench.p1');
    const p2 = uploadTensor(ctx, embeddings(B * D, 2), [B, D], 'bench.p2');
    const want = (name: string) => !filter || name.includes(filter);
    const gramName = `mio.gram ${2 * B}x${2 * B}x${D}`;
    if (want(gramName)) {
      const g = await Gemm.create(ctx, { M: 2 * B, N: 2 * B, K: D, transB: true });
      const z = createTensor(ctx, [2 * B, D], 'f32', 'bench.z');
      const s = createTensor(ctx, [2 * B, 2 * B], 'f32', 'bench.s');
      const bound = g.bind(z, z, s);
      const t = await timeGpu(ctx, (enc, timer) => bound.record(enc, timer), opts);
      out.push({ suite: 'mio', name: gramName, ms: t.ms, flops: g.flops, bytes: 4 * (2 * B * D + 4 * B * B), extra: { variant: g.variant, clock: t.clock } });
      z.buffer.destroy();
      s.buffer.destroy();
    }
    const objName = `mio.objective ${tag}`;
    if (want(objName)) {
      const grads: [ReturnType<typeof createTensor>, ReturnType<typeof createTensor>] = [createTensor(ctx, [B, D], 'f32', 'bench.g1'), createTensor(ctx, [B, D], 'f32', 'bench.g2')];
      const loss = createTensor(ctx, [1], 'f32', 'bench.loss');
      const stats = createTensor(ctx, [2], 'f32', 'bench.stats');
      const plan = (await MioObjective.create(ctx, { B, D })).bind({ student: [p1, p2], grads, loss, stats });
      const t = await timeGpu(ctx, (enc, timer) => plan.record(enc, timer), opts);
      out.push({ suite: 'mio', name: objName, ms: t.ms, flops: plan.flops, bytes: plan.bytes, extra: { dispatches: plan.dispatches, clock: t.clock } });
      objectiveMs = t.ms;
      plan.destroy();
      for (const x of [...grads, loss, stats]) x.buffer.destroy();
    }
    const healthName = `representation.health ${tag}`;
    if (want(healthName)) {
      const o = createTensor(ctx, [3], 'f32', 'bench.health');
      const plan = (await RepresentationHealth.create(ctx, { B, D })).bind({ z: [p1, p2], out: o });
      const t = await timeGpu(ctx, (enc, timer) => plan.record(enc, timer), { ...opts, backToBack: undefined });
      out.push({ suite: 'mio', name: healthName, ms: t.ms, flops: plan.flops, bytes: plan.bytes, extra: { dispatches: plan.dispatches, clock: t.clock, jacobi_vectors: Math.min(B, D) } });
      plan.destroy();
      o.buffer.destroy();
    }
    p1.buffer.destroy();
    p2.buffer.destroy();
    const stepName = `mio.step width ${quick ? 0.0625 : 0.125} batch ${B}`;
    if (want(stepName)) out.push(await objectiveShare(ctx, 'mio', stepName, quick, B, D, objectiveMs));
    return out;
  },
};
