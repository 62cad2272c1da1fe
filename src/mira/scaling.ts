// The log-domain row/column scaling iteration shared by MIRA's fixed point and Sinkhorn-Knopp
// (src/shaders/mira.wgsl explains the algebra). Pipelines are compiled once per (B, K) by
// `ScalingKernels.create`; a `ScalingPlan` binds them to one logit tensor and one target tensor
// and owns the small state (g, g_prev, v, block partials, trace). Everything is recorded into
// the caller's command encoder; nothing is read back unless asked (`step`, `readTrace`).
import miraCode from '../shaders/mira.wgsl?raw';
import doubleF32Code from '../shaders/double_f32.wgsl?raw';
import type { GpuContext } from '../gpu/context.ts';
import { GpuKernelError, ShapeError } from '../gpu/errors.ts';
import { createKernel, type BoundKernel, type Kernel, type PassTimer } from '../gpu/kernel.ts';
import { createBuffer, createTensor, type Tensor } from '../gpu/tensor.ts';
import { checkAssignShape } from './validate.ts';
import type { IterationRecord } from './iteration-record.ts';

/** mira.wgsl calls the double-f32 helpers: one module, the helpers first. */
const code = `${doubleF32Code}\n${miraCode}`;

/** Rows per workgroup and threads per workgroup: must match RB and WG in mira.wgsl. */
export const ROWS_PER_BLOCK = 8;
export const TRACE_HEAD = 8;

/** One iteration's diagnostics (field names as the float64 reference's IterationRecord). */
export type GpuIterationRecord = IterationRecord;

/** The per-call scalars of the iteration (see the Params struct in mira.wgsl). */
export interface ScalingParams {
  s: number;
  a: number;
  gamma: number;
  off: number;
  invTau: number;
  beta: number;
  /** +1: MIRA (v = exp(g)); −1: Sinkhorn (g = −u; the trace reports exp(u)). */
  vSign: number;
  /** Keep g relative to s·max ℓ (Sinkhorn, whose first pass sees s·ℓ unnormalised). */
  shiftG: boolean;
  /** Exponents s·d − g and s·d − ρ in double-f32 (Sinkhorn, SeLa: exact to float64 at ±100 logits, ε = 0.05),
   *  or one f32 fma (MIRA, whose g stays centred; half the kernel time on CPU emulators). See mira.wgsl's header. */
  compensated: boolean;
}

const PARAM_BYTES = 64;

function paramWords(p: ScalingParams, rowNorm: boolean, B: number, K: number): ArrayBuffer {
  const buf = new ArrayBuffer(PARAM_BYTES);
  new Float32Array(buf, 0, 8).set([p.s, p.a, p.gamma, p.off, p.invTau, p.beta, rowNorm ? 1 : 0, p.vSign]);
  new Uint32Array(buf, 32, 2).set([B, K]);
  // s as a double-f32 (s, s − f32(s)); then the 0 the kernels' compensated sums XOR with (double_f32.wgsl's df_zero).
  new Float32Array(buf, 40, 2).set([p.shiftG ? 1 : 0, p.s - Math.fround(p.s)]);
  new Uint32Array(buf, 48, 2).set([0, p.compensated ? 1 : 0]);
  return buf;
}

export class ScalingKernels {
  private traceKernels: Promise<[Kernel, Kernel]> | null = null;
  private constructor(
    readonly ctx: GpuContext,
    readonly B: number,
    readonly K: number,
    readonly rowMax: Kernel,
    readonly initScale: Kernel,
    readonly rows: Kernel,
    readonly cols: Kernel,
    readonly targets: Kernel,
  ) {}

  /** Compiles the row, column and target kernels for B×K (the trace kernels on first use). */
  static async create(ctx: GpuContext, B: number, K: number, what = 'assignment'): Promise<ScalingKernels> {
    checkAssignShape(B, K, what);
    const nb = Math.ceil(B / ROWS_PER_BLOCK);
    const max = ctx.limits.maxComputeWorkgroupsPerDimension;
    if (nb > max) throw new ShapeError(`${what}: B = ${B} needs ${nb} row blocks, over this adapter's ${max} workgroups per dimension`);
    // Shapes travel in the params uniform: one pipeline per entry point for every shape.
    const [rowMax, initScale, rows, cols, targets] = await Promise.all([
      createKernel(ctx, { label: 'mira.row_max', code, entryPoint: 'row_max' }),
      createKernel(ctx, { label: 'mira.init_scale', code, entryPoint: 'init_scale' }),
      createKernel(ctx, { label: 'mira.rows', code, entryPoint: 'rows' }),
      createKernel(ctx, { label: 'mira.cols', code, entryPoint: 'cols' }),
      createKernel(ctx, { label: 'mira.targets', code, entryPoint: 'targets' }),
    ]);
    return new ScalingKernels(ctx, B, K, rowMax, initScale, rows, cols, targets);
  }

