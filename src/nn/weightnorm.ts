// The weight-normalised prototype head (nn.utils.weight_norm(nn.Linear(D, K, bias=False)) with
// weight_g fixed at 1): W_k = v_k / ‖v_k‖, logits = x·Wᵀ.
// Layout: x [batch][D], v and W [K][D] (PyTorch's weight_v layout, no transpose), logits [batch][K].
// Kernels: the row normalisation of src/shaders/l2norm.wgsl (eps 0 by default: PyTorch's plain
// v/‖v‖, so a zero row gives NaN there and here) and the GEMM core.
//   normalize  W = v/‖v‖ row-wise, saves ‖v‖ [K]        1 dispatch; once per step, shared by the
//                                                       student and the teacher (the head is shared)
//   forward    logits = x·Wᵀ                            1 GEMM                 logits assigned
//   backward   dx = dlogits·W                           1 GEMM                 dx assigned
//              dW = dlogitsᵀ·x  (scratch, K×D)          1 GEMM (+ split-K reduce)
//              dv = (dW − W·(W·dW)) / ‖v‖ per row       1 dispatch             += (default) or =
import type { GpuContext } from '../gpu/context.ts';
import { assertShape } from '../gpu/errors.ts';
import { defaultGemmVariant, Gemm, type GemmVariant } from '../gpu/gemm.ts';
import { createTensor, type Tensor } from '../gpu/tensor.ts';
import { checkDisjoint, checkTensor, positiveInts } from './elementwise.ts';
import { sequencePass, type Pass } from '../gpu/pass.ts';
import { L2Norm, type L2NormForwardPass } from './l2norm.ts';
import { weightGradSplits } from './linear.ts';

export interface WeightNormShape {
  batch: number;
  /** D, the input feature size. */
  dim: number;
  /** K, the number of prototypes. */
  prototypes: number;
}

export interface WeightNormOptions {
  label?: string;
  /** dv: += (true, default) or = (false). */
  accumulate?: boolean;
  /** Clamp of ‖v‖ (0 = PyTorch's weight_norm). */
  eps?: number;
  /** Compile the input-gradient GEMM (default true). */
  inputGrad?: boolean;
  variant?: GemmVariant;
}

export interface WeightNormBackwardIO {
  x: Tensor;
  /** The normalised weight from `bindNormalize`. */
  w: Tensor;
  /** ‖v‖ per row from `bindNormalize`. */
  vnorm: Tensor;
  dlogits: Tensor;
  dx?: Tensor;
  dv: Tensor;
  /** Scratch K×D for dW; allocated when omitted. */
  dw?: Tensor;
}

export interface WeightNormNormalizePass extends Pass {
  readonly w: Tensor;
  readonly vnorm: Tensor;
}

export class WeightNormLinear {
  private constructor(
    readonly ctx: GpuContext,
    readonly shape: WeightNormShape,
    readonly label: string,
    private readonly norm: L2Norm,
    private readonly fwd: Gemm,
    private readonly dgrad: Gemm | null,
    private readonly wgrad: Gemm,
  ) {}

  static async create(ctx: GpuContext, shape: WeightNormShape, opts: WeightNormOptions = {}): Promise<WeightNormLinear> {
    const label = opts.label ?? 'head';
    positiveInts(label, { batch: shape.batch, dim: shape.dim, prototypes: shape.prototypes });
    const { batch: B, dim: D, prototypes: K } = shape;
    const variant = opts.variant ?? defaultGemmVariant(ctx);
    const v = variant === 'naive' ? 'direct' : variant;
    const [norm, fwd, dgrad, wgrad] = await Promise.all([
      L2Norm.create(ctx, { rows: K, dim: D }, { label: `${label}.weight_norm`, eps: opts.eps ?? 0, accumulate: opts.accumulate ?? true }),
      Gemm.create(ctx, { M: B, N: K, K: D, transB: true }, v),
      (opts.inputGrad ?? true) ? Gemm.create(ctx, { M: B, N: D, K: K }, v) : Promise.resolve(null),
      Gemm.create(ctx, { M: K, N: D, K: B, transA: true, splitK: weightGradSplits(v, K, D, B) }, v),
    ]);
    return new WeightNormLinear(ctx, shape, label, norm, fwd, dgrad, wgrad);
  }

  /** W = v/‖v‖ per row; `w` and `vnorm` allocated when omitted. */
  bindNormalize(v: Tensor, w?: Tensor, vnorm?: Tensor): WeightNormNormalizePass {
    const { dim: D, prototypes: K } = this.shape;
    checkTensor(this.label, 'v', v, K * D, `K ${K} × D ${D}`);
    const wt = w ?? createTensor(this.ctx, [K, D], 'f32', `${this.label}.w`);
    const pass: L2NormForwardPass = this.norm.bindForward(v, wt, vnorm);
    return Object.assign(pass, { w: wt, vnorm: pass.norm });
  }

  /** logits = x·Wᵀ (W from bindNormalize). */
  bindForward(x: Tensor, w: Tensor, logits: Tensor): Pass {
    const { batch: B, dim: D, prototypes: K } = this.shape;
    checkTensor(this.label, 'x', x, B * D, `batch ${B} × D ${D}`);
    checkTensor(this.label, 'w', w, K * D, `K ${K} × D ${D}`);
    checkTensor(this.label, 'logits', logits, B * K, `batch ${B} × K ${K}`);
    checkDisjoint(this.label, [['logits', logits, 'x', x], ['logits', logits, 'w', w]]);
    return this.fwd.bind(x, w, logits);
  }

  bindBackward(io: WeightNormBackwardIO): Pass {
    const { batch: B, dim: D, prototypes: K } = this.shape;
    const L = this.label;
    checkTensor(L, 'x', io.x, B * D, `batch ${B} × D ${D}`);
    checkTensor(L, 'w', io.w, K * D, `K ${K} × D ${D}`);
    checkTensor(L, 'vnorm', io.vnorm, K, `${K} prototypes`);
    checkTensor(L, 'dlogits', io.dlogits, B * K, `batch ${B} × K ${K}`);
    checkTensor(L, 'dv', io.dv, K * D, `K ${K} × D ${D}`);
    if (io.dx) {
      assertShape(!!this.dgrad, () => `${L}: created with inputGrad: false, so it cannot compute dx`);
      checkTensor(L, 'dx', io.dx, B * D, `batch ${B} × D ${D}`);
    }
    const dw = io.dw ?? createTensor(this.ctx, [K, D], 'f32', `${L}.dw`);
    checkTensor(L, 'dw (scratch)', dw, K * D, `K ${K} × D ${D}`);
    checkDisjoint(L, [['dx', io.dx, 'dlogits', io.dlogits], ['dw', dw, 'dv', io.dv], ['dw', dw, 'w', io.w], ['dv', io.dv, 'w', io.w]]);
    const passes: Pass[] = [];
    if (io.dx) passes.push(this.dgrad!.bind(io.dlogits, io.w, io.dx));
    passes.push(this.wgrad.bind(io.dlogits, io.x, dw));
    passes.push(this.norm.bindBackward({ y: io.w, dy: dw, norm: io.vnorm, dx: io.dv }));
    return sequencePass(passes);
  }
}
