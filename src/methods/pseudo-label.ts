// The pseudo-label family (MIRA, SwAV's Sinkhorn-Knopp, naive self-labelling; SeLa next): the
// EMA teacher's logits ℓ⁽ᵛ⁾ over the prototypes become targets w⁽ᵛ⁾ by the method's solver, and
// the student learns them by the swapped cross-entropy
//   L = ½[CE(w⁽¹⁾, q⁽²⁾) + CE(w⁽²⁾, q⁽¹⁾)],  CE = mean_i −Σ_k w_ik log softmax(q_i/τₛ)_k.
// A method of this family supplies only its target solver (`TargetSolver`) and its own rows;
// the loss, the collapse metrics of student, teacher and targets, their rows and the panels
// that chart them are shared here; the GPU objective is in pseudo-label-objective.ts, which
// method modules load on demand (so the page's main bundle carries no kernels). See
// docs/ARCHITECTURE.md, "Methods are plug-ins".
import type { PassTimer } from '../gpu/kernel.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { MetricRow, PanelSpec, StepValues } from './types.ts';

/** A method's targets from teacher logits: one bound plan per view. */
export interface TargetSolver {
  bind(logits: Tensor, targets: Tensor, label: string): TargetPlan;
}

export interface TargetPlan {
  /** This step's τ/β/ε/iterations (uniform writes). */
  setStep(v: StepValues): void;
  record(encoder: GPUCommandEncoder, timer?: PassTimer): void;
}

// ───────────────────────────── the family's rows ─────────────────────────────

export const TAU_S = { key: 'tauS', short: 'ts', label: 'Student τₛ', group: 'method', kind: 'number', min: 0, max: 2, exclusiveMin: true, default: 0.1, step: 0.01, help: 'Temperature of the student’s softmax in the cross-entropy (0.1).' } as const;
export const TAU_T = { key: 'tauT', short: 'tt', label: 'Teacher τₜ', group: 'method', kind: 'number', min: 0, max: 2, exclusiveMin: true, default: 0.225, step: 0.005, help: 'Temperature of the teacher’s logits before assignment (0.225); sharper below.' } as const;
export const ITERS = { key: 'iters', short: 'it', label: 'Iterations', group: 'method', kind: 'int', min: 1, max: 500, default: 30, step: 1, help: 'Fixed-point iterations of MIRA (30), or Sinkhorn iterations for SwAV (3).' } as const;
export const EMA_START = { key: 'emaStart', short: 'em', label: 'EMA start', group: 'method', kind: 'number', min: 0, max: 1, default: 0.99, step: 0.001, help: 'EMA teacher momentum at the start, rising to 1 on a cosine (0.99).' } as const;
export const FREEZE_HEAD_STEPS = {
  key: 'freezeHeadSteps',
  short: 'fh',
  label: 'Freeze head',
  group: 'method',
  kind: 'int',
  min: 0,
  max: Infinity,
  default: (c: Readonly<Record<string, unknown>>) => Math.round((c.steps as number) * 0.1),
  derived: '10% of the steps',
  step: 1,
  help: 'Steps during which the prototypes’ gradients are zeroed (the paper: one epoch).',
} as const;

export const PROTOTYPES = { key: 'prototypes', short: 'k', label: 'Clusters K', group: 'model', kind: 'int', min: 2, max: 65536, default: 300, step: 1, help: 'Number of prototypes (clusters) the head assigns images to; methods without a head ignore it.' } as const;

/** Rows every pseudo-label method uses. */
export const PSEUDO_LABEL_PARAMS = [PROTOTYPES, TAU_S, TAU_T, EMA_START, FREEZE_HEAD_STEPS] as const;

// ───────────────────────────── the family's metrics ─────────────────────────────

/** Metric sources: AssignmentMetrics outputs (mean entropy, marginal entropy, MI, KL, used clusters, largest fraction). */
const STAT = { entropy: 0, marginal_entropy: 1, mi: 2, kl: 3, used_clusters: 4, largest_cluster_fraction: 5 } as const;

