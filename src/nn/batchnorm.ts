// Batch normalisation (src/shaders/batchnorm.wgsl): BatchNorm2d over NHWC activations (per channel
// over N·H·W) and BatchNorm1d over [N][C], with the ResNet fusions:
//   forward   y = BN(x) [+ residual] [ReLU]  — bn2 → +shortcut → ReLU, and bn → ReLU, in one pass
//   training  batch statistics (biased variance, eps 1e-5); saves `mean` and `invstd` [C] for the
//             backward; updates running_mean / running_var as PyTorch (momentum 0.1, running_var
//             with the unbiased variance). R = N·H·W = 1 is refused, as PyTorch does.
//   eval      the affine map from the running statistics
//   deferred  (`applyInConsumer`, with ReLU, no residual) the forward computes the statistics and the
//             coefficients only; the next convolution applies y = relu(scale·x + shift) as it loads x
//             (Conv2dOptions.bnReluInput: its prologue), so y is never written nor read back, and the
//             backward takes the ReLU mask from x and those coefficients (MASK_FROM_COEF).
//   producer  (`statsFromProducer`) the convolution that writes x also gathers each group's pivot and shifted sums per channel
//             (conv2d_bn_stats.wgsl); the training forward reduces those (stats_groups) instead of reading x
//             again (stats_partial)
//   backward  dx assigned (`=`); dgamma, dbeta accumulated (`+=`, the default; docs/ARCHITECTURE.md, forward and backward) or assigned
//             (`accumulate: false`); with a fused residual, d residual = g assigned; with a fused
//             ReLU the mask comes from the saved output y (y > 0).
// Dispatches: training forward 3 (block partials, reduce + running stats, apply), eval forward 2,
// backward 3 (block partials of Σg and Σg·x̂ with the ReLU mask fused, reduce, apply).
// Variants (the reductions' workgroup shape; same results up to summation order): 'tree' for GPUs
// (TX channel lanes × TY row threads, one workgroup-memory reduction per block), 'direct' for CPU
// emulators (one thread per lane and block of ≥ 4 rows, no barrier: ~5× faster to compile).
// num_batches_tracked (an int64 in checkpoints) is the caller's step count; it is not kept here.
import bnWgsl from '../shaders/batchnorm.wgsl?raw';
import bnReduceWgsl from '../shaders/batchnorm_reduce.wgsl?raw';
import bnGroupsWgsl from '../shaders/batchnorm_groups.wgsl?raw';
import type { GpuContext } from '../gpu/context.ts';
import { assertShape, isPositiveInt } from '../gpu/errors.ts';
import { createKernel, type Kernel } from '../gpu/kernel.ts';
import { createTensor, type Tensor } from '../gpu/tensor.ts';
import { activationHeader, checkDisjoint, checkTensor, dummyStorage, laneHeader, laneWidth, positiveInts, reduceTile, wgslVariant } from './elementwise.ts';
import { grid1d, kernelPass, type Pass } from '../gpu/pass.ts';

export interface BatchNormShape {
  batch: number;
  channels: number;
  /** BatchNorm2d over NHWC: the spatial size. Omit both for BatchNorm1d over [batch][channels]. */
  height?: number;
  width?: number;
}

export interface BatchNormOptions {
  /** The module's name (e.g. "layer1.0.bn2"), shown in errors and profiles. */
  label?: string;
  eps?: number;
  momentum?: number;
  /** Fused ReLU after the normalisation (and the residual add). */
  relu?: boolean;
  /** Fused residual add before the ReLU: y = relu(BN(x) + residual). */
  residual?: boolean;
  /** dgamma/dbeta: += (true, default) or = (false). */
  accumulate?: boolean;
  /** Which pipelines to compile (all by default). */
  passes?: BatchNormPasses;
  /** Leave y = relu(BN(x)) to the consumer (a convolution created with bnReluInput: { coefAt }): the forward writes
   *  no y, the backward recomputes the ReLU mask from x. Needs `relu` and no residual. */
  applyInConsumer?: boolean;
  /** The training statistics come from the producer's partial statistics (a convolution created with bnStats: its
   *  statsGroups): `groups` groups of `groupRows` rows of x (the last may be short), bound as `groupStats`. */
  statsFromProducer?: { groupRows: number; groups: number } | null;
  /** 'tree' (GPUs): 256-thread workgroups reduce each block; 'direct' (CPU emulators, the
   *  default there): one thread per lane and block, no barrier. */
  variant?: BatchNormVariant;
  /** Storage of the activations x, y and residual: 'f16' on the f16 path (statistics, parameters and
   *  gradients dy, dx, d residual stay f32; all math is f32). Default 'f32'. */
  activations?: 'f32' | 'f16';
}

