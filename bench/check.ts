// A benchmark times a kernel only after a few of its outputs have been checked against the
// float64 reference: a fast wrong kernel must fail its suite, not post a number. The check reads
// the output back once, before timing, and compares `samples` elements spread over it (the first,
// the last and a hashed spread between) with the reference computed for those elements alone,
// so it stays cheap at the largest benchmark shapes.
//
// Tolerance: |gpu − ref| ≤ rtol·Σ|terms| + atol, with Σ|terms| the sum of the magnitudes of the
// products the element sums (what float32 rounding error grows with; the value itself may cancel
// to near zero). A wrong index or a missing tap moves an element by about one term's size, far
// beyond rtol = 1e-4 of the sum for every reduction length the suites use.
import type { GpuContext } from '../src/gpu/context.ts';
import { readF32, type Tensor } from '../src/gpu/tensor.ts';
import type { SampledValue } from '../src/ref/gemm.ts';

export class BenchCheckError extends Error {
  override name = 'BenchCheckError';
}

/** `samples` distinct indices in [0, n): 0, n − 1 and a multiplicative-hash spread between. */
export function sampleIndices(n: number, samples = 16): number[] {
  const out = new Set<number>([0, n - 1]);
  for (let s = 0; out.size < Math.min(samples, n); s++) out.add(Math.floor((((s + 1) * 2654435761) % 4294967296) / 4294967296 * n));
  return [...out].sort((a, b) => a - b);
}

/**
 * Reads `out` back and compares sampled elements with `reference(i)`; throws a BenchCheckError
 * naming the case, the element, both values and the tolerance when one is off.
 */
export async function checkSampled(
  ctx: GpuContext,
  what: string,
  out: Tensor,
  reference: (index: number) => SampledValue,
  opts: { samples?: number; rtol?: number; atol?: number } = {},
): Promise<void> {
  const { samples = 16, rtol = 1e-4, atol = 1e-6 } = opts;
  const got = await readF32(ctx, out);
  for (const i of sampleIndices(got.length, samples)) {
    const ref = reference(i);
    const tol = rtol * ref.absSum + atol;
    const gpu = got[i]!;
    if (!(Math.abs(gpu - ref.value) <= tol)) {
      throw new BenchCheckError(
        `${what}: output[${i}] = ${gpu} but the float64 reference gives ${ref.value} (|diff| ${Math.abs(gpu - ref.value).toExponential(2)} > tolerance ${tol.toExponential(2)}); the kernel is wrong for this shape, so it is not timed`,
      );
    }
  }
}
