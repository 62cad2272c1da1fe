// `npm run bench -- --vs-torch`: the project's MIRA training step and PyTorch's (bench/torch/mira_step_bench.py,
// built on torch/torch_mira) in one run on the same machine, side by side: images/s of both (each view counted),
// their ratio pair by pair, medians over --repeats alternating pairs (the machine may be shared and loaded), and
// peak memory (PyTorch: max_memory_allocated on CUDA, peak RSS on CPU; the project: the peak of live GPU buffer
// bytes, counted by wrapping device.createBuffer/destroy while the trainer is built and steps). With CUDA the
// PyTorch side runs three ways: fp32 TF32 off, TF32 on, bf16 autocast + channels_last. Without PyTorch it prints
// how to get it and skips (exit 0). Never part of CI.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GpuContext } from '../src/gpu/context.ts';
import { Trainer } from '../src/train/trainer.ts';
import { defaultTrainConfig, type TrainConfig } from '../src/train/config.ts';
import { syntheticSplits } from './synthetic-data.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface VsTorchOptions {
  width: number;
  batch: number;
  prototypes: number;
  projHidden: number;
  projOut: number;
  /** Timed steps per measurement (after one warm-up step). */
  steps: number;
  /** Alternating project / PyTorch measurements; medians are reported. */
  repeats: number;
  python: string;
}

export const VS_TORCH_DEFAULTS: VsTorchOptions = { width: 1 / 8, batch: 32, prototypes: 3000, projHidden: 2048, projOut: 256, steps: 5, repeats: 3, python: '/usr/bin/python3' };

interface TorchRun {
  mode: string;
  device: string;
  torch: string;
  threads: number;
  images_per_s: number;
  ms_per_step: number;
  peak_bytes: number;
  peak_kind: string;
}

