// Host side of the GEMM core (src/shaders/gemm_core.wgsl + gemm_plain.wgsl):
// C[M×N] = alpha · op(A) · op(B) + beta · C (+ bias): one pipeline per (flags, thread layout), the sizes in a uniform.
import coreWgsl from '../shaders/gemm_core.wgsl?raw';
import plainWgsl from '../shaders/gemm_plain.wgsl?raw';
import reduceWgsl from '../shaders/gemm_reduce.wgsl?raw';
import naiveWgsl from '../shaders/gemm_naive.wgsl?raw';
import ioDefaults from '../shaders/gemm_io_defaults.wgsl?raw';
import { storageView, type StorageElement } from './storage-view.ts';
import type { GpuContext } from './context.ts';
import { assertShape, isPositiveInt } from './errors.ts';
import { createKernel, type Kernel } from './kernel.ts';
import { grid1d, kernelPass, type KernelStep, type Pass } from './pass.ts';
import { createBuffer, createTensor, STORAGE, type Tensor } from './tensor.ts';

/** 'tiled' stages tiles in workgroup memory (real GPUs); 'direct' does not (CPU emulators). */
export type GemmVariant = 'tiled' | 'direct' | 'naive';

export interface GemmShape {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
  bias?: boolean;
  /** Split the K reduction into this many chunks, summed by a deterministic reduce. */
  splitK?: number;
  /** Force the core's thread layout (tests); by default gemmTile picks it. */
  tile?: GemmTile;
}

/** Picks the variant that suits the adapter: workgroup tiling on GPUs, direct on emulators. */
export function defaultGemmVariant(ctx: GpuContext): GemmVariant {
  return ctx.info.isSoftware ? 'direct' : 'tiled';
}

export function gemmFlops(s: Pick<GemmShape, 'M' | 'N' | 'K'>): number {
  return 2 * s.M * s.N * s.K;
}

/** Threads of one core workgroup along N (tx) and M (ty); each thread owns a 4×4 block of C,
 *  so the workgroup's tile is 4·ty rows × 4·tx columns. */
export interface GemmTile {
  tx: number;
  ty: number;
}

// Thread layouts the core runs with: powers of two, at most 256 threads for 'tiled' (whose staged
// tiles take 256·(tx + ty) bytes, kept ≤ 16 KiB, WebGPU's guaranteed workgroup storage) and 64 for
// 'direct'.
const MAX_THREADS = { tiled: 256, direct: 64 } as const;
// Lanes a workgroup occupies at least: a GPU runs threads in warps of 32, so a smaller workgroup
// idles lanes just as padding does; CPU emulators run 4–8 lanes of SIMD.
const MIN_LANES = { tiled: 32, direct: 8 } as const;

/** Every thread layout the variant's core runs with. */
export function gemmTileLayouts(variant: 'tiled' | 'direct'): GemmTile[] {
  const out: GemmTile[] = [];
  for (let tx = 1; tx <= 64; tx *= 2) {
    for (let ty = 1; ty <= 64; ty *= 2) {
      if (tx * ty > MAX_THREADS[variant]) continue;
      if (variant === 'tiled' && tx + ty > 64) continue;
      out.push({ tx, ty });
    }
  }
  return out;
}

/**
 * The thread layout for an M×N product: the one that pads M and N least to whole tiles (a
 * workgroup under MIN_LANES threads counted as that many), then the one with most threads, then
 * the squarest. Wide products get 16×16 ('tiled') or 8×8 ('direct')
 * threads; a few channels (the stem's dgrad: N = 4; width-1/8 layers: N = 8) get a tall narrow
 * tile such as 128×8, and a tiny output (a 1×1 projection's 8×16 weight gradient) a workgroup
 * of its size, instead of tiles that are mostly padding.
 */
export function gemmTile(variant: 'tiled' | 'direct', M: number, N: number): GemmTile {
  const cost = (t: GemmTile): number[] => {
    const padded = Math.ceil(M / (4 * t.ty)) * 4 * t.ty * Math.ceil(N / (4 * t.tx)) * 4 * t.tx;
    return [padded * Math.max(1, MIN_LANES[variant] / (t.tx * t.ty)), -t.tx * t.ty, Math.abs(Math.log2(t.tx / t.ty))];
  };
  // Lexicographic: the first differing entry decides; on a full tie the earlier layout stays.
  const lower = (a: number[], b: number[]) => a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]!;
  return gemmTileLayouts(variant).reduce((best, t) => (lower(cost(t), cost(best)) < 0 ? t : best));
}

