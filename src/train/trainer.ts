// Self-supervised training by any registered method, one whole step per GPU submit: augment two
// views → the step graph (teacher and student forward, the method's objective, backward) →
// SGD/LARS → EMA teacher → (every logEvery steps) the run's declared metrics copied into a
// readback ring and read asynchronously, so the queue never waits for the host. See
// docs/ARCHITECTURE.md, "The life of a training step".
// At most two steps are in flight; `step()` resolves once the previous step's work is done.
// Deterministic: one seed drives weight init, data order and augmentation.
import type { GpuContext } from '../gpu/context.ts';
import { ShapeError } from '../gpu/errors.ts';
import type { GemmVariant } from '../gpu/gemm.ts';
import type { PassTimer } from '../gpu/kernel.ts';
import { ReadbackRing } from '../gpu/readback.ts';
import { createTensor, readF32, Tensor } from '../gpu/tensor.ts';
import { Augmenter, uploadImages } from '../data/augment.ts';
import type { Dataset, DatasetSplits } from '../data/dataset.ts';
import { epochPermutation } from '../data/rng.ts';
import { normalizeImages } from '../data/image-batch.ts';
import { initialState, type ModelState } from '../nn/checkpoint.ts';
import { validateModelConfig, type ModelConfig } from '../nn/config.ts';
import { Embedder, LogitEmbedder } from '../nn/embedder.ts';
import { Ema, Optimizer } from '../nn/optimizer.ts';
import { methodById } from '../methods/registry.ts';
import type { MethodDef, MethodRunState } from '../methods/types.ts';
import type { Pass } from '../gpu/pass.ts';
import { ParamLayout, ParamStore, type NetworkWeights } from '../nn/param-store.ts';
import { KnnEvaluator, chooseEvalIndices } from '../mira/knn.ts';
import { fitLinearClassifier, LinearProbe, probeLearningRate, probeLrAt } from '../mira/linear-probe.ts';
import { featureDim, headCount } from '../nn/config.ts';
import { betaAt, emaMomentumAt, learningRate } from './schedule.ts';
import { StepGraph, StepLayers } from './step-graph.ts';
import { validateTrainConfig, type TrainConfig } from './config.ts';
import { MetricLayout, throughput, type StepMetrics } from './metric-layout.ts';

export interface TrainerOptions {
  /** Continue from this state (its model configuration must match). */
  resume?: ModelState;
  /** The optimizer momentum saved with that state (saveMomentum); zero when absent. */
  resumeMomentum?: Float32Array;
  /** The online probe's parameters and momentum saved with that state (saveProbe); a fresh probe when absent. */
  resumeProbe?: Float32Array;
  onLog?: (m: StepMetrics) => void;
  variant?: GemmVariant;
  /** Each block's bn1 + ReLU applied in conv2's loads; by default on GPUs, not on CPU emulators (src/nn/resnet18.ts defaultFuseBnRelu). */
  fuseBnRelu?: boolean;
  /** The method's files saved beside the checkpoint being resumed (its runFiles). */
  resumeFiles?: Readonly<Record<string, Uint8Array>>;
}

/** The square side the network sees: the data's, padded up to a multiple of 8 (28 → 32). */
export function networkImageSize(ds: Pick<Dataset, 'height' | 'width'>): number {
  return Math.ceil(Math.max(ds.height, ds.width) / 8) * 8;
}

export function modelConfigFor(cfg: TrainConfig, ds: Dataset): ModelConfig {
  if (ds.channels !== 1 && ds.channels !== 3) throw new ShapeError(`${ds.name}: images have ${ds.channels} channels; 1 or 3 are supported`);
  const c: ModelConfig = {
    width: cfg.width,
    inChannels: ds.channels as 1 | 3,
    imageSize: networkImageSize(ds),
    stemPadding: cfg.stemPadding,
    mean: ds.mean,
    std: ds.std,
    projHidden: cfg.projHidden,
    projOut: cfg.projOut,
    // Embedding objectives have no prototype head (K = 0 in the model and its checkpoint).
    prototypes: methodById(cfg.method).kind === 'embedding' ? 0 : cfg.prototypes,
  };
  // SeLa's multi-head model (--sela-heads): further heads heads.1 … in the model and its checkpoint.
  const heads = methodById(cfg.method).modelHeads?.(cfg) ?? 1;
  if (heads > 1) c.heads = heads;
  validateModelConfig(c);
  return c;
}

