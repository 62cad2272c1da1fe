// SeLa's kernels (src/mira/sela-loss.ts, src/mira/sela-labeller.ts):
//   sela.loss      the hard-label cross-entropy, forward + backward, on a batch (B = 256, K = 3000,
//                  H = 1; quick: K = 300); bytes: the logits read twice, the gradient written once
//   sela.sk_pass   one steady-state Sinkhorn-Knopp pass over the whole bank (rows, column
//                  partials per chunk, class scaling): N = 60 000 × K = 3000, 720 MB in chunks
//                  under the binding limit (quick: 20 000 × 128); bytes: the bank read twice
//                  (the row pass and the column partials) — what bounds it
//   sela.write     the bank written from a batch of logits (B = 256 rows; the label
//                  optimisation's per-batch cost beside the network's forward)
import type { BenchResult, BenchSuite } from '../src/bench/types.ts';
import { createTensor, uploadTensor } from '../src/gpu/tensor.ts';
import { submitChecked } from '../src/gpu/kernel.ts';
import { SelaLossKernels } from '../src/mira/sela-loss.ts';
import { SelaLabeller } from '../src/mira/sela-labeller.ts';
import { timeGpu } from './timing.ts';

function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296) * 2 - 1;
  }
  return out;
}

export const suite: BenchSuite = {
  name: 'sela',
  async run(ctx, { quick, filter }) {
    const opts = { warmup: 1, iters: quick ? 3 : 5, budgetMs: quick ? 5000 : 15000 };
    const out: BenchResult[] = [];
    const B = 256;
    const Kl = quick ? 300 : 3000;
    const lossName = `sela.loss ${B}x${Kl}`;
    if (!filter || lossName.includes(filter)) {
      const k = await SelaLossKernels.create(ctx, { B, K: Kl });
      const grad = createTensor(ctx, [B, Kl], 'f32', 'bench.grad');
      const plan = k.bind({ logits: uploadTensor(ctx, values(B * Kl, 1), [B, Kl], 'bench.q'), labels: uploadTensor(ctx, Uint32Array.from({ length: B }, (_, i) => (i * 7) % Kl), [B], 'bench.y'), grad });
      plan.setTemperature(0.1);
      const t = await timeGpu(ctx, (enc, timer) => plan.record(enc, timer), opts);
      out.push({ suite: 'sela', name: lossName, ms: t.ms, bytes: 4 * 3 * B * Kl, extra: { clock: t.clock } });
      plan.destroy();
      grad.buffer.destroy();
    }
    const [N, K] = quick ? [20000, 128] : [60000, 3000];
    const passName = `sela.sk_pass ${N}x${K}`;
    const writeName = `sela.write ${B}x${K}`;
    if (!filter || passName.includes(filter) || writeName.includes(filter)) {
      const lab = await SelaLabeller.create(ctx, { N, K });
      const batch = uploadTensor(ctx, values(B * K, 2), [B, K], 'bench.logits');
      // Fill the bank from the same batch, row block by row block.
      for (let row = 0; row < N; row += B) {
        lab.beginWrites();
        await submitChecked(ctx, 'bench.fill', (enc) => lab.recordWrite(enc, batch, row, Math.min(B, N - row)));
      }
      await submitChecked(ctx, 'bench.first_pass', (enc) => lab.recordPass(enc, 0));
      if (!filter || passName.includes(filter)) {
        const t = await timeGpu(ctx, (enc, timer) => lab.recordPass(enc, 2, timer), opts);
        out.push({ suite: 'sela', name: passName, ms: t.ms, bytes: 2 * 4 * N * K, extra: { chunks: lab.chunkCount, limit: lab.plan.limitName, clock: t.clock } });
      }
      if (!filter || writeName.includes(filter)) {
        const t = await timeGpu(
          ctx,
          (enc) => {
            lab.beginWrites();
            lab.recordWrite(enc, batch, 0, B);
          },
          opts,
        );
        out.push({ suite: 'sela', name: writeName, ms: t.ms, bytes: 2 * 4 * B * K, extra: { clock: t.clock } });
      }
      lab.destroy();
      batch.buffer.destroy();
    }
    return out;
  },
};
