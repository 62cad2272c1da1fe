// Times recorded GPU work: a few warm-up submits, then repeated submits, each waited for.
// When the adapter has timestamp-query and `record` passes the timer on to its kernels, the
// time is the GPU's: from the first timed pass's start to the last one's end, gaps between
// passes included (clock 'gpu'). Otherwise, or when nothing was timed, it is wall-clock time
// from submit to onSubmittedWorkDone, which adds the submit round trip (tens of microseconds,
// which dominates the smallest layers) (clock 'wall'). Both are returned when both exist.
import type { GpuContext } from '../src/gpu/context.ts';
import type { PassTimer } from '../src/gpu/kernel.ts';
import { Profiler } from '../src/gpu/profiler.ts';

export interface TimingOptions {
  warmup?: number;
  iters?: number;
  /** Stop repeating after this many milliseconds (emulators are slow). */
  budgetMs?: number;
}

export interface Timing {
  /** Median over the timed repetitions, by `clock`. */
  ms: number;
  samples: number[];
  clock: 'gpu' | 'wall';
  /** Median wall-clock time (submit to onSubmittedWorkDone). */
  wallMs: number;
}

export async function timeGpu(ctx: GpuContext, record: (enc: GPUCommandEncoder, timer?: PassTimer) => void, opts: TimingOptions = {}): Promise<Timing> {
  const { warmup = 2, iters = 10, budgetMs = 5000 } = opts;
  const { device } = ctx;
  const profiler = Profiler.available(ctx) ? new Profiler(ctx, 1024) : null;
  const once = async (): Promise<{ wall: number; gpu: number | null }> => {
    const enc = device.createCommandEncoder({ label: 'bench' });
    record(enc, profiler ?? undefined);
    profiler?.resolve(enc);
    const t0 = performance.now();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    const wall = performance.now() - t0;
    const passes = profiler ? await profiler.read() : [];
    const gpu = passes.length ? Math.max(...passes.map((p) => p.end)) - Math.min(...passes.map((p) => p.start)) : null;
    return { wall, gpu };
  };
  try {
    for (let i = 0; i < warmup; i++) await once();
    const runs: { wall: number; gpu: number | null }[] = [];
    const start = performance.now();
    for (let i = 0; i < iters; i++) {
      runs.push(await once());
      if (performance.now() - start > budgetMs && runs.length >= 1) break;
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const wallMs = median(runs.map((r) => r.wall));
    // A timestamp of 0 duration (quantised clocks) or a missing one falls back to the wall clock.
    const gpuSamples = runs.map((r) => r.gpu);
    if (gpuSamples.every((g): g is number => g !== null && g > 0)) return { ms: median(gpuSamples), samples: gpuSamples, clock: 'gpu', wallMs };
    return { ms: wallMs, samples: runs.map((r) => r.wall), clock: 'wall', wallMs };
  } finally {
    profiler?.destroy();
  }
}
