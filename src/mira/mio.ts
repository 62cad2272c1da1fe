// The MIO objective on the GPU (Mutual Information Optimization, Manna et al. 2021; issue 12 "The
// objectives"; float64 reference src/ref/mio.ts): contrastive learning as binary classification
// of positive and negative pairs plus an additive L2 term, straight on the projector outputs of two
// views (no teacher, no prototypes). An embedding objective: p⁽¹⁾, p⁽²⁾ (B×D, not normalised) →
// the loss, ∂L/∂p⁽¹⁾, ∂L/∂p⁽²⁾ (assigned) and its stats, recorded into the caller's encoder (one
// submit per training step, no readback inside). docs/ARCHITECTURE.md describes the method layer
// that plugs it into the step graph.
//
//   z = p/max(‖p‖, 1e-12);  Z = [z⁽¹⁾; z⁽²⁾] (2B×D);  S = Z Zᵀ;  row a's partner a' = a ± B
//   L = mean_{2B positive pairs} softplus(−s_aa'/τ₊) + mean_{2B(2B−2) negative pairs} softplus(s_ab/τ₋)
//       + μ · mean_{B·D entries} (z⁽¹⁾ − z⁽²⁾)²
//   ∂L/∂Z = W Z with W_ab = σ(s_ab/τ₋)/(2B(B−1)τ₋) (b ∉ {a, a'}), W_aa' = −σ(−s_aa'/τ₊)/(Bτ₊) − 2μ/(BD),
//           W_aa = 2μ/(BD)       (the issue's ∂L/∂z_a, term by term)
//   ∂L/∂p = (I − z zᵀ) ∂L/∂z / ‖p‖
//
// Six dispatches (src/shaders/mio.wgsl and the GEMM core):
//   mio.normalize   Z, the norms, Σ_d (z⁽¹⁾ − z⁽²⁾)² per row pair
//   mio.gram        S = Z Zᵀ                    GEMM 2B×2B×D (transB)
//   mio.pairs       W over S in place, per-row softplus and σ partial sums (diagonal and partner masks)
//   mio.reduce      loss and stats: one workgroup, fixed-order sums (deterministic; no float atomics)
//   mio.grad_z      ∂L/∂Z = W Z                 GEMM 2B×D×2B
//   mio.backward    ∂L/∂p⁽¹⁾, ∂L/∂p⁽²⁾ through the normalisation
// Pipelines are specialised per (B, D) with override constants; τ₊, τ₋, μ are a uniform that
// setParams rewrites (no recompilation). Stats (MioPlan.statNames): the mean positive pair
// probability σ(s_aa'/τ₊) and the mean negative pair probability σ(s_ab/τ₋).
import code from '../shaders/mio.wgsl?raw';
import type { GpuContext } from '../gpu/context.ts';
import { ShapeError } from '../gpu/errors.ts';
import { Gemm } from '../gpu/gemm.ts';
import { grid1d, type Pass } from '../gpu/pass.ts';
import { createKernel, type BoundKernel, type Kernel, type PassTimer } from '../gpu/kernel.ts';
import { createBuffer, createTensor, type Tensor } from '../gpu/tensor.ts';
import { checkDisjoint, checkTensor, reduceTile } from '../nn/elementwise.ts';
import { ParamError } from './validate.ts';
import type { EmbeddingObjectiveBindings } from './embedding-objective.ts';


export interface MioShape {
  /** Images per view (rows of p⁽¹⁾ and p⁽²⁾), ≥ 2. */
  B: number;
  /** Projector output width. */
  D: number;
}

export interface MioParams {
  /** τ₊ (`--tau-pos`), > 0. */
  tauPos: number;
  /** τ₋ (`--tau-neg`), > 0. */
  tauNeg: number;
  /** μ (`--l2-weight`), ≥ 0. */
  l2Weight: number;
  /** ν, the negative term's weight (1, MIO; 0 switches the negatives off, `--mio-negatives off`, the classroom's dimensional-collapse preset); in [0, 1]. */
  negWeight?: number;
}

/** Issue 12's defaults: τ₊ = τ₋ = 0.5, μ = 1. */
export const MIO_DEFAULT_PARAMS: Readonly<MioParams> = { tauPos: 0.5, tauNeg: 0.5, l2Weight: 1 };

/** Refuses parameters outside their ranges, naming the CLI flag; before anything is written or recorded. */
export function checkMioParams(p: MioParams, what = 'MIO'): void {
  const finite = (x: number) => typeof x === 'number' && Number.isFinite(x);
  if (!(finite(p.tauPos) && p.tauPos > 0)) throw new ParamError(`${what}: --tau-pos (τ₊, the positive pairs' temperature) must be a finite number > 0, got ${p.tauPos}`);
  if (!(finite(p.tauNeg) && p.tauNeg > 0)) throw new ParamError(`${what}: --tau-neg (τ₋, the negative pairs' temperature) must be a finite number > 0, got ${p.tauNeg}`);
  if (!(finite(p.l2Weight) && p.l2Weight >= 0)) throw new ParamError(`${what}: --l2-weight (μ, the weight of the L2 term) must be a finite number ≥ 0, got ${p.l2Weight}`);
  if (p.negWeight !== undefined && !(finite(p.negWeight) && p.negWeight >= 0 && p.negWeight <= 1)) throw new ParamError(`${what}: the negative term's weight ν (--mio-negatives on = 1, off = 0) must be a finite number in [0, 1], got ${p.negWeight}`);
}

