// The MVEB objective on the GPU (Multi-View Entropy Bottleneck, Wen et al., TPAMI 2024, as the
// authors' released code computes it; float64 twin: src/ref/mveb.ts). An embedding objective
// (docs/ARCHITECTURE.md): student projector outputs p⁽¹⁾, p⁽²⁾ and EMA-teacher outputs q⁽¹⁾, q⁽²⁾
// (B×D, not normalised) → L and ∂L/∂p⁽ᵛ⁾ (assigned), all recorded into the caller's encoder:
//
//   mveb_normalize        z = p/‖p‖, t = q/‖q‖ (both views), ‖p‖ kept              1 dispatch
//   Gram (GEMM core)      A_s = Z_s Z_sᵀ for every Stein system s (mveb_gram.wgsl)  1 dispatch
//   mveb_select           τ_s = max(0.1, ⌊N²/2⌋-th largest of 1 − A_s), exact     1 dispatch
//   mveb_kernel           M_s = exp(A_s/τ_s) + ηI, Ψ_s = (rowsum/τ_s)·Z_s          1 dispatch
//   chol_factor_forward   per block column k: L (blocked Cholesky), Y = L⁻¹Ψ      NBLK dispatches
//   chol_backward         per block row k: X = L⁻ᵀY, so S = −X                     NBLK dispatches
//   mveb_rows             ∂L/∂z = (−t′ + λS)/(2B) through the normalisation into ∂L/∂p,
//                         per-row ⟨z, t′⟩ and ⟨S, z⟩                               1 dispatch
//   mveb_finish           L = −align − λ·unif and the statistics                  1 dispatch
// A Stein system is one view's chunk of N = `steinChunk` rows (default B); there are 2B/N, all
// solved side by side in every dispatch; NBLK = ⌈N/32⌉ (32-row blocks, N ≤ 1024 in workgroup
// memory of ≤ 10.3 KiB).
//
// Statistics (`MvebPlan.statNames`): tau (mean over chunks and views), align, unif, and
// pivots_floored: the Cholesky pivots of K + ηI that came out below η (or NaN) in float32; each
// is set to η and the rest of its column (rounding noise) to 0 (in exact arithmetic every pivot
// is ≥ η). It is 0 on ordinary batches. A batch whose rows are almost equal (K nearly all
// e^(1/τ), condition number up to N·e^10/η) floors some, and the solve still completes, finite
// and backward stable (‖(K + ηI)X − Ψ‖ ≈ 1e-5·‖K‖‖X‖ in the tests).
// Accuracy is bounded first by forming K in float32: A's rounding (~1e-7) times 1/τ ≤ 10 times
// K ≤ e^10 against η = 0.01. Measured (PyTorch, float32 against float64, D = 128): S agrees to
// ~1e-6 for spread rows, ~5e-5 at cosines ≈ 0.9, 2e-4…5e-3 at ≈ 0.99 (N = 64…256), and not at
// all when the rows agree to 1e-3; D = 1 (z = ±1: two clusters of identical rows) is as bad, but
// there ∂L/∂p ≡ 0. B = 1 (or a chunk of 1) is refused: τ is undefined for one row.
//
// Use: `MvebObjective.create(ctx, { B, D, steinChunk })` compiles the shape-specialised pipelines
// (checks first); `bind(bindings, label)` checks every tensor and allocates the plan's workspace;
// `plan.setParams({ entropyWeight, steinEta })` (uniform writes; the defaults 0.01, 0.01 are
// written at bind); `plan.record(encoder)` per step; no readback inside.
import gramWgsl from '../shaders/mveb_gram.wgsl?raw';
import mvebWgsl from '../shaders/mveb.wgsl?raw';
import choleskyWgsl from '../shaders/cholesky.wgsl?raw';
import type { GpuContext } from '../gpu/context.ts';
import { GpuKernelError, ShapeError } from '../gpu/errors.ts';
import { defaultGemmVariant, gemmEntry, gemmGrid, gemmSource, gemmTile, tileConstants } from '../gpu/gemm.ts';
import { createKernel, type BoundKernel, type Kernel, type PassTimer } from '../gpu/kernel.ts';
import { Arena, createBuffer, type Tensor } from '../gpu/tensor.ts';
import { ParamError } from './validate.ts';
import type { EmbeddingObjectiveBindings } from './embedding-objective.ts';


