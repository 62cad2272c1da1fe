// One type for what a layer or kernel host binds and the caller records: a pass of one or more
// compute dispatches into the caller's command encoder, with what one run costs (FLOPs and the
// bytes it must at least move, for GFLOP/s and GB/s in the profiler and the benchmarks).
//
//   kernelPass(steps, flops, bytes)   bound kernels dispatched in order over their grids
//   sequencePass([a, b, …])           passes recorded one after another; counts and costs add up
//   new PassList(); list.push(p, …)   the same, appended to while a network is planned
// Every layer in src/nn, the GEMM (src/gpu/gemm.ts) and the step graph return these, so a step is
// a list of passes whatever recorded them.
import type { GpuContext } from './context.ts';
import type { BoundKernel, PassTimer } from './kernel.ts';

export type Grid = [number, number, number];

/**
 * Workgroups for `threads` threads at `perGroup` per workgroup, as a 2-D grid (x ≤ the device's
 * maxComputeWorkgroupsPerDimension) that the shaders flatten as (wg.y·nwg.x + wg.x).
 */
export function grid1d(ctx: GpuContext, threads: number, perGroup = 256): Grid {
  const groups = Math.max(1, Math.ceil(threads / perGroup));
  const max = ctx.limits.maxComputeWorkgroupsPerDimension;
  const x = Math.min(groups, max);
  return [x, Math.ceil(groups / x), 1];
}

/** A recorded unit of work: one or more dispatches into the caller's encoder. */
export interface Pass {
  record(encoder: GPUCommandEncoder, timer?: PassTimer): void;
  /** Compute dispatches `record` issues (a clearBuffer, where there is one, not counted). */
  readonly dispatches: number;
  /** Floating-point operations of one run (approximate; for GFLOP/s). */
  readonly flops: number;
  /** Bytes one run must read and write at least (for GB/s). */
  readonly bytes: number;
}

/** One dispatch of a pass: a bound kernel and its workgroup grid. */
export interface KernelStep {
  kernel: BoundKernel;
  grid: Grid;
}

/** A pass made of bound kernels, dispatched in the order given. */
export function kernelPass(steps: readonly KernelStep[], flops: number, bytes: number): Pass {
  const list = [...steps];
  return {
    dispatches: list.length,
    flops,
    bytes,
    record(encoder: GPUCommandEncoder, timer?: PassTimer): void {
      for (const s of list) s.kernel.record(encoder, s.grid, timer);
    },
  };
}

/** Passes recorded one after the other (e.g. a GEMM then a reduction). */
export function sequencePass(passes: readonly Pass[]): Pass {
  return new PassList(...passes);
}

/** An appendable list of passes, recorded in order (a network's forward or backward). */
export class PassList implements Pass {
  readonly passes: Pass[];
  constructor(...passes: Pass[]) {
    this.passes = passes;
  }
  push(...p: Pass[]): void {
    this.passes.push(...p);
  }
  get dispatches(): number {
    return this.passes.reduce((s, p) => s + p.dispatches, 0);
  }
  get flops(): number {
    return this.passes.reduce((s, p) => s + p.flops, 0);
  }
  get bytes(): number {
    return this.passes.reduce((s, p) => s + p.bytes, 0);
  }
  record(encoder: GPUCommandEncoder, timer?: PassTimer): void {
    for (const p of this.passes) p.record(encoder, timer);
  }
}
