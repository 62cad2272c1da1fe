// The GPU self-test: an n×n×n GEMM through every variant of src/gpu/gemm.ts, compared with a
// float64 product on the CPU. No DOM and no worker APIs, so it runs anywhere a GpuContext does.
import type { GpuContext } from '../gpu/context.ts';
import { Gemm, type GemmVariant } from '../gpu/gemm.ts';
import { submitChecked } from '../gpu/kernel.ts';
import { createTensor, readF32, uploadTensor } from '../gpu/tensor.ts';
import { gemm as gemmRef } from '../ref/gemm.ts';
import type { GemmCheckCase, GemmCheckResult } from './protocol.ts';

const VARIANTS: GemmVariant[] = ['tiled', 'direct', 'naive'];

/** Inputs uniform in [-1, 1), fixed by the seed (mulberry32). */
function seeded(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

function maxAbsError(ref: Float64Array, got: Float32Array): number {
  let max = 0;
  for (let i = 0; i < ref.length; i++) {
    const e = Math.abs(got[i]! - ref[i]!);
    if (!(e <= max)) max = Number.isNaN(e) ? Infinity : e;
  }
  return max;
}

/**
 * With K = 64 and inputs in [-1, 1), f32 accumulation stays within a few 1e-6 of the float64
 * product; an indexing or synchronisation bug is off by O(1).
 */
export async function gemmSelfTest(ctx: GpuContext, n = 64, ranIn: GemmCheckResult['ranIn'] = 'worker'): Promise<GemmCheckResult> {
  const M = n;
  const N = n;
  const K = n;
  const tolerance = 1e-5 * Math.max(1, Math.sqrt(K / 64));
  const a = seeded(M * K, 1);
  const b = seeded(K * N, 2);
  const ref = gemmRef(Float64Array.from(a), Float64Array.from(b), M, N, K);
  const A = uploadTensor(ctx, a, [M, K], 'selftest.a');
  const B = uploadTensor(ctx, b, [K, N], 'selftest.b');
  const cases: GemmCheckCase[] = [];
  try {
    for (const variant of VARIANTS) {
      const C = createTensor(ctx, [M, N], 'f32', `selftest.c.${variant}`);
      try {
        const bound = (await Gemm.create(ctx, { M, N, K }, variant)).bind(A, B, C);
        const t0 = performance.now();
        await submitChecked(ctx, `selftest gemm.${variant}`, (enc) => bound.record(enc));
        const got = await readF32(ctx, C);
        const ms = performance.now() - t0;
        const maxError = maxAbsError(ref, got);
        cases.push({ variant, maxError, ms, pass: maxError < tolerance });
      } finally {
        C.buffer.destroy();
      }
    }
  } finally {
    A.buffer.destroy();
    B.buffer.destroy();
  }
  const maxError = Math.max(...cases.map((c) => c.maxError));
  return { M, N, K, tolerance, cases, maxError, pass: cases.every((c) => c.pass), ranIn };
}
