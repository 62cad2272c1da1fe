// The collapse lab: every registered method trained from the same seed on the same data,
// interleaved one step at a time so the curves grow together; every step's used clusters and
// marginal entropies (null for methods without clusters) and effective rank are streamed to the page. Each method runs through the training-run driver
// (src/train/run-driver.ts) like a normal run. The lab's trainers are its own (the main run is
// paused meanwhile) and are destroyed when it ends.
import type { GpuContext } from '../gpu/context.ts';
import type { DatasetSplits } from '../data/dataset.ts';
import { METHOD_IDS, METHODS, type MethodId } from '../methods/registry.ts';
import { Trainer } from '../train/trainer.ts';
import type { TrainConfig } from '../train/config.ts';
import type { StepMetrics } from '../train/metric-layout.ts';
import { TrainingRun } from '../train/run-driver.ts';
import type { EngineEvent, LabPoint } from './protocol.ts';

/** The lab's methods, in the registry's order. */
export const LAB_METHODS: readonly MethodId[] = METHOD_IDS;

type Post = (event: EngineEvent) => void;

function point(m: StepMetrics): LabPoint {
  return {
    step: m.step,
    used_clusters: m.used_clusters ?? null,
    target_marginal_entropy: m.target_marginal_entropy ?? null,
    teacher_marginal_entropy: m.teacher_marginal_entropy ?? null,
    target_mi: m.target_mi ?? null,
    effective_rank: m.effective_rank ?? NaN,
    loss: m.loss,
  };
}

/** The lab's configuration for one method: the given one with the method's recommended values, logging every step, no kNN or checkpoints. */
export function labConfig(base: TrainConfig, method: MethodId, steps: number): TrainConfig {
  const def = METHODS.find((m) => m.id === method)!;
  return {
    ...base,
    ...(def.recommended ?? {}),
    method,
    steps: Math.max(steps, base.steps),
    logEvery: 1,
    knnEvery: 0,
    checkpointEvery: 0,
  };
}

export class CollapseLab {
  private stopped = false;
  running = false;

  constructor(
    readonly ctx: GpuContext,
    private readonly post: Post,
  ) {}

  stop(): void {
    this.stopped = true;
  }

  async run(data: DatasetSplits, base: TrainConfig, steps: number): Promise<void> {
    this.stopped = false;
    this.running = true;
    const runs: TrainingRun[] = [];
    let done = 0;
    const status = (step: number, detail?: string, error?: string) => this.post({ type: 'lab-status', running: this.running, step, steps, detail, error });
    try {
      status(0, `building ${LAB_METHODS.length} trainers (${LAB_METHODS.join(', ')})`);
      for (const method of LAB_METHODS) {
        if (this.stopped) return;
        let run: TrainingRun | null = null;
        const t = await Trainer.create(this.ctx, data, labConfig(base, method, steps), { onLog: (m) => run?.onLog(m) });
        run = new TrainingRun(t, { metrics: (m) => this.post({ type: 'lab-points', points: [{ method, point: point(m) }] }) });
        runs.push(run);
        status(0, `built ${runs.length} of ${LAB_METHODS.length} trainers`);
      }
      for (let s = 0; s < steps && !this.stopped; s++) {
        for (const r of runs) {
          if (this.stopped) break;
          await r.step();
        }
        await Promise.all(runs.map((r) => r.trainer.flush()));
        done = s + 1;
        status(done, `step ${done} of ${steps}`);
      }
    } catch (e) {
      this.running = false;
      status(0, undefined, `The collapse lab stopped: ${(e as Error).message}`);
      return;
    } finally {
      for (const r of runs) {
        try {
          r.trainer.destroy();
        } catch {
          // the device may be gone
        }
      }
    }
    this.running = false;
    status(done, this.stopped ? 'stopped' : 'done');
  }
}
