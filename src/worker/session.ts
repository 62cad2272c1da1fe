// The training session inside the engine worker: the dataset, the Trainer, the play loop and
// everything the dashboard streams — metrics (batched, at most ~10 messages a second), status,
// the latest targets' marginal, kNN points — plus checkpoints (IndexedDB every N steps),
// exports and the cluster gallery's assignments. A run continues from the IndexedDB checkpoint
// or from checkpoint files the user loads (importCheckpoint); either is read and checked before
// the running trainer is let go, so a checkpoint that is refused changes nothing. Every use of the trainer goes through one
// queue (`exclusive`), so the play loop, a step, an export and the explorer's batch request
// never interleave on the GPU.
import type { GpuContext } from '../gpu/context.ts';
import { compileStats } from '../gpu/kernel.ts';
import type { DatasetSplits } from '../data/dataset.ts';
import { encodeNpy } from '../io/npy.ts';
import { CheckpointError, decodeCheckpoint, encodeCheckpoint, type ModelState } from '../nn/checkpoint.ts';
import { methodById } from '../methods/registry.ts';
import { decodeOptimizerState, importedTrainConfig, optimizerStateSize, refuseGzip, sortCheckpointFiles } from '../train/checkpoint-import.ts';
import { Trainer } from '../train/trainer.ts';
import type { TrainConfig } from '../train/config.ts';
import type { StepMetrics } from '../train/metric-layout.ts';
import { TrainingRun, type HaltInfo, type LatestBatch } from '../train/run-driver.ts';
import { pixelBaselines } from '../train/baselines.ts';
import { buildGallery } from './gallery.ts';
import { embeddingMap } from './embedding-map.ts';
import { checkpointInfo, checkStoredCheckpoint, loadCheckpoint, saveCheckpoint, STORED_SOURCE, type StoredCheckpoint } from './checkpoints.ts';
import { appendHistory, emptyHistory, historyPoints, type History, type Point } from './history.ts';
import { MetricsLog } from './metrics-log.ts';
import type { EngineEvent, ExportKind, KnnPoint, MapProjection, TrainPhase, TrainStatus } from './protocol.ts';
import { datasetKey } from './datasets.ts';

type Post = (event: EngineEvent, transfer?: Transferable[]) => void;

/** How often the latest batch is read back for the marginal chart and the gallery (ms). */
const BATCH_EVERY_MS = 1200;
/** Images whose latest cluster the gallery remembers. */
const GALLERY_MEMORY = 2048;
const METRICS_FLUSH_MS = 100;
const STATUS_EVERY_MS = 250;
/** Records kept with a checkpoint (downsampled). */
const CHECKPOINT_HISTORY = 1000;

/** A run's starting state from checkpoint files the user loaded, already checked (Session.importCheckpoint). */
export interface ImportedRun {
  state: ModelState;
  momentum?: Float32Array;
  probe?: Float32Array;
  files: Record<string, Uint8Array>;
}

/** The starting state of a resumed run: the decoded model, what rides with it, and (from IndexedDB) the stored history. */
interface StartingState {
  config: TrainConfig;
  state: ModelState;
  momentum?: Float32Array;
  probe?: Float32Array;
  files?: Record<string, Uint8Array>;
  stored: StoredCheckpoint | null;
}

export function describe(e: unknown): string {
  if (e instanceof Error) return e.name && e.name !== 'Error' ? `${e.name}: ${e.message}` : e.message;
  return String(e);
}

