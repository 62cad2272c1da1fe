// Row-wise softmax (or log-softmax) with temperature on the GPU (src/shaders/softmax.wgsl):
// y_ij = softmax_j(x_ij / T). The naive self-labelling targets are the teacher's softmax(ℓ/τ).
//
//   const sm = await Softmax.create(ctx, { B, K });
//   const b = sm.bind(x, y);  b.setTemperature(0.225);  b.record(encoder);
import code from '../shaders/softmax.wgsl?raw';
import type { GpuContext } from '../gpu/context.ts';
import { ShapeError } from '../gpu/errors.ts';
import { createKernel, type Kernel, type PassTimer, type BoundKernel } from '../gpu/kernel.ts';
import { createBuffer, type Tensor } from '../gpu/tensor.ts';
import { checkAssignShape, checkRowBlocks, checkPositive, ParamError } from './validate.ts';

const ROWS_PER_BLOCK = 8;

export class Softmax {
  private constructor(
    readonly ctx: GpuContext,
    readonly B: number,
    readonly K: number,
    readonly log: boolean,
    private readonly kernel: Kernel,
  ) {}

  /** `log`: write log-softmax instead. K ≥ 1 here (a softmax of one column is 1). */
  static async create(ctx: GpuContext, shape: { B: number; K: number; log?: boolean }): Promise<Softmax> {
    const { B, K } = shape;
    if (!Number.isInteger(K) || K < 1) throw new ShapeError(`softmax: K must be an integer ≥ 1, got ${K}`);
    checkAssignShape(B, Math.max(K, 2), 'softmax');
    checkRowBlocks(ctx, B, ROWS_PER_BLOCK, 'softmax');
    const kernel = await createKernel(ctx, { label: shape.log ? 'softmax.log' : 'softmax', code, constants: { LOG: !!shape.log } });
    return new Softmax(ctx, B, K, !!shape.log, kernel);
  }

  /** x and y: B×K f32 (y may not alias x). */
  bind(x: Tensor, y: Tensor, label = 'softmax'): SoftmaxBound {
    const n = this.B * this.K;
    for (const [t, name] of [
      [x, 'input'],
      [y, 'output'],
    ] as const) {
      if (t.dtype !== 'f32' || t.numel !== n) throw new ShapeError(`${label}: ${name} ${t} should hold ${this.B}×${this.K} = ${n} f32 values`);
    }
    const params = createBuffer(this.ctx, 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, `${label}.params`);
    const bound = this.kernel.bind([x, y, params], label);
    return new SoftmaxBound(this, bound, params, y);
  }
}

export class SoftmaxBound {
  private temperature: number | null = null;
  constructor(
    readonly softmax: Softmax,
    private readonly bound: BoundKernel,
    private readonly params: GPUBuffer,
    readonly output: Tensor,
  ) {}

  /** T > 0; a uniform write, effective from the next submit. */
  setTemperature(t: number): void {
    checkPositive(t, 'the temperature', 'softmax');
    const buf = new ArrayBuffer(16);
    new Float32Array(buf, 0, 2).set([1 / t, 0]);
    new Uint32Array(buf, 8, 2).set([this.softmax.B, this.softmax.K]);
    this.softmax.ctx.device.queue.writeBuffer(this.params, 0, buf);
    this.temperature = t;
  }

  record(encoder: GPUCommandEncoder, timer?: PassTimer): void {
    if (this.temperature === null) throw new ParamError('softmax: call setTemperature before recording');
    this.bound.record(encoder, [Math.ceil(this.softmax.B / ROWS_PER_BLOCK)], timer);
  }

  destroy(): void {
    this.params.destroy();
  }
}
