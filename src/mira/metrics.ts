// Collapse metrics of a probability matrix on the GPU (src/shaders/assign_metrics.wgsl): mean
// entropy, marginal entropy, MI, KL(p‖w), the argmax histogram, used clusters and the largest
// cluster's fraction. Deterministic: fixed-order float reductions, exact u32 atomics.
//
//   const m = await AssignmentMetrics.create(ctx, { B, K });
//   const b = m.bind(p, w);      // w optional (KL(p‖w) is 0 without it)
//   b.record(encoder);  …submit…  const r = await b.read();
import code from '../shaders/assign_metrics.wgsl?raw';
import type { GpuContext } from '../gpu/context.ts';
import { ShapeError } from '../gpu/errors.ts';
import { createKernel, type BoundKernel, type Kernel, type PassTimer } from '../gpu/kernel.ts';
import { createBuffer, createTensor, readTensor, type Tensor } from '../gpu/tensor.ts';
import { checkAssignShape, checkRowBlocks } from './validate.ts';

const ROWS_PER_BLOCK = 8;

/** Smallest w inside log w for KL(p‖w): keeps KL finite when a target underflows to 0. */
export const KL_EPS = 1e-30;

export interface GpuAssignmentMetrics {
  mean_entropy: number;
  marginal_entropy: number;
  mi: number;
  /** mean_i KL(p_i‖w_i); 0 when no w was bound. */
  kl: number;
  /** Rows whose argmax is cluster k. */
  histogram: Uint32Array;
  used_clusters: number;
  largest_cluster_fraction: number;
}

export class AssignmentMetrics {
  private constructor(
    readonly ctx: GpuContext,
    readonly B: number,
    readonly K: number,
    readonly rows: Kernel,
    readonly reduce: Kernel,
  ) {}

  static async create(ctx: GpuContext, shape: { B: number; K: number }): Promise<AssignmentMetrics> {
    checkAssignShape(shape.B, shape.K, 'assignment metrics');
    checkRowBlocks(ctx, shape.B, ROWS_PER_BLOCK, 'assignment metrics');
    const [rows, reduce] = await Promise.all([
      createKernel(ctx, { label: 'metrics.rows', code, entryPoint: 'metric_rows' }),
      createKernel(ctx, { label: 'metrics.reduce', code, entryPoint: 'metric_reduce' }),
    ]);
    return new AssignmentMetrics(ctx, shape.B, shape.K, rows, reduce);
  }

  /** p (and w) B×K f32. Outputs live in the returned plan (`out`: 8 f32, `histogram`: K u32). */
  bind(p: Tensor, w?: Tensor, label = 'metrics'): MetricsPlan {
    const n = this.B * this.K;
    for (const [t, name] of [
      [p, 'p'],
      [w, 'w'],
    ] as const) {
      if (t && (t.dtype !== 'f32' || t.numel !== n)) throw new ShapeError(`${label}: ${name} ${t} should hold ${this.B}×${this.K} = ${n} f32 values`);
    }
    return new MetricsPlan(this, p, w ?? null, label);
  }
}

export class MetricsPlan {
  readonly out: Tensor;
  readonly histogram: Tensor;
  private readonly colsum: Tensor;
  private readonly stats: Tensor;
  private readonly params: GPUBuffer;
  private readonly bRows: BoundKernel;
  private readonly bReduce: BoundKernel;

  constructor(
    readonly metrics: AssignmentMetrics,
    readonly p: Tensor,
    readonly w: Tensor | null,
    readonly label: string,
  ) {
    const { ctx, B, K } = metrics;
    const nb = Math.ceil(B / ROWS_PER_BLOCK);
    this.out = createTensor(ctx, [8], 'f32', `${label}.out`);
    this.histogram = createTensor(ctx, [K], 'u32', `${label}.histogram`);
    this.colsum = createTensor(ctx, [nb, K], 'f32', `${label}.colsum`);
    this.stats = createTensor(ctx, [nb, 2], 'f32', `${label}.stats`);
    this.params = createBuffer(ctx, 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, `${label}.params`);
    const buf = new ArrayBuffer(16);
    new Uint32Array(buf, 0, 3).set([B, K, w ? 1 : 0]);
    new Float32Array(buf, 12, 1).set([KL_EPS]);
    ctx.device.queue.writeBuffer(this.params, 0, buf);
    this.bRows = metrics.rows.bind([p, w ?? p, this.colsum, this.stats, this.histogram, this.params], `${label}.rows`);
    this.bReduce = metrics.reduce.bind([this.colsum, this.stats, this.histogram, this.out, this.params], `${label}.reduce`);
  }

  record(encoder: GPUCommandEncoder, timer?: PassTimer): void {
    const h = this.histogram;
    encoder.clearBuffer(h.buffer, h.byteOffset, h.byteLength);
    this.bRows.record(encoder, [Math.ceil(this.metrics.B / ROWS_PER_BLOCK)], timer);
    this.bReduce.record(encoder, [1], timer);
  }

  /** Reads the results (after the submit that holds `record`). */
  async read(): Promise<GpuAssignmentMetrics> {
    const ctx = this.metrics.ctx;
    const [o, h] = await Promise.all([readTensor(ctx, this.out), readTensor(ctx, this.histogram)]);
    return {
      mean_entropy: o[0]!,
      marginal_entropy: o[1]!,
      mi: o[2]!,
      kl: o[3]!,
      histogram: h as Uint32Array,
      used_clusters: o[4]!,
      largest_cluster_fraction: o[5]!,
    };
  }

  destroy(): void {
    for (const t of [this.out, this.histogram, this.colsum, this.stats]) t.buffer.destroy();
    this.params.destroy();
  }
}