/** Zero-pads square images to the network's size and normalises them (host side, for kNN). */
function evalImages(ds: Dataset, idx: Uint32Array, size: number): Float32Array {
  const { height: H, width: W, channels: C } = ds;
  const oy = Math.floor((size - H) / 2);
  const ox = Math.floor((size - W) / 2);
  const px = new Uint8Array(idx.length * size * size * C);
  idx.forEach((n, i) => {
    for (let y = 0; y < H; y++) {
      const src = (n * H + y) * W * C;
      px.set(ds.images.subarray(src, src + W * C), ((i * size + y + oy) * size + ox) * C);
    }
  });
  return normalizeImages(px, C, ds.mean, ds.std);
}

/** Classes of a dataset: its class names, or one more than its largest label. */
export function classCount(data: DatasetSplits): number {
  let max = 0;
  for (const ds of [data.train, data.test]) for (let i = 0; i < ds.labels.length; i++) max = Math.max(max, ds.labels[i]!);
  return Math.max(data.train.classes.length, max + 1, 2);
}

interface EvalSet {
  images: Float32Array;
  labels: Uint32Array;
  /** Each image's index in its split. */
  indices: Uint32Array;
  count: number;
}

/** The embedding map's input (Trainer.embedTestImages). */
export interface TestEmbedding {
  /** count×dim eval-mode encoder features on the GPU (the kNN queries' tensor: valid until the next evaluation). */
  features: Tensor;
  count: number;
  dim: number;
  labels: Uint32Array;
  /** Each image's index in the test split. */
  indices: Uint32Array;
  /** argmax over the K prototype logits per image (evaluation mode); null without a prototype head. */
  clusters: Uint32Array | null;
}

export class Trainer {
  /** kNN top-1 (k = 20, percent) of the network at initialisation, once per run. */
  knnInit: number | null = null;
  lastKnn: number | null = null;
  readonly stepsPerEpoch: number;
  private stepIndex: number;
  private inflight: Promise<unknown> = Promise.resolve();
  private pendingLogs: Promise<void>[] = [];
  private headFrozen = false;
  private batchesTracked: { student: number; teacher: number };
  private lastLogTime = performance.now();
  private lastLogStep: number;
  private readonly startTime = performance.now();
  private perm: Uint32Array | null = null;
  private permEpoch = -1;
  private readonly lastIndices: Uint32Array;
  /** The online linear probe (config linearProbe 'on'): its own buffers, trained on view 1's detached features. */
  private probe: { probe: LinearProbe; pass: Pass; lr: number; labels: Uint32Array } | null = null;
  /** Linear-probe top-1 (percent) of a probe fitted on the kNN bank's features at initialisation. */
  linearInit: number | null = null;
  lastLinear: number | null = null;
  /** The initial student, kept for the random-init baseline measured after the first step (snapshotInit). */
  private initSnapshot: (NetworkWeights & { destroy(): void }) | null = null;
  /** The embedding map's network up to the prototype logits and its N×K output (built on the first map of a method with a head). */
  private mapLogits: { embedder: LogitEmbedder; out: Tensor } | null = null;
  private knn: { evaluator: KnnEvaluator; embedder: Embedder; bank: EvalSet; queries: EvalSet; bankFeats: Tensor; queryFeats: Tensor; bankLabels: Tensor; queryLabels: Tensor } | null = null;

  private constructor(
    readonly ctx: GpuContext,
    readonly data: DatasetSplits,
    readonly config: TrainConfig,
    readonly model: ModelConfig,
    readonly store: ParamStore,
    private readonly augmenter: Augmenter,
    private readonly indices: Tensor,
    readonly graph: StepGraph,
    private readonly optimizer: Optimizer,
    private readonly optimizerPass: Pass,
    private readonly ema: Ema,
    private readonly emaPass: Pass,
    readonly method: MethodDef,
    private readonly runState: MethodRunState | null,
    readonly layout: MetricLayout,
    private readonly ring: ReadbackRing,
    private readonly onLog: ((m: StepMetrics) => void) | undefined,
    start: number,
    tracked: { student: number; teacher: number },
  ) {
    this.stepIndex = start;
    this.lastLogStep = start;
    this.batchesTracked = tracked;
    this.stepsPerEpoch = Math.max(1, Math.floor(data.train.count / config.batch));
    this.lastIndices = new Uint32Array(config.batch);
  }

