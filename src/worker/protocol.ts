// The messages between the UI thread and the engine worker, which owns the GPU device.
// Requests go UI → worker, events go worker → UI; both are discriminated unions on `type`.
// Everything here must survive structured cloning (plain data, typed arrays, no classes).
// Extend by adding variants; never change the shape of an existing `type`.
import type { GemmVariant } from '../gpu/gemm.ts';
import type { TrainConfig } from '../train/config.ts';
import type { StepMetrics } from '../train/metric-layout.ts';
import type { MethodId } from '../methods/registry.ts';
import type { IterationRecord } from '../mira/iteration-record.ts';

/** What the status bar shows about the adapter. */
export interface AdapterStatus {
  /** One line naming the adapter, e.g. "google swiftshader" (emulation is said by isSoftware). */
  name: string;
  vendor: string;
  architecture: string;
  description: string;
  /** A CPU emulation (SwiftShader, lavapipe, WARP): correct but slow. */
  isSoftware: boolean;
  features: { timestampQuery: boolean; shaderF16: boolean; subgroups: boolean };
}

export interface GemmCheckCase {
  variant: GemmVariant;
  /** max |gpu − cpu float64| over all outputs (Infinity if the GPU produced NaN). */
  maxError: number;
  /** Submit to readback, pipeline compilation excluded. */
  ms: number;
  pass: boolean;
}

export interface GemmCheckResult {
  M: number;
  N: number;
  K: number;
  tolerance: number;
  cases: GemmCheckCase[];
  /** The worst case's error. */
  maxError: number;
  pass: boolean;
  /** Where the GPU work ran; always "worker" in the app. */
  ranIn: 'worker' | 'window' | 'node';
}


// ───────────────────────────── datasets ─────────────────────────────

/** Where a dataset comes from. */
export type DatasetSource =
  /** The bundled Fashion-MNIST sample under /datasets/ (public/datasets). */
  | { kind: 'bundled' }
  /** A file served next to it, e.g. cifar-10-binary.tar.gz after `npm run datasets -- cifar10`. */
  | { kind: 'served'; file: string }
  /** Files the user dropped or picked: the CIFAR-10 .tar.gz, its six .bin files, or IDX files. */
  | { kind: 'files'; files: File[] };

export interface DatasetInfo {
  /** "fashion-mnist-sample", "cifar10", … */
  name: string;
  source: string;
  trainCount: number;
  testCount: number;
  height: number;
  width: number;
  channels: number;
  classes: string[];
}

export type DatasetPhase = 'reading' | 'decoding';

// ───────────────────────────── training ─────────────────────────────

export type TrainPhase =
  /** No trainer (no dataset yet, or after an error). */
  | 'idle'
  /** Compiling pipelines, planning memory, evaluating the random-init kNN baseline. */
  | 'building'
  | 'paused'
  | 'playing'
  /** Reached config.steps. */
  | 'done';

export interface TrainStatus {
  phase: TrainPhase;
  step: number;
  epoch: number;
  stepsPerEpoch: number;
  totalSteps: number;
  /** Smoothed over the last steps; 0 before the first. */
  imagesPerS: number;
  stepsPerS: number;
  /** Seconds to config.steps at the current speed; null when unknown. */
  etaS: number | null;
  /** What the worker is doing when building ("compiling kernels…"). */
  detail?: string;
  /** The configuration the trainer was built with (null when none). */
  config: TrainConfig | null;
  dataset: string | null;
  /**
   * Where the time to the first step went, in ms, from the worker's own clock: gpu_ms (adapter and
   * device), dataset_ms (fetch and decode), build_ms (the trainer: its pipelines and buffers),
   * first_step_ms (Play to the first finished step), baselines_ms (the random-init and pixel
   * baselines after it); pipelines / modules compiled by the build. The page's start-time test reads it.
   */
  startup?: Record<string, number>;
}

export interface KnnPoint {
  step: number;
  top1: number;
  /** The online linear probe's top-1 on the same queries (when the run has the probe). */
  linear?: number;
}

/** Raw pixels (standardised) on the run's kNN bank and queries (src/train/baselines.ts). */
export interface PixelBaselinePoint {
  knn: number;
  linear: number;
}

/** Why training stopped on its own. */
export type TrainErrorKind = 'nan' | 'build' | 'step' | 'checkpoint';

