// Global average pooling NHWC → N×C (src/shaders/pool.wgsl), the encoder's last layer.
//   forward   y[n][c] = mean over H·W of x[n][h][w][c]      y assigned; one dispatch (a workgroup
//             per (image, channel tile) reduces the pixels in a fixed-order tree)
//   backward  dx[n][h][w][c] = dy[n][c] / (H·W)            dx assigned; one dispatch
// No parameters. vec4 lanes when C % 4 == 0. The forward's input may be f16 (the f16 path's last
// activation); y, dy and dx are f32.
import poolWgsl from '../shaders/pool.wgsl?raw';
import type { GpuContext } from '../gpu/context.ts';
import { assertShape } from '../gpu/errors.ts';
import { createKernel, type Kernel } from '../gpu/kernel.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { activationHeader, checkDisjoint, checkTensor, laneHeader, laneWidth, nextPow2, positiveInts, reduceTile, workgroupSum } from './elementwise.ts';
import { grid1d, kernelPass, type Pass } from '../gpu/pass.ts';

export interface PoolShape {
  batch: number;
  height: number;
  width: number;
  channels: number;
}

export class GlobalAvgPool {
  private constructor(
    readonly ctx: GpuContext,
    readonly shape: PoolShape,
    readonly label: string,
    private readonly fwd: Kernel,
    private readonly bwd: Kernel,
    private readonly tile: { width: 1 | 4; CL: number; TX: number; TY: number },
    /** Storage of the forward's input x. */
    readonly input: 'f32' | 'f16' = 'f32',
  ) {}

  static async create(ctx: GpuContext, shape: PoolShape, label = 'avgpool', options: { input?: 'f32' | 'f16' } = {}): Promise<GlobalAvgPool> {
    const input = options.input ?? 'f32';
    positiveInts(label, { batch: shape.batch, height: shape.height, width: shape.width, channels: shape.channels });
    const HW = shape.height * shape.width;
    const width = laneWidth(shape.channels);
    const CL = shape.channels / width;
    // TX channel lanes × TY pixel threads (≤ 256): no more pixel threads than pixels (rounded up
    // to a power of two), the rest of the workgroup spent on more channel lanes.
    // On CPU emulators one thread per lane sums all HW pixels (TY = 1, no barrier: workgroupSum).
    const sum = workgroupSum(ctx);
    let { TX, TY } = reduceTile(CL);
    TY = sum.direct ? 1 : Math.min(TY, nextPow2(HW));
    TX = Math.min(nextPow2(CL), 256 / TY);
    assertShape(shape.batch <= ctx.limits.maxComputeWorkgroupsPerDimension, () => `${label}: batch ${shape.batch} exceeds the adapter's workgroups per dimension`);
    const code = laneHeader(width) + activationHeader(width, input) + sum.code + poolWgsl;
    const [fwd, bwd] = await Promise.all([
      createKernel(ctx, { label: `${label}.forward`, code, entryPoint: 'avgpool_fwd', constants: { HW, CL, TX, TY } }),
      createKernel(ctx, { label: `${label}.backward`, code, entryPoint: 'avgpool_bwd', constants: { HW, CL, NLANES: shape.batch * HW * CL } }),
    ]);
    return new GlobalAvgPool(ctx, shape, label, fwd, bwd, { width, CL, TX, TY }, input);
  }

  private sizes(): { nIn: number; nOut: number; dimsIn: string; dimsOut: string } {
    const { batch: N, height: H, width: W, channels: C } = this.shape;
    return { nIn: N * H * W * C, nOut: N * C, dimsIn: `${N}×${H}×${W}×${C} NHWC`, dimsOut: `${N}×${C}` };
  }

  bindForward(x: Tensor, y: Tensor): Pass {
    const { nIn, nOut, dimsIn, dimsOut } = this.sizes();
    checkTensor(this.label, 'x', x, nIn, dimsIn, this.input);
    checkTensor(this.label, 'y', y, nOut, dimsOut);
    checkDisjoint(this.label, [['y', y, 'x', x]]);
    const k = this.fwd.bind([x, y], `${this.label}.forward`);
    const grid: [number, number, number] = [Math.ceil(this.tile.CL / this.tile.TX), this.shape.batch, 1];
    return kernelPass([{ kernel: k, grid }], nIn, 4 * (nIn + nOut));
  }

  bindBackward(dy: Tensor, dx: Tensor): Pass {
    const { nIn, nOut, dimsIn, dimsOut } = this.sizes();
    checkTensor(this.label, 'dy', dy, nOut, dimsOut);
    checkTensor(this.label, 'dx', dx, nIn, dimsIn);
    checkDisjoint(this.label, [['dx', dx, 'dy', dy]]);
    const k = this.bwd.bind([dy, dx], `${this.label}.backward`);
    return kernelPass([{ kernel: k, grid: grid1d(this.ctx, nIn / this.tile.width) }], nIn, 4 * (nIn + nOut));
  }
}