  static async create(ctx: GpuContext, data: DatasetSplits, config: TrainConfig, opts: TrainerOptions = {}): Promise<Trainer> {
    validateTrainConfig(config);
    const ds = data.train;
    if (ds.count < config.batch) throw new ShapeError(`${data.name}: the training split has ${ds.count} images, fewer than the batch of ${config.batch}`);
    const model = modelConfigFor(config, ds);
    const state = opts.resume ?? initialState(model, config.seed);
    if (opts.resume) {
      const a = JSON.stringify(opts.resume.config);
      const b = JSON.stringify(model);
      if (a !== b) throw new ShapeError(`cannot resume: the checkpoint's model ${a} differs from this configuration's ${b}`);
    }
    const store = new ParamStore(ctx, new ParamLayout(model));
    store.upload(state);
    if (opts.resumeMomentum) store.uploadMomentum(opts.resumeMomentum);
    const B = config.batch;
    const S = model.imageSize;
    const C = model.inChannels;
    const preset = config.augment === 'none' ? 'none' : C === 3 ? 'cifar' : 'fashion-mnist';
    const method = methodById(config.method);
    const [augmenter, layers, optimizer, ema] = await Promise.all([
      Augmenter.create(ctx, { batch: B, height: ds.height, width: ds.width, channels: C, outSize: S, outChannels: C, preset, views: method.viewsPerImage, seed: config.seed, label: 'augment' }),
      StepLayers.create(ctx, model, B, method, config, opts.variant, opts.fuseBnRelu),
      Optimizer.create(ctx, { kind: config.optimizer, size: store.layout.size, tensors: store.layout.optimizerTable() }),
      Ema.create(ctx, store.layout.teacherSize),
    ]);
    const images = uploadImages(ctx, ds);
    const indices = createTensor(ctx, [B], 'u32', 'batch_indices');
    const out = augmenter.createOutput('views');
    const viewElems = B * S * S * C;
    const views = Array.from({ length: method.viewsPerImage }, (_, v) => new Tensor(out.buffer, [B, S, S, C], 'f32', `view${v + 1}`, out.byteOffset + v * viewElems * 4));
    augmenter.bind(images, indices, out);
    for (const f of method.runFiles ?? []) if (opts.resume && !opts.resumeFiles?.[f]) throw new ShapeError(`cannot resume a ${method.label} run without its ${f} (saved beside the checkpoint)`);
    // The method's run state and the online probe compile together (one batch of pipeline requests, not one after another).
    const [runState, probe] = await Promise.all([
      method.createRunState ? method.createRunState({ ctx, config, train: ds, indices, resumeFiles: opts.resumeFiles ?? null }) : null,
      config.linearProbe === 'on' ? LinearProbe.create(ctx, { batch: B, dim: featureDim(model.width), classes: classCount(data) }, { variant: opts.variant }) : null,
    ]);
    const graph = await StepGraph.build(layers, store, views, runState);
    const optimizerPass = optimizer.bind({ params: store.params.flat(store.layout.size), grads: store.grads.flat(store.layout.size), momentum: store.momentum.flat(store.layout.size) });
    const emaPass = ema.bind(store.teacher.flat(store.layout.teacherSize), store.params.flat(store.layout.teacherSize));
    const layout = new MetricLayout(method);
    const ring = new ReadbackRing(ctx, layout.slotBytes, 4, 'metrics_ring');
    const nbt = state.student.get('encoder.bn1.num_batches_tracked')?.[0] ?? 0;
    const nbtT = state.teacher?.get('encoder.bn1.num_batches_tracked')?.[0] ?? nbt;
    const trainer = new Trainer(ctx, data, config, model, store, augmenter, indices, graph, optimizer, optimizerPass, ema, emaPass, method, runState, layout, ring, opts.onLog, state.step, { student: nbt, teacher: nbtT });
    if (probe) {
      // Reads the pooled features of view 1 after the student's forward; no gradient reaches the encoder.
      trainer.probe = { probe, pass: probe.bindTraining(graph.student[0]!.encoder.features), lr: probeLearningRate(B), labels: new Uint32Array(B) };
      if (opts.resumeProbe) probe.upload(opts.resumeProbe);
      const init = opts.resume?.extra?.linear_top1_init;
      if (typeof init === 'number') trainer.linearInit = init;
    }
    return trainer;
  }