export type BatchNormVariant = 'tree' | 'direct';

export function defaultBatchNormVariant(ctx: GpuContext): BatchNormVariant {
  return ctx.info.isSoftware ? 'direct' : 'tree';
}

export interface BatchNormForwardIO {
  x: Tensor;
  /** The output; absent when the layer applies in its consumer (applyInConsumer). */
  y?: Tensor;
  gamma: Tensor;
  beta: Tensor;
  runningMean: Tensor;
  runningVar: Tensor;
  /** Required when the layer was created with `residual`. */
  residual?: Tensor;
  /** statsFromProducer: the producer's per-group pivot and shifted sums (groups × 3 × C), for training. */
  groupStats?: Tensor;
  /** Where training saves the batch mean / invstd [C]; allocated when omitted. */
  mean?: Tensor;
  invstd?: Tensor;
}

export interface BatchNormBackwardIO {
  x: Tensor;
  /** The forward's output: required with a fused ReLU (its mask), unless the layer applies in its consumer. */
  y?: Tensor;
  /** applyInConsumer: the forward's coefficient tensor (BatchNormForwardPass.coef), for the ReLU mask. */
  coef?: Tensor;
  dy: Tensor;
  dx: Tensor;
  gamma: Tensor;
  /** Saved by the training forward (BatchNormForwardPass.mean / invstd). */
  mean: Tensor;
  invstd: Tensor;
  dgamma: Tensor;
  dbeta: Tensor;
  /** Required when the layer was created with `residual`: d residual = g (assigned). */
  dresidual?: Tensor;
}

export interface BatchNormForwardPass extends Pass {
  readonly mode: 'train' | 'eval';
  /** Training: the batch mean and 1/sqrt(var + eps) per channel, for the backward. */
  readonly mean?: Tensor;
  readonly invstd?: Tensor;
  /** The per-channel scale (at element coefAt) and shift (at coefAt + C) of y = scale·x + shift (before the residual and
   *  ReLU): what a convolution created with bnReluInput binds, and the backward's ReLU mask when applied in the consumer. */
  readonly coef: Tensor;
  readonly coefAt: number;
}

/**
 * Which of a layer's pipelines to compile: a training step needs train + backward, an evaluation
 * (kNN embedding) only eval. Fewer pipelines at build is a shorter start (docs/ARCHITECTURE.md).
 */
export interface BatchNormPasses {
  train?: boolean;
  eval?: boolean;
  backward?: boolean;
}

/** The passes of a training step (no evaluation-mode coefficients) and of an evaluation-only network. */
export const TRAINING_PASSES: BatchNormPasses = { train: true, eval: false, backward: true };
export const EVAL_PASSES: BatchNormPasses = { train: false, eval: true, backward: false };

/** Rows per block: at most this many blocks per channel tile in the partial passes. */
const MAX_BLOCKS = 512;
const MIN_ROWS_PER_THREAD = 4;

type Entry = 'stats_partial' | 'stats_groups' | 'stats_final' | 'eval_coef' | 'apply' | 'bwd_partial' | 'bwd_final' | 'bwd_apply';

export class BatchNorm {
  private constructor(
    readonly ctx: GpuContext,
    readonly shape: Required<BatchNormShape>,
    readonly options: Required<Omit<BatchNormOptions, 'passes'>>,
    readonly dims: { R: number; C: number; width: 1 | 4; CL: number; TX: number; TY: number; RPB: number; NB: number },
    private readonly kernels: Partial<Record<Entry, Kernel>>,
  ) {}