  /** The trace kernels (trace_rows, trace_reduce), compiled once on first use. */
  trace(): Promise<[Kernel, Kernel]> {
    this.traceKernels ??= Promise.all([
      createKernel(this.ctx, { label: 'mira.trace_rows', code, entryPoint: 'trace_rows' }),
      createKernel(this.ctx, { label: 'mira.trace_reduce', code, entryPoint: 'trace_reduce' }),
    ]);
    return this.traceKernels;
  }

  get blocks(): number {
    return Math.ceil(this.B / ROWS_PER_BLOCK);
  }
}

/**
 * One logit matrix bound to the scaling iteration. `record*` methods only record; `step`,
 * `readTrace` and `copyOut` submit and read back. Call `writeParams` (queue.writeBuffer, no
 * recompilation) before the submit that uses new β/τ/ε.
 */
export class ScalingPlan {
  readonly g: Tensor;
  /** The low parts of g (g + gLo is the double-f32 column scale; kernels that only need f32 read g alone). */
  readonly gLo: Tensor;
  readonly gPrev: Tensor;
  /** MIRA: v = exp(g), the marginal scale. Sinkhorn/SeLa: u, the log prototype scaling. */
  readonly v: Tensor;
  /** max_j ℓ_ij per row (B), recomputed by every reset. */
  readonly rmax: Tensor;
  /** max_ij ℓ_ij (1 float): the reference point of g when shiftG. */
  readonly lmax: Tensor;
  private readonly scratch: Tensor;
  private readonly stats: Tensor;
  private readonly params: GPUBuffer;
  private readonly paramsFirst: GPUBuffer;
  private readonly state: GPUBuffer;
  private trace: GPUBuffer | null = null;
  private traceCap = 0;
  private staging: GPUBuffer | null = null;
  private readonly bRowMax: BoundKernel;
  private readonly bInitScale: BoundKernel;
  private readonly bRows: BoundKernel;
  private readonly bRowsFirst: BoundKernel;
  private readonly bCols: BoundKernel;
  private readonly bTargets: BoundKernel;
  private bTraceRows: BoundKernel | null = null;
  private bTraceReduce: BoundKernel | null = null;
  private traceKernels: [Kernel, Kernel] | null = null;
  /** Traced iterations recorded since the last reset (mirrors state[0] on the GPU). */
  traced = 0;
  /** Iterations applied since the last reset, counting the first pass. */
  passes = 0;
  private hasParams = false;

  constructor(
    readonly kernels: ScalingKernels,
    readonly logits: Tensor,
    readonly targets: Tensor,
    readonly label: string,
  ) {
    const { ctx, B, K } = kernels;
    for (const [t, name] of [
      [logits, 'logits'],
      [targets, 'targets'],
    ] as const) {
      if (t.dtype !== 'f32' || t.numel !== B * K) throw new ShapeError(`${label}: ${name} ${t} should hold ${B}×${K} = ${B * K} f32 values`);
    }
    const overlap = logits.buffer === targets.buffer && logits.byteOffset < targets.byteOffset + targets.byteLength && targets.byteOffset < logits.byteOffset + logits.byteLength;
    if (overlap) throw new ShapeError(`${label}: targets must not alias the logits (the logits are read by every pass)`);
    const nb = kernels.blocks;
    this.g = createTensor(ctx, [K], 'f32', `${label}.g`);
    this.gLo = createTensor(ctx, [K], 'f32', `${label}.g_lo`);
    this.gPrev = createTensor(ctx, [K], 'f32', `${label}.g_prev`);
    this.v = createTensor(ctx, [K], 'f32', `${label}.v`);
    this.rmax = createTensor(ctx, [B], 'f32', `${label}.row_max`);
    this.lmax = createTensor(ctx, [1], 'f32', `${label}.max`);
    // Column partials as double-f32: the high parts of every block, then the low parts (the trace reuses the first half).
    this.scratch = createTensor(ctx, [2, nb, K], 'f32', `${label}.partials`);
    this.stats = createTensor(ctx, [nb, 4], 'f32', `${label}.block_stats`);
    const U = GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST;
    this.params = createBuffer(ctx, PARAM_BYTES, U, `${label}.params`);
    this.paramsFirst = createBuffer(ctx, PARAM_BYTES, U, `${label}.params_first`);
    this.state = createBuffer(ctx, 16, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC, `${label}.state`);
    this.bRowMax = kernels.rowMax.bind([logits, this.rmax, this.params], `${label}.row_max`);
    this.bInitScale = kernels.initScale.bind([this.rmax, this.g, this.gLo, this.gPrev, this.lmax, this.params], `${label}.init_scale`);
    this.bRows = kernels.rows.bind([logits, this.rmax, this.g, this.gLo, this.scratch, this.lmax, this.params], `${label}.rows`);
    this.bRowsFirst = kernels.rows.bind([logits, this.rmax, this.g, this.gLo, this.scratch, this.lmax, this.paramsFirst], `${label}.rows_first`);
    this.bCols = kernels.cols.bind([this.scratch, this.g, this.gLo, this.gPrev, this.v, this.lmax, this.params], `${label}.cols`);
    this.bTargets = kernels.targets.bind([logits, this.rmax, this.g, this.gLo, targets, this.params], `${label}.targets`);
  }