  /** Steps done so far (the next step's index). */
  get currentStep(): number {
    return this.stepIndex;
  }

  get epoch(): number {
    return this.stepIndex / this.stepsPerEpoch;
  }

  get done(): boolean {
    return this.stepIndex >= this.config.steps;
  }

  /** Schedule values at a step. */
  schedule(step = this.stepIndex): { lr: number; beta: number; ema: number } {
    const c = this.config;
    return {
      lr: learningRate({ base: c.lr, warmupSteps: c.warmupSteps, totalSteps: c.steps }, step),
      beta: betaAt(c.betaStart, c.betaEnd, step, c.steps),
      ema: emaMomentumAt(c.emaStart, step, c.steps),
    };
  }

  private batchIndices(step: number): Uint32Array {
    const n = this.data.train.count;
    const B = this.config.batch;
    const epoch = Math.floor(step / this.stepsPerEpoch);
    if (epoch !== this.permEpoch) {
      this.perm = epochPermutation(this.config.seed, epoch, n);
      this.permEpoch = epoch;
    }
    const start = (step % this.stepsPerEpoch) * B;
    return this.perm!.slice(start, start + B);
  }

  /**
   * Records and submits one training step. Resolves when the previous step has finished.
   * `timer` (a Profiler) times every dispatch of the step.
   */
  async step(timer?: PassTimer): Promise<void> {
    const c = this.config;
    const s = this.stepIndex;
    const sch = this.schedule(s);
    this.graph.setStep({ config: c, lr: sch.lr, beta: sch.beta, ema: sch.ema });
    this.optimizer.setParams({ lr: sch.lr, momentum: c.momentum, weightDecay: c.weightDecay, eta: c.larsEta });
    this.ema.setMomentum(sch.ema);
    const freeze = s < c.freezeHeadSteps && this.model.prototypes > 0;
    if (freeze !== this.headFrozen) {
      this.optimizer.setFrozen(this.store.layout.headNames(), freeze);
      this.headFrozen = freeze;
    }
    const B = c.batch;
    const idx = this.batchIndices(s);
    this.lastIndices.set(idx);
    this.ctx.device.queue.writeBuffer(this.indices.buffer, this.indices.byteOffset, idx as Uint32Array<ArrayBuffer>);
    this.augmenter.setStep(s);
    const log = (s + 1) % c.logEvery === 0 || s + 1 === c.steps;
    const enc = this.ctx.device.createCommandEncoder({ label: `step ${s}` });
    this.augmenter.record(enc, timer);
    this.runState?.recordBeforeStep?.(enc, timer);
    this.graph.record(enc, timer);
    if (this.probe) {
      const p = this.probe;
      for (let i = 0; i < B; i++) p.labels[i] = this.data.train.labels[idx[i]!]!;
      p.probe.setLabels(p.labels);
      p.probe.setLr(probeLrAt(p.lr, s, c.steps));
      p.pass.record(enc, timer);
    }
    this.optimizerPass.record(enc, timer);
    this.emaPass.record(enc, timer);
    const slot = log ? this.ring.acquire() : null;
    if (slot) {
      this.graph.recordMetrics(enc);
      this.layout.recordCopies(enc, this.ring, slot, this.graph.metricSources);
    }
    await this.inflight;
    this.ctx.device.queue.submit([enc.finish()]);
    this.inflight = this.ctx.device.queue.onSubmittedWorkDone();
    // BatchNorm's num_batches_tracked counts training-mode forwards: one per view, the teacher's only when it runs.
    this.batchesTracked.student += this.method.viewsPerImage;
    if (this.method.usesTeacher) this.batchesTracked.teacher += this.method.viewsPerImage;
    this.stepIndex = s + 1;
    if (slot) {
      const now = performance.now();
      const rate = throughput((this.stepIndex - this.lastLogStep) * c.batch, this.method.viewsPerImage, (now - this.lastLogTime) / 1000);
      this.lastLogTime = now;
      this.lastLogStep = this.stepIndex;
      const host = { step: s + 1, epoch: (s + 1) / this.stepsPerEpoch, lr: sch.lr, beta: sch.beta, ema_momentum: sch.ema, ...rate, wall_s: (now - this.startTime) / 1000 };
      const p = this.ring.read(slot).then((bytes) => this.onLog?.(this.layout.parse(new Float32Array(bytes), host)));
      this.pendingLogs.push(p);
    }
  }