  static async create(ctx: GpuContext, shape: BatchNormShape, opts: BatchNormOptions = {}): Promise<BatchNorm> {
    const is2d = shape.height !== undefined || shape.width !== undefined;
    const label = opts.label ?? (is2d ? 'batchnorm2d' : 'batchnorm1d');
    const s = { height: 1, width: 1, ...shape };
    positiveInts(label, { batch: s.batch, channels: s.channels, height: s.height, width: s.width });
    const o = {
      label,
      eps: opts.eps ?? 1e-5,
      momentum: opts.momentum ?? 0.1,
      relu: opts.relu ?? false,
      residual: opts.residual ?? false,
      accumulate: opts.accumulate ?? true,
      variant: opts.variant ?? defaultBatchNormVariant(ctx),
      applyInConsumer: opts.applyInConsumer ?? false,
      statsFromProducer: opts.statsFromProducer ?? null,
      activations: opts.activations ?? 'f32',
    };
    assertShape(!o.applyInConsumer || (o.relu && !o.residual), () => `${label}: applyInConsumer needs a fused ReLU and no residual (the consumer applies relu(scale·x + shift) only)`);
    assertShape(o.eps > 0 && o.momentum >= 0 && o.momentum <= 1, () => `${label}: eps must be > 0 and momentum in [0, 1], got ${o.eps}, ${o.momentum}`);
    const dims = batchNormDims(s, o.variant);
    const { R, C, width, CL, TX, TY, RPB, NB } = dims;
    const producer = o.statsFromProducer;
    assertShape(!producer || (isPositiveInt(producer.groupRows) && producer.groups === Math.ceil(R / producer.groupRows)), () => `${label}: statsFromProducer has ${producer?.groups} groups of ${producer?.groupRows} rows, which do not cover the ${R} rows`);
    const maxX = ctx.limits.maxComputeWorkgroupsPerDimension;
    assertShape(Math.ceil(CL / TX) <= maxX, () => `${label}: ${C} channels need more workgroups than this adapter allows`);

    // f16 activations: arrayLength of an array<f16> binding (rounded up to whole 4-byte words) gives the rows, so R·C must be even.
    assertShape(o.activations === 'f32' || width === 4 || (R * C) % 2 === 0, () => `${label}: f16 activations need an even number of values (N·H·W·C = ${R * C})`);
    const code = laneHeader(width) + activationHeader(width, o.activations) + wgslVariant(bnReduceWgsl, o.variant, 'batchnorm_reduce.wgsl') + bnWgsl + (producer ? bnGroupsWgsl : '');
    const red = { R, CL, TX, TY, NB };
    const constants: Record<Entry, Record<string, number | boolean>> = {
      stats_partial: { ...red, RPB },
      stats_groups: { ...red, GROUP_ROWS: producer?.groupRows ?? 1, GROUPS: producer?.groups ?? 1, GPB: Math.ceil((producer?.groups ?? 1) / NB) },
      stats_final: { ...red, EPS: o.eps, MOMENTUM: o.momentum },
      eval_coef: { CL, NB, EPS: o.eps },
      apply: { R, CL, NB, RELU: o.relu, RESIDUAL: o.residual },
      bwd_partial: { ...red, RPB, RELU: o.relu, MASK_FROM_COEF: o.applyInConsumer },
      bwd_final: { ...red, ACCUM: o.accumulate },
      bwd_apply: { R, CL, NB, RELU: o.relu, RES_GRAD: o.residual, MASK_FROM_COEF: o.applyInConsumer },
    };
    const p = { train: true, eval: true, backward: true, ...opts.passes };
    const wanted: Entry[] = [];
    if (p.train) wanted.push(producer ? 'stats_groups' : 'stats_partial', 'stats_final');
    if (p.eval) wanted.push('eval_coef');
    if ((p.train || p.eval) && !o.applyInConsumer) wanted.push('apply');
    if (p.backward) wanted.push('bwd_partial', 'bwd_final', 'bwd_apply');
    const built = await Promise.all(wanted.map((e) => createKernel(ctx, { label: `batchnorm.${e}`, code, entryPoint: e, constants: constants[e] })));
    const kernels: Partial<Record<Entry, Kernel>> = {};
    wanted.forEach((e, i) => (kernels[e] = built[i]!));
    return new BatchNorm(ctx, s, o, dims, kernels);
  }

  get label(): string {
    return this.options.label;
  }

  /** Where the scale of y = scale·x + shift starts in a bound pass's coefficient tensor (the shift follows, C later). */
  get coefAt(): number {
    return batchNormCoefAt(this.dims);
  }

  private describe(): string {
    const { batch, height, width, channels } = this.shape;
    return height === 1 && width === 1 ? `${batch}×${channels}` : `${batch}×${height}×${width}×${channels} NHWC`;
  }

  private kernel(e: Entry, pass: string): Kernel {
    const k = this.kernels[e];
    assertShape(!!k, () => `${this.label}: the ${pass} pipelines were not compiled (BatchNorm.create passes option)`);
    return k;
  }

  private refuseSingleValue(): void {
    const { R, C } = this.dims;
    assertShape(R > 1, () => `${this.label}: expected more than 1 value per channel when training, got input size [${this.describe()}] (N·H·W = ${R} value per channel for ${C} channels); use evaluation mode or a larger batch`);
  }