export class Session {
  data: DatasetSplits | null = null;
  trainer: Trainer | null = null;
  /** The training-run driver around the trainer: kNN, checkpoints, batches, halting. */
  private run: TrainingRun | null = null;
  private config: TrainConfig | null = null;
  private phase: TrainPhase = 'idle';
  private detail: string | undefined;
  private playing = false;
  /** Play was pressed while the trainer was being built: start when it is ready. */
  private wantPlay = false;
  private looping = false;
  private queue: Promise<unknown> = Promise.resolve();
  private generation = 0;
  private readonly log = new MetricsLog();
  private knn: KnnPoint[] = [];
  private pending: StepMetrics[] = [];
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private lastStatusAt = 0;
  private secPerStep = 0;
  private lastStepAt = 0;
  private halted = false;
  /** A fresh run's random-init and raw-pixel baselines are still to be measured (after its first step). */
  private baselinesPending = false;
  /** The run's first step is still to come; `playAt`: when Play was pressed (null when not waiting for a step). */
  private firstStepPending = false;
  private playAt: number | null = null;
  /** Where the time to the first step went (ms), for the status bar's data-startup and docs/results-cpu.md. */
  readonly startup: Record<string, number> = {};
  /** image index → [cluster, step] from the latest batches. */
  private assignments = new Map<number, [number, number]>();
  /** The step of SeLa's latest label optimisation (its gallery shows the labels from then; 0: the initial random labels). */
  private lastRelabelStep = 0;

  constructor(
    readonly ctx: GpuContext,
    private readonly post: Post,
  ) {}

  get busyTrainer(): Trainer | null {
    return this.trainer;
  }

  /** Runs `fn` after everything queued before it (the trainer is used by one caller at a time). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  // ───────────────────────────── status ─────────────────────────────

  status(): TrainStatus {
    const t = this.trainer;
    const step = t?.currentStep ?? 0;
    const total = t?.config.steps ?? this.config?.steps ?? 0;
    const spe = t?.stepsPerEpoch ?? 1;
    const sps = this.secPerStep > 0 ? 1 / this.secPerStep : 0;
    return {
      phase: this.phase,
      step,
      epoch: step / spe,
      stepsPerEpoch: spe,
      totalSteps: total,
      imagesPerS: sps * (t?.config.batch ?? 0),
      stepsPerS: sps,
      etaS: sps > 0 && total > step ? (total - step) / sps : null,
      detail: this.detail,
      config: t?.config ?? null,
      dataset: this.data ? datasetKey(this.data) : null,
      startup: { ...this.startup },
    };
  }

  private sendStatus(force = false): void {
    const now = performance.now();
    if (!force && now - this.lastStatusAt < STATUS_EVERY_MS) return;
    this.lastStatusAt = now;
    this.post({ type: 'status', status: this.status() });
  }

  private setPhase(phase: TrainPhase, detail?: string): void {
    this.phase = phase;
    this.detail = detail;
    this.sendStatus(true);
  }

  // ───────────────────────────── metrics ─────────────────────────────

  private onMetrics(gen: number, m: StepMetrics): void {
    if (gen !== this.generation) return;
    this.log.push(m);
    this.pending.push(m);
    this.flushTimer ??= setTimeout(() => this.flushMetrics(), METRICS_FLUSH_MS);
  }

  /**
   * A method's host record after a step (SeLa's label optimisation: NMI, churn, class sizes):
   * into the log and the pending batch like a metric record, so the method's declared panels chart
   * it. It carries the step and the epoch of the latest record; the other keys are absent.
   */
  private onEvent(gen: number, e: Record<string, number>): void {
    if (gen !== this.generation) return;
    const last = this.log.records[this.log.records.length - 1];
    this.onMetrics(gen, { epoch: last?.epoch ?? 0, ...e } as unknown as StepMetrics);
  }

  private onHalt(gen: number, h: HaltInfo): void {
    if (gen !== this.generation || this.halted) return;
    this.halted = true;
    this.playing = false;
    this.flushMetrics();
    this.post({
      type: 'train-error',
      kind: 'nan',
      metric: h.metric,
      step: h.step,
      message: `Training paused: ${h.metric} became ${h.value} at step ${h.step}. Lower the learning rate or τ, or reset.`,
    });
  }

  private flushMetrics(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (!this.pending.length) return;
    const records = this.pending;
    this.pending = [];
    this.post({ type: 'metrics', records });
  }

  // ───────────────────────────── building ─────────────────────────────

  setData(data: DatasetSplits): void {
    this.data = data;
  }