  /** Waits for the GPU and every pending metrics readback. */
  async flush(): Promise<void> {
    await this.inflight;
    const logs = this.pendingLogs;
    this.pendingLogs = [];
    await Promise.all(logs);
  }

  private async knnSetup() {
    if (this.knn) return this.knn;
    const c = this.config;
    const { train, test } = this.data;
    const pick = (ds: Dataset, count: number, seed: number): EvalSet => {
      const idx = chooseEvalIndices(ds.count, Math.min(count, ds.count), seed, ds.labels);
      return { images: evalImages(ds, idx, this.model.imageSize), labels: Uint32Array.from(idx, (i) => ds.labels[i]!), indices: Uint32Array.from(idx), count: idx.length };
    };
    const bank = pick(train, c.knnBank, c.seed);
    const queries = pick(test, c.knnQueries, c.seed + 1);
    const embedder = await Embedder.create(this.ctx, this.model, this.store.student, Math.min(c.batch, 256));
    const D = embedder.dim;
    const classes = Math.max(train.classes.length, 1 + Math.max(...bank.labels, ...queries.labels));
    const evaluator = await KnnEvaluator.create(this.ctx, { bankSize: bank.count, querySize: queries.count, dim: D, classes, ks: [20, 200].filter((k) => k <= bank.count), temperatures: [0.07, 0.1] });
    const up = (a: Uint32Array, label: string) => {
      const t = createTensor(this.ctx, [a.length], 'u32', label);
      this.ctx.device.queue.writeBuffer(t.buffer, t.byteOffset, a as Uint32Array<ArrayBuffer>);
      return t;
    };
    this.knn = {
      evaluator,
      embedder,
      bank,
      queries,
      bankFeats: createTensor(this.ctx, [bank.count, D], 'f32', 'knn.bank'),
      queryFeats: createTensor(this.ctx, [queries.count, D], 'f32', 'knn.queries'),
      bankLabels: up(bank.labels, 'knn.bank_labels'),
      queryLabels: up(queries.labels, 'knn.query_labels'),
    };
    return this.knn;
  }

  /**
   * Keeps a copy of the initial student (a GPU copy, queued before the first step) so that the
   * random-init kNN and linear-probe baselines can be measured after the first step is shown
   * (evaluateKnnInit) instead of before Play: the page starts sooner (issue 15; docs/ARCHITECTURE.md).
   * Only before the first step of a run without a baseline; returns whether it took one.
   */
  snapshotInit(): boolean {
    if (this.knnInit !== null || this.stepIndex !== 0 || this.initSnapshot) return false;
    this.initSnapshot = this.store.snapshotStudent('init_student');
    return true;
  }

  /** A random-init baseline is waiting to be measured on the snapshot (snapshotInit). */
  get initPending(): boolean {
    return this.initSnapshot !== null;
  }

  /**
   * The random-init baselines measured on the snapshot of the initial student: `knnInit` (k = 20,
   * T = 0.07) and, with the online probe, `linearInit`; exactly the numbers evaluateKnn gives at step
   * 0 (same weights, bank, queries and fit). Frees the snapshot. Null when there is none.
   */
  async evaluateKnnInit(): Promise<{ top1: number; all: Record<string, number>; linearInit?: number } | null> {
    const snap = this.initSnapshot;
    if (!snap) return null;
    await this.flush();
    const k = await this.knnSetup();
    const embedder = await Embedder.create(this.ctx, this.model, snap, k.embedder.batch);
    const r = await this.embedAndEvaluate(k, embedder);
    this.knnInit = r.top1_k20;
    const out: { top1: number; all: Record<string, number>; linearInit?: number } = { top1: r.top1_k20, all: r.top1 as Record<string, number> };
    if (this.probe && this.linearInit === null) this.linearInit = await this.fitInitProbe(k);
    if (this.linearInit !== null) out.linearInit = this.linearInit;
    snap.destroy();
    this.initSnapshot = null;
    return out;
  }

