// The fully connected layer (the projector's three Linears), over the GEMM core (src/gpu/gemm.ts)
// and a column reduction (src/shaders/reduce.wgsl) for the bias gradient.
// Layout: x [batch][in], W [in][out] (y = x·W + b; PyTorch's nn.Linear.weight is the transpose,
// [out][in]; export transposes), y [batch][out].
//   forward        y  = x·W (+ b)                one GEMM, the bias in its epilogue     y assigned
//   backward  dx = dy·Wᵀ                         one GEMM (transB)                      dx assigned
//             dW = xᵀ·dy                         one GEMM (transA), split-K when the   += (default)
//                                                 output is too small to fill the device or = (flag)
//             db = Σ_batch dy                    column sums, 1 or 2 dispatches        same flag
import reduceWgsl from '../shaders/reduce.wgsl?raw';
import type { GpuContext } from '../gpu/context.ts';
import { assertShape } from '../gpu/errors.ts';
import { defaultGemmVariant, Gemm, gemmGrid, type GemmVariant } from '../gpu/gemm.ts';
import { createKernel, type Kernel } from '../gpu/kernel.ts';
import { createTensor, type Tensor } from '../gpu/tensor.ts';
import { checkDisjoint, checkTensor, laneHeader, laneWidth, nextPow2, positiveInts, reduceTile, workgroupSum } from './elementwise.ts';
import { kernelPass, sequencePass, type Pass } from '../gpu/pass.ts';

// ------------------------------------------------------------------------------ column sums

/** out[c] (= or +=) Σ_r x[r][c] over an R×C row-major matrix, deterministic. */
export class ColumnSum {
  private constructor(
    readonly ctx: GpuContext,
    readonly rows: number,
    readonly cols: number,
    readonly label: string,
    private readonly first: Kernel,
    private readonly second: Kernel | null,
    private readonly plan: { CL: number; TX: number; NB: number },
  ) {}

  static async create(ctx: GpuContext, rows: number, cols: number, opts: { accumulate?: boolean; label?: string } = {}): Promise<ColumnSum> {
    const label = opts.label ?? 'colsum';
    positiveInts(label, { rows, cols });
    const width = laneWidth(cols);
    const CL = cols / width;
    // On CPU emulators each thread sums its lane's rows alone (TY = 1, no barrier: workgroupSum).
    const sum = workgroupSum(ctx);
    const tile = reduceTile(CL);
    const TY = sum.direct ? 1 : tile.TY;
    const TX = sum.direct ? Math.min(nextPow2(CL), 256) : tile.TX;
    const code = laneHeader(width) + sum.code + reduceWgsl;
    const ACCUM = opts.accumulate ?? false;
    // One pass while each thread sums at most 32 rows; else blocks of TY·rpt rows, ≤ 512 blocks.
    if (rows <= TY * 32) {
      const k = await createKernel(ctx, { label: `${label}.colsum`, code, entryPoint: 'colsum', constants: { R: rows, CL, TX, TY, RPB: rows, FINAL: true, ACCUM } });
      return new ColumnSum(ctx, rows, cols, label, k, null, { CL, TX, NB: 1 });
    }
    const rpt = Math.max(16, Math.ceil(rows / (TY * 512)));
    const RPB = TY * rpt;
    const NB = Math.ceil(rows / RPB);
    const [a, b] = await Promise.all([
      createKernel(ctx, { label: `${label}.colsum_partial`, code, entryPoint: 'colsum', constants: { R: rows, CL, TX, TY, RPB, FINAL: false, ACCUM: false } }),
      createKernel(ctx, { label: `${label}.colsum_final`, code, entryPoint: 'colsum', constants: { R: NB, CL, TX, TY, RPB: NB, FINAL: true, ACCUM } }),
    ]);
    return new ColumnSum(ctx, rows, cols, label, a, b, { CL, TX, NB });
  }

  bind(x: Tensor, out: Tensor): Pass {
    const { rows, cols, label } = this;
    checkTensor(label, 'x', x, rows * cols, `${rows}×${cols}`);
    checkTensor(label, 'out', out, cols, `${cols}`);
    checkDisjoint(label, [['out', out, 'x', x]]);
    const gx = Math.ceil(this.plan.CL / this.plan.TX);
    const flops = rows * cols;
    const bytes = 4 * (rows * cols + cols);
    if (!this.second) return kernelPass([{ kernel: this.first.bind([x, out], `${label}.colsum`), grid: [gx, 1, 1] }], flops, bytes);
    const part = createTensor(this.ctx, [this.plan.NB, cols], 'f32', `${label}.partials`);
    return kernelPass(
      [
        { kernel: this.first.bind([x, part], `${label}.colsum_partial`), grid: [gx, this.plan.NB, 1] },
        { kernel: this.second.bind([part, out], `${label}.colsum_final`), grid: [gx, 1, 1] },
      ],
      flops,
      bytes,
    );
  }
}

// ------------------------------------------------------------------------------ split-K rule

/** Workgroups that keep the device busy: ≈ 8 per SM/CU on GPUs, a few per core on emulators. */
const SPLIT_TARGET = { tiled: 1024, direct: 64 } as const;

