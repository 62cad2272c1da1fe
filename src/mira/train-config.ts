// The training configuration (every flag of `npm run cli -- train` and every control of the
// playground), its defaults, validation, and the per-step metrics record. Shared by the
// trainer, the CLI, the worker and the dashboard.
import { ShapeError } from '../gpu/errors.ts';

export type Method = 'mira' | 'swav' | 'naive';
export type OptimizerName = 'sgd' | 'lars';

export interface TrainConfig {
  /** bundled | fashion-mnist | cifar10 | a directory */
  dataset: string;
  width: number;
  batch: number;
  /** Total optimisation steps (from --steps, or --epochs × steps per epoch). */
  steps: number;
  prototypes: number;
  projHidden: number;
  projOut: number;
  method: Method;
  seed: number;
  /** Base learning rate for this batch (already scaled by batch/256). */
  lr: number;
  optimizer: OptimizerName;
  momentum: number;
  weightDecay: number;
  /** LARS trust coefficient η. */
  larsEta: number;
  warmupSteps: number;
  tauS: number;
  tauT: number;
  betaStart: number;
  betaEnd: number;
  /** Fixed-point iterations of MIRA (Sinkhorn iterations for swav). */
  iters: number;
  /** Sinkhorn ε (swav). */
  eps: number;
  emaStart: number;
  freezeHeadSteps: number;
  augment: 'default' | 'none';
  stemPadding: 1 | 2;
  /** Evaluate kNN every N steps (0: only at the start and end). */
  knnEvery: number;
  knnBank: number;
  knnQueries: number;
  /** Read metrics back every N steps. */
  logEvery: number;
  /** Write the checkpoint every N steps (0: only at the end). */
  checkpointEvery: number;
}

/** Defaults for small runs on Fashion-MNIST / the bundled sample (issue: learning on real data). */
export function defaultTrainConfig(over: Partial<TrainConfig> = {}): TrainConfig {
  const batch = over.batch ?? 64;
  const steps = over.steps ?? 300;
  const base: TrainConfig = {
    dataset: 'bundled',
    width: 1 / 8,
    batch,
    steps,
    prototypes: 300,
    projHidden: 512,
    projOut: 128,
    method: 'mira',
    seed: 1,
    lr: (0.6 * batch) / 256,
    optimizer: 'sgd',
    momentum: 0.9,
    weightDecay: 1e-5,
    larsEta: 0.001,
    warmupSteps: Math.round(steps * 0.1),
    tauS: 0.1,
    tauT: 0.225,
    betaStart: 0.75,
    betaEnd: 2 / 3,
    iters: 30,
    eps: 0.05,
    emaStart: 0.99,
    freezeHeadSteps: Math.round(steps * 0.1),
    augment: 'default',
    stemPadding: 1,
    knnEvery: 0,
    knnBank: 2000,
    knnQueries: 2000,
    logEvery: 10,
    checkpointEvery: 0,
  };
  return { ...base, ...over };
}

/** Throws a ShapeError listing every impossible setting. */
export function validateTrainConfig(c: TrainConfig): void {
  const p: string[] = [];
  const int = (name: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min) p.push(`${name} must be an integer ≥ ${min}, got ${v}`);
  };
  int('batch', c.batch, 2);
  int('steps', c.steps, 1);
  int('prototypes', c.prototypes, 2);
  int('proj-hidden', c.projHidden, 1);
  int('proj-out', c.projOut, 1);
  int('iters', c.iters, 1);
  int('warmup-steps', c.warmupSteps, 0);
  int('freeze-head-steps', c.freezeHeadSteps, 0);
  int('knn-bank', c.knnBank, 1);
  int('knn-queries', c.knnQueries, 1);
  int('log-every', c.logEvery, 1);
  if (!['mira', 'swav', 'naive'].includes(c.method)) p.push(`method must be mira, swav or naive, got ${c.method}`);
  if (!['sgd', 'lars'].includes(c.optimizer)) p.push(`optimizer must be sgd or lars, got ${c.optimizer}`);
  if (!(c.width > 0 && c.width <= 1)) p.push(`width must be in (0, 1], got ${c.width}`);
  if (!(c.lr > 0) || !Number.isFinite(c.lr)) p.push(`lr must be positive, got ${c.lr}`);
  if (!(c.tauS > 0)) p.push(`tau-s must be positive, got ${c.tauS}`);
  if (!(c.tauT > 0)) p.push(`tau-t must be positive, got ${c.tauT}`);
  for (const [n, v] of [['beta-start', c.betaStart], ['beta-end', c.betaEnd]] as const) if (!(v > 0 && v < 1)) p.push(`${n} must be in (0, 1), got ${v}`);
  if (!(c.emaStart >= 0 && c.emaStart <= 1)) p.push(`ema-start must be in [0, 1], got ${c.emaStart}`);
  if (!(c.weightDecay >= 0)) p.push(`weight-decay must be ≥ 0, got ${c.weightDecay}`);
  if (!(c.eps > 0)) p.push(`eps must be positive, got ${c.eps}`);
  if (p.length) throw new ShapeError(`invalid training configuration: ${p.join('; ')}`);
}

/** Statistics of one probability matrix (rows = samples, columns = clusters). */
export interface DistributionStats {
  /** mean_i H(p_i) */
  entropy: number;
  /** H(mean_i p_i) */
  marginal_entropy: number;
  /** marginal_entropy − entropy */
  mi: number;
  used_clusters: number;
  largest_cluster_fraction: number;
}

/** One line of metrics.jsonl (flat keys, as the CLI writes them). */
export interface StepMetrics {
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  beta: number;
  ema_momentum: number;
  student_entropy: number;
  student_marginal_entropy: number;
  student_mi: number;
  teacher_entropy: number;
  teacher_marginal_entropy: number;
  teacher_mi: number;
  target_entropy: number;
  target_marginal_entropy: number;
  target_mi: number;
  /** KL(p‖w) between the teacher's probabilities and the targets. */
  kl_teacher_targets: number;
  /** KL(p‖w) between the student's probabilities and the targets. */
  kl_student_targets: number;
  used_clusters: number;
  largest_cluster_fraction: number;
  images_per_s: number;
  wall_s: number;
  knn_top1?: number;
  knn_top1_init?: number;
  [extra: string]: number | undefined;
}