const role = (who: 'student' | 'teacher' | 'target', source: string, what: string): MetricRow[] => [
  { key: `${who}_entropy`, help: `mean_i H(p_i) of the ${what} (nats)`, source: { gpu: source, index: STAT.entropy }, reduce: 'mean' },
  { key: `${who}_marginal_entropy`, help: `H(mean_i p_i) of the ${what} (nats)`, source: { gpu: source, index: STAT.marginal_entropy }, reduce: 'mean' },
  { key: `${who}_mi`, help: `marginal entropy − entropy of the ${what} (nats)`, source: { gpu: source, index: STAT.mi }, reduce: 'mean' },
];

export const PSEUDO_LABEL_METRICS: readonly MetricRow[] = [
  ...role('student', 'student', 'student’s probabilities softmax(q/τₛ)'),
  ...role('teacher', 'teacher', 'teacher’s probabilities softmax(ℓ/τₜ)'),
  ...role('target', 'targets', 'targets'),
  { key: 'kl_teacher_targets', help: 'mean_i KL(p_i‖w_i) of the teacher’s probabilities to the targets', source: { gpu: 'teacher', index: STAT.kl }, reduce: 'mean' },
  { key: 'kl_student_targets', help: 'mean_i KL(p_i‖w_i) of the student’s probabilities to the targets', source: { gpu: 'student', index: STAT.kl }, reduce: 'mean' },
  { key: 'used_clusters', help: 'clusters that are the argmax of at least one target row', source: { gpu: 'targets', index: STAT.used_clusters }, reduce: 'mean' },
  { key: 'largest_cluster_fraction', help: 'share of the batch in the largest argmax cluster', source: { gpu: 'targets', index: STAT.largest_cluster_fraction }, reduce: 'mean' },
];

const ROLE_SERIES = (suffix: string) =>
  [
    { key: `student_${suffix}`, label: 'student', color: '#5b9cff' },
    { key: `teacher_${suffix}`, label: 'teacher', color: '#f5a524' },
    { key: `target_${suffix}`, label: 'targets', color: '#2fcf8f' },
  ] as const;

export const PSEUDO_LABEL_PANELS: readonly PanelSpec[] = [
  { kind: 'lines', id: 'entropy', title: 'Entropy', subtitle: 'mean_i H(p_i), nats: how sure each assignment is', series: ROLE_SERIES('entropy'), zero: true },
  { kind: 'lines', id: 'marginal-entropy', title: 'Marginal entropy', subtitle: 'H(mean_i p_i), nats: how evenly clusters are used', series: ROLE_SERIES('marginal_entropy'), reference: 'logK', warnOn: 'marginal_entropy' },
  { kind: 'lines', id: 'mi', title: 'Mutual information', subtitle: 'marginal entropy − entropy: what MIRA rewards (weight β)', series: ROLE_SERIES('mi'), zero: true },
  {
    kind: 'lines',
    id: 'kl',
    title: 'KL terms',
    subtitle: 'KL(p‖w) of teacher and student probabilities to the targets',
    series: [
      { key: 'kl_teacher_targets', label: 'teacher ‖ targets', color: '#f5a524' },
      { key: 'kl_student_targets', label: 'student ‖ targets', color: '#5b9cff' },
    ],
    zero: true,
  },
  {
    kind: 'lines',
    id: 'clusters',
    title: 'Clusters',
    subtitle: 'used by the targets’ argmax (left, of K); largest share (right)',
    series: [
      { key: 'used_clusters', label: 'used clusters', color: '#2fcf8f' },
      { key: 'largest_cluster_fraction', label: 'largest cluster', color: '#ff7a7a', dashed: true, axis: 'right' },
    ],
    zero: true,
    integer: true,
    rightDomain: [0, 1],
    warnOn: 'used_clusters',
  },
  { kind: 'marginal', id: 'marginal', title: 'Cluster marginal', warnOn: 'marginal_entropy' },
];
