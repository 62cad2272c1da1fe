// The collapse lab: naive self-labelling, Sinkhorn-Knopp (SwAV) and MIRA trained from the same
// seed on the same data, interleaved one step at a time so the three curves grow together;
// every step's used clusters and marginal entropies are streamed to the page. The lab's
// trainers are its own (the main run is paused meanwhile) and are destroyed when it ends.
import type { GpuContext } from '../gpu/context.ts';
import type { DatasetSplits } from '../data/dataset.ts';
import { Trainer } from '../mira/trainer.ts';
import type { Method, StepMetrics, TrainConfig } from '../mira/train-config.ts';
import type { EngineEvent, LabPoint } from './protocol.ts';

export const LAB_METHODS: Method[] = ['naive', 'swav', 'mira'];

type Post = (event: EngineEvent) => void;

function point(m: StepMetrics): LabPoint {
  return {
    step: m.step,
    used_clusters: m.used_clusters,
    target_marginal_entropy: m.target_marginal_entropy,
    teacher_marginal_entropy: m.teacher_marginal_entropy,
    target_mi: m.target_mi,
    loss: m.loss,
  };
}

/** The lab's configuration for one method: the given one, logging every step, no kNN or checkpoints. */
export function labConfig(base: TrainConfig, method: Method, steps: number): TrainConfig {
  return {
    ...base,
    method,
    iters: method === 'swav' ? 3 : method === 'mira' ? Math.max(base.iters, 30) : base.iters,
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
    const trainers: Trainer[] = [];
    let done = 0;
    const status = (step: number, detail?: string, error?: string) => this.post({ type: 'lab-status', running: this.running, step, steps, detail, error });
    try {
      status(0, 'building three trainers (naive, Sinkhorn-Knopp, MIRA)');
      for (const method of LAB_METHODS) {
        if (this.stopped) return;
        const t = await Trainer.create(this.ctx, data, labConfig(base, method, steps), {
          onLog: (m) => this.post({ type: 'lab-points', points: [{ method, point: point(m) }] }),
        });
        trainers.push(t);
        status(0, `built ${trainers.length} of 3 trainers`);
      }
      for (let s = 0; s < steps && !this.stopped; s++) {
        for (const t of trainers) {
          if (this.stopped) break;
          await t.step();
        }
        await Promise.all(trainers.map((t) => t.flush()));
        done = s + 1;
        status(done, `step ${done} of ${steps}`);
      }
    } catch (e) {
      this.running = false;
      status(0, undefined, `The collapse lab stopped: ${(e as Error).message}`);
      return;
    } finally {
      for (const t of trainers) {
        try {
          t.destroy();
        } catch {
          // the device may be gone
        }
      }
    }
    this.running = false;
    status(done, this.stopped ? 'stopped' : 'done');
  }
}
