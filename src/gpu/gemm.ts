// Host side of the GEMM core (src/shaders/gemm_core.wgsl + gemm_plain.wgsl):
// C[M×N] = alpha · op(A) · op(B) + beta · C (+ bias), specialised per shape at pipeline creation.
import coreWgsl from '../shaders/gemm_core.wgsl?raw';
import plainWgsl from '../shaders/gemm_plain.wgsl?raw';
import reduceWgsl from '../shaders/gemm_reduce.wgsl?raw';
import naiveWgsl from '../shaders/gemm_naive.wgsl?raw';
import type { GpuContext } from './context.ts';
import { assertShape, isPositiveInt } from './errors.ts';
import { createKernel, type BoundKernel, type PassTimer } from './kernel.ts';
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
}

export const TILE = { tiled: 64, direct: 32, naive: 16 } as const;

/** Picks the variant that suits the adapter: workgroup tiling on GPUs, direct on emulators. */
export function defaultGemmVariant(ctx: GpuContext): GemmVariant {
  return ctx.info.isSoftware ? 'direct' : 'tiled';
}

export function gemmFlops(s: Pick<GemmShape, 'M' | 'N' | 'K'>): number {
  return 2 * s.M * s.N * s.K;
}

/** Workgroup counts for a core GEMM of this size (shared by the implicit-GEMM convolutions). */
export function gemmGrid(variant: Exclude<GemmVariant, 'naive'>, M: number, N: number, splits = 1): [number, number, number] {
  const t = TILE[variant];
  return [Math.ceil(N / t), Math.ceil(M / t), splits];
}

/** Entry point name in gemm_core.wgsl for a variant. */
export function gemmEntry(variant: Exclude<GemmVariant, 'naive'>): string {
  return variant === 'tiled' ? 'gemm_tiled' : 'gemm_direct';
}

/** K per split: a multiple of the 16-wide K-step, so splits never share a tile. */
export function splitChunk(K: number, splits: number): number {
  return Math.ceil(K / splits / 16) * 16;
}

export class Gemm {
  private partial: Tensor | null = null;
  private dummyBias: GPUBuffer | null = null;

  private constructor(
    readonly ctx: GpuContext,
    readonly shape: Required<GemmShape>,
    readonly variant: GemmVariant,
    private readonly main: import('./kernel.ts').Kernel,
    private readonly reduce: import('./kernel.ts').Kernel | null,
    readonly splits: number,
  ) {}

  static async create(ctx: GpuContext, shape: GemmShape, variant: GemmVariant = defaultGemmVariant(ctx)): Promise<Gemm> {
    const s: Required<GemmShape> = {
      transA: false,
      transB: false,
      alpha: 1,
      beta: 0,
      bias: false,
      splitK: 1,
      ...shape,
    };
    assertShape(isPositiveInt(s.M) && isPositiveInt(s.N) && isPositiveInt(s.K), () => `gemm: M, N, K must be positive integers, got ${s.M}, ${s.N}, ${s.K}`);
    assertShape(isPositiveInt(s.splitK), () => `gemm: splitK must be a positive integer, got ${s.splitK}`);
    if (variant === 'naive') {
      assertShape(!s.transA && !s.transB && s.alpha === 1 && s.beta === 0 && !s.bias && s.splitK === 1, () => 'gemm: the naive variant supports plain C = A·B only');
      const k = await createKernel(ctx, { label: 'gemm.naive', code: naiveWgsl, constants: { M: s.M, N: s.N, K: s.K } });
      return new Gemm(ctx, s, variant, k, null, 1);
    }
    const chunk = splitChunk(s.K, s.splitK);
    const splits = Math.ceil(s.K / chunk);
    const main = await createKernel(ctx, {
      label: `gemm.${variant}`,
      code: plainWgsl + '\n' + coreWgsl,
      entryPoint: gemmEntry(variant),
      constants: {
        M: s.M,
        N: s.N,
        K: s.K,
        K_CHUNK: splits > 1 ? chunk : 1 << 30,
        LDA: s.transA ? s.M : s.K,
        LDB: s.transB ? s.K : s.N,
        LDC: s.N,
        TRANS_A: s.transA,
        TRANS_B: s.transB,
        ALPHA: s.alpha,
        BETA: s.beta,
        HAS_BIAS: s.bias,
        SPLIT_K: splits > 1,
      },
    });
    const reduce =
      splits > 1
        ? await createKernel(ctx, { label: 'gemm.splitk_reduce', code: reduceWgsl, constants: { SIZE: s.M * s.N, SPLITS: splits, ALPHA: s.alpha, BETA: s.beta } })
        : null;
    assertShape(!(splits > 1 && s.bias), () => 'gemm: bias with split-K is not supported; add the bias separately');
    return new Gemm(ctx, s, variant, main, reduce, splits);
  }

  get flops(): number {
    return gemmFlops(this.shape);
  }

  /** Checks operand sizes (before any dispatch) and binds them. Call once per plan. */
  bind(a: Tensor, b: Tensor, c: Tensor, bias?: Tensor): GemmBound {
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
    if (this.variant === 'naive') return new GemmBound([this.main.bind([a, b, c])], [[Math.ceil(N / 16), Math.ceil(M / 16), 1]]);
    if (this.splits > 1) {
      this.partial ??= createTensor(this.ctx, [this.splits, M, N], 'f32', 'gemm.splitk_partial');
      this.dummyBias ??= createBuffer(this.ctx, 4, STORAGE(), 'gemm.no_bias');
      const v = this.variant as 'tiled' | 'direct';
      return new GemmBound(
        [this.main.bind([a, b, this.partial, this.dummyBias]), this.reduce!.bind([this.partial, c])],
        [gemmGrid(v, M, N, this.splits), [Math.min(Math.ceil((M * N) / 256), 65535), Math.ceil(Math.ceil((M * N) / 256) / 65535), 1]],
      );
    }
    this.dummyBias ??= createBuffer(this.ctx, 4, STORAGE(), 'gemm.no_bias');
    return new GemmBound([this.main.bind([a, b, c, bias ?? this.dummyBias])], [gemmGrid(this.variant as 'tiled' | 'direct', M, N)]);
  }
}

export class GemmBound {
  constructor(
    private readonly kernels: BoundKernel[],
    private readonly grids: [number, number, number][],
  ) {}
  record(encoder: GPUCommandEncoder, timer?: PassTimer): void {
    this.kernels.forEach((k, i) => k.record(encoder, this.grids[i]!, timer));
  }
}