/** Where a refused checkpoint came from: files the user chose, or the one saved in this browser's IndexedDB. */
export type CheckpointOrigin = 'file' | 'browser';

export interface CheckpointInfo {
  step: number;
  savedAt: number;
  config: TrainConfig;
  dataset: string;
  bytes: number;
}

// ───────────────────────────── explorer ─────────────────────────────

export type ExplorerSource = { kind: 'batch' } | { kind: 'synthetic'; B: number; K: number; imbalance: number; seed: number };

/** One iteration's record without v (GpuIterationRecord minus the K-vector). */
export type IterationSummary = Omit<IterationRecord, 'v'>;

export interface ExplorerSolverState {
  /** One record per iteration since the last reset (MIRA counts v⁽⁰⁾'s pass separately). */
  trace: IterationSummary[];
  /** v after the latest iteration (MIRA: the column scale; Sinkhorn: the prototype scaling exp(u)). */
  v: number[];
  /** B×K targets after the latest iteration. */
  targets: Float32Array;
}

export interface ExplorerState {
  source: ExplorerSource;
  /** "batch of step 120" or "synthetic 64×16, imbalance 0.5". */
  label: string;
  B: number;
  K: number;
  tau: number;
  beta: number;
  eps: number;
  /** Iterations applied (each a MIRA fixed-point step and a Sinkhorn-Knopp scaling). */
  iters: number;
  mira: ExplorerSolverState;
  sinkhorn: ExplorerSolverState;
  /** max |Δw| below the tolerance for both. */
  converged: boolean;
  /** The float64 reference at the same iteration count, when "Verify on CPU" is on. */
  cpu: { iters: number; miraMaxDiff: number; sinkhornMaxDiff: number; ms: number; error: string | null } | null;
  /** Wall time of the latest GPU update (ms). */
  ms: number;
}

// ───────────────────────────── collapse lab, gallery, exports ─────────────────────────────

export type LabMethod = MethodId;

export interface LabPoint {
  step: number;
  /** The cluster statistics are null for methods without clusters (the embedding objectives: MVEB, MIO). */
  used_clusters: number | null;
  target_marginal_entropy: number | null;
  teacher_marginal_entropy: number | null;
  /** H(mean w) − mean H(w): 0 when the targets carry no information (either collapse). */
  target_mi: number | null;
  /** exp of the entropy of the batch's normalised singular values, every method: falls under dimensional collapse. */
  effective_rank: number;
  loss: number;
}

/**
 * UMAP runs on one CPU core in the worker; above this many points the page offers PCA only.
 * Measured with scripts/umap-time.ts on the 2-core development machine (shared, loaded): 1000 points
 * of 32 or 512 features took 13–31 s, 2000 points 61–70 s; a map should come back in seconds.
 */
export const UMAP_MAX_POINTS = 1000;

/** How the embedding map flattens the features to 2-D: PCA on the GPU (any size) or UMAP in the worker (at most UMAP_MAX_POINTS). */
export type MapProjection = 'pca' | 'umap';

/** The embedding map of the current run: the kNN query images (test split) by the student encoder, in 2-D. */
export interface EmbeddingMapResult {
  projection: MapProjection;
  step: number;
  method: MethodId;
  /** N×2 row-major map coordinates. */
  points: Float32Array;
  /** True class per point (an index into `classes`). */
  labels: Uint32Array;
  /** The method's cluster per point (argmax over its prototypes, evaluation mode); null for methods without a head. */
  clusters: Uint32Array | null;
  /** The method's prototypes K (0 without a head). */
  prototypes: number;
  classes: string[];
  /** Each point's index in the test split. */
  indices: Uint32Array;
  /** N images of H×W×C uint8, NHWC, for hovering. */
  images: Uint8Array;
  height: number;
  width: number;
  channels: number;
  /** Feature columns D that were projected. */
  dim: number;
  /** PCA: the share of the variance along each axis; UMAP: null. */
  explained: [number, number] | null;
  /** Seconds the projection took in the worker (the embedding of the images not included). */
  projectS: number;
  /** Purity and NMI of the clusters against the classes (null without clusters). */
  purity: number | null;
  nmi: number | null;
}

