// The declared metric layout (docs/ARCHITECTURE.md, "The metric layout"): every metric a record
// may carry is one row (src/methods/types.ts MetricRow) — the run's own rows here, the method's
// rows in its module. From the rows of a run come the GPU copies of its sources into one slot
// of the readback ring, the parser of that slot, the metrics.jsonl keys and the CSV columns.
// Adding a metric is one row.
import type { ReadbackRing, ReadbackSlot } from '../gpu/readback.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { METHODS } from '../methods/registry.ts';
import type { MethodDef, MetricRow } from '../methods/types.ts';

/** One line of metrics.jsonl (flat keys). The method's own keys are optional: not every method has them. */
export interface StepMetrics {
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  beta: number;
  ema_momentum: number;
  /** Training images per second (a pair of views counts once). */
  images_per_s: number;
  /** Augmented views per second (images_per_s × the method's views per image). */
  views_per_s: number;
  wall_s: number;
  knn_top1?: number;
  knn_top1_init?: number;
  linear_top1?: number;
  linear_top1_init?: number;
  student_entropy?: number;
  student_marginal_entropy?: number;
  student_mi?: number;
  teacher_entropy?: number;
  teacher_marginal_entropy?: number;
  teacher_mi?: number;
  target_entropy?: number;
  target_marginal_entropy?: number;
  target_mi?: number;
  kl_teacher_targets?: number;
  kl_student_targets?: number;
  used_clusters?: number;
  largest_cluster_fraction?: number;
  alignment?: number;
  uniformity?: number;
  effective_rank?: number;
  [extra: string]: number | undefined;
}

/**
 * The one definition of throughput, for metrics.jsonl and summary.json alike: training images
 * per second (a pair of views of one image counts once) and augmented views per second.
 */
export function throughput(images: number, viewsPerImage: number, seconds: number): { images_per_s: number; views_per_s: number } {
  const ips = images / Math.max(1e-6, seconds);
  return { images_per_s: ips, views_per_s: ips * viewsPerImage };
}

/** Rows before the method's: where the run is and its schedules; `loss` comes from the step graph. */
export const RUN_METRICS_HEAD: readonly MetricRow[] = [
  { key: 'step', help: 'steps done', source: 'host', reduce: 'last' },
  { key: 'epoch', help: 'passes over the training split', source: 'host', reduce: 'last' },
  { key: 'loss', help: 'the method’s loss at this step', source: { gpu: 'loss', index: 0 }, reduce: 'mean' },
  { key: 'lr', help: 'learning rate', source: 'host', reduce: 'mean' },
  { key: 'beta', help: 'MIRA’s β on its cosine schedule', source: 'host', reduce: 'mean' },
  { key: 'ema_momentum', help: 'EMA teacher momentum', source: 'host', reduce: 'mean' },
];

/** Representation health, every method (src/mira/representation.ts, on the student's projections of the step's views). */
export const HEALTH_METRICS: readonly MetricRow[] = [
  { key: 'alignment', help: 'mean cosine of the two views’ projections (1: the views agree)', source: { gpu: 'health', index: 0 }, reduce: 'mean' },
  { key: 'uniformity', help: 'log mean over pairs of exp(−2‖z_i − z_j‖²) of view 1’s normalised projections (lower: spread over the sphere)', source: { gpu: 'health', index: 1 }, reduce: 'mean' },
  { key: 'effective_rank', help: 'exp of the entropy of view 1’s normalised singular values (1: collapsed to a line)', source: { gpu: 'health', index: 2 }, reduce: 'mean' },
];