export interface MvebShape {
  B: number;
  D: number;
  /** Rows per Stein estimate (`--stein-chunk`); divides B; default B. */
  steinChunk?: number;
  /** The Gram's GEMM-core variant (default: tiled on GPUs, direct on CPU emulators; tests force it). */
  gemmVariant?: 'tiled' | 'direct';
}

export interface MvebParams {
  /** λ (`--entropy-weight`) ≥ 0; default 0.01. */
  entropyWeight?: number;
  /** η (`--stein-eta`) > 0; default 0.01. */
  steinEta?: number;
}

export const MVEB_PARAM_DEFAULTS = { entropyWeight: 0.01, steinEta: 0.01 } as const;
/** The largest Stein chunk the blocked Cholesky takes (issue 12). */
export const MVEB_MAX_CHUNK = 1024;
const BLOCK = 32;
const UNIFORM_SLOT = 256;

/**
 * Refuses a shape the objective is undefined for, before anything is compiled or dispatched;
 * messages name the CLI flag. Returns the chunk.
 */
export function checkMvebShape(shape: MvebShape, what = 'mveb'): number {
  const { B, D } = shape;
  if (!Number.isInteger(B) || B < 1) throw new ShapeError(`${what}: the batch B must be an integer ≥ 1, got ${B}`);
  if (!Number.isInteger(D) || D < 1) throw new ShapeError(`${what}: the embedding dimension D must be an integer ≥ 1, got ${D}`);
  const chunk = shape.steinChunk ?? B;
  if (!Number.isInteger(chunk) || chunk < 1) throw new ParamError(`${what}: --stein-chunk must be a positive integer, got ${chunk}`);
  if (chunk > B) throw new ParamError(`${what}: --stein-chunk ${chunk} is larger than the batch ${B}; use at most ${B} (the default is the whole batch)`);
  if (B % chunk !== 0) throw new ParamError(`${what}: --stein-chunk ${chunk} does not divide the batch ${B}; use a divisor of ${B}`);
  if (chunk < 2) {
    const why = B === 1 ? 'a batch of 1' : '--stein-chunk 1';
    throw new ParamError(`${what}: ${why} leaves one row per Stein estimate, where τ (the ⌊N²/2⌋-th largest of the N² distances) is undefined; use a batch and --stein-chunk of at least 2`);
  }
  if (chunk > MVEB_MAX_CHUNK) throw new ParamError(`${what}: --stein-chunk ${chunk} is over the supported ${MVEB_MAX_CHUNK} rows per Stein estimate; pass --stein-chunk ${largestDivisorAtMost(B, MVEB_MAX_CHUNK)} (or a smaller divisor of ${B})`);
  return chunk;
}

function largestDivisorAtMost(n: number, max: number): number {
  for (let d = Math.min(n, max); d > 1; d--) if (n % d === 0) return d;
  return 1;
}

/** Refuses λ < 0 and η ≤ 0 (and non-finite values), naming the flag. */
export function checkMvebParams(p: MvebParams, what = 'mveb'): Required<MvebParams> {
  const entropyWeight = p.entropyWeight ?? MVEB_PARAM_DEFAULTS.entropyWeight;
  const steinEta = p.steinEta ?? MVEB_PARAM_DEFAULTS.steinEta;
  if (!(typeof entropyWeight === 'number' && Number.isFinite(entropyWeight) && entropyWeight >= 0)) {
    throw new ParamError(`${what}: --entropy-weight (λ) must be a finite number ≥ 0, got ${entropyWeight}`);
  }
  if (!(typeof steinEta === 'number' && Number.isFinite(steinEta) && steinEta > 0)) {
    throw new ParamError(`${what}: --stein-eta (η) must be a finite number > 0, got ${steinEta}`);
  }
  return { entropyWeight, steinEta };
}

interface MvebKernels {
  normalize: Kernel;
  gram: Kernel;
  select: Kernel;
  kernel: Kernel;
  factor: Kernel;
  backward: Kernel;
  rows: Kernel;
  finish: Kernel;
}

