// GEMM GFLOP/s over a range of shapes, for every variant the adapter can run: the tiled
// (workgroup memory) and direct (register-only) cores and the naive one-thread-per-output
// baseline. Each case is first checked on sampled outputs against the float64 reference
// (bench/check.ts) and fails the suite if it is wrong.
import type { BenchSuite, BenchResult } from '../src/bench/types.ts';
import { Gemm, type GemmVariant } from '../src/gpu/gemm.ts';
import { submitChecked } from '../src/gpu/kernel.ts';
import { createTensor, uploadTensor } from '../src/gpu/tensor.ts';
import { gemmAt } from '../src/ref/gemm.ts';
import { checkSampled } from './check.ts';
import { timeGpu } from './timing.ts';

function fill(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
  return a;
}

export const suite: BenchSuite = {
  name: 'gemm',
  async run(ctx, { quick, filter }) {
    const shapes: [number, number, number][] = quick
      ? [[256, 256, 256], [512, 512, 512]]
      : [[256, 256, 256], [512, 512, 512], [1024, 1024, 1024], [2048, 2048, 2048], [4096, 512, 64], [64, 512, 4096]];
    const variants: GemmVariant[] = ['tiled', 'direct', 'naive'];
    const out: BenchResult[] = [];
    for (const [M, N, K] of shapes) {
      const a = fill(M * K);
      const b = fill(K * N);
      const A = uploadTensor(ctx, a, [M, K], 'bench.a');
      const B = uploadTensor(ctx, b, [K, N], 'bench.b');
      const C = createTensor(ctx, [M, N], 'f32', 'bench.c');
      for (const v of variants) {
        const name = `gemm.${v} ${M}x${N}x${K}`;
        if (filter && !name.includes(filter)) continue;
        const g = await Gemm.create(ctx, { M, N, K }, v);
        const bound = g.bind(A, B, C);
        await submitChecked(ctx, name, (enc) => bound.record(enc));
        await checkSampled(ctx, name, C, (i) => gemmAt(a, b, M, N, K, Math.floor(i / N), i % N));
        const t = await timeGpu(ctx, (enc, timer) => bound.record(enc, timer), { iters: quick ? 3 : 10, budgetMs: quick ? 3000 : 8000, backToBack: { minMs: 2, max: 64 } });
        out.push({ suite: 'gemm', name, ms: t.ms, flops: g.flops, bytes: 4 * (M * K + K * N + M * N), extra: { variant: v, M, N, K, clock: t.clock, repeat: t.repeat, wall_ms: +t.wallMs.toFixed(4) } });
      }
      A.buffer.destroy();
      B.buffer.destroy();
      C.buffer.destroy();
    }
    return out;
  },
};
