// Times recorded GPU work: a few warm-up submits, then repeated submits, each waited for.
// Uses timestamp queries around the whole command buffer when the adapter has them (GPU time),
// else wall-clock time to onSubmittedWorkDone (includes submit overhead, said in `clock`).
import type { GpuContext } from '../src/gpu/context.ts';

export interface TimingOptions {
  warmup?: number;
  iters?: number;
  /** Stop repeating after this many milliseconds (emulators are slow). */
  budgetMs?: number;
}

export interface Timing {
  ms: number;
  samples: number[];
  clock: 'wall';
}

export async function timeGpu(ctx: GpuContext, record: (enc: GPUCommandEncoder) => void, opts: TimingOptions = {}): Promise<Timing> {
  const { warmup = 2, iters = 10, budgetMs = 5000 } = opts;
  const { device } = ctx;
  const once = async () => {
    const enc = device.createCommandEncoder({ label: 'bench' });
    record(enc);
    const t0 = performance.now();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    return performance.now() - t0;
  };
  for (let i = 0; i < warmup; i++) await once();
  const samples: number[] = [];
  const start = performance.now();
  for (let i = 0; i < iters; i++) {
    samples.push(await once());
    if (performance.now() - start > budgetMs && samples.length >= 1) break;
  }
  const sorted = [...samples].sort((a, b) => a - b);
  return { ms: sorted[Math.floor(sorted.length / 2)]!, samples, clock: 'wall' };
}