/** Whether a thread layout is one the core supports for this variant (forced layouts in tests). */
export function isGemmTile(variant: 'tiled' | 'direct', t: GemmTile): boolean {
  return gemmTileLayouts(variant).some((l) => l.tx === t.tx && l.ty === t.ty);
}

/** Workgroup counts for a core GEMM of this size (shared by the implicit-GEMM convolutions). */
export function gemmGrid(variant: Exclude<GemmVariant, 'naive'>, M: number, N: number, splits = 1, tile = gemmTile(variant, M, N)): [number, number, number] {
  return [Math.ceil(N / (4 * tile.tx)), Math.ceil(M / (4 * tile.ty)), splits];
}

/** The core's thread-layout pipeline constants. */
export function tileConstants(tile: GemmTile): { TX: number; TY: number } {
  return { TX: tile.tx, TY: tile.ty };
}

/**
 * The WGSL of one core GEMM: the io file (operand access), the generic operand functions it
 * does not define itself (gemm_io_defaults.wgsl), then the core loops.
 */
export function gemmSource(io: string): string {
  const defaults = ioDefaults.split(/^\/\/ @default /m).slice(1);
  let code = io + '\n';
  for (const section of defaults) {
    const name = section.slice(0, section.indexOf('\n')).trim();
    if (!new RegExp(`\\bfn\\s+${name}\\s*\\(`).test(io)) code += section.slice(section.indexOf('\n') + 1) + '\n';
  }
  return code + coreWgsl;
}

/** gemm_reduce.wgsl summing into an f32 output, or into an f16 one (rounded once at the store). */
export function reduceSource(element: StorageElement = 'f32'): string {
  return (element === 'f16' ? 'enable f16;\nalias OUT = f16;\n' : 'alias OUT = f32;\n') + reduceWgsl;
}

/** Entry point name in gemm_core.wgsl for a variant. */
export function gemmEntry(variant: Exclude<GemmVariant, 'naive'>): string {
  return variant === 'tiled' ? 'gemm_tiled' : 'gemm_direct';
}

/** K per split: a multiple of the 16-wide K-step, so splits never share a tile. */
export function splitChunk(K: number, splits: number): number {
  return Math.ceil(K / splits / 16) * 16;
}

// gemm_plain.wgsl's PlainDims: m, n, k, lda, ldb, ldc, k_chunk (u32), alpha, beta (f32); padded to 16 bytes.
const PLAIN_DIMS_BYTES = 48;

/**
 * gemm_plain.wgsl with its operand declarations: A, B and C (or the split-K partial, also N wide)
 * as vec4 arrays when their row strides are multiples of 4, so each 4-run the core reads is one load.
 */
function plainIo(lda: number, ldb: number, ldc: number): string {
  return storageView(0, 'a', 'read', lda % 4 === 0) + storageView(1, 'b', 'read', ldb % 4 === 0) + storageView(2, 'c', 'read_write', ldc % 4 === 0) + plainWgsl;
}

export class Gemm {
  private partial: Tensor | null = null;
  private dummyBias: GPUBuffer | null = null;

  private constructor(
    readonly ctx: GpuContext,
    readonly shape: Required<Omit<GemmShape, 'tile'>>,
    readonly variant: GemmVariant,
    private readonly main: Kernel,
    private readonly reduce: Kernel | null,
    readonly splits: number,
    /** The core's thread layout ('tiled' and 'direct'). */
    readonly tile: GemmTile | null,
    /** gemm_plain.wgsl's uniform `dims` (sizes, strides, k_chunk, alpha, beta); null for 'naive'. */
    private readonly dims: GPUBuffer | null,
  ) {}