/** Refuses a batch without negative pairs (B = 1) or a bad width. */
export function checkMioShape(B: number, D: number, what = 'MIO'): void {
  if (!Number.isInteger(D) || D < 1) throw new ShapeError(`${what}: the embedding width D must be an integer ≥ 1, got ${D}`);
  if (!Number.isInteger(B) || B < 2) {
    throw new ShapeError(`${what}: the batch B must be an integer ≥ 2, got ${B}: with B = 1 a row's only other row is its positive partner, so there are no negative pairs (use --batch 2 or more)`);
  }
}

export class MioObjective {
  private constructor(
    readonly ctx: GpuContext,
    readonly shape: MioShape,
    readonly kernels: { normalize: Kernel; pairs: Kernel; reduce: Kernel; backward: Kernel },
    readonly gram: Gemm,
    readonly gradZ: Gemm,
    /** Rows per workgroup of the row kernels over D (normalize, backward) and over 2B (pairs). */
    readonly rowsD: number,
    readonly rowsS: number,
  ) {}

  static async create(ctx: GpuContext, shape: MioShape): Promise<MioObjective> {
    const { B, D } = shape;
    checkMioShape(B, D);
    const N2 = 2 * B;
    const overD = reduceTile(D);
    const overS = reduceTile(N2);
    const base = { B, D };
    const [normalize, pairs, reduce, backward, gram, gradZ] = await Promise.all([
      createKernel(ctx, { label: 'mio.normalize', code, entryPoint: 'mio_normalize', constants: { ...base, ...overD } }),
      createKernel(ctx, { label: 'mio.pairs', code, entryPoint: 'mio_pairs', constants: { ...base, ...overS } }),
      createKernel(ctx, { label: 'mio.reduce', code, entryPoint: 'mio_reduce', constants: base }),
      createKernel(ctx, { label: 'mio.backward', code, entryPoint: 'mio_backward', constants: { ...base, ...overD } }),
      Gemm.create(ctx, { M: N2, N: N2, K: D, transB: true }),
      Gemm.create(ctx, { M: N2, N: D, K: N2 }),
    ]);
    return new MioObjective(ctx, { B, D }, { normalize, pairs, reduce, backward }, gram, gradZ, overD.TY, overS.TY);
  }

  /** Checks every tensor (before anything is recorded) and binds them; call once per plan. */
  bind(b: EmbeddingObjectiveBindings, label = 'mio'): MioPlan {
    const { B, D } = this.shape;
    const dims = `${B}×${D}`;
    if (b.teacher) throw new ShapeError(`${label}: MIO takes no teacher outputs (it has no EMA teacher); bind student, grads, loss and stats only`);
    checkTensor(label, 'student view 1 (p⁽¹⁾)', b.student[0], B * D, dims);
    checkTensor(label, 'student view 2 (p⁽²⁾)', b.student[1], B * D, dims);
    checkTensor(label, 'gradient of view 1', b.grads[0], B * D, dims);
    checkTensor(label, 'gradient of view 2', b.grads[1], B * D, dims);
    checkTensor(label, 'loss', b.loss, 1, 'one scalar');
    checkTensor(label, 'stats', b.stats, MioPlan.statNames.length, MioPlan.statNames.join(', '));
    checkDisjoint(label, [
      ['gradient of view 1', b.grads[0], 'student view 1', b.student[0]],
      ['gradient of view 1', b.grads[0], 'student view 2', b.student[1]],
      ['gradient of view 2', b.grads[1], 'student view 1', b.student[0]],
      ['gradient of view 2', b.grads[1], 'student view 2', b.student[1]],
      ['gradient of view 1', b.grads[0], 'gradient of view 2', b.grads[1]],
      ['loss', b.loss, 'stats', b.stats],
    ]);
    return new MioPlan(this, b, label);
  }
}

export class MioPlan {
  /** The stats tensor's entries, in order: mean σ(s_aa'/τ₊) over the positive pairs, mean σ(s_ab/τ₋) over the negative pairs. */
  static readonly statNames: readonly string[] = ['pos_prob', 'neg_prob'];

  private readonly z: Tensor;
  private readonly dz: Tensor;
  private readonly norms: Tensor;
  private readonly l2row: Tensor;
  private readonly sw: Tensor;
  private readonly rowstat: Tensor;
  private readonly uniform: GPUBuffer;
  private readonly steps: { kernel: BoundKernel | Pass; grid?: [number, number, number] }[];
  private params: MioParams = { ...MIO_DEFAULT_PARAMS };

