// The training-run driver (docs/ARCHITECTURE.md, "One training-run driver"): what happens around
// each step of a run, the same for `cli train`, the page's worker and the collapse lab — the kNN
// baseline at initialisation, kNN every N steps and at the end, checkpoints every N steps and at
// the end, the latest batch's targets at a cadence, halting on the first non-finite metric, and
// the run's throughput. Where things go is plugged in: files for the CLI, messages and
// IndexedDB for the page.
import type { StepMetrics } from './metric-layout.ts';
import { throughput } from './metric-layout.ts';
import type { Trainer } from './trainer.ts';

export type LatestBatch = Awaited<ReturnType<Trainer['latestBatch']>>;

export interface KnnPoint {
  step: number;
  top1: number;
  /** Every (k, T) the evaluator ran. */
  all: Record<string, number>;
  /** The evaluation at random initialisation. */
  init: boolean;
  /** The online linear probe's top-1 on the same queries (when the run has one). */
  linear?: number;
  /** A probe fitted on the bank's features at initialisation (when the run has a probe). */
  linearInit?: number;
}

export interface HaltInfo {
  metric: string;
  value: number;
  step: number;
}

/** Where a run's outputs go. Every hook is optional. */
export interface RunOutputs {
  /** Each logged record, as it is read back (asynchronously, in step order). */
  metrics?(m: StepMetrics): void;
  knn?(p: KnnPoint): void;
  /** Writes a checkpoint: on the interval, at the end of the run. */
  checkpoint?(trainer: Trainer, why: 'interval' | 'end'): Promise<void>;
  /** The latest batch's teacher logits and targets, at `batchEveryMs` (and after a manual step). */
  batch?(b: LatestBatch): void;
  /** A record the method logs from its own scheduled work (SeLa's label optimisation), with the step. */
  event?(rec: Record<string, number>): void;
  /** Class sizes (K counts) after a label optimisation (SeLa), with the step: the page's histogram. */
  classSizes?(step: number, sizes: Uint32Array): void;
  /** The first non-finite metric; the run stops stepping. */
  halted?(h: HaltInfo): Promise<void> | void;
}

export interface RunOptions {
  /** Read the latest batch at most this often (ms); 0: never. */
  batchEveryMs?: number;
}

export interface StepReport {
  outcome: 'stepped' | 'done' | 'halted';
  /** A kNN evaluation, a checkpoint or a batch read-back followed the step (slow work). */
  extra: boolean;
}

/** The first metric that is NaN or infinite, or null. */
export function firstNonFinite(m: Readonly<Record<string, number | undefined>>): string | null {
  for (const [k, v] of Object.entries(m)) if (typeof v === 'number' && !Number.isFinite(v)) return k;
  return null;
}

/**
 * The first tensor holding NaN or ±Infinity, as "name[index] = value", or null. `train` checks the
 * state it downloaded before writing a checkpoint a run may resume from (docs/ARCHITECTURE.md,
 * "One training-run driver"); src/nn/checkpoint.ts checks files on reading.
 */
export function firstNonFiniteTensor(tensors: Iterable<readonly [string, Float32Array]>, prefix = ''): string | null {
  for (const [name, data] of tensors) {
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) return `${prefix}${name}[${i}] = ${data[i]}`;
  }
  return null;
}

export class TrainingRun {
  halt: HaltInfo | null = null;
  lastKnn: KnnPoint | null = null;
  private firstStep: number;
  private startedAt = 0;
  private lastBatchAt = 0;

  constructor(
    readonly trainer: Trainer,
    private readonly out: RunOutputs,
    private readonly opts: RunOptions = {},
  ) {
    this.firstStep = trainer.currentStep;
  }

  /** The trainer's onLog hook: forwards the record and watches for a non-finite metric. */
  onLog(m: StepMetrics): void {
    const bad = firstNonFinite(m);
    if (bad && !this.halt) this.halt = { metric: bad, value: m[bad]!, step: m.step };
    this.out.metrics?.(m);
  }

  /**
   * The kNN baseline at initialisation, unless the trainer already has one (a resumed run). With
   * `defer` (the page) it is not measured now: the trainer keeps a copy of the initial student and
   * `evaluateInit` measures it later, after the first step is shown, with the same result.
   */
  async begin(opts: { defer?: boolean } = {}): Promise<void> {
    if (this.trainer.knnInit === null && this.trainer.currentStep === 0) {
      if (opts.defer) this.trainer.snapshotInit();
      else await this.evaluate(true);
    }
    this.firstStep = this.trainer.currentStep;
    this.startedAt = performance.now();
  }

  /** The deferred random-init baseline (begin({ defer: true })): reported as an init kNN point; null when none is pending. */
  async evaluateInit(): Promise<KnnPoint | null> {
    const r = await this.trainer.evaluateKnnInit();
    if (!r) return null;
    const p: KnnPoint = { step: 0, top1: r.top1, all: r.all, init: true };
    if (r.linearInit !== undefined) p.linearInit = r.linearInit;
    this.lastKnn ??= p;
    this.out.knn?.(p);
    return p;
  }

  async evaluate(init = false): Promise<KnnPoint> {
    const r = await this.trainer.evaluateKnn();
    const p: KnnPoint = { step: this.trainer.currentStep, top1: r.top1, all: r.all, init };
    if (r.linear !== undefined) p.linear = r.linear;
    if (r.linearInit !== undefined) p.linearInit = r.linearInit;
    this.lastKnn = p;
    this.out.knn?.(p);
    return p;
  }

  /** One step and what follows it on schedule. `manual`: a single step asked for by the user (reads the batch). */
  async step(manual = false): Promise<StepReport> {
    const t = this.trainer;
    if (this.halt) return { outcome: 'halted', extra: false };
    if (t.done) return { outcome: 'done', extra: false };
    if (!this.startedAt) this.startedAt = performance.now();
    await t.step();
    const s = t.currentStep;
    const c = t.config;
    let extra = false;
    const rec = await t.afterStep();
    if (rec) {
      this.out.event?.({ step: s, ...rec });
      const sizes = t.latestClassSizes();
      if (sizes) this.out.classSizes?.(s, sizes);
      extra = true;
    }
    if (t.done) await t.flush();
    if (this.halt) {
      await t.flush();
      await this.out.halted?.(this.halt);
      return { outcome: 'halted', extra: true };
    }
    if ((c.knnEvery > 0 && s % c.knnEvery === 0) || t.done) {
      await this.evaluate();
      extra = true;
    }
    const every = this.opts.batchEveryMs ?? 0;
    const now = performance.now();
    if (this.out.batch && t.hasTargets && (manual || t.done || (every > 0 && now - this.lastBatchAt > every))) {
      this.lastBatchAt = now;
      this.out.batch(await t.latestBatch());
      extra = true;
    }
    if (this.out.checkpoint && ((c.checkpointEvery > 0 && s % c.checkpointEvery === 0) || t.done)) {
      await t.flush();
      await this.out.checkpoint(t, t.done ? 'end' : 'interval');
      extra = true;
    }
    return { outcome: t.done ? 'done' : 'stepped', extra };
  }

  /** Steps done by this driver, seconds since `begin`, and the one definition of throughput. */
  totals(): { steps: number; wall_s: number; images_per_s: number; views_per_s: number } {
    const steps = this.trainer.currentStep - this.firstStep;
    const wall = this.startedAt ? (performance.now() - this.startedAt) / 1000 : 0;
    return { steps, wall_s: wall, ...throughput(steps * this.trainer.config.batch, this.trainer.method.viewsPerImage, wall) };
  }
}