export class MvebObjective {
  /** Stein systems: 2·B/N (view 1's chunks, then view 2's). */
  readonly systems: number;
  /** N padded to whole 32-row blocks. */
  readonly padded: number;
  readonly blocks: number;
  /** 32-column slices of the right-hand sides. */
  readonly slices: number;
  readonly gramGrid: [number, number, number];

  private constructor(
    readonly ctx: GpuContext,
    readonly B: number,
    readonly D: number,
    readonly chunk: number,
    readonly kernels: MvebKernels,
    gramGrid: [number, number, number],
  ) {
    this.systems = (2 * B) / chunk;
    this.padded = Math.ceil(chunk / BLOCK) * BLOCK;
    this.blocks = this.padded / BLOCK;
    this.slices = Math.ceil(D / BLOCK);
    this.gramGrid = gramGrid;
  }

  static async create(ctx: GpuContext, shape: MvebShape): Promise<MvebObjective> {
    const chunk = checkMvebShape(shape);
    const { B, D } = shape;
    const systems = (2 * B) / chunk;
    const NP = Math.ceil(chunk / BLOCK) * BLOCK;
    const maxGroups = ctx.limits.maxComputeWorkgroupsPerDimension;
    if (systems > maxGroups || B > maxGroups) throw new ShapeError(`mveb: B = ${B} with --stein-chunk ${chunk} needs ${Math.max(systems, B)} workgroups along one dimension, over this adapter's ${maxGroups}`);
    const maxBinding = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
    if (4 * systems * NP * NP > maxBinding) {
      throw new ShapeError(`mveb: ${systems} Stein systems of ${NP}×${NP} need ${4 * systems * NP * NP} bytes, over this adapter's binding limit of ${maxBinding}; use a smaller --stein-chunk`);
    }
    const common = { B, D, N: chunk, NP, CHUNKS: B / chunk };
    const variant = shape.gemmVariant ?? (defaultGemmVariant(ctx) === 'tiled' ? 'tiled' : 'direct');
    const tile = gemmTile(variant, NP, NP);
    const grid = gemmGrid(variant, NP, NP, 1, tile);
    const chol = { NP, ROWS: chunk, D, SLICES: Math.ceil(D / BLOCK) };
    const mk = (entryPoint: string, code = mvebWgsl, constants: Record<string, number | boolean> = common) => createKernel(ctx, { label: `mveb.${entryPoint}`, code, entryPoint, constants });
    const [normalize, gram, select, kernel, factor, backward, rows, finish] = await Promise.all([
      mk('mveb_normalize'),
      createKernel(ctx, {
        label: `mveb.gram.${variant}`,
        code: gemmSource(gramWgsl),
        entryPoint: gemmEntry(variant),
        constants: { ...tileConstants(tile), M: NP, N: NP, K: D, B_COLS: true, ROWS: chunk, BATCH: B, CHUNKS: B / chunk },
      }),
      mk('mveb_select'),
      mk('mveb_kernel'),
      mk('chol_factor_forward', choleskyWgsl, chol),
      mk('chol_backward', choleskyWgsl, chol),
      mk('mveb_rows'),
      mk('mveb_finish'),
    ]);
    return new MvebObjective(ctx, B, D, chunk, { normalize, gram, select, kernel, factor, backward, rows, finish }, [grid[0], grid[1], systems]);
  }