  /**
   * Builds a trainer (destroying the old one). With `resume` true, from the IndexedDB checkpoint;
   * with an ImportedRun, from loaded files (`config` is then the run's). The checkpoint is read
   * and checked first: a refused one keeps the running trainer.
   */
  configure(config: TrainConfig, resume: boolean | ImportedRun = false): Promise<void> {
    this.playing = false;
    this.wantPlay = false;
    const gen = ++this.generation;
    // Said at once, so a Play that arrives before the build starts waits for it.
    this.phase = 'building';
    return this.exclusive(async () => {
      if (gen !== this.generation) return;
      let start: StartingState | null = null;
      if (resume) {
        try {
          start = resume === true ? await this.browserStart() : { config, ...resume, stored: null };
        } catch (e) {
          this.wantPlay = false;
          this.setPhase(this.trainer ? (this.trainer.done ? 'done' : 'paused') : 'idle');
          this.post({ type: 'checkpoint-refused', origin: 'browser', file: STORED_SOURCE, message: `${e instanceof Error ? e.message : String(e)}; nothing was loaded` });
          return;
        }
      }
      this.destroyTrainer();
      if (!this.data) {
        this.config = config;
        this.setPhase('idle', 'waiting for a dataset');
        return;
      }
      this.setPhase('building', 'compiling kernels and planning memory');
      const buildStart = performance.now();
      const compiled = { ...compileStats(this.ctx) };
      this.baselinesPending = false;
      this.firstStepPending = true;
      this.log.clear();
      this.knn = [];
      this.pending = [];
      this.assignments.clear();
      this.lastRelabelStep = 0;
      this.halted = false;
      this.secPerStep = 0;
      const stored = start?.stored ?? null;
      try {
        const cfg = start?.config ?? config;
        this.config = cfg;
        let run: TrainingRun | null = null;
        const trainer = await Trainer.create(this.ctx, this.data, cfg, {
          resume: start?.state,
          resumeMomentum: start?.momentum,
          resumeProbe: start?.probe,
          resumeFiles: start?.files,
          onLog: (m) => run?.onLog(m),
        });
        if (gen !== this.generation) {
          trainer.destroy();
          return;
        }
        run = new TrainingRun(
          trainer,
          {
            metrics: (m) => this.onMetrics(gen, m),
            halted: (h) => this.onHalt(gen, h),
            event: (e) => this.onEvent(gen, e),
            knn: (p) => {
              if (gen !== this.generation || p.init) return;
              const point = { step: p.step, top1: p.top1, ...(p.linear !== undefined ? { linear: p.linear } : {}) };
              this.knn.push(point);
              this.post({ type: 'knn', init: trainer.knnInit, point });
            },
            batch: (b) => this.onBatch(b, trainer.currentStep),
            classSizes: (step, sizes) => {
              if (gen !== this.generation) return;
              this.lastRelabelStep = step;
              const copy = sizes.slice();
              this.post({ type: 'class-sizes', step, sizes: copy, N: trainer.data.train.count }, [copy.buffer]);
            },
            checkpoint: async (t, why) => {
              if (why === 'interval' || t.config.checkpointEvery > 0) await this.checkpoint(t);
            },
          },
          { batchEveryMs: BATCH_EVERY_MS },
        );
        this.trainer = trainer;
        this.run = run;
        if (stored) {
          for (const r of stored.records) this.log.push(r);
          this.knn = stored.knn.filter((p) => p.step <= trainer.currentStep);
          if (stored.knnInit !== null && trainer.knnInit === null) trainer.knnInit = stored.knnInit;
          this.post({ type: 'history', records: stored.records, knn: this.knn, knnInit: trainer.knnInit });
        } else {
          // An imported run brings its random-init kNN baseline in mira.config; a fresh run measures it after its first step.
          const init = start?.state.extra?.knn_top1_init;
          if (typeof init === 'number' && Number.isFinite(init) && trainer.knnInit === null) trainer.knnInit = init;
          this.post({ type: 'history', records: [], knn: [], knnInit: trainer.knnInit });
          // The random-init (when still unknown) and raw-pixel baselines are measured after the first step is shown
          // (measureBaselines), on a copy of the initial weights: Play is enabled as soon as the step's pipelines are
          // built (issue 15, docs/ARCHITECTURE.md).
          await run.begin({ defer: true });
          this.baselinesPending = true;
        }
        const after = compileStats(this.ctx);
        Object.assign(this.startup, { build_ms: Math.round(performance.now() - buildStart), pipelines: after.pipelines - compiled.pipelines, modules: after.modules - compiled.modules });
        this.setPhase(trainer.done ? 'done' : 'paused');
        if (this.wantPlay) {
          this.wantPlay = false;
          this.play();
        }
      } catch (e) {
        this.wantPlay = false;
        this.destroyTrainer();
        this.setPhase('idle');
        this.post({ type: 'train-error', kind: 'build', message: `Could not build the trainer: ${describe(e)}` });
      }
    });
  }

