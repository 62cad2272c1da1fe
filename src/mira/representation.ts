// Representation-health metrics on the GPU (issue 12, build item 4), which every method reports so
// that methods compare on one axis; float64 reference src/ref/representation.ts. For one batch's
// embeddings of two views (B×D each, not normalised; normalised inside as F.normalize):
//   out[0] alignment       mean_i cos(z⁽¹⁾_i, z⁽²⁾_i)
//   out[1] uniformity      log mean_{i≠j} exp(−2‖z⁽¹⁾_i − z⁽¹⁾_j‖²)   (view 1's normalised embeddings)
//   out[2] effective rank  exp(H(σ/Σσ)) of view 1's normalised embeddings (Roy & Vetterli 2007)
// Four dispatches, recorded into the caller's encoder (no readback inside):
//   representation.normalize   z⁽¹⁾ and the row cosines
//   representation.gram        G = Z Zᵀ on the GEMM core (B×B×D)
//   representation.uniform     per-row Σ_{j≠i} exp(−2‖z_i − z_j‖²) from G
//   representation.jacobi      one workgroup: singular values of view 1 by one-sided (Hestenes)
//                              Jacobi over the min(B, D) vectors of the smaller side — the Jacobi
//                              eigen-solver of the smaller Gram (B×B or D×D) applied without forming
//                              it, so float32 does not square the condition number —, at most
//                              MAX_SWEEPS = 20 sweeps, stopping after a sweep that rotates no pair
//                              (|⟨v_p, v_q⟩| ≤ 1e-6·‖v_p‖‖v_q‖ for all pairs); then the three scalars.
// The Jacobi kernel is one workgroup and costs about 6·n²·m FLOPs per sweep (n = min(B, D),
// m = max(B, D)): a few milliseconds at n = 128 on a GPU, so a trainer should record it on
// logging steps, not every step. min(B, D) ≤ 512 is accepted.
import representationWgsl from '../shaders/representation.wgsl?raw';
import type { GpuContext } from '../gpu/context.ts';
import { ShapeError } from '../gpu/errors.ts';
import { Gemm } from '../gpu/gemm.ts';
import { grid1d, type Pass } from '../gpu/pass.ts';
import { createKernel, type BoundKernel, type Kernel, type PassTimer } from '../gpu/kernel.ts';
import { createTensor, type Tensor } from '../gpu/tensor.ts';
import { checkDisjoint, checkTensor, laneHeader, nextPow2, reduceTile, workgroupSum } from '../nn/elementwise.ts';

/** The most vectors the one-workgroup Jacobi solver takes (min(B, D)). */
export const MAX_JACOBI_VECTORS = 512;
/** The sweep cap and the rotation threshold of the Jacobi solver. */
export const JACOBI_MAX_SWEEPS = 20;
export const JACOBI_TOL = 1e-6;

export interface RepresentationHealthShape {
  /** Rows per view, ≥ 2. */
  B: number;
  /** Embedding width. */
  D: number;
}

export interface RepresentationHealthBindings {
  /** Both views' embeddings, B×D each, not normalised. */
  z: [Tensor, Tensor];
  /** 3 f32 out: alignment, uniformity, effective rank (RepresentationHealthPlan.names). */
  out: Tensor;
}

export class RepresentationHealth {
  private constructor(
    readonly ctx: GpuContext,
    readonly shape: RepresentationHealthShape,
    readonly kernels: { normalize: Kernel; uniform: Kernel; jacobi: Kernel },
    readonly gram: Gemm,
    readonly rowsD: number,
    readonly rowsB: number,
  ) {}

  static async create(ctx: GpuContext, shape: RepresentationHealthShape): Promise<RepresentationHealth> {
    const { B, D } = shape;
    if (!Number.isInteger(B) || B < 2) throw new ShapeError(`representation health: the batch B must be an integer ≥ 2 (uniformity is a mean over pairs of rows), got ${B}`);
    if (!Number.isInteger(D) || D < 1) throw new ShapeError(`representation health: the embedding width D must be an integer ≥ 1, got ${D}`);
    const NV = Math.min(B, D);
    if (NV > MAX_JACOBI_VECTORS) throw new ShapeError(`representation health: min(B, D) = ${NV} is over ${MAX_JACOBI_VECTORS}, the most the one-workgroup Jacobi solver takes; use a smaller batch or projector output`);
    const LEN = Math.max(B, D);
    const NE = NV + (NV % 2);
    // Threads per pair: the 256 threads shared among the NE/2 pairs of a round, a power of two.
    const TPP = Math.max(1, Math.min(64, 256 / nextPow2(NE / 2)));
    // Rows of D (normalize) or B (uniform) values: TX threads per row, TY rows per workgroup; one thread per row on CPU emulators (row_sum without a barrier).
    const sum = workgroupSum(ctx);
    const rowTile = (n: number) => (sum.direct ? { TX: 1, TY: 64 } : reduceTile(n));
    const overD = rowTile(D);
    const overB = rowTile(B);
    const code = laneHeader(1) + sum.code + representationWgsl;
    const [normalize, uniform, jacobi, gram] = await Promise.all([
      createKernel(ctx, { label: 'representation.normalize', code, entryPoint: 'rh_normalize', constants: { B, D, ...overD } }),
      createKernel(ctx, { label: 'representation.uniform', code, entryPoint: 'rh_uniform', constants: { B, D, ...overB } }),
      createKernel(ctx, {
        label: 'representation.jacobi',
        code,
        entryPoint: 'rh_jacobi',
        constants: { B, D, NV, LEN, NE, TPP, COLS: D <= B, MAX_SWEEPS: JACOBI_MAX_SWEEPS, TOL: JACOBI_TOL },
      }),
      Gemm.create(ctx, { M: B, N: B, K: D, transB: true }),
    ]);
    return new RepresentationHealth(ctx, { B, D }, { normalize, uniform, jacobi }, gram, overD.TY, overB.TY);
  }

