// The method arena: the methods the page picked, trained from one seed on the same images and
// augmentation (the same data order: every trainer draws its batches from the seed), interleaved
// one step of each per round so all curves advance together, each through the training-run driver
// (src/train/run-driver.ts) with its kNN and online linear-probe evaluations at the shared cadence
// (config.knnEvery, and at the end). It keeps one model per method on the GPU, so a set that does
// not fit stops at the build with a message saying how many fit and what to do. Pause holds the
// loop between steps; stop ends it and frees the trainers. The main run is paused meanwhile, as for
// the collapse lab (./lab.ts). See docs/ARCHITECTURE.md (the page).
import type { GpuContext } from '../gpu/context.ts';
import type { DatasetSplits } from '../data/dataset.ts';
import { METHODS, type MethodId } from '../methods/registry.ts';
import { pixelBaselines } from '../train/baselines.ts';
import type { TrainConfig } from '../train/config.ts';
import type { StepMetrics } from '../train/metric-layout.ts';
import { TrainingRun } from '../train/run-driver.ts';
import { Trainer } from '../train/trainer.ts';
import type { ArenaPoint, ArenaStatus, EngineEvent } from './protocol.ts';
import { describe } from './session.ts';
import { embeddingMap } from './embedding-map.ts';

type Post = (event: EngineEvent, transfer?: Transferable[]) => void;

/**
 * The methods to step in the next round, in the order picked: every one that has steps left and
 * has not halted (a non-finite metric stops that method alone; the others go on).
 */
export function arenaRound(methods: readonly string[], done: Readonly<Record<string, number>>, steps: number, halted: ReadonlySet<string> = new Set()): string[] {
  return methods.filter((m) => (done[m] ?? 0) < steps && !halted.has(m));
}

/** The whole interleaving as (method, step) pairs: round r steps every method once, to step r + 1. */
export function arenaSchedule(methods: readonly string[], steps: number): { method: string; step: number }[] {
  const done: Record<string, number> = {};
  const out: { method: string; step: number }[] = [];
  for (let round = arenaRound(methods, done, steps); round.length; round = arenaRound(methods, done, steps)) {
    for (const m of round) {
      done[m] = (done[m] ?? 0) + 1;
      out.push({ method: m, step: done[m] });
    }
  }
  return out;
}

/** One method's configuration: the shared one with the method's recommended values, logging every step, kNN at the shared cadence, no checkpoints. */
export function arenaConfig(base: TrainConfig, method: MethodId, steps: number): TrainConfig {
  const def = METHODS.find((m) => m.id === method);
  if (!def) throw new Error(`unknown method "${method}" in the arena`);
  return { ...base, ...(def.recommended ?? {}), method, steps, logEvery: 1, checkpointEvery: 0 };
}

function arenaPoint(m: StepMetrics): ArenaPoint {
  return {
    step: m.step,
    loss: m.loss,
    effective_rank: m.effective_rank ?? null,
    used_clusters: m.used_clusters ?? null,
    alignment: m.alignment ?? null,
    uniformity: m.uniformity ?? null,
  };
}

interface Entrant {
  method: MethodId;
  run: TrainingRun;
  /** Seconds of this method's own steps (evaluations excluded) and how many. */
  stepSeconds: number;
  timedSteps: number;
}

export class MethodArena {
  running = false;
  private paused = false;
  private stopped = false;
  private wake: (() => void) | null = null;

  constructor(
    readonly ctx: GpuContext,
    private readonly post: Post,
  ) {}

  pause(): void {
    if (this.running) this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.wake?.();
  }

  stop(): void {
    this.stopped = true;
    this.resume();
  }