  /** Checks every tensor (before any dispatch), allocates the workspace and binds. */
  bind(b: EmbeddingObjectiveBindings, label = 'mveb'): MvebPlan {
    const { B, D } = this;
    const n = B * D;
    const want = (t: Tensor | undefined, what: string, count: number, dims: string) => {
      if (!t) throw new ShapeError(`${label}: ${what} is required (${dims} f32)`);
      if (t.dtype !== 'f32' || t.numel !== count) throw new ShapeError(`${label}: ${what} ${t} should hold ${dims} = ${count} f32 values`);
    };
    if (!b.teacher) throw new ShapeError(`${label}: MVEB needs the EMA teacher's outputs (bindings.teacher): its align term compares each view with the teacher's other view`);
    b.student.forEach((t, v) => want(t, `student view ${v + 1}`, n, `${B}×${D}`));
    b.teacher.forEach((t, v) => want(t, `teacher view ${v + 1}`, n, `${B}×${D}`));
    b.grads.forEach((t, v) => want(t, `gradient of view ${v + 1}`, n, `${B}×${D}`));
    want(b.loss, 'loss', 1, '1');
    want(b.stats, 'stats', MvebPlan.statNames.length, `${MvebPlan.statNames.length} (${MvebPlan.statNames.join(', ')})`);
    const outputs: [string, Tensor][] = [['gradient of view 1', b.grads[0]], ['gradient of view 2', b.grads[1]], ['loss', b.loss], ['stats', b.stats]];
    const inputs: [string, Tensor][] = [['student view 1', b.student[0]], ['student view 2', b.student[1]], ['teacher view 1', b.teacher[0]], ['teacher view 2', b.teacher[1]]];
    for (const [on, o] of outputs) {
      for (const [xn, x] of [...inputs, ...outputs]) {
        if (xn === on || o.buffer !== x.buffer) continue;
        if (o.byteOffset < x.byteOffset + x.byteLength && x.byteOffset < o.byteOffset + o.byteLength) throw new ShapeError(`${label}: ${on} ${o} overlaps ${xn} ${x}; outputs must not alias anything else`);
      }
    }
    return new MvebPlan(this, b, label);
  }
}

export class MvebPlan {
  /** The statistics written to `stats`, in order. */
  static readonly statNames: readonly string[] = ['tau', 'align', 'unif', 'pivots_floored'];
  readonly dispatches: number;
  readonly flops: number;
  readonly bytes: number;
  /** The Gram GEMM's share of `flops` (for the bench's GFLOP/s). */
  readonly gramFlops: number;
  private readonly work: GPUBuffer;
  private readonly params: GPUBuffer;
  private readonly steps: GPUBuffer;
  private current: Required<MvebParams> = { ...MVEB_PARAM_DEFAULTS };
  private readonly passes: { kernel: BoundKernel; grid: [number, number, number] }[];
  /** The workspace tensors (tests read them: z, t, gram/M, tau, rhs/X, …). */
  readonly tensors: Map<string, Tensor>;