  /** Checks the tensors (before anything is recorded) and binds them; call once per plan. */
  bind(b: RepresentationHealthBindings, label = 'representation'): RepresentationHealthPlan {
    const { B, D } = this.shape;
    checkTensor(label, 'view 1 embeddings', b.z[0], B * D, `${B}×${D}`);
    checkTensor(label, 'view 2 embeddings', b.z[1], B * D, `${B}×${D}`);
    checkTensor(label, 'out', b.out, 3, RepresentationHealthPlan.names.join(', '));
    checkDisjoint(label, [['out', b.out, 'view 1 embeddings', b.z[0]], ['out', b.out, 'view 2 embeddings', b.z[1]]]);
    return new RepresentationHealthPlan(this, b, label);
  }
}

export class RepresentationHealthPlan {
  /** The entries of `out`, in order. */
  static readonly names: readonly string[] = ['alignment', 'uniformity', 'effective_rank'];

  private readonly z1: Tensor;
  private readonly cos: Tensor;
  private readonly g: Tensor;
  private readonly urow: Tensor;
  private readonly work: Tensor;
  /** View 1's singular values (min(B, D), in the solver's order, not sorted), kept for inspection. */
  readonly sigma: Tensor;
  private readonly kernels: BoundKernel[];
  private readonly grids: [number, number, number][];
  private readonly gram: Pass;

  constructor(
    readonly health: RepresentationHealth,
    readonly bindings: RepresentationHealthBindings,
    readonly label: string,
  ) {
    const { ctx, shape, kernels: k } = health;
    const { B, D } = shape;
    this.z1 = createTensor(ctx, [B, D], 'f32', `${label}.z1`);
    this.cos = createTensor(ctx, [B], 'f32', `${label}.cos`);
    this.g = createTensor(ctx, [B, B], 'f32', `${label}.gram`);
    this.urow = createTensor(ctx, [B], 'f32', `${label}.uniform_rows`);
    this.work = createTensor(ctx, [Math.min(B, D), Math.max(B, D)], 'f32', `${label}.jacobi_vectors`);
    this.sigma = createTensor(ctx, [Math.min(B, D)], 'f32', `${label}.singular_values`);
    const { z, out } = bindings;
    this.kernels = [
      k.normalize.bind([z[0], z[1], this.z1, this.cos], `${label}.normalize`),
      k.uniform.bind([this.g, this.urow], `${label}.uniform`),
      k.jacobi.bind([this.z1, this.work, this.sigma, this.cos, this.urow, out], `${label}.jacobi`),
    ];
    this.grids = [grid1d(ctx, B, health.rowsD), grid1d(ctx, B, health.rowsB), [1, 1, 1]];
    this.gram = health.gram.bind(this.z1, this.z1, this.g);
  }

  record(encoder: GPUCommandEncoder, timer?: PassTimer): void {
    this.kernels[0]!.record(encoder, this.grids[0]!, timer);
    this.gram.record(encoder, timer);
    this.kernels[1]!.record(encoder, this.grids[1]!, timer);
    this.kernels[2]!.record(encoder, this.grids[2]!, timer);
  }

  get dispatches(): number {
    return 3 + (this.health.gram.splits > 1 ? 2 : 1);
  }

  /** FLOPs of one run, counting JACOBI_MAX_SWEEPS sweeps of ~6·n²·m (an upper bound: the solver usually stops earlier). */
  get flops(): number {
    const { B, D } = this.health.shape;
    const n = Math.min(B, D);
    const m = Math.max(B, D);
    return 8 * B * D + this.health.gram.flops + 6 * B * B + JACOBI_MAX_SWEEPS * 6 * n * n * m;
  }

  /** Bytes one run must move at least (each input read once, each output written once). */
  get bytes(): number {
    const { B, D } = this.health.shape;
    return 4 * (2 * B * D + B * D + B + (B * D + B * B) + (B * B + B) + (B * D + 2 * B + 3));
  }

  destroy(): void {
    for (const t of [this.z1, this.cos, this.g, this.urow, this.work, this.sigma]) t.buffer.destroy();
  }
}