/** Rows after the method's: throughput, time and evaluation. */
export const RUN_METRICS_TAIL: readonly MetricRow[] = [
  { key: 'images_per_s', help: 'training images per second since the previous log (a pair of views counts once)', source: 'host', reduce: 'mean' },
  { key: 'views_per_s', help: 'augmented views per second since the previous log', source: 'host', reduce: 'mean' },
  { key: 'wall_s', help: 'seconds since the run (or its resume) started', source: 'host', reduce: 'last' },
  { key: 'knn_top1', help: 'weighted 20-NN top-1 on held-out images (%)', source: 'host', reduce: 'last' },
  { key: 'knn_top1_init', help: 'the same at random initialisation (%)', source: 'host', reduce: 'last' },
  { key: 'linear_top1', help: 'online linear probe top-1 on the kNN queries (%; trained on detached features of view 1)', source: 'host', reduce: 'last' },
  { key: 'linear_top1_init', help: 'a linear probe fitted on the kNN bank’s features of the network at initialisation (%)', source: 'host', reduce: 'last' },
];

/** The rows of a run of this method, in record order. */
export function metricRows(method: MethodDef): MetricRow[] {
  // Alignment needs two views of each image.
  const health = HEALTH_METRICS.filter((r) => method.viewsPerImage >= 2 || r.key !== 'alignment');
  return [...RUN_METRICS_HEAD, ...method.metrics, ...health, ...RUN_METRICS_TAIL];
}

/** Every key any method may log, in column order (core first, then each method's new keys). */
export function allMetricKeys(): string[] {
  const keys = RUN_METRICS_HEAD.map((r) => r.key);
  for (const m of METHODS) for (const r of m.metrics) if (!keys.includes(r.key)) keys.push(r.key);
  for (const r of [...HEALTH_METRICS, ...RUN_METRICS_TAIL]) keys.push(r.key);
  return keys;
}

interface Copy {
  source: string;
  /** First element of the source copied. */
  first: number;
  count: number;
  /** Float offset in the slot. */
  at: number;
}

/** The slot layout of one run: which GPU source ranges are copied where, and how to read them back. */
export class MetricLayout {
  readonly rows: readonly MetricRow[];
  private readonly copies: Copy[] = [];
  /** Bytes of one readback slot. */
  readonly slotBytes: number;

  constructor(readonly method: MethodDef) {
    this.rows = metricRows(method);
    const ranges = new Map<string, { lo: number; hi: number }>();
    for (const r of this.rows) {
      if (r.source === 'host') continue;
      const g = ranges.get(r.source.gpu) ?? { lo: r.source.index, hi: r.source.index };
      ranges.set(r.source.gpu, { lo: Math.min(g.lo, r.source.index), hi: Math.max(g.hi, r.source.index) });
    }
    let at = 0;
    for (const [source, { lo, hi }] of ranges) {
      this.copies.push({ source, first: lo, count: hi - lo + 1, at });
      at += hi - lo + 1;
    }
    this.slotBytes = Math.max(4, at * 4);
  }

  /** The GPU sources this layout reads (the step graph's and the method's). */
  get sources(): string[] {
    return this.copies.map((c) => c.source);
  }

  /** Records the copies of every source range into `slot`. */
  recordCopies(encoder: GPUCommandEncoder, ring: ReadbackRing, slot: ReadbackSlot, sources: Readonly<Record<string, Tensor>>): void {
    for (const c of this.copies) {
      const t = sources[c.source];
      if (!t) throw new Error(`metric layout: no GPU source "${c.source}" (method ${this.method.id}); sources: ${Object.keys(sources).join(', ')}`);
      if (t.numel < c.first + c.count) throw new Error(`metric layout: source "${c.source}" ${t} has no element ${c.first + c.count - 1}`);
      ring.copy(encoder, slot, t.buffer, t.byteOffset + c.first * 4, c.at * 4, c.count * 4);
    }
  }

  /** A record from a read-back slot and the host's values, in row order. */
  parse(slot: Float32Array, host: Readonly<Record<string, number | undefined>>): StepMetrics {
    const out: Record<string, number> = {};
    for (const r of this.rows) {
      if (r.source === 'host') {
        const v = host[r.key];
        if (v !== undefined) out[r.key] = v;
        continue;
      }
      const src = r.source;
      const c = this.copies.find((x) => x.source === src.gpu)!;
      out[r.key] = slot[c.at + src.index - c.first]!;
    }
    return out as StepMetrics;
  }
}