  constructor(
    readonly objective: MioObjective,
    readonly bindings: EmbeddingObjectiveBindings,
    readonly label: string,
  ) {
    const { ctx, shape, kernels: k } = objective;
    const { B, D } = shape;
    const N2 = 2 * B;
    this.z = createTensor(ctx, [N2, D], 'f32', `${label}.z`);
    this.dz = createTensor(ctx, [N2, D], 'f32', `${label}.dz`);
    this.norms = createTensor(ctx, [N2], 'f32', `${label}.norms`);
    this.l2row = createTensor(ctx, [B], 'f32', `${label}.l2_rows`);
    this.sw = createTensor(ctx, [N2, N2], 'f32', `${label}.gram_then_weights`);
    this.rowstat = createTensor(ctx, [N2, 4], 'f32', `${label}.row_sums`);
    this.uniform = createBuffer(ctx, 48, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, `${label}.params`);
    const { student, grads, loss, stats } = this.bindings;
    this.steps = [
      { kernel: k.normalize.bind([student[0], student[1], this.z, this.norms, this.l2row], `${label}.normalize`), grid: grid1d(ctx, B, objective.rowsD) },
      { kernel: objective.gram.bind(this.z, this.z, this.sw) },
      { kernel: k.pairs.bind([this.sw, this.rowstat, this.uniform], `${label}.pairs`), grid: grid1d(ctx, N2, objective.rowsS) },
      { kernel: k.reduce.bind([this.rowstat, this.l2row, loss, stats, this.uniform], `${label}.reduce`), grid: [1, 1, 1] },
      { kernel: objective.gradZ.bind(this.sw, this.z, this.dz) },
      { kernel: k.backward.bind([this.z, this.dz, this.norms, grads[0], grads[1]], `${label}.backward`), grid: grid1d(ctx, N2, objective.rowsD) },
    ];
    this.writeParams();
  }

  /** τ₊, τ₋, μ, ν (any subset; the rest keep their values, initially the defaults). A uniform write: no recompilation. */
  setParams(p: Partial<MioParams>): void {
    const next = { ...this.params, ...p };
    checkMioParams(next, this.label);
    this.params = next;
    this.writeParams();
  }

  get currentParams(): Readonly<MioParams> {
    return this.params;
  }

  private writeParams(): void {
    const { B, D } = this.objective.shape;
    const { tauPos, tauNeg, l2Weight: mu } = this.params;
    const nu = this.params.negWeight ?? 1;
    // The stats keep the unweighted mean negative probability (w_neg_stat), so it stays visible with the negatives off.
    const meanNeg = 1 / (2 * B * (2 * B - 2));
    const values = [1 / tauPos, 1 / tauNeg, 1 / (B * tauPos), nu / (2 * B * (B - 1) * tauNeg), (2 * mu) / (B * D), 1 / (2 * B), nu * meanNeg, mu / (B * D), meanNeg];
    this.objective.ctx.device.queue.writeBuffer(this.uniform, 0, new Float32Array(values));
  }

  record(encoder: GPUCommandEncoder, timer?: PassTimer): void {
    for (const s of this.steps) {
      if (s.grid) (s.kernel as BoundKernel).record(encoder, s.grid, timer);
      else (s.kernel as Pass).record(encoder, timer);
    }
  }

  get dispatches(): number {
    const gemm = (g: Gemm) => (g.splits > 1 ? 2 : 1);
    return 4 + gemm(this.objective.gram) + gemm(this.objective.gradZ);
  }

  /** FLOPs of one run: the two GEMMs (2·(2B)²·D each) and the element-wise work around them. */
  get flops(): number {
    const { B, D } = this.objective.shape;
    const N2 = 2 * B;
    return this.objective.gram.flops + this.objective.gradZ.flops + 24 * N2 * N2 + 8 * B * D + 5 * N2 * D;
  }

  /** Bytes one run must move at least: each kernel's inputs read once and outputs written once. */
  get bytes(): number {
    const { B, D } = this.objective.shape;
    const N2 = 2 * B;
    const normalize = 4 * (2 * B * D + 2 * B * D + N2 + B);
    const gram = 4 * (N2 * D + N2 * N2);
    const pairs = 4 * (2 * N2 * N2 + 4 * N2);
    const reduce = 4 * (4 * N2 + B + 3);
    const gradZ = 4 * (N2 * N2 + 2 * N2 * D);
    const backward = 4 * (3 * N2 * D + N2);
    return normalize + gram + pairs + reduce + gradZ + backward;
  }

  destroy(): void {
    for (const t of [this.z, this.dz, this.norms, this.l2row, this.sw, this.rowstat]) t.buffer.destroy();
    this.uniform.destroy();
  }
}