  get B(): number {
    return this.kernels.B;
  }
  get K(): number {
    return this.kernels.K;
  }
  get ctx(): GpuContext {
    return this.kernels.ctx;
  }
  /** The params uniform (mira.wgsl's Params) for kernels that extend the iteration. */
  get paramsBuffer(): GPUBuffer {
    return this.params;
  }

  /** Writes the per-call scalars; `firstRowNorm` false makes the first pass take ρ = 0 (Sinkhorn). */
  writeParams(p: ScalingParams, firstRowNorm: boolean): void {
    for (const [k, x] of Object.entries(p)) {
      if (typeof x === 'number' && !Number.isFinite(x)) throw new GpuKernelError(`${this.label}.params`, `parameter ${k} = ${x} is not finite`);
    }
    const q = this.ctx.device.queue;
    q.writeBuffer(this.params, 0, paramWords(p, true, this.B, this.K));
    q.writeBuffer(this.paramsFirst, 0, paramWords(p, firstRowNorm, this.B, this.K));
    this.hasParams = true;
  }

  /** Loads the trace kernels and sizes the trace buffer for `capacity` records. */
  async prepareTrace(capacity: number): Promise<void> {
    this.traceKernels ??= await this.kernels.trace();
    if (capacity <= this.traceCap && this.trace) return;
    const { ctx, K } = this.kernels;
    const cap = Math.max(1, capacity, this.traceCap);
    this.trace?.destroy();
    this.trace = createBuffer(ctx, cap * (TRACE_HEAD + K) * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, `${this.label}.trace`);
    this.traceCap = cap;
    ctx.device.queue.writeBuffer(this.state, 4, new Uint32Array([cap]));
    const [tr, tz] = this.traceKernels;
    this.bTraceRows = tr.bind([this.logits, this.rmax, this.g, this.gPrev, this.scratch, this.stats, this.params], `${this.label}.trace_rows`);
    this.bTraceReduce = tz.bind([this.scratch, this.stats, this.g, this.gPrev, this.trace, this.state, this.lmax, this.params], `${this.label}.trace_reduce`);
  }

  get traceCapacity(): number {
    return this.traceCap;
  }

  private needParams(): void {
    if (!this.hasParams) throw new GpuKernelError(this.label, 'parameters were never written (call setParams first)');
  }
  private needTrace(): void {
    if (!this.bTraceRows) throw new GpuKernelError(this.label, 'the trace was not prepared (await prepareTrace(capacity) first)');
  }

  /** Row maxima of the logits, g ← 0 (in the reference's frame) and the trace counter ← 0 (recorded, so it is ordered
   *  with the passes around it). Every solve starts with it: the logits may have changed. */
  recordReset(encoder: GPUCommandEncoder, timer?: PassTimer): void {
    this.needParams();
    this.bRowMax.record(encoder, [this.kernels.blocks], timer);
    this.bInitScale.record(encoder, [1], timer);
    encoder.clearBuffer(this.state, 0, 4);
    this.traced = 0;
    this.passes = 0;
  }

  /** One row pass and one column pass; `first` uses the first-pass parameters. */
  recordPass(encoder: GPUCommandEncoder, opts: { first?: boolean; trace?: boolean } = {}, timer?: PassTimer): void {
    this.needParams();
    if (opts.trace) this.needTrace();
    const nb = this.kernels.blocks;
    (opts.first ? this.bRowsFirst : this.bRows).record(encoder, [nb], timer);
    this.bCols.record(encoder, [Math.ceil(this.K / 64)], timer);
    this.passes++;
    if (opts.trace) {
      this.bTraceRows!.record(encoder, [nb], timer);
      this.bTraceReduce!.record(encoder, [1], timer);
      this.traced++;
    }
  }