  /** The IndexedDB checkpoint, checked and decoded (throws, naming it, when it is missing or refused). */
  private async browserStart(): Promise<StartingState> {
    const raw = await loadCheckpoint();
    if (!raw) throw new Error(`${STORED_SOURCE}: there is none to resume from`);
    const { stored, state } = checkStoredCheckpoint(raw);
    return { config: stored.config, state, files: stored.files, stored };
  }

  /**
   * Continues from checkpoint files the user chose (the page's "Load checkpoint…"): sorts them
   * (model, optimizer state, a method's run files), refuses gzip, decodes and checks the model
   * (decodeCheckpoint), takes the run's configuration from its train_config against the loaded
   * dataset, checks the optimizer state against the model, then says `checkpoint-imported` and
   * rebuilds the trainer from them. Any problem is a `checkpoint-refused` naming the file; the
   * running trainer is kept.
   */
  async importCheckpoint(id: number, files: File[], page: TrainConfig): Promise<void> {
    let file = files[0]?.name ?? 'the checkpoint';
    const read = async (f: File) => {
      file = f.name;
      const bytes = new Uint8Array(await f.arrayBuffer());
      refuseGzip(bytes, f.name);
      return bytes;
    };
    try {
      const data = this.data;
      if (!data) throw new CheckpointError(`${file}: no dataset is loaded yet; wait for it (or load the one the checkpoint was trained on), then load the checkpoint again`);
      const sorted = sortCheckpointFiles(files);
      const modelFile = files[sorted.model]!;
      const state = decodeCheckpoint(await read(modelFile), modelFile.name);
      const { config, notes } = importedTrainConfig(state, modelFile.name, data.train, datasetKey(data), page);
      const run: ImportedRun = { state, files: {} };
      const optimizerFile = sorted.optimizer === null ? null : files[sorted.optimizer]!;
      if (optimizerFile) {
        const r = decodeOptimizerState(await read(optimizerFile), optimizerFile.name, state.step, optimizerStateSize(state));
        if ('problem' in r) throw new CheckpointError(`${optimizerFile.name} ${r.problem}; load ${modelFile.name} alone to continue with zero momentum`);
        run.momentum = r.momentum;
        if (r.probe) run.probe = r.probe;
      }
      const method = methodById(config.method);
      for (const name of method.runFiles ?? []) {
        const i = sorted.runFiles[name];
        if (i === undefined) throw new CheckpointError(`${modelFile.name} is a ${method.label} run, which continues only with its ${name} (saved beside it): choose both files at once`);
        run.files[name] = await read(files[i]!);
      }
      file = modelFile.name;
      this.post({ type: 'checkpoint-imported', id, file, step: state.step, config, optimizer: optimizerFile?.name ?? null, notes });
      await this.configure(config, run);
    } catch (e) {
      this.post({ type: 'checkpoint-refused', id, origin: 'file', file, message: e instanceof CheckpointError ? e.message : `${file}: ${describe(e)}` });
    }
  }

  private destroyTrainer(): void {
    if (this.trainer) {
      try {
        this.trainer.destroy();
      } catch {
        // already gone with the device
      }
    }
    this.trainer = null;
    this.run = null;
  }

  // ───────────────────────────── transport ─────────────────────────────

  play(): void {
    this.playAt ??= performance.now();
    if (this.phase === 'building') {
      this.wantPlay = true;
      return;
    }
    if (!this.trainer || this.trainer.done) return;
    this.halted = false;
    this.playing = true;
    void this.loop();
  }

  pause(): void {
    this.playing = false;
    this.wantPlay = false;
    if (this.phase === 'playing') this.setPhase('paused');
  }

