// PCA on the GPU for the embedding map: N feature rows (D columns) → their coordinates on the top
// two principal axes, with the eigenvalues, the share of the variance each axis explains and
// how well the power iteration converged (src/shaders/pca.wgsl; float64 reference src/ref/pca.ts;
// test test/pca.test.ts). One submit: column means, the D×D covariance (16×16 tiles), the two
// eigenvectors by power iteration (per product a row-parallel C·v and a one-thread normalisation,
// so no workgroup barriers), the projection.
//
// Use: `Pca.create(ctx, { rows, dim })` once per shape (compiles and allocates), then
// `project(x)` (x a rows×dim f32 tensor on the GPU: the kNN embedder's output, src/nn/embedder.ts).
// The power iteration runs a fixed number of products (`iters`, default 200): the map needs the
// plane of the two largest variances, and the residuals it reports say how close each axis came.
import pcaWgsl from '../shaders/pca.wgsl?raw';
import type { GpuContext } from '../gpu/context.ts';
import { assertShape, isPositiveInt } from '../gpu/errors.ts';
import { createKernel, submitChecked, type BoundKernel, type Kernel } from '../gpu/kernel.ts';
import { grid1d, type Grid } from '../gpu/pass.ts';
import { createTensor, readF32, type Tensor } from '../gpu/tensor.ts';

export interface PcaShape {
  rows: number;
  dim: number;
  /** Power-iteration products per component (default 200). */
  iters?: number;
  label?: string;
}

export interface PcaResult {
  /** rows×2 row-major: each row's coordinates on the first and second principal axes. */
  points: Float32Array;
  /** λ_1 ≥ λ_2: the variances along the two axes. */
  eigenvalues: [number, number];
  /** λ_c / tr C: the share of the total variance each axis explains. */
  explained: [number, number];
  /** ‖C v_c − λ_c v_c‖ / λ_1 after the last product: 0 for exact eigenvectors. */
  residuals: [number, number];
  /** v_1 then v_2, dim each. */
  vectors: Float32Array;
}

/** One-thread O(dim) passes per product keep the power iteration cheap up to here (the encoder's features are 512·width ≤ 512). */
export const PCA_MAX_DIM = 4096;

type PcaKernel = 'mean' | 'cov' | 'start0' | 'start1' | 'matvec' | 'normalize0' | 'normalize1' | 'finish0' | 'finish1' | 'project';

export class Pca {
  readonly mean: Tensor;
  readonly cov: Tensor;
  /** [v_1 (dim), v_2 (dim), λ_1, λ_2, tr C, residual_1, residual_2]. */
  readonly eig: Tensor;
  readonly points: Tensor;
  /** The power iteration's [v, w, v_1] (dim each). */
  readonly state: Tensor;
  private readonly bound = new WeakMap<Tensor, Record<PcaKernel, BoundKernel>>();

  private constructor(
    readonly ctx: GpuContext,
    readonly shape: Required<PcaShape>,
    private readonly kernels: Readonly<Record<PcaKernel, Kernel>>,
  ) {
    const { rows, dim, label } = shape;
    this.mean = createTensor(ctx, [dim], 'f32', `${label}.mean`);
    this.cov = createTensor(ctx, [dim, dim], 'f32', `${label}.covariance`);
    this.eig = createTensor(ctx, [2 * dim + 5], 'f32', `${label}.eigen`);
    this.points = createTensor(ctx, [rows, 2], 'f32', `${label}.points`);
    this.state = createTensor(ctx, [3, dim], 'f32', `${label}.power_state`);
  }

  static async create(ctx: GpuContext, shape: PcaShape): Promise<Pca> {
    const label = shape.label ?? 'pca';
    const iters = shape.iters ?? 200;
    assertShape(isPositiveInt(shape.rows) && shape.rows >= 2, () => `${label}: a map needs at least 2 points, got rows = ${shape.rows}`);
    assertShape(isPositiveInt(shape.dim) && shape.dim >= 2, () => `${label}: two principal axes need at least 2 feature columns, got dim = ${shape.dim}`);
    assertShape(isPositiveInt(iters), () => `${label}: iters must be a positive integer, got ${iters}`);
    assertShape(shape.dim <= PCA_MAX_DIM, () => `${label}: dim = ${shape.dim} feature columns; at most ${PCA_MAX_DIM} (the encoder's features are 512·width)`);
    const constants = { N: shape.rows, D: shape.dim };
    const make = (entryPoint: string, comp?: number) =>
      createKernel(ctx, { label: `${label}.${entryPoint}`, code: pcaWgsl, entryPoint, constants: comp === undefined ? constants : { ...constants, COMP: comp } });
    const names: [PcaKernel, string, number?][] = [
      ['mean', 'pca_mean'],
      ['cov', 'pca_cov'],
      ['start0', 'pca_start', 0],
      ['start1', 'pca_start', 1],
      ['matvec', 'pca_matvec'],
      ['normalize0', 'pca_normalize', 0],
      ['normalize1', 'pca_normalize', 1],
      ['finish0', 'pca_finish', 0],
      ['finish1', 'pca_finish', 1],
      ['project', 'pca_project'],
    ];
    const kernels = await Promise.all(names.map(([, e, c]) => make(e, c)));
    const table = Object.fromEntries(names.map(([k], i) => [k, kernels[i]!])) as Record<PcaKernel, Kernel>;
    return new Pca(ctx, { rows: shape.rows, dim: shape.dim, iters, label }, table);
  }

