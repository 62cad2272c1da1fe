// Times recorded GPU work: a few warm-up submits, then repeated submits, each waited for.
// When the adapter has timestamp-query and `record` passes the timer on to its kernels, the
// time is the GPU's: from the first timed pass's start to the last one's end, gaps between
// passes included (clock 'gpu'). Otherwise, or when nothing was timed, it is wall-clock time
// from submit to onSubmittedWorkDone, which adds the submit round trip (tens of microseconds,
// which dominates the smallest layers) (clock 'wall'). Both are returned when both exist.
//
// `backToBack` records the work several times in each submit (enough for about `minMs` of GPU
// time, at most `max`) and reports the time per repetition: the throughput of kernels that run
// one after another, as a training step's layers do. A lone dispatch of a few microseconds is
// otherwise timed with the GPU's launch latency and at idle clocks, which says little about the
// kernel. Only for idempotent work (or accumulation whose values do not matter).
import type { GpuContext } from '../src/gpu/context.ts';
import type { PassTimer } from '../src/gpu/kernel.ts';
import { Profiler } from '../src/gpu/profiler.ts';

export interface TimingOptions {
  warmup?: number;
  iters?: number;
  /** Stop repeating after this many milliseconds (emulators are slow). */
  budgetMs?: number;
  /** Record the work back to back in each submit for about minMs of GPU time (≤ max times). */
  backToBack?: { minMs: number; max: number };
}

export interface Timing {
  /** Median over the timed repetitions, by `clock`. */
  ms: number;
  samples: number[];
  clock: 'gpu' | 'wall';
  /** Median wall-clock time (submit to onSubmittedWorkDone), per repetition. */
  wallMs: number;
  /** Repetitions of the work in each timed submit (1 unless backToBack). */
  repeat: number;
}

export async function timeGpu(ctx: GpuContext, record: (enc: GPUCommandEncoder, timer?: PassTimer) => void, opts: TimingOptions = {}): Promise<Timing> {
  const { warmup = 2, iters = 10, budgetMs = 5000 } = opts;
  const { device } = ctx;
  const PROFILER_PASSES = 1024;
  const profiler = Profiler.available(ctx) ? new Profiler(ctx, PROFILER_PASSES) : null;
  let repeat = 1;
  let passesPerRecord = 0;
  const once = async (): Promise<{ wall: number; gpu: number | null }> => {
    const enc = device.createCommandEncoder({ label: 'bench' });
    for (let r = 0; r < repeat; r++) record(enc, profiler ?? undefined);
    profiler?.resolve(enc);
    const t0 = performance.now();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    const wall = performance.now() - t0;
    const passes = profiler ? await profiler.read() : [];
    passesPerRecord = passes.length / repeat;
    const gpu = passes.length ? Math.max(...passes.map((p) => p.end)) - Math.min(...passes.map((p) => p.start)) : null;
    return { wall: wall / repeat, gpu: gpu === null ? null : gpu / repeat };
  };
  try {
    let last = { wall: 0, gpu: null as number | null };
    for (let i = 0; i < warmup; i++) last = await once();
    if (opts.backToBack) {
      const single = last.gpu && last.gpu > 0 ? last.gpu : last.wall;
      const fit = passesPerRecord > 0 ? Math.floor(PROFILER_PASSES / passesPerRecord) : opts.backToBack.max;
      repeat = Math.max(1, Math.min(opts.backToBack.max, fit, Math.floor(opts.backToBack.minMs / Math.max(single, 1e-6))));
      if (repeat > 1) await once(); // warm the repeated submit too
    }
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
    if (gpuSamples.every((g): g is number => g !== null && g > 0)) return { ms: median(gpuSamples), samples: gpuSamples, clock: 'gpu', wallMs, repeat };
    return { ms: wallMs, samples: runs.map((r) => r.wall), clock: 'wall', wallMs, repeat };
  } finally {
    profiler?.destroy();
  }
}