  stepBatch(count = 1): Promise<void> {
    if (this.playing) return Promise.resolve();
    this.halted = false;
    return this.exclusive(async () => {
      for (let i = 0; i < count && this.trainer && !this.trainer.done && !this.halted; i++) await this.stepOnce(true);
      await this.trainer?.flush();
      this.flushMetrics();
      if (this.trainer) this.setPhase(this.trainer.done ? 'done' : 'paused');
    });
  }

  private async loop(): Promise<void> {
    if (this.looping) return;
    this.looping = true;
    this.setPhase('playing');
    try {
      while (this.playing && this.trainer && !this.trainer.done) {
        await this.exclusive(() => this.stepOnce(false));
      }
      await this.exclusive(async () => {
        await this.trainer?.flush();
        this.flushMetrics();
      });
    } finally {
      this.looping = false;
      this.playing = false;
      if (this.trainer) this.setPhase(this.trainer.done ? 'done' : 'paused');
    }
  }

  /** One step plus what follows it on schedule (the driver's): kNN, the latest batch, a checkpoint. */
  private async stepOnce(manual: boolean): Promise<void> {
    const t = this.trainer;
    const run = this.run;
    if (!t || !run || t.done || this.ctx.lost) {
      this.playing = false;
      return;
    }
    const gen = this.generation;
    if (!this.halted) run.halt = null;
    const stepStart = performance.now();
    let report;
    try {
      report = await run.step(manual);
    } catch (e) {
      this.playing = false;
      this.halted = true;
      if (!this.ctx.lost) this.post({ type: 'train-error', kind: 'step', step: t.currentStep, message: `Training step ${t.currentStep + 1} failed: ${describe(e)}` });
      return;
    }
    if (gen !== this.generation) return;
    const now = performance.now();
    if (this.firstStepPending) {
      this.firstStepPending = false;
      // From Play (or a single step) to this run's first finished step.
      this.startup.first_step_ms = Math.round(now - (this.playAt ?? stepStart));
    }
    this.playAt = null;
    if (this.lastStepAt > 0 && !manual) {
      const dt = (now - this.lastStepAt) / 1000;
      this.secPerStep = this.secPerStep > 0 ? 0.8 * this.secPerStep + 0.2 * dt : dt;
    }
    // Slow work after the step (kNN, a checkpoint) does not count towards the step time.
    this.lastStepAt = manual || report.extra ? 0 : now;
    this.sendStatus(manual || t.done || !!this.baselinesPending);
    if (this.baselinesPending) {
      this.baselinesPending = false;
      void this.exclusive(() => this.measureBaselines(gen));
    }
  }

  /**
   * A fresh run's baselines, queued right after its first step: the random-init kNN / linear probe
   * on the snapshot of the initial weights, then the raw pixels; posted as the init kNN point.
   */
  private async measureBaselines(gen: number): Promise<void> {
    const t = this.trainer;
    const run = this.run;
    if (!t || !run || gen !== this.generation || this.ctx.lost) return;
    const t0 = performance.now();
    try {
      await run.evaluateInit();
      const px = await pixelBaselines(this.ctx, t.data, t.config);
      if (gen !== this.generation) return;
      this.post({ type: 'knn', init: t.knnInit, point: null, pixels: { knn: px.knn_top1_pixels, linear: px.linear_top1_pixels } });
    } catch (e) {
      if (gen === this.generation && !this.ctx.lost) this.post({ type: 'train-error', kind: 'step', step: t.currentStep, message: `The random-init and raw-pixel baselines could not be measured: ${describe(e)}` });
    }
    this.startup.baselines_ms = Math.round(performance.now() - t0);
    // The baselines' time is not a step's.
    this.lastStepAt = 0;
  }

  /** The latest batch: the marginal chart and the gallery's memory of each image's cluster. */
  private onBatch(b: LatestBatch, step: number): void {
    this.post({ type: 'marginal', step, marginal: b.marginal }, [b.marginal.buffer]);
    for (let i = 0; i < b.B; i++) {
      let best = 0;
      const row = i * b.K;
      for (let j = 1; j < b.K; j++) if (b.targets[row + j]! > b.targets[row + best]!) best = j;
      const idx = b.indices[i]!;
      this.assignments.delete(idx);
      this.assignments.set(idx, [best, step]);
    }
    while (this.assignments.size > GALLERY_MEMORY) this.assignments.delete(this.assignments.keys().next().value!);
  }