  private workTensor(what: string): Tensor {
    const { NB, C } = this.dims;
    return createTensor(this.ctx, [1 + 2 * NB + 3, C], 'f32', `${this.label}.${what}_work`);
  }

  private reduceGrid(): [number, number, number] {
    return [Math.ceil(this.dims.CL / this.dims.TX), this.dims.NB, 1];
  }

  private finalGrid(): [number, number, number] {
    return [Math.ceil(this.dims.CL / this.dims.TX), 1, 1];
  }

  /** Binds one forward use (one view); call once per plan. */
  bindForward(io: BatchNormForwardIO, mode: 'train' | 'eval' = 'train'): BatchNormForwardPass {
    const { R, C, CL } = this.dims;
    const L = this.label;
    const dims = this.describe();
    const deferred = this.options.applyInConsumer;
    const act = this.options.activations;
    checkTensor(L, 'x', io.x, R * C, dims, act);
    if (deferred) assertShape(!io.y, () => `${L}: y was given but the layer applies in its consumer (applyInConsumer): the next convolution reads relu(BN(x)) through the pass's coef`);
    else checkTensor(L, 'y', io.y, R * C, dims, act);
    for (const [k, t] of [['gamma', io.gamma], ['beta', io.beta], ['running_mean', io.runningMean], ['running_var', io.runningVar]] as const) checkTensor(L, k, t, C, `${C} channels`);
    if (this.options.residual) checkTensor(L, 'residual', io.residual, R * C, dims, act);
    else assertShape(!io.residual, () => `${L}: a residual was given but the layer was created without residual: true`);
    checkDisjoint(L, [['y', io.y, 'x', io.x], ['y', io.y, 'residual', io.residual]]);
    const work = this.workTensor(mode);
    const apply = deferred ? null! : this.kernel('apply', mode === 'train' ? 'training' : 'evaluation');
    const res = io.residual ?? dummyStorage(this.ctx, `${L}.no_residual`);
    const applySteps = deferred ? [] : [{ kernel: apply.bind([io.x, work, res, io.y!], `${L}.apply`), grid: grid1d(this.ctx, R * CL) }];
    const n = R * C;
    const ioBytes = deferred ? 0 : 4 * (n * (this.options.residual ? 3 : 2));
    const applyFlops = deferred ? 0 : 3 * n;
    const coef = { coef: work, coefAt: this.coefAt };
    if (mode === 'eval') {
      const ec = this.kernel('eval_coef', 'evaluation');
      const k = ec.bind([io.gamma, io.beta, io.runningMean, io.runningVar, work], `${L}.eval_coef`);
      const pass = kernelPass([{ kernel: k, grid: [Math.ceil(CL / 64), 1, 1] }, ...applySteps], applyFlops, ioBytes);
      return Object.assign(pass, { mode: 'eval' as const, ...coef });
    }
    this.refuseSingleValue();
    const mean = io.mean ?? createTensor(this.ctx, [C], 'f32', `${L}.mean`);
    const invstd = io.invstd ?? createTensor(this.ctx, [C], 'f32', `${L}.invstd`);
    checkTensor(L, 'mean', mean, C, `${C} channels`);
    checkTensor(L, 'invstd', invstd, C, `${C} channels`);
    const producer = this.options.statsFromProducer;
    if (producer) checkTensor(L, 'groupStats (the producer\'s per-group pivot and shifted sums)', io.groupStats, producer.groups * 3 * C, `${producer.groups} groups × 3 × ${C} channels`);
    else assertShape(!io.groupStats, () => `${L}: groupStats were given but the layer was created without statsFromProducer`);
    const sp = producer ? this.kernel('stats_groups', 'training').bind([io.groupStats!, work], `${L}.stats_groups`) : this.kernel('stats_partial', 'training').bind([io.x, work], `${L}.stats_partial`);
    const sf = this.kernel('stats_final', 'training').bind([work, io.gamma, io.beta, io.runningMean, io.runningVar, mean, invstd], `${L}.stats_final`);
    const pass = kernelPass(
      [{ kernel: sp, grid: this.reduceGrid() }, { kernel: sf, grid: this.finalGrid() }, ...applySteps],
      (producer ? 0 : 3 * n) + applyFlops,
      ioBytes + (producer ? 4 * producer.groups * 3 * C : 4 * n),
    );
    return Object.assign(pass, { mode: 'train' as const, mean, invstd, ...coef });
  }