export interface GalleryCluster {
  cluster: number;
  size: number;
  /** n images of H×W×C uint8, NHWC. */
  images: Uint8Array;
  labels: number[];
  /** Share of the cluster's most common label. */
  purity: number;
  majority: string;
}

export interface GalleryResult {
  /** Images assigned so far (from the latest batches), or every training image (SeLa's labels). */
  assigned: number;
  /** The latest batches' targets (argmax), or SeLa's label of every image after its latest optimisation. */
  source: 'targets' | 'labels';
  steps: [number, number];
  clusters: GalleryCluster[];
  height: number;
  width: number;
  channels: number;
  classes: string[];
  /** Against the labels the method never saw, over every assigned image. */
  purity: number;
  nmi: number;
}

// ───────────────────────────── method arena ─────────────────────────────

/** One logged step of one arena method (src/worker/arena.ts): what its charts and results table show. */
export interface ArenaPoint {
  step: number;
  loss: number;
  effective_rank: number | null;
  /** Null for methods without clusters (the embedding objectives). */
  used_clusters: number | null;
  alignment: number | null;
  uniformity: number | null;
}

/** An arena method's evaluation at the shared cadence: kNN top-1 and the online linear probe's (percent), or its random-init baseline at step 0. */
export interface ArenaEval {
  step: number;
  knn: number;
  linear: number | null;
}

export interface ArenaStatus {
  running: boolean;
  paused: boolean;
  /** Steps each method has done, by method id. */
  done: Record<string, number>;
  steps: number;
  /** Images per second of each method's own steps (evaluations excluded), by method id. */
  imagesPerS: Record<string, number>;
  detail?: string;
  error?: string;
}

export type ExportKind = 'metrics-csv' | 'metrics-json' | 'pseudo-labels' | 'weights';

export type EngineRequest =
  /** Acquire the device; answered by `ready` or `unavailable`. */
  | { type: 'init' }
  /** Run the GEMM self-test; answered by `gemm-check` or `failed` with the same id. */
  | { type: 'gemm-check'; id: number; size: number }
  /** Which datasets are served besides the bundled sample; answered by `datasets-served`. */
  | { type: 'probe-datasets' }
  /** Load a dataset; `dataset-progress`…, then `dataset` or `dataset-error`. The current dataset and trainer survive a failure. */
  | { type: 'load-dataset'; id: number; source: DatasetSource }
  /** (Re)build the trainer for this configuration (from the saved checkpoint with `resume`). */
  | { type: 'configure'; config: TrainConfig; resume?: boolean }
  | { type: 'play' }
  | { type: 'pause' }
  | { type: 'step-batch'; count?: number }
  /** Throws the trainer away and builds a fresh one from the given configuration. */
  | { type: 'reset'; config: TrainConfig }
  | { type: 'evaluate-knn' }
  | { type: 'explorer-load'; source: ExplorerSource; tau: number; beta: number; eps: number }
  /** New τ/β/ε: re-solves at once to the current iteration count. */
  | { type: 'explorer-params'; tau: number; beta: number; eps: number }
  | { type: 'explorer-step' }
  | { type: 'explorer-converge' }
  | { type: 'explorer-reset' }
  | { type: 'explorer-verify'; on: boolean }
  /** Runs naive, Sinkhorn-Knopp and MIRA interleaved from one seed, `steps` steps each. */
  | { type: 'lab-start'; config: TrainConfig; steps: number }
  | { type: 'lab-stop' }
  /** Trains `methods` from one seed on the same images, interleaved one step each per round, `steps` steps each (src/worker/arena.ts). */
  | { type: 'arena-start'; methods: MethodId[]; config: TrainConfig; steps: number }
  | { type: 'arena-pause' }
  | { type: 'arena-resume' }
  | { type: 'arena-stop' }
  | { type: 'gallery'; id: number; clusters: number; perCluster: number }
  /** The embedding map of the current run's test images (answered by `embedding-map`). */
  | { type: 'embedding-map'; id: number; projection: MapProjection }
  | { type: 'export'; id: number; what: ExportKind }
  /** Is there a checkpoint in IndexedDB? Answered by `checkpoint-info`. */
  | { type: 'checkpoint-query' }
  | { type: 'checkpoint-discard' }
  /**
   * Continue from checkpoint files the user chose (model.safetensors, optionally optimizer.safetensors and a method's run
   * files): checked, then the trainer is rebuilt from them with the checkpoint's configuration (`config` is the page's, for
   * the settings an imported run keeps). Answered by `checkpoint-imported` (then the usual build events) or `checkpoint-refused`;
   * a refused file changes nothing.
   */
  | { type: 'import-checkpoint'; id: number; files: File[]; config: TrainConfig }
  /** Destroys the GPU device as if it were lost (tests and demos of the recovery path). */
  | { type: 'simulate-device-loss' };