  constructor(
    readonly objective: MvebObjective,
    readonly bindings: EmbeddingObjectiveBindings,
    readonly label: string,
  ) {
    const { ctx, B, D, systems, padded: NP, blocks, slices, kernels: k } = objective;
    const arena = new Arena(ctx, `${label}.work`);
    arena.add('z', [2, B, D]);
    arena.add('t', [2, B, D]);
    arena.add('norm', [2, B]);
    arena.add('gram', [systems, NP, NP]);
    arena.add('diag', [systems, blocks, BLOCK, BLOCK]);
    arena.add('rhs', [systems, NP, D]);
    arena.add('tau', [systems]);
    arena.add('floored', [systems], 'u32');
    arena.add('partials', [2, 2 * B]);
    const { buffer, tensors } = arena.build();
    this.work = buffer;
    this.tensors = tensors;
    const T = (name: string) => tensors.get(name)!;
    const U = GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST;
    this.params = createBuffer(ctx, 16, U, `${label}.params`);
    this.steps = createBuffer(ctx, UNIFORM_SLOT * blocks, U, `${label}.steps`);
    const stepData = new Uint32Array((UNIFORM_SLOT / 4) * blocks);
    for (let kb = 0; kb < blocks; kb++) stepData[(UNIFORM_SLOT / 4) * kb] = kb;
    ctx.device.queue.writeBuffer(this.steps, 0, stepData);
    const step = (kb: number): GPUBufferBinding => ({ buffer: this.steps, offset: kb * UNIFORM_SLOT, size: 16 });
    const params = { buffer: this.params };
    const { student: p, teacher, grads, loss, stats } = bindings;
    const q = teacher!;
    const maxX = ctx.limits.maxComputeWorkgroupsPerDimension;
    const rowGrid = (rows: number): [number, number, number] => {
      const groups = Math.ceil(rows / 4);
      const x = Math.min(groups, maxX);
      return [x, Math.ceil(groups / x), 1];
    };
    this.passes = [
      { kernel: k.normalize.bind([p[0], p[1], q[0], q[1], T('z'), T('t'), T('norm')], `${label}.normalize`), grid: rowGrid(4 * B) },
      { kernel: k.gram.bind([T('z'), T('gram')], `${label}.gram`), grid: objective.gramGrid },
      { kernel: k.select.bind([T('gram'), T('tau'), T('floored')], `${label}.select`), grid: [systems, 1, 1] },
      { kernel: k.kernel.bind([T('gram'), T('tau'), T('z'), T('rhs'), params], `${label}.kernel`), grid: [NP, systems, 1] },
    ];
    for (let kb = 0; kb < blocks; kb++) {
      this.passes.push({ kernel: k.factor.bind([T('gram'), T('diag'), T('rhs'), T('floored'), params, step(kb)], `${label}.cholesky[${kb}]`), grid: [blocks - kb + slices, systems, 1] });
    }
    for (let kb = blocks - 1; kb >= 0; kb--) {
      this.passes.push({ kernel: k.backward.bind([T('gram'), T('diag'), T('rhs'), step(kb)], `${label}.solve_back[${kb}]`), grid: [slices, systems, 1] });
    }
    this.passes.push({ kernel: k.rows.bind([T('z'), T('t'), T('rhs'), T('norm'), grads[0], grads[1], T('partials'), params], `${label}.rows`), grid: rowGrid(2 * B) });
    this.passes.push({ kernel: k.finish.bind([T('partials'), T('tau'), T('floored'), loss, stats, params], `${label}.finish`), grid: [1, 1, 1] });
    this.dispatches = this.passes.length;
    // FLOPs: normalisation 3·4BD; Gram 2·NP²·D per system; τ ~4 passes over N²; exp and sums 3N²;
    // Cholesky N³/3 (each dispatch's workgroups also refactor their 32×32 diagonal block, uncounted);
    // two triangular solves 2·N²·D; the rows kernel ~12·2BD.
    const N = objective.chunk;
    this.gramFlops = systems * 2 * NP * NP * D;
    this.flops = 12 * B * D + this.gramFlops + systems * (4 * N * N + 3 * N * N + (NP * NP * NP) / 3 + 2 * NP * NP * D) + 24 * B * D;
    // Bytes at least: inputs 4BD read twice, z/t written and read; A written, read 4× by the select
    // and once by the kernel, M written; the factorisation reads ~NP²·NBLK/2 and the solves NP²
    // twice plus the right-hand sides; gradients 2BD written.
    this.bytes = 4 * (8 * B * D + 4 * B * D + systems * (7 * NP * NP + (NP * NP * blocks) / 2 + 2 * NP * NP + 4 * NP * D) + 2 * B * D);
    this.setParams({});
  }

  /** λ and η (uniform writes; no recompilation). A value left out keeps its current setting. */
  setParams(p: MvebParams): void {
    const next = checkMvebParams({ ...this.current, ...p }, this.label);
    this.objective.ctx.device.queue.writeBuffer(this.params, 0, new Float32Array([next.entropyWeight, next.steinEta, 0, 0]));
    this.current = next;
  }

  /** The λ and η the plan's uniforms hold. */
  get paramValues(): Required<MvebParams> {
    return { ...this.current };
  }

  record(encoder: GPUCommandEncoder, timer?: PassTimer): void {
    if (!this.passes.length) throw new GpuKernelError(this.label, 'record() after destroy()');
    for (const s of this.passes) s.kernel.record(encoder, s.grid, timer);
  }

  /** Records the Gram GEMMs alone (the benchmark's GFLOP/s; z holds what the last record wrote). */
  recordGram(encoder: GPUCommandEncoder, timer?: PassTimer): void {
    const gram = this.passes[1];
    if (!gram) throw new GpuKernelError(this.label, 'recordGram() after destroy()');
    gram.kernel.record(encoder, gram.grid, timer);
  }

  destroy(): void {
    this.work.destroy();
    this.params.destroy();
    this.steps.destroy();
    this.passes.length = 0;
  }
}