  /** Binds one backward use; `mean`/`invstd` from the matching training forward. */
  bindBackward(io: BatchNormBackwardIO): Pass {
    const { R, C, CL } = this.dims;
    const L = this.label;
    const dims = this.describe();
    this.refuseSingleValue();
    const act = this.options.activations;
    checkTensor(L, 'x', io.x, R * C, dims, act);
    checkTensor(L, 'dy', io.dy, R * C, dims);
    checkTensor(L, 'dx', io.dx, R * C, dims);
    const deferred = this.options.applyInConsumer;
    if (deferred) {
      checkTensor(L, 'coef (the forward pass\'s coefficients, for the ReLU mask)', io.coef, this.coefAt + 3 * C, 'the forward pass\'s work tensor');
      assertShape(!io.y, () => `${L}: y was given but the layer applies in its consumer (applyInConsumer): the ReLU mask comes from x and coef`);
    } else if (this.options.relu) checkTensor(L, 'y (the forward output, for the fused ReLU mask)', io.y, R * C, dims, act);
    for (const [k, t] of [['gamma', io.gamma], ['mean', io.mean], ['invstd', io.invstd], ['dgamma', io.dgamma], ['dbeta', io.dbeta]] as const) checkTensor(L, k, t, C, `${C} channels`);
    if (this.options.residual) checkTensor(L, 'dresidual', io.dresidual, R * C, dims);
    checkDisjoint(L, [
      ['dx', io.dx, 'x', io.x],
      ['dx', io.dx, 'dy', io.dy],
      ['dx', io.dx, 'y', io.y],
      ['dresidual', io.dresidual, 'dx', io.dx],
      ['dresidual', io.dresidual, 'dy', io.dy],
      ['dgamma', io.dgamma, 'dbeta', io.dbeta],
    ]);
    const work = this.workTensor('backward');
    const y = this.options.relu && !deferred ? io.y! : dummyStorage(this.ctx, `${L}.no_relu_mask`);
    const coef = deferred ? io.coef! : dummyStorage(this.ctx, `${L}.no_mask_coef`);
    const dres = io.dresidual ?? dummyStorage(this.ctx, `${L}.no_dresidual`);
    const bp = this.kernel('bwd_partial', 'backward').bind([io.x, io.dy, y, io.mean, work, coef], `${L}.bwd_partial`);
    const bf = this.kernel('bwd_final', 'backward').bind([work, io.gamma, io.mean, io.invstd, io.dgamma, io.dbeta], `${L}.bwd_final`);
    const ba = this.kernel('bwd_apply', 'backward').bind([io.x, io.dy, y, work, io.dx, dres, coef], `${L}.bwd_apply`);
    const n = R * C;
    const reads = this.options.relu && !deferred ? 3 : 2;
    return kernelPass(
      [
        { kernel: bp, grid: this.reduceGrid() },
        { kernel: bf, grid: this.finalGrid() },
        { kernel: ba, grid: grid1d(this.ctx, R * CL) },
      ],
      9 * n,
      4 * n * (2 * reads + 1 + (this.options.residual ? 1 : 0)),
    );
  }
}

/** The work layout of a layer (rows, lanes, the reduction's blocks), from its shape and variant alone: a consumer convolution
 *  needs coefAt while both are still being created. */
function batchNormDims(s: Required<BatchNormShape>, variant: BatchNormVariant) {
  const R = s.batch * s.height * s.width;
  const C = s.channels;
  const width = laneWidth(C);
  const CL = C / width;
  const tile = reduceTile(CL);
  const TX = tile.TX;
  const TY = variant === 'tree' ? tile.TY : 1;
  const rpt = Math.max(MIN_ROWS_PER_THREAD, Math.ceil(R / (TY * MAX_BLOCKS)));
  const RPB = TY * rpt;
  const NB = Math.ceil(R / RPB);
  return { R, C, width, CL, TX, TY, RPB, NB };
}

/** Elements before the scale in the work tensor (batchnorm.wgsl off_coef(): pivot, NB first sums, NB second sums, in C-wide rows). */
function batchNormCoefAt(d: { NB: number; C: number }): number {
  return (1 + 2 * d.NB) * d.C;
}

/** coefAt of the layer BatchNorm.create would build for this shape (default variant unless given), before it exists. */
export function plannedCoefAt(ctx: GpuContext, shape: BatchNormShape, variant: BatchNormVariant = defaultBatchNormVariant(ctx)): number {
  return batchNormCoefAt(batchNormDims({ height: 1, width: 1, ...shape }, variant));
}