  /** FLOPs of one run: the covariance, ITERS products per component, the projection. */
  get flops(): number {
    const { rows: N, dim: D, iters } = this.shape;
    return 2 * N * D * D + 2 * 2 * (iters + 1) * D * D + 4 * N * D;
  }

  private bindings(x: Tensor): Record<PcaKernel, BoundKernel> {
    let b = this.bound.get(x);
    if (!b) {
      const { label } = this.shape;
      const k = this.kernels;
      const power = [this.cov, this.state, this.eig];
      b = {
        mean: k.mean.bind([x, this.mean], `${label}.mean`),
        cov: k.cov.bind([x, this.mean, this.cov], `${label}.cov`),
        start0: k.start0.bind([this.state], `${label}.start0`),
        start1: k.start1.bind([this.state], `${label}.start1`),
        matvec: k.matvec.bind([this.cov, this.state], `${label}.matvec`),
        normalize0: k.normalize0.bind([this.state], `${label}.normalize0`),
        normalize1: k.normalize1.bind([this.state], `${label}.normalize1`),
        finish0: k.finish0.bind(power, `${label}.finish0`),
        finish1: k.finish1.bind(power, `${label}.finish1`),
        project: k.project.bind([x, this.mean, this.eig, this.points], `${label}.project`),
      };
      this.bound.set(x, b);
    }
    return b;
  }

  /**
   * Records the whole PCA over `x` (rows×dim f32) into the caller's encoder as ONE compute pass of
   * 2·(2·iters + 3) + 3 dispatches (WebGPU orders each dispatch's storage writes before the next's
   * reads; one pass instead of one per dispatch saves most of the per-pass cost on CPU emulators).
   */
  record(encoder: GPUCommandEncoder, x: Tensor): void {
    const { rows, dim, iters, label } = this.shape;
    assertShape(x.dtype === 'f32' && x.numel === rows * dim, () => `${label}: the features ${x.label} [${x.shape.join('×')}] ${x.dtype} should hold ${rows}×${dim} f32 values`);
    const b = this.bindings(x);
    const tiles = Math.ceil(dim / 16);
    const overDim = grid1d(this.ctx, dim, 64);
    const one: Grid = [1, 1, 1];
    const pass = encoder.beginComputePass({ label });
    const dispatch = (k: BoundKernel, grid: Grid) => {
      pass.setPipeline(k.kernel.pipeline);
      pass.setBindGroup(0, k.bindGroup);
      pass.dispatchWorkgroups(grid[0], grid[1], grid[2]);
    };
    dispatch(b.mean, overDim);
    dispatch(b.cov, [tiles, tiles, 1]);
    for (const c of [0, 1] as const) {
      const normalize = c === 0 ? b.normalize0 : b.normalize1;
      dispatch(c === 0 ? b.start0 : b.start1, overDim);
      dispatch(normalize, one);
      for (let it = 0; it < iters; it++) {
        dispatch(b.matvec, overDim);
        dispatch(normalize, one);
      }
      dispatch(b.matvec, overDim);
      dispatch(c === 0 ? b.finish0 : b.finish1, one);
    }
    dispatch(b.project, grid1d(this.ctx, rows, 64));
    pass.end();
  }

  /** The map of `x`: one submit, then the points and the eigen-summary read back. */
  async project(x: Tensor): Promise<PcaResult> {
    await submitChecked(this.ctx, this.shape.label, (enc) => this.record(enc, x));
    const [points, eig] = await Promise.all([readF32(this.ctx, this.points), readF32(this.ctx, this.eig)]);
    const D = this.shape.dim;
    const trace = eig[2 * D + 2]!;
    const l1 = eig[2 * D]!;
    const l2 = eig[2 * D + 1]!;
    return {
      points,
      eigenvalues: [l1, l2],
      explained: trace > 0 ? [l1 / trace, l2 / trace] : [0, 0],
      residuals: [eig[2 * D + 3]!, eig[2 * D + 4]!],
      vectors: eig.slice(0, 2 * D),
    };
  }
}
