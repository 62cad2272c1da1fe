// The benchmark contract: each bench/<name>.bench.ts exports `suite: BenchSuite`. The harness
// (bench/run.ts in Node, the bench page in Chromium) runs every suite on the adapter it has and
// prints a table and JSON. Speed goals are read off these numbers, never pass/fail; but a suite
// checks a sample of each result against the float64 reference before it times it (bench/check.ts)
// and fails when one is wrong.
import type { GpuContext } from '../gpu/context.ts';

export interface BenchResult {
  suite: string;
  /** What was measured, e.g. "gemm.tiled 512x512x512". */
  name: string;
  /** Median time of one run in milliseconds. */
  ms: number;
  /** Floating-point operations of one run (for GFLOP/s). */
  flops?: number;
  /** Bytes one run must read and write at least (for GB/s). */
  bytes?: number;
  /** Images processed by one run (for images/s). */
  images?: number;
  /** Anything else worth printing (variant, batch, …). */
  extra?: Record<string, string | number>;
}

export interface BenchOptions {
  /** Small shapes and few repetitions (CPU emulators, smoke runs). */
  quick: boolean;
  /** Only run cases whose name contains this. */
  filter?: string;
  /** The training step's precision (train-step suite; src/gpu/f16.ts); f32 by default. */
  precision?: 'f32' | 'f16' | 'auto';
}

export interface BenchSuite {
  name: string;
  run(ctx: GpuContext, opts: BenchOptions): Promise<BenchResult[]>;
}

export function gflops(r: BenchResult): number | undefined {
  return r.flops ? r.flops / (r.ms * 1e6) : undefined;
}

export function gbps(r: BenchResult): number | undefined {
  return r.bytes ? r.bytes / (r.ms * 1e6) : undefined;
}

export function imagesPerSecond(r: BenchResult): number | undefined {
  return r.images ? (r.images * 1000) / r.ms : undefined;
}
