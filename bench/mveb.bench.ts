// The MVEB objective (src/mira/mveb.ts) at a training step's size: B = 256 rows per view, the
// projector's D = 128 (quick: B = 64, D = 32), the whole batch per Stein estimate and chunks of 128
// (the official per-GPU size).
//   mveb.gram   the Gram GEMMs alone (every Stein system in one dispatch): GFLOP/s
//   mveb.total  the whole objective, one command buffer (normalise, Gram, τ selection, K, the
//               blocked Cholesky and solves, gradients, loss): GB/s over the plan's byte count,
//               GFLOP/s over its FLOPs; `dispatches` and `gram_share` in the extras.
//   mveb.step   a whole MVEB training step at width ⅛, batch 256, projector 512 → 128 (quick: width 1/16,
//               batch 64, 128 → 32), the objective's D; `objective_ms` and `objective_share` = the whole-batch
//               objective's time over the step's (issue 12's bench line).
import type { BenchResult, BenchSuite } from '../src/bench/types.ts';
import { createTensor, uploadTensor, type Tensor } from '../src/gpu/tensor.ts';
import { MvebObjective, MvebPlan } from '../src/mira/mveb.ts';
import { objectiveShare } from './synthetic-data.ts';
import { timeGpu } from './timing.ts';

function embeddings(n: number, d: number, seed: number): Float32Array {
  const out = new Float32Array(n * d);
  let s = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296) * 2 - 1;
  }
  return out;
}

export const suite: BenchSuite = {
  name: 'mveb',
  async run(ctx, { quick, filter }) {
    const [B, D] = quick ? [64, 32] : [256, 128];
    const opts = { warmup: 1, iters: quick ? 3 : 10, budgetMs: quick ? 5000 : 15000 };
    const out: BenchResult[] = [];
    let objectiveMs = NaN;
    const made: Tensor[] = [];
    const t = (data: Float32Array, name: string) => {
      const x = uploadTensor(ctx, data, [B, D], name);
      made.push(x);
      return x;
    };
    const empty = (shape: number[], name: string) => {
      const x = createTensor(ctx, shape, 'f32', name);
      made.push(x);
      return x;
    };
    const bindings = {
      student: [t(embeddings(B, D, 1), 'bench.p1'), t(embeddings(B, D, 2), 'bench.p2')] as [Tensor, Tensor],
      teacher: [t(embeddings(B, D, 3), 'bench.q1'), t(embeddings(B, D, 4), 'bench.q2')] as [Tensor, Tensor],
      grads: [empty([B, D], 'bench.g1'), empty([B, D], 'bench.g2')] as [Tensor, Tensor],
      loss: empty([1], 'bench.loss'),
      stats: empty([MvebPlan.statNames.length], 'bench.stats'),
    };
    for (const chunk of quick ? [B] : [B, 128]) {
      const tag = `B${B} D${D} chunk${chunk}`;
      const obj = await MvebObjective.create(ctx, { B, D, steinChunk: chunk });
      const plan = obj.bind(bindings, 'bench.mveb');
      const gramName = `mveb.gram ${tag}`;
      let gramMs = NaN;
      if (!filter || gramName.includes(filter)) {
        const g = await timeGpu(ctx, (enc, timer) => plan.recordGram(enc, timer), { ...opts, backToBack: { minMs: 2, max: 64 } });
        gramMs = g.ms;
        out.push({ suite: 'mveb', name: gramName, ms: g.ms, flops: plan.gramFlops, bytes: 4 * (2 * B * D + obj.systems * obj.padded * obj.padded), extra: { systems: obj.systems, padded: obj.padded, clock: g.clock } });
      }
      const totalName = `mveb.total ${tag}`;
      if (!filter || totalName.includes(filter)) {
        const g = await timeGpu(ctx, (enc, timer) => plan.record(enc, timer), opts);
        const extra: Record<string, string | number> = { dispatches: plan.dispatches, blocks: obj.blocks, clock: g.clock };
        if (Number.isFinite(gramMs)) extra.gram_share = +(gramMs / g.ms).toFixed(3);
        if (chunk === B) objectiveMs = g.ms;
        out.push({ suite: 'mveb', name: totalName, ms: g.ms, flops: plan.flops, bytes: plan.bytes, extra });
      }
      plan.destroy();
    }
    for (const x of made) x.buffer.destroy();
    const stepName = `mveb.step width ${quick ? 0.0625 : 0.125} batch ${B}`;
    if (!filter || stepName.includes(filter)) out.push(await objectiveShare(ctx, 'mveb', stepName, quick, B, D, objectiveMs));
    return out;
  },
};