  evaluateKnn(): Promise<void> {
    return this.exclusive(async () => {
      const t = this.trainer;
      if (!t) return;
      const r = await t.evaluateKnn();
      const point = { step: t.currentStep, top1: r.top1, ...(r.linear !== undefined ? { linear: r.linear } : {}) };
      if (t.currentStep > 0) this.knn.push(point);
      this.post({ type: 'knn', init: t.knnInit, point: t.currentStep > 0 ? point : null });
    });
  }

  // ───────────────────────────── checkpoints ─────────────────────────────

  private async checkpoint(t: Trainer): Promise<void> {
    try {
      const state = await t.saveState();
      let h: History<Point> = emptyHistory(CHECKPOINT_HISTORY);
      h = appendHistory(h, this.log.records as unknown as Point[]);
      const stored: StoredCheckpoint = {
        step: t.currentStep,
        savedAt: Date.now(),
        config: t.config,
        dataset: this.data ? datasetKey(this.data) : t.config.dataset,
        model: encodeCheckpoint(state),
        records: historyPoints(h) as unknown as StepMetrics[],
        knn: this.knn.slice(),
        knnInit: t.knnInit,
        files: await t.saveRunFiles(),
      };
      await saveCheckpoint(stored);
      this.post({ type: 'checkpoint-saved', step: stored.step, savedAt: stored.savedAt });
      this.post({ type: 'checkpoint-info', info: checkpointInfo(stored) });
    } catch (e) {
      this.post({ type: 'train-error', kind: 'checkpoint', message: `The checkpoint could not be saved: ${describe(e)}` });
    }
  }

  // ───────────────────────────── exports and gallery ─────────────────────────────

  exportFile(id: number, what: ExportKind): Promise<void> {
    return this.exclusive(async () => {
      const t = this.trainer;
      const step = t?.currentStep ?? 0;
      const method = t?.config.method ?? this.config?.method ?? 'mira';
      const base = `mira-playground-${method}-step${step}`;
      let bytes: Uint8Array;
      let fileName: string;
      let mime: string;
      if (what === 'metrics-csv' || what === 'metrics-json') {
        if (!this.log.records.length) throw new Error('no metrics yet: train a few steps first');
        if (what === 'metrics-csv') {
          bytes = new TextEncoder().encode(this.log.toCsv());
          fileName = `${base}-metrics.csv`;
          mime = 'text/csv';
        } else {
          const doc = { config: t?.config ?? this.config, dataset: this.data?.name ?? null, adapter: this.ctx.adapterName, knn_top1_init: t?.knnInit ?? null, knn: this.knn, thinned: this.log.thinned, records: this.log.records };
          bytes = new TextEncoder().encode(JSON.stringify(doc, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 1));
          fileName = `${base}-metrics.json`;
          mime = 'application/json';
        }
      } else {
        if (!t) throw new Error('no model yet: load a dataset and build the trainer first');
        if (what === 'pseudo-labels') {
          if (t.currentStep === 0) throw new Error('no pseudo-labels yet: train at least one step');
          const b = await t.latestBatch();
          bytes = encodeNpy(b.targets, [b.B, b.K]);
          fileName = `${base}-targets-${b.B}x${b.K}.npy`;
          mime = 'application/octet-stream';
        } else {
          bytes = encodeCheckpoint(await t.saveState());
          fileName = `${base}.safetensors`;
          mime = 'application/octet-stream';
        }
      }
      this.post({ type: 'export', id, fileName, mime, bytes }, [bytes.buffer as ArrayBuffer]);
    });
  }