  async run(data: DatasetSplits, base: TrainConfig, methods: readonly MethodId[], steps: number): Promise<void> {
    if (!methods.length) throw new Error('the arena needs at least one method: tick one or more in the method list');
    // A pause or stop asked for while this run waited for the session's queue still counts; both are cleared when it ends.
    this.running = true;
    const entrants: Entrant[] = [];
    const halted = new Set<string>();
    /** Why a method stopped on its own; said with every later status. */
    const haltNotes: string[] = [];
    let stoppedEarly = false;
    const done: Record<string, number> = Object.fromEntries(methods.map((m) => [m, 0]));
    const status = (detail?: string, error?: string) => {
      const s: ArenaStatus = {
        running: this.running,
        paused: this.paused,
        done: { ...done },
        steps,
        imagesPerS: Object.fromEntries(entrants.map((e) => [e.method, e.stepSeconds > 0 ? (e.timedSteps * e.run.trainer.config.batch) / e.stepSeconds : 0])),
        ...(detail !== undefined ? { detail } : {}),
        ...(error !== undefined || haltNotes.length ? { error: [...haltNotes, ...(error !== undefined ? [error] : [])].join(' ') } : {}),
      };
      this.post({ type: 'arena-status', status: s });
    };
    try {
      for (const method of methods) {
        if (this.stopped) break;
        status(`building ${method} (${entrants.length + 1} of ${methods.length}) and measuring its random-init baselines`);
        const errorsBefore = this.ctx.uncapturedCount;
        let run: TrainingRun | null = null;
        let trainer: Trainer;
        try {
          trainer = await Trainer.create(this.ctx, data, arenaConfig(base, method, steps), { onLog: (m) => run?.onLog(m) });
          await this.ctx.device.queue.onSubmittedWorkDone();
        } catch (e) {
          throw new Error(this.buildFailure(method, entrants.length, methods.length, describe(e)));
        }
        const fresh = this.ctx.uncapturedCount - errorsBefore;
        const oom = fresh > 0 ? this.ctx.uncaptured.slice(-Math.min(fresh, this.ctx.uncaptured.length)).find((m) => /out of memory/i.test(m)) : undefined;
        if (oom) {
          trainer.destroy();
          throw new Error(this.buildFailure(method, entrants.length, methods.length, oom));
        }
        run = new TrainingRun(trainer, {
          metrics: (m) => this.post({ type: 'arena-points', points: [{ method, point: arenaPoint(m) }] }),
          knn: (p) => this.post({ type: 'arena-eval', method, init: p.init, point: { step: p.step, knn: p.top1, linear: (p.init ? p.linearInit : p.linear) ?? null } }),
        });
        entrants.push({ method, run, stepSeconds: 0, timedSteps: 0 });
        await run.begin();
        if (entrants.length === 1) {
          const px = await pixelBaselines(this.ctx, data, trainer.config);
          this.post({ type: 'arena-pixels', pixels: { knn: px.knn_top1_pixels, linear: px.linear_top1_pixels } });
        }
      }
      const order = entrants.map((e) => e.method);
      for (let round = arenaRound(order, done, steps, halted); round.length && !this.stopped; round = arenaRound(order, done, steps, halted)) {
        for (const method of round) {
          await this.holdWhilePaused(status);
          if (this.stopped) break;
          const e = entrants.find((x) => x.method === method)!;
          const t0 = performance.now();
          const report = await e.run.step();
          // Each method's step is timed on its own: wait for its GPU work before the next method's.
          await e.run.trainer.flush();
          done[method] = e.run.trainer.currentStep;
          if (report.outcome === 'halted') {
            halted.add(method);
            const h = e.run.halt;
            haltNotes.push(`${method} stopped: ${h?.metric ?? 'a metric'} became ${h?.value} at step ${h?.step} (lower its learning rate or τ); the other methods go on.`);
            status();
            continue;
          }
          if (!report.extra) {
            e.stepSeconds += (performance.now() - t0) / 1000;
            e.timedSteps++;
          }
        }
        const active = order.filter((m) => !halted.has(m));
        status(`round ${Math.min(...active.map((m) => done[m]!), steps)} of ${steps}`);
      }
      stoppedEarly = this.stopped;
      // The maps side by side (issue 14): each method's test features by PCA, drawn before its trainer is freed.
      const mapped = entrants.filter((e) => !halted.has(e.method) && e.run.trainer.currentStep > 0);
      if (mapped.length) {
        status('drawing each method’s embedding map (PCA of the test images’ features)');
        const maps = [];
        for (const e of mapped) maps.push(await embeddingMap(e.run.trainer, data, 'pca'));
        this.post({ type: 'arena-maps', maps }, maps.flatMap((m) => [m.points.buffer, m.images.buffer]) as ArrayBuffer[]);
      }
    } catch (e) {
      this.running = false;
      this.paused = false;
      status(undefined, describe(e));
      return;
    } finally {
      for (const e of entrants) {
        try {
          e.run.trainer.destroy();
        } catch {
          // the device may be gone
        }
      }
      this.stopped = false;
      this.paused = false;
    }
    this.running = false;
    status(stoppedEarly ? 'stopped' : 'done');
  }

  private async holdWhilePaused(status: (detail?: string) => void): Promise<void> {
    if (!this.paused || this.stopped) return;
    status('paused');
    while (this.paused && !this.stopped) await new Promise<void>((resolve) => (this.wake = resolve));
    this.wake = null;
    if (!this.stopped) status('resumed');
  }

  private buildFailure(method: MethodId, built: number, total: number, why: string): string {
    return `The arena could not build ${method} (method ${built + 1} of ${total}): ${why}. It keeps one model per method on the GPU` + (built > 0 ? `, and ${built} fit here: tick at most ${built} methods, or` : ': ') + ' lower the width or the batch, then start again.';
  }
}
