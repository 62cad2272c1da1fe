// What a training method is (docs/ARCHITECTURE.md, "Methods are plug-ins"). A method module
// declares one `MethodDef`: its id and label, its parameter rows, how it turns a batch into a
// loss and gradients on the GPU (its objective), where its float64 reference lives, the metrics
// it reports and the dashboard panels that show them, its colour and its explanation. Two kinds
// share this interface:
//   pseudo-label  the head's logits over K prototypes (student) and the EMA teacher's logits →
//                 targets → a cross-entropy; gradients into the student's logits
//                 (MIRA, SwAV's Sinkhorn-Knopp, naive self-labelling)
//   embedding     the projector outputs of both views (and optionally the EMA teacher's) → a
//                 loss; gradients into the student's projector outputs; no prototypes
// The step graph (src/train/step-graph.ts) composes encoder, projector, the head when the kind
// has one, and the method's objective; it never asks which method it runs.
import type { GpuContext } from '../gpu/context.ts';
import type { PassTimer } from '../gpu/kernel.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { Dataset } from '../data/dataset.ts';
import type { ModelConfig } from '../nn/config.ts';
import type { NetworkWeights } from '../nn/param-store.ts';
import type { ParamRow } from './param-rows.ts';

export type MethodKind = 'pseudo-label' | 'embedding';

/** Shapes an objective is specialised for. */
export interface ObjectiveShape {
  /** Images per view. */
  B: number;
  /** Prototypes (pseudo-label methods), per head. */
  K: number;
  /**
   * Prototype heads of the model (1 but for SeLa's --sela-heads): the student's logits are
   * B×(H·K), the H heads' K logits side by side in each row. Absent: 1.
   */
  heads?: number;
  /** Projector output dimension. */
  D: number;
  /** The run's configuration: values that shape the objective's pipelines (MVEB's steinChunk). */
  config: Readonly<Record<string, unknown>>;
}

/** The tensors an objective reads and writes; all f32 on the GPU. */
export interface ObjectiveIO {
  /** Student outputs, one per view (the method's viewsPerImage): logits B×K (pseudo-label) or projections B×D (embedding). */
  student: readonly Tensor[];
  /** The EMA teacher's outputs of the same views (null when the method has no teacher). */
  teacher: readonly Tensor[] | null;
  /** Out: ∂L/∂student of each view (assigned). */
  grads: readonly Tensor[];
  /** Out: the loss, one f32. */
  loss: Tensor;
  /** The method's run state (createRunState), when it has one. */
  state: MethodRunState | null;
}

/** What a method's run state is built from (src/train/trainer.ts provides it). */
export interface RunStateEnv {
  ctx: GpuContext;
  /** The whole configuration. */
  config: Readonly<Record<string, unknown>>;
  /** The training split; its labels are never trained on (they give NMI and purity). */
  train: Dataset;
  /** This step's image indices (u32 [B]), written before each step is recorded. */
  indices: Tensor;
  /** Files saved beside the checkpoint of the run being resumed (e.g. labels.npy). */
  resumeFiles: Readonly<Record<string, Uint8Array>> | null;
}

/**
 * State a method keeps across steps outside the model — SeLa's label of every training image.
 * The trainer records `recordBeforeStep` into each step's encoder, calls `afterStep` once each
 * step is done (the driver logs what it returns), and saves `save()`'s files with every checkpoint.
 */
export interface MethodRunState {
  /** GPU tensors the objective reads, by name. */
  readonly tensors: Readonly<Record<string, Tensor>>;
  recordBeforeStep?(encoder: GPUCommandEncoder, timer?: PassTimer): void;
  /** Scheduled work after step `step` (1-based count of steps done); a record of host metrics to log, or null. */
  afterStep?(step: number, network: RunNetwork): Promise<Record<string, number> | null>;
  /** Class sizes (K counts, head 0) after the latest label optimisation — SeLa's class-size histogram; null before the first. */
  latestClassSizes?(): Uint32Array | null;
  /** The current label of every training image (head 0), for the page's gallery of classes; null when the method keeps none. */
  currentLabels?(): Uint32Array | null;
  /** Files to write beside the checkpoint (name → bytes). */
  save?(): Promise<Record<string, Uint8Array>>;
  destroy(): void;
}

/** The student network, for work outside the step (SeLa's whole-dataset labelling in evaluation mode). */
export interface RunNetwork {
  ctx: GpuContext;
  model: ModelConfig;
  weights: NetworkWeights;
}

/** Values of one step: the whole configuration and the schedules at this step. */
export interface StepValues {
  config: Readonly<Record<string, unknown>>;
  lr: number;
  beta: number;
  ema: number;
}