  /** w = softmax_j(s·ℓ_ij − a·g_j) into the targets tensor. */
  recordTargets(encoder: GPUCommandEncoder, timer?: PassTimer): void {
    this.needParams();
    this.bTargets.record(encoder, [this.kernels.blocks], timer);
  }

  /** Reads the records traced since the last reset, oldest first (one copy, one map); the
   *  trace is a ring of `traceCapacity` records, so only the latest that many are kept. */
  async readTrace(): Promise<GpuIterationRecord[]> {
    const n = Math.min(this.traced, this.traceCap);
    if (n === 0 || !this.trace) return [];
    const stride = TRACE_HEAD + this.K;
    const data = await this.copyOut(this.trace, 0, this.traceCap * stride * 4);
    const out: GpuIterationRecord[] = [];
    for (let r = this.traced - n; r < this.traced; r++) out.push(parseRecord(data, (r % this.traceCap) * stride, this.K));
    return out;
  }

  private reading = false;

  /** Copies `bytes` of a buffer to a (reused) MAP_READ buffer and returns them as floats. One
   *  readback at a time per plan (await each `step()` before the next). */
  async copyOut(src: GPUBuffer, offset: number, bytes: number, encoder?: GPUCommandEncoder): Promise<Float32Array> {
    if (this.reading) throw new GpuKernelError(this.label, 'a readback is already in flight on this plan; await it first');
    this.reading = true;
    try {
      return await this.copyOutNow(src, offset, bytes, encoder);
    } finally {
      this.reading = false;
    }
  }

  private async copyOutNow(src: GPUBuffer, offset: number, bytes: number, encoder?: GPUCommandEncoder): Promise<Float32Array> {
    const { device } = this.ctx;
    if (!this.staging || this.staging.size < bytes) {
      this.staging?.destroy();
      this.staging = createBuffer(this.ctx, bytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, `${this.label}.staging`);
    }
    const enc = encoder ?? device.createCommandEncoder({ label: `${this.label}.readback` });
    enc.copyBufferToBuffer(src, offset, this.staging, 0, bytes);
    device.queue.submit([enc.finish()]);
    await this.staging.mapAsync(GPUMapMode.READ, 0, bytes);
    const out = new Float32Array(this.staging.getMappedRange(0, bytes).slice(0));
    this.staging.unmap();
    return out;
  }

  /**
   * The explorer's "one more iteration": records one pass and its trace kernels (the first
   * call after a reset also records the reset, and the first pass), submits, and reads back
   * only that iteration's record (8 + K floats). `targets` also refreshes the targets tensor.
   */
  async step(opts: { first: boolean; targets?: boolean }): Promise<GpuIterationRecord> {
    if (this.traceCap < 1) await this.prepareTrace(64);
    const { device } = this.ctx;
    device.pushErrorScope('validation');
    const enc = device.createCommandEncoder({ label: `${this.label}.step` });
    if (opts.first) this.recordReset(enc);
    // The GPU writes record n at slot n % capacity (a ring), so stepping never runs out.
    const slot = this.traced % this.traceCap;
    this.recordPass(enc, { first: opts.first, trace: true });
    if (opts.targets) this.recordTargets(enc);
    const stride = TRACE_HEAD + this.K;
    const data = await this.copyOut(this.trace!, slot * stride * 4, stride * 4, enc);
    const err = await device.popErrorScope();
    if (err) throw new GpuKernelError(`${this.label}.step`, `validation error: ${err.message}`);
    return parseRecord(data, 0, this.K);
  }

  destroy(): void {
    for (const t of [this.g, this.gLo, this.gPrev, this.v, this.rmax, this.lmax, this.scratch, this.stats]) t.buffer.destroy();
    this.params.destroy();
    this.paramsFirst.destroy();
    this.state.destroy();
    this.trace?.destroy();
    this.staging?.destroy();
  }
}

function parseRecord(data: Float32Array, o: number, K: number): GpuIterationRecord {
  return {
    iter: data[o]!,
    v: Array.from(data.subarray(o + TRACE_HEAD, o + TRACE_HEAD + K)),
    residual: data[o + 1]!,
    delta_w: data[o + 2]!,
    objective: data[o + 3]!,
    marginal_entropy: data[o + 4]!,
    mean_entropy: data[o + 5]!,
    mi: data[o + 6]!,
    marginal_error: data[o + 7]!,
  };
}