/** Splits of a weight-gradient GEMM's reduction (the batch) when its output tiles are too few. */
export function weightGradSplits(variant: GemmVariant, M: number, N: number, K: number): number {
  if (variant === 'naive') return 1;
  const [gx, gy] = gemmGrid(variant, M, N);
  const tiles = gx * gy;
  const target = SPLIT_TARGET[variant];
  if (tiles >= target || K < 512) return 1;
  return Math.max(1, Math.min(Math.ceil(target / tiles), Math.floor(K / 256), 64));
}

// ------------------------------------------------------------------------------ the layer

export interface LinearShape {
  batch: number;
  inFeatures: number;
  outFeatures: number;
  bias: boolean;
}

export interface LinearOptions {
  label?: string;
  /** dW and db: += (true, default) or = (false). */
  accumulate?: boolean;
  /** Compile the input-gradient GEMM (not needed when x is the network input). Default true. */
  inputGrad?: boolean;
  variant?: GemmVariant;
}

export interface LinearBackwardIO {
  x: Tensor;
  weight: Tensor;
  dy: Tensor;
  /** Omit to skip the input gradient. */
  dx?: Tensor;
  dweight: Tensor;
  /** Required when the layer has a bias. */
  dbias?: Tensor;
}

export class Linear {
  private constructor(
    readonly ctx: GpuContext,
    readonly shape: LinearShape,
    readonly options: Required<Omit<LinearOptions, 'variant'>> & { variant: GemmVariant },
    private readonly fwd: Gemm,
    private readonly dgrad: Gemm | null,
    private readonly wgrad: Gemm,
    private readonly bgrad: ColumnSum | null,
  ) {}

  static async create(ctx: GpuContext, shape: LinearShape, opts: LinearOptions = {}): Promise<Linear> {
    const label = opts.label ?? 'linear';
    positiveInts(label, { batch: shape.batch, inFeatures: shape.inFeatures, outFeatures: shape.outFeatures });
    const variant = opts.variant ?? defaultGemmVariant(ctx);
    const o = { label, accumulate: opts.accumulate ?? true, inputGrad: opts.inputGrad ?? true, variant };
    const { batch: B, inFeatures: I, outFeatures: O } = shape;
    const naive = variant === 'naive';
    assertShape(!naive || !shape.bias, () => `${label}: the naive GEMM variant has no bias epilogue`);
    const splits = weightGradSplits(variant, I, O, B);
    const [fwd, dgrad, wgrad, bgrad] = await Promise.all([
      Gemm.create(ctx, { M: B, N: O, K: I, bias: shape.bias }, variant),
      o.inputGrad ? Gemm.create(ctx, { M: B, N: I, K: O, transB: true }, naive ? 'direct' : variant) : Promise.resolve(null),
      Gemm.create(ctx, { M: I, N: O, K: B, transA: true, beta: o.accumulate ? 1 : 0, splitK: splits }, naive ? 'direct' : variant),
      shape.bias ? ColumnSum.create(ctx, B, O, { accumulate: o.accumulate, label: `${label}.bias_grad` }) : Promise.resolve(null),
    ]);
    return new Linear(ctx, shape, o, fwd, dgrad, wgrad, bgrad);
  }

  get label(): string {
    return this.options.label;
  }

  private checkCommon(x: Tensor, weight: Tensor): void {
    const { batch: B, inFeatures: I, outFeatures: O } = this.shape;
    checkTensor(this.label, 'x', x, B * I, `batch ${B} × in ${I}`);
    checkTensor(this.label, 'weight', weight, I * O, `[in ${I}][out ${O}]`);
  }

  /** y = x·W (+ b). */
  bindForward(x: Tensor, weight: Tensor, y: Tensor, bias?: Tensor): Pass {
    const { batch: B, outFeatures: O } = this.shape;
    this.checkCommon(x, weight);
    checkTensor(this.label, 'y', y, B * O, `batch ${B} × out ${O}`);
    if (this.shape.bias) checkTensor(this.label, 'bias', bias, O, `${O}`);
    else assertShape(!bias, () => `${this.label}: a bias was given to a layer created with bias: false`);
    checkDisjoint(this.label, [['y', y, 'x', x], ['y', y, 'weight', weight]]);
    return this.fwd.bind(x, weight, y, bias);
  }

  bindBackward(io: LinearBackwardIO): Pass {
    const { batch: B, inFeatures: I, outFeatures: O } = this.shape;
    this.checkCommon(io.x, io.weight);
    checkTensor(this.label, 'dy', io.dy, B * O, `batch ${B} × out ${O}`);
    checkTensor(this.label, 'dweight', io.dweight, I * O, `[in ${I}][out ${O}]`);
    if (this.shape.bias) checkTensor(this.label, 'dbias', io.dbias, O, `${O}`);
    if (io.dx) {
      assertShape(!!this.dgrad, () => `${this.label}: created with inputGrad: false, so it cannot compute dx`);
      checkTensor(this.label, 'dx', io.dx, B * I, `batch ${B} × in ${I}`);
    }
    checkDisjoint(this.label, [['dx', io.dx, 'dy', io.dy], ['dx', io.dx, 'weight', io.weight], ['dweight', io.dweight, 'x', io.x], ['dweight', io.dweight, 'dy', io.dy]]);
    const passes: Pass[] = [];
    if (io.dx) passes.push(this.dgrad!.bind(io.dy, io.weight, io.dx));
    passes.push(this.wgrad.bind(io.x, io.dy, io.dweight));
    if (this.bgrad) passes.push(this.bgrad.bind(io.dy, io.dbias!));
    return sequencePass(passes);
  }
}