  gallery(id: number, clusters: number, perCluster: number): Promise<void> {
    return this.exclusive(async () => {
      const t = this.trainer;
      const data = this.data;
      if (!t || !data) {
        this.post({ type: 'gallery', id, result: null, error: 'No run yet: load a dataset and train a few steps.' });
        return;
      }
      // SeLa keeps a label of every training image: its classes, after the latest label optimisation.
      const own = t.currentLabels();
      if (own) {
        const result = buildGallery(data.train, { idx: Uint32Array.from(own.keys()), pred: own, steps: [this.lastRelabelStep, this.lastRelabelStep], source: 'labels', clusters, perCluster });
        this.post({ type: 'gallery', id, result }, result.clusters.map((c) => c.images.buffer as ArrayBuffer));
        return;
      }
      if (t.currentStep > 0 && this.assignments.size === 0) this.onBatch(await t.latestBatch(), t.currentStep);
      if (this.assignments.size === 0) {
        this.post({ type: 'gallery', id, result: null, error: 'No assignments yet: train a few steps, then refresh.' });
        return;
      }
      const idx: number[] = [];
      const pred: number[] = [];
      let lo = Infinity;
      let hi = 0;
      for (const [i, [k, s]] of this.assignments) {
        idx.push(i);
        pred.push(k);
        lo = Math.min(lo, s);
        hi = Math.max(hi, s);
      }
      const result = buildGallery(data.train, { idx, pred, steps: [lo, hi], source: 'targets', clusters, perCluster });
      this.post({ type: 'gallery', id, result }, result.clusters.map((c) => c.images.buffer as ArrayBuffer));
    });
  }

  /** The embedding map of the current weights (the test images that kNN classifies), by PCA on the GPU or UMAP here. */
  embeddingMap(id: number, projection: MapProjection): Promise<void> {
    return this.exclusive(async () => {
      const t = this.trainer;
      const data = this.data;
      if (!t || !data) {
        this.post({ type: 'embedding-map', id, result: null, error: 'No run yet: load a dataset and press Play or Step, then compute the map.' });
        return;
      }
      try {
        const result = await embeddingMap(t, data, projection);
        const transfer = [result.points.buffer, result.labels.buffer, result.indices.buffer, result.images.buffer, ...(result.clusters ? [result.clusters.buffer] : [])] as ArrayBuffer[];
        this.post({ type: 'embedding-map', id, result }, transfer);
      } catch (e) {
        this.post({ type: 'embedding-map', id, result: null, error: `The embedding map could not be computed: ${describe(e)}` });
      }
    });
  }

  /** The explorer's frozen batch: the latest teacher logits (null before the first step). */
  latestLogits(): Promise<{ logits: Float32Array; B: number; K: number; step: number; tauT: number; beta: number } | null> {
    return this.exclusive(async () => {
      const t = this.trainer;
      if (!t || t.currentStep === 0) return null;
      const b = await t.latestBatch();
      return { logits: b.teacherLogits, B: b.B, K: b.K, step: t.currentStep, tauT: t.config.tauT, beta: t.schedule(t.currentStep - 1).beta };
    });
  }

  /**
   * Is there a checkpoint in IndexedDB to offer? Only one that passes checkStoredCheckpoint (finite
   * weights, a sound record, a configuration this build trains) is offered; another is refused
   * with a `checkpoint-refused` saying why, and the page starts fresh (its first save replaces it).
   */
  async checkpointQuery(): Promise<void> {
    let c: unknown;
    try {
      c = await loadCheckpoint();
    } catch {
      this.post({ type: 'checkpoint-info', info: null });
      return;
    }
    if (c) {
      try {
        checkStoredCheckpoint(c);
      } catch (e) {
        this.post({ type: 'checkpoint-refused', origin: 'browser', file: STORED_SOURCE, message: `${e instanceof Error ? e.message : String(e)}; it was not loaded, and the next checkpoint of this page replaces it` });
        c = null;
      }
    }
    this.post({ type: 'checkpoint-info', info: c ? checkpointInfo(c as StoredCheckpoint) : null });
  }

  /** Stops everything (device lost). */
  halt(): void {
    this.playing = false;
    this.generation++;
    this.trainer = null;
    this.setPhase('idle');
  }

  /** Pauses for the collapse lab; returns whether it was playing. */
  suspend(): boolean {
    const was = this.playing;
    this.pause();
    return was;
  }
}