  private async embedAndEvaluate(k: NonNullable<Trainer['knn']>, embedder: Embedder) {
    await embedder.embed(k.bank.images, k.bank.count, k.bankFeats);
    await embedder.embed(k.queries.images, k.queries.count, k.queryFeats);
    return k.evaluator.evaluate(k.bankFeats, k.bankLabels, k.queryFeats, k.queryLabels);
  }

  /** A probe fitted on the bank's features just embedded (of the frozen network), tested on the queries': top-1 (percent). */
  private async fitInitProbe(k: NonNullable<Trainer['knn']>): Promise<number> {
    const [bankFeats, queryFeats] = await Promise.all([readF32(this.ctx, k.bankFeats), readF32(this.ctx, k.queryFeats)]);
    const fit = await fitLinearClassifier(this.ctx, { features: bankFeats, labels: k.bank.labels }, { features: queryFeats, labels: k.queries.labels }, { classes: classCount(this.data), epochs: 20, batch: Math.min(256, k.bank.count), seed: this.config.seed });
    return fit.top1;
  }

  /**
   * Weighted kNN top-1 (k = 20, T = 0.07, percent) of the student encoder's features and, with the
   * online probe, its top-1 on the same queries (eval-mode features → probe → argmax). At
   * initialisation `linearInit`: a probe fitted on the bank's features of the frozen network.
   */
  async evaluateKnn(): Promise<{ top1: number; all: Record<string, number>; linear?: number; linearInit?: number }> {
    await this.flush();
    const k = await this.knnSetup();
    const r = await this.embedAndEvaluate(k, k.embedder);
    const atInit = this.knnInit === null && this.stepIndex === 0;
    if (atInit) this.knnInit = r.top1_k20;
    if (atInit && this.initSnapshot) {
      // Measured here on the same weights: the snapshot is no longer needed.
      this.initSnapshot.destroy();
      this.initSnapshot = null;
    }
    this.lastKnn = r.top1_k20;
    const out: { top1: number; all: Record<string, number>; linear?: number; linearInit?: number } = { top1: r.top1_k20, all: r.top1 as Record<string, number> };
    if (this.probe) {
      out.linear = this.lastLinear = (await this.probe.probe.evaluate(k.queryFeats, k.queries.labels)).top1;
      if (atInit && this.linearInit === null) this.linearInit = await this.fitInitProbe(k);
      if (this.linearInit !== null) out.linearInit = this.linearInit;
    }
    return out;
  }

  /**
   * The embedding map's input: the kNN query images (test split) through the student encoder in
   * evaluation mode — the features kNN evaluation classifies, by the same embedder — with their
   * labels, their indices in the test split and, for a method with a prototype head, each image's
   * cluster: the argmax of its K prototype logits (student, evaluation mode).
   */
  async embedTestImages(): Promise<TestEmbedding> {
    await this.flush();
    const k = await this.knnSetup();
    await k.embedder.embed(k.queries.images, k.queries.count, k.queryFeats);
    let clusters: Uint32Array | null = null;
    const K = this.model.prototypes;
    if (K > 0) {
      // Rows are H·K wide (H heads side by side, SeLa's --sela-heads); the map's cluster is head 0's argmax.
      const HK = K * headCount(this.model);
      if (!this.mapLogits) {
        const embedder = await LogitEmbedder.create(this.ctx, this.model, this.store.student, k.embedder.batch);
        this.mapLogits = { embedder, out: createTensor(this.ctx, [k.queries.count, HK], 'f32', 'map.logits') };
      }
      const { embedder, out } = this.mapLogits;
      await embedder.forEachBatch(k.queries.images, k.queries.count, (enc, logits, start, n) => enc.copyBufferToBuffer(logits.buffer, logits.byteOffset, out.buffer, out.byteOffset + start * HK * 4, n * HK * 4));
      const l = await readF32(this.ctx, out);
      clusters = new Uint32Array(k.queries.count);
      for (let i = 0; i < k.queries.count; i++) {
        let best = 0;
        for (let j = 1; j < K; j++) if (l[i * HK + j]! > l[i * HK + best]!) best = j;
        clusters[i] = best;
      }
    }
    return { features: k.queryFeats, count: k.queries.count, dim: k.embedder.dim, labels: k.queries.labels, indices: k.queries.indices, clusters };
  }

