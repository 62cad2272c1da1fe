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
  | { type: 'gallery'; id: number; clusters: number; perCluster: number }
  | { type: 'export'; id: number; what: ExportKind }
  /** Is there a checkpoint in IndexedDB? Answered by `checkpoint-info`. */
  | { type: 'checkpoint-query' }
  | { type: 'checkpoint-discard' }
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
  | { type: 'explorer'; state: ExplorerState }
  | { type: 'explorer-busy'; busy: boolean }
  | { type: 'explorer-error'; message: string }
  | { type: 'lab-status'; running: boolean; step: number; steps: number; detail?: string; error?: string }
  | { type: 'lab-points'; points: { method: LabMethod; point: LabPoint }[] }
  | { type: 'gallery'; id: number; result: GalleryResult | null; error?: string }
  | { type: 'export'; id: number; fileName: string; mime: string; bytes: Uint8Array; error?: undefined }
  | { type: 'export-error'; id: number; message: string };
