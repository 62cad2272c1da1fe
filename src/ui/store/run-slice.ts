// The training run: the engine's status (phase, step, speed), the metrics history for the charts
// (downsampled to ≤ 500 points), the latest record, collapse warnings, kNN accuracy, the latest
// cluster marginal, and a training error (a NaN pauses the run and names the metric). Frequent
// events (status while playing, metrics, marginals) are gathered and applied once per frame.
// The transport (play, pause, step, reset) lives here; building the first trainer is the
// lifecycle's decision (./lifecycle.ts).
import type { StepMetrics } from '../../train/metric-layout.ts';
import { appendHistory, emptyHistory, historyPoints, type History, type Point } from '../../worker/history.ts';
import type { KnnPoint, TrainErrorKind, TrainStatus } from '../../worker/protocol.ts';
import { classSizesFromEvent, type ClassSizes } from '../class-sizes.ts';
import { collapseWarnings, type CollapseWarning, type Peak } from '../collapse.ts';
import { sameConfig } from './settings-slice.ts';
import type { AppState, Slice, StoreContext } from './types.ts';

export interface TrainError {
  kind: TrainErrorKind;
  message: string;
  metric?: string;
  step?: number;
}

export interface RunSlice {
  train: TrainStatus;
  trainError: TrainError | null;
  /** Downsampled records (≤ 500 points) for the charts. */
  series: Point[];
  latest: StepMetrics | null;
  /** Highest values seen this run, for collapse warnings. */
  peak: Peak | null;
  warnings: CollapseWarning[];
  knn: KnnPoint[];
  knnInit: number | null;
  /** kNN and linear top-1 of the raw pixels on the same bank and queries (a dashed line on the kNN chart). */
  pixelBaselines: { knn: number; linear: number } | null;
  marginal: { step: number; sorted: number[] } | null;
  /** Class sizes after the latest label optimisation (SeLa), for its class-size panel. */
  classSizes: ClassSizes | null;
  play(): void;
  pause(): void;
  togglePlay(): void;
  stepBatch(): void;
  reset(): void;
  evaluateKnn(): void;
  dismissTrainError(): void;
}

export const IDLE_STATUS: TrainStatus = { phase: 'idle', step: 0, epoch: 0, stepsPerEpoch: 1, totalSteps: 0, imagesPerS: 0, stepsPerS: 0, etaS: null, config: null, dataset: null };

/** Errors after which the engine has stopped playing (a failed checkpoint or build does not stop a playing run, or there is none). */
const STOPS_PLAYING: ReadonlySet<TrainErrorKind> = new Set(['nan', 'step']);