export interface VsTorchReport {
  adapter: string;
  config: Pick<TrainConfig, 'width' | 'batch' | 'prototypes' | 'projHidden' | 'projOut' | 'iters'>;
  steps: number;
  project: { images_per_s: number[]; median: number; peak_bytes: number };
  torch: { mode: string; device: string; torch: string; threads: number; images_per_s: number[]; median: number; peak_bytes: number; peak_kind: string; ratios: number[]; ratio_median: number }[];
  skipped?: string;
  load_before: number[];
  load_after: number[];
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Counts the bytes of live GPU buffers (created minus destroyed) and their peak, from now on. */
function countBufferBytes(ctx: GpuContext): { peak: () => number; restore: () => void } {
  const device = ctx.device;
  const original = device.createBuffer.bind(device);
  let live = 0;
  let peak = 0;
  device.createBuffer = (desc: GPUBufferDescriptor): GPUBuffer => {
    const buffer = original(desc);
    const size = desc.size;
    live += size;
    peak = Math.max(peak, live);
    const destroy = buffer.destroy.bind(buffer);
    let gone = false;
    buffer.destroy = () => {
      if (!gone) live -= size;
      gone = true;
      destroy();
    };
    return buffer;
  };
  return { peak: () => peak, restore: () => (device.createBuffer = original) };
}

/** null when `python` imports torch; else why not and how to get it. */
function torchMissing(python: string): string | null {
  const r = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
  if (r.error) return `${python} cannot be run (${r.error.message}); pass --python PATH to a python with PyTorch`;
  if (r.status !== 0) return `${python} has no PyTorch (${(r.stderr.trim().split('\n').pop() ?? '').trim()}); install it with: apt-get install python3-torch (Debian/Ubuntu), or pip install torch`;
  return null;
}

function cudaAvailable(python: string): boolean {
  const r = spawnSync(python, ['-c', 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)']);
  return r.status === 0;
}

function runTorch(python: string, config: TrainConfig, steps: number, mode: string): TorchRun {
  const r = spawnSync(python, [join(root, 'bench/torch/mira_step_bench.py'), '--config', JSON.stringify(config), '--steps', String(steps), '--mode', mode], {
    encoding: 'utf8',
    env: { ...process.env, PYTHONPATH: [join(root, 'torch'), process.env.PYTHONPATH].filter(Boolean).join(':') },
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) throw new Error(`bench/torch/mira_step_bench.py (--mode ${mode}) failed with exit ${r.status}: ${r.stderr.trim()}`);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as TorchRun;
}

const loadAverage = async (): Promise<number[]> => (await import('node:os')).loadavg().map((x) => Math.round(x * 100) / 100);

export async function runVsTorch(ctx: GpuContext, opts: VsTorchOptions, log: (line: string) => void): Promise<VsTorchReport> {
  const config = defaultTrainConfig({ width: opts.width, batch: opts.batch, prototypes: opts.prototypes, projHidden: opts.projHidden, projOut: opts.projOut, steps: 1000, logEvery: 1000, linearProbe: 'off' });
  const report: VsTorchReport = {
    adapter: ctx.adapterName,
    config: { width: config.width, batch: config.batch, prototypes: config.prototypes, projHidden: config.projHidden, projOut: config.projOut, iters: config.iters },
    steps: opts.steps,
    project: { images_per_s: [], median: 0, peak_bytes: 0 },
    torch: [],
    load_before: await loadAverage(),
    load_after: [],
  };
  const missing = torchMissing(opts.python);
  const modes = missing ? [] : cudaAvailable(opts.python) ? ['fp32', 'tf32', 'bf16-cl'] : ['fp32'];
  if (missing) {
    report.skipped = missing;
    log(`PyTorch side skipped: ${missing}`);
  }
  // Every buffer the trainer makes while it is built and in its first step (some are made lazily) is counted.
  const counter = countBufferBytes(ctx);
  let trainer: Trainer;
  try {
    trainer = await Trainer.create(ctx, syntheticSplits(opts.batch * 4), config);
    await trainer.step();
    await trainer.flush();
  } finally {
    counter.restore();
  }
  report.project.peak_bytes = counter.peak();
  const torchRuns = new Map<string, TorchRun[]>(modes.map((m) => [m, []]));
  try {
    for (let r = 0; r < opts.repeats; r++) {
      const t0 = performance.now();
      for (let i = 0; i < opts.steps; i++) await trainer.step();
      await trainer.flush();
      const ips = (2 * opts.batch * opts.steps * 1000) / (performance.now() - t0);
      report.project.images_per_s.push(ips);
      log(`repeat ${r + 1}/${opts.repeats}: project ${ips.toFixed(1)} images/s`);
      for (const mode of modes) {
        const t = runTorch(opts.python, config, opts.steps, mode);
        torchRuns.get(mode)!.push(t);
        log(`repeat ${r + 1}/${opts.repeats}: PyTorch ${mode} on ${t.device} ${t.images_per_s.toFixed(1)} images/s (ratio ${(ips / t.images_per_s).toFixed(2)})`);
      }
    }
  } finally {
    trainer.destroy();
  }
  report.project.median = median(report.project.images_per_s);
  for (const [mode, runs] of torchRuns) {
    const ips = runs.map((t) => t.images_per_s);
    const ratios = report.project.images_per_s.map((p, i) => p / ips[i]!);
    const first = runs[0]!;
    report.torch.push({ mode, device: first.device, torch: first.torch, threads: first.threads, images_per_s: ips, median: median(ips), peak_bytes: Math.max(...runs.map((t) => t.peak_bytes)), peak_kind: first.peak_kind, ratios, ratio_median: median(ratios) });
  }
  report.load_after = await loadAverage();
  return report;
}

const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;

export function formatVsTorch(r: VsTorchReport): string {
  const c = r.config;
  const lines = [
    `MIRA step, width ${c.width}, batch ${c.batch}, K ${c.prototypes}, projector ${c.projHidden}→${c.projOut}, ${c.iters} iterations; ${r.steps} steps per measurement, images/s count each view`,
    `load average before ${r.load_before.join(' ')}, after ${r.load_after.join(' ')}`,
    `project   (${r.adapter}): ${r.project.images_per_s.map((x) => x.toFixed(1)).join(', ')} images/s; median ${r.project.median.toFixed(1)}; planned GPU buffers peak ${mib(r.project.peak_bytes)}`,
  ];
  for (const t of r.torch) {
    lines.push(`PyTorch ${t.torch} ${t.mode} on ${t.device} (${t.threads} threads): ${t.images_per_s.map((x) => x.toFixed(1)).join(', ')} images/s; median ${t.median.toFixed(1)}; peak ${mib(t.peak_bytes)} (${t.peak_kind})`);
    lines.push(`  ratio project / PyTorch ${t.mode}, pair by pair: ${t.ratios.map((x) => x.toFixed(2)).join(', ')}; median ${t.ratio_median.toFixed(2)}×`);
  }
  if (r.skipped) lines.push(`PyTorch skipped: ${r.skipped}`);
  return lines.join('\n');
}