export type EngineEvent =
  | { type: 'ready'; adapter: AdapterStatus }
  /** No WebGPU here: `reason` says what is missing, `hint` what to do (WebGPUUnavailableError). */
  | { type: 'unavailable'; reason: string; hint: string }
  | { type: 'gemm-check'; id: number; result: GemmCheckResult }
  /** A request (or, without id, the worker itself) failed. */
  | { type: 'failed'; id?: number; error: string }
  | { type: 'device-lost'; message: string }
  | { type: 'datasets-served'; files: string[] }
  | { type: 'dataset-progress'; id: number; phase: DatasetPhase; file: string; loaded: number; total: number }
  | { type: 'dataset'; id: number; info: DatasetInfo }
  /** `file` is DatasetError's file when there is one; `message` its whole message. */
  | { type: 'dataset-error'; id: number; file: string | null; message: string }
  | { type: 'status'; status: TrainStatus }
  /** Logged steps since the last event (the worker batches them). */
  | { type: 'metrics'; records: StepMetrics[] }
  | { type: 'knn'; init: number | null; point: KnnPoint | null; pixels?: PixelBaselinePoint }
  /** The latest targets' cluster marginal (mean over the batch), K values. */
  | { type: 'marginal'; step: number; marginal: Float32Array }
  /** Class sizes (K counts over N images) after a label optimisation (SeLa, head 0). */
  | { type: 'class-sizes'; step: number; sizes: Uint32Array; N: number }
  /** Training stopped: a NaN (`metric` at `step`), a failed build or step. Training is paused. */
  | { type: 'train-error'; kind: TrainErrorKind; message: string; metric?: string; step?: number }
  /** Replaces the UI's history (after a resume): every logged record and kNN point so far. */
  | { type: 'history'; records: StepMetrics[]; knn: KnnPoint[]; knnInit: number | null }
  | { type: 'checkpoint-info'; info: CheckpointInfo | null }
  | { type: 'checkpoint-saved'; step: number; savedAt: number }
  /** Checkpoint files were accepted: the trainer is being rebuilt from step `step` with `config`; `optimizer` names the momentum's file (null: zero momentum). */
  | { type: 'checkpoint-imported'; id: number; file: string; step: number; config: TrainConfig; optimizer: string | null; notes: string[] }
  /** A checkpoint was not loaded: `file` names it, `message` says why and what to do. `id` answers an `import-checkpoint`. */
  | { type: 'checkpoint-refused'; id?: number; origin: CheckpointOrigin; file: string; message: string }
  | { type: 'explorer'; state: ExplorerState }
  | { type: 'explorer-busy'; busy: boolean }
  | { type: 'explorer-error'; message: string }
  | { type: 'lab-status'; running: boolean; step: number; steps: number; detail?: string; error?: string }
  | { type: 'lab-points'; points: { method: LabMethod; point: LabPoint }[] }
  | { type: 'arena-status'; status: ArenaStatus }
  | { type: 'arena-points'; points: { method: MethodId; point: ArenaPoint }[] }
  /** An evaluation of one method; `init` marks the random-initialisation baseline (step 0). */
  | { type: 'arena-eval'; method: MethodId; point: ArenaEval; init: boolean }
  /** Raw pixels (standardised) on the arena's kNN bank and queries, the same for every method. */
  | { type: 'arena-pixels'; pixels: PixelBaselinePoint }
  /** At the end of an arena run: each method's PCA embedding map of the test queries, side by side (a halted method has none). */
  | { type: 'arena-maps'; maps: EmbeddingMapResult[] }
  | { type: 'gallery'; id: number; result: GalleryResult | null; error?: string }
  | { type: 'embedding-map'; id: number; result: EmbeddingMapResult | null; error?: string }
  | { type: 'export'; id: number; fileName: string; mime: string; bytes: Uint8Array; error?: undefined }
  | { type: 'export-error'; id: number; message: string };
