// Row L2 normalisation y = x / max(‖x‖, eps), eps = 1e-12 (F.normalize(x, dim=1): the projector
// output before the prototype head), over a rows×dim row-major matrix (src/shaders/l2norm.wgsl).
//   forward   y assigned; saves `norm` [rows] = ‖x_r‖ (unclamped) for the backward   1 dispatch
//   backward  dx = (dy − y·(y·dy)) / ‖x‖ (dy / eps where ‖x‖ < eps)                  1 dispatch
//             dx assigned by default; `accumulate: true` makes it += (the weight-norm head uses
//             these kernels for v → W = v/‖v‖, where dx is the parameter gradient dv)
// One workgroup handles TY rows, TX threads per row, fixed-order tree: deterministic.
import l2Wgsl from '../shaders/l2norm.wgsl?raw';
import type { GpuContext } from '../gpu/context.ts';
import { assertShape } from '../gpu/errors.ts';
import { createKernel, type Kernel } from '../gpu/kernel.ts';
import { createTensor, type Tensor } from '../gpu/tensor.ts';
import { checkDisjoint, checkTensor, laneHeader, laneWidth, positiveInts, reduceTile, workgroupSum } from './elementwise.ts';
import { grid1d, kernelPass, type Pass } from '../gpu/pass.ts';

export interface L2NormShape {
  rows: number;
  dim: number;
}

export interface L2NormOptions {
  label?: string;
  /** The clamp of the norm; 1e-12 as F.normalize. 0 gives PyTorch weight_norm's plain v/‖v‖. */
  eps?: number;
  /** dx: = (false, default) or += (true). */
  accumulate?: boolean;
}

export interface L2NormForwardPass extends Pass {
  /** ‖x_r‖ per row, unclamped. */
  readonly norm: Tensor;
}

export interface L2NormBackwardIO {
  /** The forward's output. */
  y: Tensor;
  dy: Tensor;
  /** The forward's saved norms. */
  norm: Tensor;
  dx: Tensor;
}

export class L2Norm {
  private constructor(
    readonly ctx: GpuContext,
    readonly shape: L2NormShape,
    readonly options: Required<L2NormOptions>,
    private readonly fwd: Kernel,
    private readonly bwd: Kernel,
    private readonly tile: { TY: number },
  ) {}

  static async create(ctx: GpuContext, shape: L2NormShape, opts: L2NormOptions = {}): Promise<L2Norm> {
    const label = opts.label ?? 'l2norm';
    positiveInts(label, { rows: shape.rows, dim: shape.dim });
    const o = { label, eps: opts.eps ?? 1e-12, accumulate: opts.accumulate ?? false };
    assertShape(o.eps >= 0, () => `${label}: eps must be ≥ 0, got ${o.eps}`);
    const width = laneWidth(shape.dim);
    const DL = shape.dim / width;
    // Threads along a row (the reduced axis) × rows per workgroup; on CPU emulators one thread per row (row_sum without a barrier).
    const sum = workgroupSum(ctx);
    const { TX, TY } = sum.direct ? { TX: 1, TY: 64 } : reduceTile(DL);
    const code = laneHeader(width) + sum.code + l2Wgsl;
    const constants = { ROWS: shape.rows, DL, TX, TY, EPS: o.eps };
    const [fwd, bwd] = await Promise.all([
      createKernel(ctx, { label: `${label}.forward`, code, entryPoint: 'l2_fwd', constants }),
      createKernel(ctx, { label: `${label}.backward`, code, entryPoint: 'l2_bwd', constants: { ...constants, ACCUM: o.accumulate } }),
    ]);
    return new L2Norm(ctx, shape, o, fwd, bwd, { TY });
  }

  get label(): string {
    return this.options.label;
  }

  private grid(): [number, number, number] {
    return grid1d(this.ctx, this.shape.rows, this.tile.TY);
  }

  /** y = x / max(‖x‖, eps) per row; `norm` allocated when omitted. */
  bindForward(x: Tensor, y: Tensor, norm?: Tensor): L2NormForwardPass {
    const { rows, dim } = this.shape;
    const dims = `${rows}×${dim}`;
    checkTensor(this.label, 'x', x, rows * dim, dims);
    checkTensor(this.label, 'y', y, rows * dim, dims);
    const n = norm ?? createTensor(this.ctx, [rows], 'f32', `${this.label}.norm`);
    checkTensor(this.label, 'norm', n, rows, `${rows} rows`);
    checkDisjoint(this.label, [['y', y, 'x', x], ['norm', n, 'x', x], ['norm', n, 'y', y]]);
    const k = this.fwd.bind([x, y, n], `${this.label}.forward`);
    const pass = kernelPass([{ kernel: k, grid: this.grid() }], 3 * rows * dim, 4 * (3 * rows * dim + rows));
    return Object.assign(pass, { norm: n });
  }

  bindBackward(io: L2NormBackwardIO): Pass {
    const { rows, dim } = this.shape;
    const dims = `${rows}×${dim}`;
    checkTensor(this.label, 'y', io.y, rows * dim, dims);
    checkTensor(this.label, 'dy', io.dy, rows * dim, dims);
    checkTensor(this.label, 'norm', io.norm, rows, `${rows} rows`);
    checkTensor(this.label, 'dx', io.dx, rows * dim, dims);
    checkDisjoint(this.label, [['dx', io.dx, 'y', io.y], ['dx', io.dx, 'dy', io.dy], ['dx', io.dx, 'norm', io.norm]]);
    const k = this.bwd.bind([io.y, io.dy, io.norm, io.dx], `${this.label}.backward`);
    const reads = this.options.accumulate ? 4 : 3;
    return kernelPass([{ kernel: k, grid: this.grid() }], 5 * rows * dim, 4 * (reads * rows * dim + rows));
  }
}