  /** The method's scheduled work after the step just taken (SeLa's relabelling): host metrics to log, or null. */
  async afterStep(): Promise<Record<string, number> | null> {
    if (!this.runState?.afterStep) return null;
    return this.runState.afterStep(this.stepIndex, { ctx: this.ctx, model: this.model, weights: this.store.student });
  }

  /** Head 0's class sizes after the method's latest label optimisation (SeLa), or null. */
  latestClassSizes(): Uint32Array | null {
    return this.runState?.latestClassSizes?.() ?? null;
  }

  /** The method's current label of every training image (SeLa, head 0), or null when it keeps none. */
  currentLabels(): Uint32Array | null {
    return this.runState?.currentLabels?.() ?? null;
  }

  /** The method's files to save beside the checkpoint (its runFiles). */
  async saveRunFiles(): Promise<Record<string, Uint8Array>> {
    await this.flush();
    return (await this.runState?.save?.()) ?? {};
  }

  /** Whether the method makes targets over prototypes (the marginal chart, gallery, pseudo-label export). */
  get hasTargets(): boolean {
    return this.graph.targets !== null;
  }

  /** The latest batch's teacher logits, targets and indices (view 1), and the targets' marginal. */
  async latestBatch(): Promise<{ teacherLogits: Float32Array; targets: Float32Array; B: number; K: number; indices: Uint32Array; marginal: Float32Array }> {
    await this.flush();
    const B = this.config.batch;
    const K = this.model.prototypes;
    const w = this.graph.targets;
    const logits = this.graph.teacherLogits;
    if (!w || !logits) throw new Error(`${this.method.label} makes no targets over prototypes: there is no latest batch of targets to show`);
    const [teacherLogits, targets] = await Promise.all([readF32(this.ctx, logits), readF32(this.ctx, w)]);
    const marginal = new Float32Array(K);
    for (let i = 0; i < B; i++) for (let j = 0; j < K; j++) marginal[j]! += targets[i * K + j]! / B;
    return { teacherLogits, targets, B, K, indices: this.lastIndices.slice(), marginal };
  }

  /** Everything needed to resume (or to export weights), in checkpoint form. */
  async saveState(): Promise<ModelState> {
    await this.flush();
    const state = await this.store.download(this.model, this.stepIndex, this.batchesTracked);
    state.method = this.method.id;
    state.extra = { train_config: this.config, knn_top1_init: this.knnInit, ...(this.linearInit !== null ? { linear_top1_init: this.linearInit } : {}) };
    return state;
  }

  /** The optimizer momentum (flat), to resume exactly where this run is. */
  async saveMomentum(): Promise<Float32Array> {
    await this.flush();
    return this.store.downloadMomentum();
  }

  /** The online probe's parameters and momentum (null without a probe), to resume it exactly. */
  async saveProbe(): Promise<Float32Array | null> {
    await this.flush();
    return this.probe ? this.probe.probe.download() : null;
  }

  /** The argmax cluster of every row of the latest targets (for pseudo-label export). */
  async latestAssignments(): Promise<Int32Array> {
    const { targets, B, K } = await this.latestBatch();
    const out = new Int32Array(B);
    for (let i = 0; i < B; i++) {
      let best = 0;
      for (let j = 1; j < K; j++) if (targets[i * K + j]! > targets[i * K + best]!) best = j;
      out[i] = best;
    }
    return out;
  }

  destroy(): void {
    this.initSnapshot?.destroy();
    this.runState?.destroy();
    this.probe?.probe.destroy();
    this.store.destroy();
    this.ring.destroy();
    this.augmenter.destroy();
    this.mapLogits?.out.buffer.destroy();
  }
}