/** An objective bound to one step graph's tensors. Everything records into the caller's encoder. */
export interface ObjectivePlan {
  /** This step's values (uniform writes, effective from the next submit; no recompilation). */
  setStep(v: StepValues): void;
  /** The teacher-side work that needs no student forward (targets), for the explorer too. */
  recordTargets(encoder: GPUCommandEncoder, timer?: PassTimer): void;
  /** Loss and ∂L/∂student, after the student forward. */
  recordLoss(encoder: GPUCommandEncoder, timer?: PassTimer): void;
  /** The method's metric sources (only on logged steps). */
  recordMetrics(encoder: GPUCommandEncoder): void;
  /** Named GPU sources of metric scalars (f32 vectors) that the method's metric rows index. */
  readonly metricSources: Readonly<Record<string, Tensor>>;
  /** View 1's targets B×K (marginal chart, gallery, pseudo-label export); null without prototypes. */
  readonly targets: Tensor | null;
}

export interface MethodObjective {
  bind(io: ObjectiveIO, label: string): ObjectivePlan;
}

/**
 * A metric every record may carry (docs/ARCHITECTURE.md, "The metric layout"). Declared once;
 * from the rows come the GPU copies into the readback ring, the parser, the metrics.jsonl keys
 * and the CSV columns.
 */
export interface MetricRow {
  /** The metrics.jsonl key and CSV column. */
  readonly key: string;
  readonly help: string;
  /** Where it is computed: element `index` of a named GPU source, or on the host. */
  readonly source: { readonly gpu: string; readonly index: number } | 'host';
  /** How records merge when a long history is thinned: averaged, or the latest kept. */
  readonly reduce: 'mean' | 'last';
}

export interface SeriesSpec {
  readonly key: string;
  readonly label: string;
  readonly color: string;
  readonly dashed?: boolean;
  readonly axis?: 'left' | 'right';
}

/** A dashboard panel a method declares: lines over steps, or the latest targets' marginal. */
export type PanelSpec =
  | {
      readonly kind: 'lines';
      readonly id: string;
      readonly title: string;
      readonly subtitle: string;
      readonly series: readonly SeriesSpec[];
      /** Lower bound 0 on the left axis (else 'auto'). */
      readonly zero?: boolean;
      readonly integer?: boolean;
      readonly rightDomain?: readonly [number, number];
      /** A dashed reference line: log K or 1/K of the run. */
      readonly reference?: 'logK';
      /** The collapse warning that highlights this panel. */
      readonly warnOn?: string;
    }
  | { readonly kind: 'marginal'; readonly id: string; readonly title: string; readonly warnOn?: string }
  /** Class sizes after the latest label optimisation, sorted, against N/K and 1.5·N/K (SeLa's equipartition). */
  | { readonly kind: 'class-sizes'; readonly id: string; readonly title: string };

export interface MethodDef<Id extends string = string, P extends readonly ParamRow[] = readonly ParamRow[]> {
  readonly id: Id;
  readonly label: string;
  /** Its colour on every chart that compares methods. */
  readonly color: string;
  readonly kind: MethodKind;
  /** One line: the CLI's help and the method picker. */
  readonly summary: string;
  /** A paragraph for the page: what the objective rewards. */
  readonly explanation: string;
  /** The objective as TeX (KaTeX-renderable in strict mode; test/method-formulas.test.ts), in the notation of the method's reference. */
  readonly formula: string;
  /** One sentence for the page: what to watch for while it trains. */
  readonly watch: string;
  /** The parameter rows it uses (rows shared by a family are the same objects). */
  readonly params: P;
  /** Augmented views of each image per step. */
  readonly viewsPerImage: number;
  /** Whether it reads an EMA teacher's outputs. */
  readonly usesTeacher: boolean;
  /** Where its float64 reference lives (tests pair it with the GPU objective). */
  readonly reference: string;
  readonly metrics: readonly MetricRow[];
  readonly panels: readonly PanelSpec[];
  /** Values of shared rows this method is run with by the lab and side-by-side comparisons (SwAV: 3 iterations). */
  readonly recommended?: Readonly<Record<string, number>>;
  createObjective(ctx: GpuContext, shape: ObjectiveShape): Promise<MethodObjective>;
  /** State kept across steps outside the model (SeLa's labels); most methods have none. */
  createRunState?(env: RunStateEnv): Promise<MethodRunState>;
  /** Prototype heads the model gets for this configuration (SeLa: --sela-heads); 1 when absent. */
  modelHeads?(config: Readonly<Record<string, unknown>>): number;
  /** The files that state is saved in beside a checkpoint; a resumed run needs every one of them. */
  readonly runFiles?: readonly string[];
}

/** Declares a method, keeping its id and rows as literal types (the TrainConfig type is built from them). */
export function defineMethod<const Id extends string, const P extends readonly ParamRow[]>(def: MethodDef<Id, P>): MethodDef<Id, P> {
  return def;
}