export function createRunSlice(ctx: StoreContext): Slice<RunSlice, 'status' | 'metrics' | 'knn' | 'marginal' | 'class-sizes' | 'train-error' | 'history'> & { clear(): Partial<AppState> } {
  let history: History<Point> = emptyHistory();
  let pendingRecords: StepMetrics[] = [];
  let pendingStatus: TrainStatus | null = null;
  let pendingMarginal: RunSlice['marginal'] = null;

  function clear(): Partial<AppState> {
    history = emptyHistory();
    pendingRecords = [];
    pendingMarginal = null;
    return { series: [], latest: null, peak: null, warnings: [], knn: [], knnInit: null, pixelBaselines: null, marginal: null, classSizes: null, trainError: null };
  }

  /** Nothing trained yet: the panel's changes apply at once (a fresh trainer from the page's configuration). */
  function applyPanelChanges(s: AppState, when: (s: AppState) => boolean): void {
    if (s.train.step === 0 && when(s) && !sameConfig(s.train.config, s.config)) ctx.newRun();
  }

  return {
    clear,
    state: {
      train: IDLE_STATUS,
      trainError: null,
      series: [],
      latest: null,
      peak: null,
      warnings: [],
      knn: [],
      knnInit: null,
      pixelBaselines: null,
      marginal: null,
      classSizes: null,

      play() {
        const s = ctx.get();
        if (s.train.phase === 'playing') return;
        const effects = ctx.advance({ type: 'play' });
        if (!effects.some((e) => e.type === 'configure')) applyPanelChanges(s, (x) => x.train.phase !== 'building');
        ctx.set({ trainError: null });
        ctx.send({ type: 'play' });
      },

      pause() {
        ctx.send({ type: 'pause' });
      },

      togglePlay() {
        const s = ctx.get();
        if (s.train.phase === 'playing') s.pause();
        else s.play();
      },

      stepBatch() {
        const s = ctx.get();
        if (s.train.phase === 'playing') return;
        applyPanelChanges(s, (x) => x.train.phase === 'paused');
        ctx.set({ trainError: null });
        ctx.send({ type: 'step-batch', count: 1 });
      },

      reset() {
        if (ctx.get().dataset.status !== 'ready') return;
        ctx.advance({ type: 'reset' });
      },

      evaluateKnn() {
        ctx.send({ type: 'evaluate-knn' });
      },

      dismissTrainError() {
        ctx.set({ trainError: null });
      },
    },

    on: {
      status(ev) {
        pendingStatus = ev.status;
        if (ev.status.phase !== 'playing') ctx.flush();
        else ctx.schedule();
      },

      metrics(ev) {
        for (const r of ev.records) pendingRecords.push(r);
        ctx.schedule();
      },

      knn(ev) {
        const s = ctx.get();
        const point = ev.point;
        ctx.set({ knnInit: ev.init ?? s.knnInit, pixelBaselines: ev.pixels ?? s.pixelBaselines, knn: point ? [...s.knn.filter((p) => p.step !== point.step), point] : s.knn });
      },

      'class-sizes'(ev) {
        ctx.set({ classSizes: classSizesFromEvent(ev.step, ev.sizes, ev.N) });
      },

      marginal(ev) {
        pendingMarginal = { step: ev.step, sorted: Array.from(ev.marginal).sort((a, b) => b - a) };
        ctx.schedule();
      },

      'train-error'(ev) {
        ctx.flush();
        const train = ctx.get().train;
        // The engine stops playing when it says so; its next status confirms the pause.
        const stopped = STOPS_PLAYING.has(ev.kind) && train.phase === 'playing';
        ctx.set({ trainError: { kind: ev.kind, message: ev.message, metric: ev.metric, step: ev.step }, ...(stopped ? { train: { ...train, phase: 'paused' } } : {}) });
      },

      history(ev) {
        const cleared = clear();
        history = appendHistory(emptyHistory(), ev.records as unknown as Point[]);
        ctx.set({ ...cleared, series: historyPoints(history), latest: ev.records.at(-1) ?? null, knn: ev.knn, knnInit: ev.knnInit });
      },
    },

    frame(s) {
      const patch: Partial<AppState> = {};
      if (pendingRecords.length) {
        history = appendHistory(history, pendingRecords as unknown as Point[]);
        const latest = pendingRecords[pendingRecords.length - 1]!;
        let peak = s.peak ?? { used: 0, targetH: -Infinity, teacherH: -Infinity };
        for (const r of pendingRecords) {
          peak = {
            // Methods without clusters leave these undefined (src/methods/*).
            used: Math.max(peak.used, Number.isFinite(r.used_clusters) ? r.used_clusters! : 0),
            targetH: Math.max(peak.targetH, Number.isFinite(r.target_marginal_entropy) ? r.target_marginal_entropy! : -Infinity),
            teacherH: Math.max(peak.teacherH, Number.isFinite(r.teacher_marginal_entropy) ? r.teacher_marginal_entropy! : -Infinity),
          };
        }
        patch.series = historyPoints(history);
        patch.latest = latest;
        patch.peak = peak;
        patch.warnings = collapseWarnings(latest, peak, s.train.config?.prototypes ?? s.config.prototypes);
        pendingRecords = [];
      }
      if (pendingStatus) {
        patch.train = pendingStatus;
        pendingStatus = null;
      }
      if (pendingMarginal) {
        patch.marginal = pendingMarginal;
        pendingMarginal = null;
      }
      return Object.keys(patch).length ? patch : null;
    },

    restart: () => {
      pendingStatus = null;
      return { ...clear(), train: IDLE_STATUS };
    },
  };
}