  static async create(ctx: GpuContext, shape: GemmShape, variant: GemmVariant = defaultGemmVariant(ctx)): Promise<Gemm> {
    const { tile: forcedTile, ...rest } = shape;
    const s: Required<Omit<GemmShape, 'tile'>> = {
      transA: false,
      transB: false,
      alpha: 1,
      beta: 0,
      bias: false,
      splitK: 1,
      ...rest,
    };
    assertShape(isPositiveInt(s.M) && isPositiveInt(s.N) && isPositiveInt(s.K), () => `gemm: M, N, K must be positive integers, got ${s.M}, ${s.N}, ${s.K}`);
    assertShape(isPositiveInt(s.splitK), () => `gemm: splitK must be a positive integer, got ${s.splitK}`);
    if (variant === 'naive') {
      assertShape(!s.transA && !s.transB && s.alpha === 1 && s.beta === 0 && !s.bias && s.splitK === 1, () => 'gemm: the naive variant supports plain C = A·B only');
      const k = await createKernel(ctx, { label: 'gemm.naive', code: naiveWgsl, constants: { M: s.M, N: s.N, K: s.K } });
      return new Gemm(ctx, s, variant, k, null, 1, null, null);
    }
    const tile = forcedTile ?? gemmTile(variant, s.M, s.N);
    assertShape(isGemmTile(variant, tile), () => `gemm: thread layout ${tile.tx}×${tile.ty} is not one the ${variant} core runs`);
    const chunk = splitChunk(s.K, s.splitK);
    const splits = Math.ceil(s.K / chunk);
    const main = await createKernel(ctx, {
      label: `gemm.${variant}`,
      code: gemmSource(plainIo(s.transA ? s.M : s.K, s.transB ? s.K : s.N, s.N)),
      entryPoint: gemmEntry(variant),
      // Only what changes the code: the sizes are the uniform `dims` (gemm_plain.wgsl), so GEMMs of
      // different sizes with the same flags and thread layout share one pipeline.
      constants: {
        ...tileConstants(tile),
        TRANS_A: s.transA,
        TRANS_B: s.transB,
        A_COLS: s.transA,
        B_COLS: s.transB,
        READ_C: s.beta !== 0,
        HAS_BIAS: s.bias,
        SPLIT_K: splits > 1,
        M4: s.M % 4 === 0,
        N4: s.N % 4 === 0,
        K4: s.K % 4 === 0,
      },
    });
    const dims = createBuffer(ctx, PLAIN_DIMS_BYTES, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, 'gemm.dims');
    const words = new ArrayBuffer(PLAIN_DIMS_BYTES);
    new Uint32Array(words, 0, 7).set([s.M, s.N, s.K, s.transA ? s.M : s.K, s.transB ? s.K : s.N, s.N, splits > 1 ? chunk : 1 << 30]);
    new Float32Array(words, 28, 2).set([s.alpha, s.beta]);
    ctx.device.queue.writeBuffer(dims, 0, words);
    const reduce =
      splits > 1
        ? await createKernel(ctx, { label: 'gemm.splitk_reduce', code: reduceSource(), constants: { SIZE: s.M * s.N, SPLITS: splits, ALPHA: s.alpha, BETA: s.beta } })
        : null;
    assertShape(!(splits > 1 && s.bias), () => 'gemm: bias with split-K is not supported; add the bias separately');
    return new Gemm(ctx, s, variant, main, reduce, splits, tile, dims);
  }

  get flops(): number {
    return gemmFlops(this.shape);
  }

  /** Checks operand sizes (before any dispatch) and binds them. Call once per plan. */
  bind(a: Tensor, b: Tensor, c: Tensor, bias?: Tensor): Pass {
    const { M, N, K } = this.shape;
    const want = (t: Tensor, n: number, what: string) =>
      assertShape(t.dtype === 'f32' && t.numel === n, () => `gemm ${M}×${N}×${K}: ${what} ${t} should hold ${n} f32 values`);
    want(a, M * K, 'A');
    want(b, K * N, 'B');
    want(c, M * N, 'C');
    if (this.shape.bias) {
      assertShape(!!bias, () => 'gemm: this GEMM was created with bias but none was bound');
      want(bias!, N, 'bias');
    }
    if (this.variant === 'naive') return this.pass([{ kernel: this.main.bind([a, b, c]), grid: [Math.ceil(N / 16), Math.ceil(M / 16), 1] }]);
    if (this.splits > 1) {
      this.partial ??= createTensor(this.ctx, [this.splits, M, N], 'f32', 'gemm.splitk_partial');
      this.dummyBias ??= createBuffer(this.ctx, 4, STORAGE(), 'gemm.no_bias');
      const v = this.variant as 'tiled' | 'direct';
      return this.pass([
        { kernel: this.main.bind([a, b, this.partial, this.dummyBias, this.dims!]), grid: gemmGrid(v, M, N, this.splits, this.tile!) },
        { kernel: this.reduce!.bind([this.partial, c]), grid: grid1d(this.ctx, M * N, 256) },
      ]);
    }
    this.dummyBias ??= createBuffer(this.ctx, 4, STORAGE(), 'gemm.no_bias');
    return this.pass([{ kernel: this.main.bind([a, b, c, bias ?? this.dummyBias, this.dims!]), grid: gemmGrid(this.variant as 'tiled' | 'direct', M, N, 1, this.tile!) }]);
  }

  /** The bound dispatches as a Pass: the GEMM's FLOPs, and A, B and C each moved once. */
  private pass(steps: KernelStep[]): Pass {
    const { M, N, K } = this.shape;
    return kernelPass(steps, this.flops, 4 * (M * K + K * N + M * N));
  }
}
