// The convolution layer of the CIFAR ResNet-18: forward, input gradient (dgrad) and weight
// gradient (wgrad), each an implicit GEMM over the shared GEMM core (src/shaders/gemm_core.wgsl)
// with its own operand access (conv2d_forward / conv2d_input_grad / conv2d_weight_grad.wgsl).
//
// Layouts: activations NHWC, weights HWIO [kh][kw][Cin][Cout]; any square kernel, stride and
// padding, any Cin ≥ 1 (1, 3 or 4 for the stem), Cout ≥ 1, no bias.
//   forward    y  = conv(x, w)                  assigned (`=`)
//   inputGrad  dx = ∂L/∂x from dy and w          assigned (`=`)
//   weightGrad dw = or += ∂L/∂w from x and dy    the `accumulate` flag at bind time chooses
// Every shape is a pipeline `override`, so the index math folds to constants.
// Fused convolutions (docs/ARCHITECTURE.md): with `bnReluInput` the forward and the weight gradient read
// relu(scale·x + shift) of a batch norm left unapplied (its coefficients bound beside x); with `bnStats`
// the 'tiled' forward also gathers its output's batch-norm statistics (conv2d_bn_stats.wgsl).
// Operands may be stored in f16 (`storage`, the f16 path); every sum is f32.
//
// Thread layout: each pass's GEMM gets the core's thread layout that pads its M×N least
// (gemmTile): 16×16 threads on wide layers, tall narrow tiles for a few channels (the stem's
// dgrad has N = Cin = 4), small workgroups for tiny outputs (a width-1/8 projection's 8×16 wgrad).
//
// Split-K rule (chooseSplits): a GEMM whose output tiles are too few to fill the device gets its
// reduction split into `s` chunks (workgroup_id.z), summed afterwards by gemm_reduce.wgsl in a
// fixed order (deterministic; WGSL has no float atomics):
//   s = min(⌈T / tiles⌉, ⌊K / C⌋, 256, partial-buffer cap), s = 1 when tiles ≥ T,
// with T = 1024 workgroups for 'tiled' (≈ 8 resident 256-thread workgroups on each of ~128 SMs/CUs)
// and T = 64 for 'direct' (a few workgroups per core of a CPU emulator), and at least C of K per
// chunk: C = 64 for 'tiled', 256 for 'direct'. This is what makes wgrad fast: its output
// (kh·kw·Cin × Cout) is small while its reduction B·Ho·Wo is long. C was measured on an H100
// (every ResNet-18 layer, widths 1 to 1/8, batch 32 and 128, splits 1 to 256): a tile's
// K-loop costs ~5 µs per 16-wide step there, latency not arithmetic, so chunks of 16–64 were
// fastest on nearly every layer, and C = 256 left the 1×1 projections' wgrad 1.5–2× slower.
// On the CPU emulators partial slabs and extra workgroups cost more than they save, so 256.
// On 'tiled' a split into 2 was slower than none on 30 of 31 measured passes (the reduce pass
// costs more than doubling the workgroups saves), so a split must be at least 3-way there.
//
// Small weight gradients on 'tiled' (wgradLanes, reduceLanes): the stem's 36×Cout output and the
// narrow layers' (the 1×1 projections' Cin×Cout at widths ½ and below) get thread layouts of 32–128
// threads, so the T = 1024 workgroups above were 1024 single warps — about 8 per SM, too few to hide
// the latency-bound K-loop (the stem's wgrad at 0.22–0.42 of its forward, the projections' at
// 0.32–0.49 on an H100) — and their 100–256 split-K slabs were summed by one thread per output (a
// few workgroups of gemm_reduce.wgsl). Now such a pass takes the thread layout that pads its output
// least, with no minimum size (wgradLanesTile: the stem's 36×64 gets 16×1 threads, 9 tiles of 4
// rows, instead of 16×2 over 40 rows; a width-1/8 projection's 8×16 gets 4×2 instead of 4×8 of
// which three rows in four were padding), repeated along K up to 256 threads (gemm_lanes.wgsl:
// lane l of a workgroup walks every LANES-th 4-pixel step of its chunk, the lanes' 4×4 blocks meet
// in a fixed tree). The split-K rule above then counts that layout's tiles, with chunks of at least
// 16·LANES pixels (4 steps per lane), so the T = 1024 workgroups are 256 threads each, as T assumes.
// The slabs (from 32 splits) are summed by up to 32 threads per output, 8 or more slabs each, also
// in a fixed tree (gemm_reduce_lanes.wgsl). Both orders are fixed: the same bits every run. 16×16 layouts (the
// wide layers) keep the tiled core. 'direct' keeps its core and reduce: on lavapipe its wgrad
// already runs at 0.9–1.1 of the forward and lanes did not beat it (docs/results-cpu.md §5).
//
// dgrad at stride S > 1 wastes no taps: the input pixels split into S×S phase classes, each a
// GEMM over exactly the taps that reach it, and all classes run in ONE dispatch (the class is
// workgroup_id.z / splits; see conv2d_input_grad.wgsl); the classes no tap reaches (a 1×1
// kernel's odd pixels) store their zeros in it. Four dispatches one after another (the previous
// design) left a GPU draining between them: the stride-2 dgrads ran at 0.28–0.44 of the
// forward's GFLOP/s on an H100, and at 0.76–1.0 in one dispatch with vec4 weight reads
// (docs/results-h100.md).
//
// FLOPs: all three passes count the convolution's 2·B·Ho·Wo·Cout·kh·kw·Cin (padding taps
// included), so their GFLOP/s compare directly.
import forwardWgsl from '../shaders/conv2d_forward.wgsl?raw';
import inputGradWgsl from '../shaders/conv2d_input_grad.wgsl?raw';
import weightGradWgsl from '../shaders/conv2d_weight_grad.wgsl?raw';
import lanesWgsl from '../shaders/gemm_lanes.wgsl?raw';
import reduceLanesWgsl from '../shaders/gemm_reduce_lanes.wgsl?raw';
import naiveWgsl from '../shaders/conv2d_naive.wgsl?raw';
import bnStatsWgsl from '../shaders/conv2d_bn_stats.wgsl?raw';
import type { GpuContext } from '../gpu/context.ts';
import { assertShape, isPositiveInt } from '../gpu/errors.ts';
import { bnReluView, storageView, type StorageElement } from '../gpu/storage-view.ts';
import { defaultGemmVariant, reduceSource, gemmEntry, gemmGrid, gemmSource, gemmTile, gemmTileLayouts, isGemmTile, splitChunk, tileConstants, type GemmTile, type GemmVariant } from '../gpu/gemm.ts';
import { createKernel, type Kernel } from '../gpu/kernel.ts';
import { grid1d, kernelPass, type Pass } from '../gpu/pass.ts';
import { createTensor, type Tensor } from '../gpu/tensor.ts';

import { convOutSize, type Conv2dShape } from './conv2d-shape.ts';

/** The layer's shape (batch, input size, channels, square kernel, stride, padding), shared with the float64 reference. */
export type { Conv2dShape } from './conv2d-shape.ts';

export type Conv2dPass = 'forward' | 'inputGrad' | 'weightGrad';

/** 'tiled' and 'direct' are the GEMM-core variants; 'naive' is the benchmark baseline. */
export type Conv2dVariant = GemmVariant;

export interface Conv2dOptions {
  /** The layer's name (e.g. "layer2.0.conv1"), shown in errors and profiles. */
  label?: string;
  /** Force split-K counts per pass instead of chooseSplits (tests, tuning). */
  splits?: Partial<Record<Conv2dPass, number>>;
  /** Force the GEMM core's thread layout per pass instead of gemmTile (tests, tuning). */
  tiles?: Partial<Record<Conv2dPass, GemmTile>>;
  /** Force the weight gradient's K-lanes (gemm_lanes.wgsl; 1 = the variant's own core) instead of wgradLanes (tests, tuning). */
  wgradLanes?: number;
  /** Force the threads per output of the weight gradient's split-K reduce (1 = gemm_reduce.wgsl) instead of reduceLanes (tests, tuning). */
  wgradReduceLanes?: number;
  /** A planner-owned scratch tensor (≥ scratchElements f32) for split-K partial products;
   *  by default the layer allocates its own on the first bind that needs one. */
  scratch?: Tensor;
  /** Which pipelines to compile (all by default; GEMM variants only, the naive ones are always all). */
  passes?: Conv2dPasses;
  /** x is the pre-activation of a batch norm + ReLU that was not applied (BatchNorm's `applyInConsumer`): the forward and
   *  the weight gradient read relu(x·scale + shift) as they load x (storage-view.ts bnReluView), with the per-channel
   *  scale and shift in the coefficient tensor bound with them at element `coefAt` (BatchNormForwardPass.coef / coefAt). */
  bnReluInput?: { coefAt: number };
  /** Also compile a forward that gathers the batch-norm statistics of y in its epilogue (conv2d_bn_stats.wgsl): each
   *  row group's pivot and shifted sums per channel, for a batch norm created with statsFromProducer: statsGroups. Only where
   *  bnStatsGroups(...) is not null ('tiled', no split-K, a thread layout whose partials fit the staged tiles). */
  bnStats?: boolean;
  /** Operands stored in f16 (the f16 path, GEMM variants only): x and y activations, w the f16 weight copy; f32 by default.
   *  Gradients (dy, dx, dw) and split-K partials are always f32, and every sum is f32 (src/gpu/storage-view.ts). */
  storage?: Conv2dStorage;
}

/** Row groups of the forward's batch-norm statistics (Conv2dOptions.bnStats): one per workgroup row of the 'tiled'
 *  core, 4·ty rows each; null where the layer cannot gather them (the 'direct' core, whose threads share no memory;
 *  a split-K forward, whose stores are partial sums; a thread layout whose partials do not fit the staged tiles:
 *  tx > 16, or ty > 16 with tx > 8 — conv2d_bn_stats.wgsl). */
export function bnStatsGroups(variant: Conv2dVariant, s: Conv2dShape): { groupRows: number; groups: number } | null {
  if (variant !== 'tiled') return null;
  const M = s.batch * convOutSize(s.height, s.kernel, s.stride, s.padding) * convOutSize(s.width, s.kernel, s.stride, s.padding);
  const tile = gemmTile(variant, M, s.outChannels);
  if (tile.tx > 16 || (tile.ty > 16 && tile.tx > 8)) return null;
  if (chooseSplits(variant, M, s.outChannels, s.kernel * s.kernel * s.inChannels) > 1) return null;
  return { groupRows: 4 * tile.ty, groups: Math.ceil(M / (4 * tile.ty)) };
}

/** Element type per f16-able operand: the input x, the weight w, the output y. */
export type Conv2dStorage = Partial<Record<'x' | 'w' | 'y', StorageElement>>;

/**
 * The passes a layer will bind: a training step needs the forward, the input gradient (not the
 * stem's: its input is data) and the weight gradient accumulated into the zeroed gradient buffer
 * ('accumulate'); an evaluation only the forward. Every pipeline left out is one less to compile
 * before the first step (issue 15, docs/ARCHITECTURE.md).
 */
export interface Conv2dPasses {
  forward?: boolean;
  inputGrad?: boolean;
  weightGrad?: 'assign' | 'accumulate' | 'both' | false;
}

export const SPLIT_TARGET_WORKGROUPS = { tiled: 1024, direct: 64 } as const;
export const SPLIT_MIN_CHUNK = { tiled: 64, direct: 256 } as const;
export const SPLIT_MIN_COUNT = { tiled: 3, direct: 2 } as const;
export const SPLIT_MAX = 256;
/** Cap on one split-K partial buffer (f32 elements): 16 Mi floats = 64 MiB. */
const PARTIAL_CAP_ELEMENTS = 16 * 1024 * 1024;

/**
 * The split-K count for a core GEMM with M×N output and reduction K (see the rule in the header).
 * `outElements` is the size of one partial slab (M·N, or the whole dx for dgrad).
 */
export function chooseSplits(
  variant: 'tiled' | 'direct',
  M: number,
  N: number,
  K: number,
  outElements = M * N,
  maxElements = PARTIAL_CAP_ELEMENTS,
  tile = gemmTile(variant, M, N),
  minChunk: number = SPLIT_MIN_CHUNK[variant],
): number {
  const [gx, gy] = gemmGrid(variant, M, N, 1, tile);
  const tiles = gx * gy;
  const target = SPLIT_TARGET_WORKGROUPS[variant];
  if (tiles >= target) return 1;
  const s = Math.min(Math.ceil(target / tiles), Math.floor(K / minChunk), SPLIT_MAX, Math.floor(maxElements / outElements));
  const exact = exactSplits(K, Math.max(1, s));
  return exact < SPLIT_MIN_COUNT[variant] ? 1 : exact;
}

/** Threads a 'tiled' weight-gradient workgroup is filled up to with K-lanes (see the header). */
export const LANES_THREADS = 256;
/** WebGPU's guaranteed workgroup size along z, where the lanes are. */
const MAX_LANES = 64;
/** 4-pixel steps each lane takes at least: a split-K chunk of a K-lanes workgroup is ≥ 16·LANES pixels (and ≥ 64). */
export const LANE_MIN_STEPS = 4;

/**
 * K-lanes for the weight gradient (gemm_lanes.wgsl): on 'tiled', a thread layout under 256 threads
 * (a small output: the stem, the narrow 1×1 projections) is repeated along K up to 256 threads;
 * 1 = the variant's own core ('direct' always: see the header).
 */
export function wgradLanes(variant: 'tiled' | 'direct', tile: GemmTile): number {
  if (variant !== 'tiled') return 1;
  return Math.max(1, Math.min(MAX_LANES, Math.floor(LANES_THREADS / (tile.tx * tile.ty))));
}

/**
 * The thread layout of a K-lanes weight gradient on 'tiled' (M×N output): the one that pads M and N
 * least, then the one with most threads, then the squarest — without gemmTile's penalty for
 * workgroups under a warp, since the lanes fill the workgroup (a width-1/8 projection's 8×16
 * output gets 4×2 threads × 32 lanes, not 4×8 threads of which 3 rows in 4 are padding).
 * At least 4 threads, so that the lanes fit in 64.
 */
export function wgradLanesTile(M: number, N: number): GemmTile {
  const cost = (t: GemmTile): number[] => [Math.ceil(M / (4 * t.ty)) * 4 * t.ty * Math.ceil(N / (4 * t.tx)) * 4 * t.tx, -t.tx * t.ty, Math.abs(Math.log2(t.tx / t.ty))];
  const lower = (a: number[], b: number[]) => a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]!;
  const layouts = gemmTileLayouts('tiled').filter((t) => t.tx * t.ty >= LANES_THREADS / MAX_LANES);
  return layouts.reduce((best, t) => (lower(cost(t), cost(best)) < 0 ? t : best));
}

/**
 * Threads per output of the split-K reduce (gemm_reduce_lanes.wgsl; 1 = gemm_reduce.wgsl): on
 * 'tiled' with 32 splits or more, the largest power of two up to 32 that leaves each thread at
 * least 8 of the `splits` slabs (a chain of 8–31 loads per output is no bottleneck).
 */
export function reduceLanes(variant: 'tiled' | 'direct', splits: number): number {
  if (variant !== 'tiled' || splits < 32) return 1;
  return Math.min(32, 2 ** Math.floor(Math.log2(splits / 8)));
}

/** The number of non-empty chunks when K is cut into 16-aligned chunks for `s` splits. */
function exactSplits(K: number, s: number): number {
  if (s <= 1 || K <= 0) return 1;
  return Math.ceil(K / splitChunk(K, s));
}

/** One phase class of dgrad (see conv2d_input_grad.wgsl). */
export interface DgradClass {
  rh: number;
  rw: number;
  h0: number;
  w0: number;
  ch: number;
  cw: number;
  u0h: number;
  u0w: number;
  th: number;
  tw: number;
  M: number;
  K: number;
}

/** The S×S phase classes of the input pixels for dgrad, empty ones (no pixels) left out. */
export function dgradClasses(s: Conv2dShape): DgradClass[] {
  const S = s.stride;
  const P = s.padding;
  const out: DgradClass[] = [];
  const mod = (a: number) => ((a % S) + S) % S;
  for (let rh = 0; rh < S; rh++) {
    for (let rw = 0; rw < S; rw++) {
      const h0 = mod(rh - P);
      const w0 = mod(rw - P);
      const ch = h0 < s.height ? Math.ceil((s.height - h0) / S) : 0;
      const cw = w0 < s.width ? Math.ceil((s.width - w0) / S) : 0;
      if (ch === 0 || cw === 0) continue;
      const th = rh < s.kernel ? Math.ceil((s.kernel - rh) / S) : 0;
      const tw = rw < s.kernel ? Math.ceil((s.kernel - rw) / S) : 0;
      out.push({
        rh,
        rw,
        h0,
        w0,
        ch,
        cw,
        u0h: (h0 + P - rh) / S,
        u0w: (w0 + P - rw) / S,
        th,
        tw,
        M: s.batch * ch * cw,
        K: th * tw * s.outChannels,
      });
    }
  }
  return out;
}

type Step = { kernel: Kernel; grid: [number, number, number] };

interface PassPlan {
  /** Which binds this plan's pipelines serve (Conv2dOptions.passes): both, or one of them, or none. */
  compiled?: { assign: boolean; accumulate: boolean };
  /** Main GEMM (or naive) dispatches, in order; wgrad has one list per accumulate flag. */
  main: Step[];
  mainAccumulate?: Step[];
  reduce: Step | null;
  reduceAccumulate?: Step | null;
  splits: number;
  /** Elements of the output tensor. */
  outElements: number;
  /** The GEMM core's thread layout (null for the naive kernels). */
  tile: GemmTile | null;
  /** K-lanes of the main dispatch (gemm_lanes.wgsl) and threads per output of the reduce; 1 = none. */
  lanes?: number;
  reduceLanes?: number;
}

export class Conv2d {
  readonly outHeight: number;
  readonly outWidth: number;
  readonly label: string;
  private scratch: Tensor | null;
  private ownsScratch = false;

  private constructor(
    readonly ctx: GpuContext,
    readonly shape: Readonly<Conv2dShape>,
    readonly variant: Conv2dVariant,
    label: string,
    /** The layer's name from the options (e.g. "layer2.0.conv1"), or undefined. */
    readonly name: string | undefined,
    private readonly plans: Record<Conv2dPass, PassPlan>,
    scratch: Tensor | undefined,
    /** Set when x is read through a batch norm + ReLU (Conv2dOptions.bnReluInput). */
    readonly bnReluInput: { coefAt: number } | undefined,
    /** The forward with the batch-norm statistics epilogue and its row groups (Conv2dOptions.bnStats). */
    private readonly statsForward: { step: Step; groups: { groupRows: number; groups: number } } | null,
    /** The operands stored in f16 (Conv2dOptions.storage); the rest f32. */
    readonly storage: Conv2dStorage = {},
  ) {
    this.outHeight = convOutSize(shape.height, shape.kernel, shape.stride, shape.padding);
    this.outWidth = convOutSize(shape.width, shape.kernel, shape.stride, shape.padding);
    this.label = label;
    this.scratch = scratch ?? null;
    if (scratch) {
      assertShape(scratch.dtype === 'f32' && scratch.numel >= this.scratchElements, () => `${label}: scratch ${scratch} should hold at least ${this.scratchElements} f32 values`);
    }
  }

  static async create(ctx: GpuContext, shape: Conv2dShape, variant: Conv2dVariant = defaultGemmVariant(ctx), options: Conv2dOptions = {}): Promise<Conv2d> {
    const s = { ...shape };
    const desc = `${s.batch}×${s.height}×${s.width}×${s.inChannels}→${s.outChannels}, ${s.kernel}×${s.kernel} s${s.stride} p${s.padding}`;
    const label = options.label ? `conv2d "${options.label}" (${desc})` : `conv2d (${desc})`;
    for (const k of ['batch', 'height', 'width', 'inChannels', 'outChannels', 'kernel', 'stride'] as const) {
      assertShape(isPositiveInt(s[k]), () => `${label}: ${k} must be a positive integer, got ${s[k]}`);
    }
    assertShape(Number.isInteger(s.padding) && s.padding >= 0, () => `${label}: padding must be a non-negative integer, got ${s.padding}`);
    const Ho = convOutSize(s.height, s.kernel, s.stride, s.padding);
    const Wo = convOutSize(s.width, s.kernel, s.stride, s.padding);
    assertShape(Ho >= 1 && Wo >= 1, () => `${label}: the ${s.kernel}×${s.kernel} kernel does not fit the ${s.height}×${s.width} input padded by ${s.padding}`);
    const xN = s.batch * s.height * s.width * s.inChannels;
    const yN = s.batch * Ho * Wo * s.outChannels;
    const wN = s.kernel * s.kernel * s.inChannels * s.outChannels;
    const LIMIT = 2 ** 31;
    assertShape(Math.max(xN, yN, wN) < LIMIT, () => `${label}: tensors over 2^31 elements are not supported`);

    const want = options.splits ?? {};
    for (const p of ['forward', 'inputGrad', 'weightGrad'] as const) {
      const v = want[p];
      assertShape(v === undefined || isPositiveInt(v), () => `${label}: splits.${p} must be a positive integer, got ${v}`);
    }
    const tiles = options.tiles ?? {};
    if (variant !== 'naive') {
      for (const [p, t] of Object.entries(tiles)) {
        assertShape(isGemmTile(variant, t), () => `${label}: tiles.${p} ${t.tx}×${t.ty} is not a thread layout the ${variant} core runs`);
      }
    }
    const lanes = options.wgradLanes;
    assertShape(lanes === undefined || (isPositiveInt(lanes) && lanes <= MAX_LANES && (lanes & (lanes - 1)) === 0), () => `${label}: wgradLanes must be a power of two from 1 to ${MAX_LANES}, got ${lanes}`);
    const rLanes = options.wgradReduceLanes;
    assertShape(rLanes === undefined || (isPositiveInt(rLanes) && rLanes <= 256 && (rLanes & (rLanes - 1)) === 0), () => `${label}: wgradReduceLanes must be a power of two from 1 to 256, got ${rLanes}`);
    const bnRelu = options.bnReluInput;
    assertShape(!bnRelu || variant !== 'naive', () => `${label}: the naive baseline cannot read its input through a batch norm (bnReluInput)`);
    // vec4 lanes (Cin % 4 == 0) read the coefficients four at a time, so they must start at a multiple of 4 (a batch norm's do: (1 + 2·NB)·Cin).
    assertShape(!bnRelu || (Number.isInteger(bnRelu.coefAt) && bnRelu.coefAt >= 0 && (s.inChannels % 4 !== 0 || bnRelu.coefAt % 4 === 0)), () => `${label}: bnReluInput.coefAt must be a non-negative integer (a multiple of 4 when the input channels are), got ${bnRelu?.coefAt}`);
    const statsGroups = options.bnStats ? bnStatsGroups(variant, s) : null;
    assertShape(!options.bnStats || (!!statsGroups && !want.forward && !tiles.forward), () => `${label}: cannot gather batch-norm statistics in the forward's epilogue (bnStats) with the ${variant} core${variant === 'tiled' ? ', a split-K forward, forced splits or tiles, or a thread layout over 16 wide' : ''}; check bnStatsGroups first`);
    const storage = options.storage ?? {};
    assertShape(variant !== 'naive' || !Object.values(storage).includes('f16'), () => `${label}: f16 operands need a GEMM variant ('tiled' or 'direct'), not 'naive'`);
    const [plans, statsForward] = await Promise.all([
      variant === 'naive' ? naivePlans(ctx, s, Ho, Wo) : gemmPlans(ctx, s, Ho, Wo, variant, want, tiles, options.passes ?? {}, lanes, rLanes, bnRelu, storage),
      statsGroups ? statsForwardStep(ctx, s, Ho, Wo, bnRelu, storage).then((step) => ({ step, groups: statsGroups })) : null,
    ]);
    for (const p of Object.values(plans)) {
      assertShape(p.splits * p.outElements < LIMIT, () => `${label}: split-K partial products over 2^31 elements; use fewer splits`);
    }
    return new Conv2d(ctx, s, variant, label, options.label, plans, options.scratch, bnRelu, statsForward, storage);
  }

  /** FLOPs of one pass: the convolution's 2·B·Ho·Wo·Cout·kh·kw·Cin for all three. */
  get flops(): { forward: number; inputGrad: number; weightGrad: number } {
    const s = this.shape;
    const f = 2 * s.batch * this.outHeight * this.outWidth * s.outChannels * s.kernel * s.kernel * s.inChannels;
    return { forward: f, inputGrad: f, weightGrad: f };
  }

  /** Bytes each pass must at least read and write (its three tensors once). */
  get bytes(): { forward: number; inputGrad: number; weightGrad: number } {
    const s = this.shape;
    const x = s.batch * s.height * s.width * s.inChannels;
    const y = s.batch * this.outHeight * this.outWidth * s.outChannels;
    const w = s.kernel * s.kernel * s.inChannels * s.outChannels;
    // f16 operands (Conv2dOptions.storage) move 2 bytes a value; gradients are f32.
    const [bx, bw, by] = (['x', 'w', 'y'] as const).map((o) => (this.storage[o] === 'f16' ? 2 : 4)) as [number, number, number];
    return { forward: bx * x + bw * w + by * y, inputGrad: 4 * y + bw * w + 4 * x, weightGrad: bx * x + 4 * y + 4 * w };
  }

  /** Split-K counts chosen per pass (1 = not split). */
  get splits(): { forward: number; inputGrad: number; weightGrad: number } {
    return { forward: this.plans.forward.splits, inputGrad: this.plans.inputGrad.splits, weightGrad: this.plans.weightGrad.splits };
  }

  /** The weight gradient's K-lanes and its reduce's threads per output (1 = the plain core / gemm_reduce.wgsl). */
  get wgradLanes(): { lanes: number; reduceLanes: number } {
    const p = this.plans.weightGrad;
    return { lanes: p.lanes ?? 1, reduceLanes: p.reduceLanes ?? 1 };
  }

  /** The GEMM core's thread layout per pass (null for the naive kernels). */
  get tiles(): Record<Conv2dPass, GemmTile | null> {
    return { forward: this.plans.forward.tile, inputGrad: this.plans.inputGrad.tile, weightGrad: this.plans.weightGrad.tile };
  }

  /** f32 elements of scratch the split-K passes need (0 when nothing is split). */
  get scratchElements(): number {
    let n = 0;
    for (const p of Object.values(this.plans)) if (p.splits > 1) n = Math.max(n, p.splits * p.outElements);
    return n;
  }

  get xElements(): number {
    const s = this.shape;
    return s.batch * s.height * s.width * s.inChannels;
  }
  get yElements(): number {
    const s = this.shape;
    return s.batch * this.outHeight * this.outWidth * s.outChannels;
  }
  get wElements(): number {
    const s = this.shape;
    return s.kernel * s.kernel * s.inChannels * s.outChannels;
  }

  private check(pass: string, what: string, t: Tensor, n: number, layout: string): void {
    const dtype = this.storage[what as 'x' | 'w' | 'y'] ?? 'f32';
    assertShape(t.dtype === dtype && t.numel === n, () => `${this.label} ${pass}: ${what} ${t} should hold ${n} ${dtype} values (${layout})`);
  }

  private get layouts() {
    const s = this.shape;
    return {
      x: `NHWC ${s.batch}×${s.height}×${s.width}×${s.inChannels}`,
      y: `NHWC ${s.batch}×${this.outHeight}×${this.outWidth}×${s.outChannels}`,
      w: `HWIO ${s.kernel}×${s.kernel}×${s.inChannels}×${s.outChannels}`,
    };
  }

  /**
   * y = conv(x, w), or conv(relu(BN(x)), w) with `coef` on a layer created with bnReluInput. With `stats` (a layer
   * created with bnStats: statsGroups × 3 × Cout values) the forward also writes each row group's pivot and shifted sums of y per
   * channel, for the batch norm that reads y. Checks sizes before anything is recorded; bind once per plan.
   */
  bindForward(x: Tensor, w: Tensor, y: Tensor, coef?: Tensor, stats?: Tensor): Pass {
    const L = this.layouts;
    this.check('forward', 'x', x, this.xElements, L.x);
    this.check('forward', 'w', w, this.wElements, L.w);
    this.check('forward', 'y', y, this.yElements, L.y);
    this.checkCoef('forward', coef);
    if (!stats) return this.bindPass('forward', x, w, y, false, coef);
    const sf = this.statsForward;
    assertShape(!!sf, () => `${this.label} forward: batch-norm statistics were asked for but the layer was created without bnStats`);
    const need = sf.groups.groups * 3 * this.shape.outChannels;
    this.check('forward', 'stats', stats, need, `${sf.groups.groups} row groups × pivot, Σ and Σ² × ${this.shape.outChannels} channels`);
    const k = sf.step.kernel;
    const bound = k.bind(coef ? [x, w, y, coef, stats] : [x, w, y, stats], this.name ? `${k.label} [${this.name}]` : k.label);
    return kernelPass([{ kernel: bound, grid: sf.step.grid }], this.flops.forward, this.bytes.forward + 4 * need);
  }

  /** The row groups of the statistics the bnStats forward writes (null without bnStats). */
  get statsGroups(): { groupRows: number; groups: number } | null {
    return this.statsForward?.groups ?? null;
  }

  /** dx = ∂L/∂x (assigned) from dy = ∂L/∂y and w. */
  bindInputGrad(dy: Tensor, w: Tensor, dx: Tensor): Pass {
    const L = this.layouts;
    this.check('inputGrad', 'dy', dy, this.yElements, L.y);
    this.check('inputGrad', 'w', w, this.wElements, L.w);
    this.check('inputGrad', 'dx', dx, this.xElements, L.x);
    return this.bindPass('inputGrad', dy, w, dx, false);
  }

  /** dw = ∂L/∂w from x and dy; `accumulate: true` adds into dw (`+=`), false assigns (`=`). */
  bindWeightGrad(x: Tensor, dy: Tensor, dw: Tensor, opts: { accumulate: boolean; coef?: Tensor } = { accumulate: false }): Pass {
    const L = this.layouts;
    this.check('weightGrad', 'x', x, this.xElements, L.x);
    this.check('weightGrad', 'dy', dy, this.yElements, L.y);
    this.check('weightGrad', 'dw', dw, this.wElements, L.w);
    this.checkCoef('weightGrad', opts.coef);
    return this.bindPass('weightGrad', x, dy, dw, opts.accumulate, opts.coef);
  }

  /** The batch norm's coefficients: required (scale and shift of every input channel at coefAt) exactly when the layer reads its input through them. */
  private checkCoef(pass: string, coef: Tensor | undefined): void {
    const at = this.bnReluInput?.coefAt;
    if (at === undefined) {
      assertShape(!coef, () => `${this.label} ${pass}: batch-norm coefficients were given but the layer was created without bnReluInput`);
      return;
    }
    const need = at + 2 * this.shape.inChannels;
    assertShape(!!coef && coef.dtype === 'f32' && coef.numel >= need, () => `${this.label} ${pass}: reads its input through a batch norm, so it needs that batch norm's coefficient tensor (BatchNormForwardPass.coef, ≥ ${need} f32 values), got ${coef ?? 'none'}`);
  }

  /** Frees the split-K scratch this layer allocated itself (not a planner-owned one). */
  destroy(): void {
    if (this.scratch && this.ownsScratch) this.scratch.buffer.destroy();
    this.scratch = null;
  }

  private scratchFor(plan: PassPlan): GPUBufferBinding {
    const elements = plan.splits * plan.outElements;
    if (!this.scratch) {
      this.scratch = createTensor(this.ctx, [this.scratchElements], 'f32', `${this.label}.splitk_partial`);
      this.ownsScratch = true;
    }
    return { buffer: this.scratch.buffer, offset: this.scratch.byteOffset, size: elements * 4 };
  }

  private bindPass(pass: Conv2dPass, a: Tensor, b: Tensor, out: Tensor, accumulate: boolean, coef?: Tensor): Pass {
    const plan = this.plans[pass];
    const mode = accumulate ? 'accumulate' : 'assign';
    assertShape(!plan.compiled || plan.compiled[mode], () => `${this.label}: the ${pass}${pass === 'weightGrad' ? ` (${mode})` : ''} pipelines were not compiled (Conv2d.create's passes option)`);
    const main = accumulate && plan.mainAccumulate ? plan.mainAccumulate : plan.main;
    const reduce = accumulate && plan.reduceAccumulate !== undefined ? plan.reduceAccumulate : plan.reduce;
    // Dispatch labels name the layer too, so profiles tell the layers apart.
    const tag = (k: Kernel) => (this.name ? `${k.label} [${this.name}]` : k.label);
    if (plan.splits > 1) {
      const partial = this.scratchFor(plan);
      const steps = main.map((st) => ({ kernel: st.kernel.bind(coef ? [a, b, partial, coef] : [a, b, partial], tag(st.kernel)), grid: st.grid }));
      steps.push({ kernel: reduce!.kernel.bind([partial, out], tag(reduce!.kernel)), grid: reduce!.grid });
      return kernelPass(steps, this.flops[pass], this.bytes[pass]);
    }
    return kernelPass(main.map((st) => ({ kernel: st.kernel.bind(coef ? [a, b, out, coef] : [a, b, out], tag(st.kernel)), grid: st.grid })), this.flops[pass], this.bytes[pass]);
  }
}

function shapeConstants(s: Conv2dShape, Ho: number, Wo: number): Record<string, number> {
  return {
    BATCH: s.batch,
    IN_H: s.height,
    IN_W: s.width,
    CIN: s.inChannels,
    COUT: s.outChannels,
    KH: s.kernel,
    KW: s.kernel,
    STRIDE: s.stride,
    OUT_H: Ho,
    OUT_W: Wo,
  };
}

async function naivePlans(ctx: GpuContext, s: Conv2dShape, Ho: number, Wo: number): Promise<Record<Conv2dPass, PassPlan>> {
  const constants = { ...shapeConstants(s, Ho, Wo), PAD: s.padding };
  const mk = (entryPoint: string, accumulate = false) =>
    createKernel(ctx, { label: `conv2d.naive.${entryPoint.replace('naive_', '')}`, code: naiveWgsl, entryPoint, constants: { ...constants, ACCUMULATE: accumulate } });
  const [fwd, dgrad, wgrad, wgradAcc] = await Promise.all([mk('naive_forward'), mk('naive_input_grad'), mk('naive_weight_grad'), mk('naive_weight_grad', true)]);
  const xN = s.batch * s.height * s.width * s.inChannels;
  const yN = s.batch * Ho * Wo * s.outChannels;
  const wN = s.kernel * s.kernel * s.inChannels * s.outChannels;
  return {
    forward: { main: [{ kernel: fwd, grid: grid1d(ctx, yN, 64) }], reduce: null, splits: 1, outElements: yN, tile: null },
    inputGrad: { main: [{ kernel: dgrad, grid: grid1d(ctx, xN, 64) }], reduce: null, splits: 1, outElements: xN, tile: null },
    weightGrad: {
      main: [{ kernel: wgrad, grid: grid1d(ctx, wN, 64) }],
      mainAccumulate: [{ kernel: wgradAcc, grid: grid1d(ctx, wN, 64) }],
      reduce: null,
      splits: 1,
      outElements: wN,
      tile: null,
    },
  };
}

async function gemmPlans(
  ctx: GpuContext,
  s: Conv2dShape,
  Ho: number,
  Wo: number,
  variant: 'tiled' | 'direct',
  want: Partial<Record<Conv2dPass, number>>,
  wantTiles: Partial<Record<Conv2dPass, GemmTile>>,
  passes: Conv2dPasses,
  wantLanes: number | undefined,
  wantReduceLanes: number | undefined,
  bnRelu?: { coefAt: number },
  storage: Conv2dStorage = {},
): Promise<Record<Conv2dPass, PassPlan>> {
  const el = (operand: 'x' | 'w' | 'y') => storage[operand] ?? 'f32';
  const doForward = passes.forward ?? true;
  const doInputGrad = passes.inputGrad ?? true;
  const wgMode = passes.weightGrad ?? 'both';
  const wgAssign = wgMode === 'assign' || wgMode === 'both';
  const wgAccumulate = wgMode === 'accumulate' || wgMode === 'both';
  const only = <T,>(want: boolean, make: () => Promise<T>): Promise<T> | null => (want ? make() : null);
  const base = shapeConstants(s, Ho, Wo);
  const entryPoint = gemmEntry(variant);
  const Cin = s.inChannels;
  const Cout = s.outChannels;
  const xN = s.batch * s.height * s.width * Cin;
  const yN = s.batch * Ho * Wo * Cout;
  const kk = s.kernel * s.kernel;
  const wN = kk * Cin * Cout;
  const reduceKernel = (size: number, splits: number, beta: number) =>
    createKernel(ctx, { label: 'conv2d.splitk_reduce', code: reduceSource(), constants: { SIZE: size, SPLITS: splits, ALPHA: 1, BETA: beta } });
  // The forward's output in f16: the f32 partials summed in f32 and rounded once (assigned, so no BETA).
  const reduceToF16Kernel = (size: number, splits: number) => createKernel(ctx, { label: 'conv2d.splitk_reduce_f16', code: reduceSource('f16'), constants: { SIZE: size, SPLITS: splits, ALPHA: 1, BETA: 0 } });
  const kChunk = (K: number, splits: number) => (splits > 1 ? splitChunk(K, splits) : 1 << 30);
  const tileFor = (pass: Conv2dPass, M: number, N: number) => wantTiles[pass] ?? gemmTile(variant, M, N);

  // Forward: M = B·Ho·Wo, N = Cout, K = kh·kw·Cin.
  const fwdM = s.batch * Ho * Wo;
  const fwdK = kk * Cin;
  const fwdTile = tileFor('forward', fwdM, Cout);
  const fwdSplits = want.forward ? exactSplits(fwdK, want.forward) : chooseSplits(variant, fwdM, Cout, fwdK);
  // The input x (forward and weight gradient), plain or through a batch norm + ReLU (binding 3: its coefficients).
  const xView = () => inputView(s, bnRelu, storage);
  const xConstants = inputConstants(s, bnRelu);
  // Split-K partials are f32 whatever y is; the reduce rounds them into y.
  const fwdIo = forwardIo(s, bnRelu, storage, fwdSplits > 1 ? 'f32' : el('y'));
  const fwdMain = only(doForward, () =>
    createKernel(ctx, {
      label: `conv2d.forward${bnRelu ? '.bn_relu' : ''}.${variant}`,
      code: gemmSource(fwdIo),
      entryPoint,
      constants: { ...base, ...xConstants, ...tileConstants(fwdTile), PAD: s.padding, M: fwdM, N: Cout, K: fwdK, K_CHUNK: kChunk(fwdK, fwdSplits), SPLIT_K: fwdSplits > 1 },
    }),
  );
  const fwdReduce = doForward && fwdSplits > 1 ? (el('y') === 'f16' ? reduceToF16Kernel(yN, fwdSplits) : reduceKernel(yN, fwdSplits, 0)) : null;

  // Input grad: the S·S phase classes in one dispatch (z = class · splits + split), each a GEMM
  // with M = B·CH·CW, N = Cin, K = TH·TW·Cout (conv2d_input_grad.wgsl). The grid covers the
  // largest class; classes without taps store their zeros.
  const classes = dgradClasses(s);
  const nClasses = s.stride * s.stride;
  const dgM = Math.max(...classes.map((c) => c.M));
  const dgK = Math.max(...classes.map((c) => c.K));
  const withTaps = classes.filter((c) => c.K > 0).length;
  const sameGrid = classes.length === nClasses && classes.every((c) => c.ch === classes[0]!.ch && c.cw === classes[0]!.cw);
  const dgTile = tileFor('inputGrad', dgM, Cin);
  // Every class with taps runs at once, so the device sees all their tiles.
  const dgSplits = want.inputGrad ? exactSplits(dgK, want.inputGrad) : chooseSplits(variant, dgM * withTaps, Cin, dgK, xN);
  const dgIo = storageView(0, 'dy', 'read', Cout % 4 === 0) + storageView(1, 'w', 'read', Cout % 4 === 0, el('w')) + storageView(2, 'dx', 'read_write', Cin % 4 === 0) + inputGradWgsl;
  const dgMain = only(doInputGrad, () => createKernel(ctx, {
    label: `conv2d.input_grad.${variant}`,
    code: gemmSource(dgIo),
    entryPoint,
    constants: {
      ...base,
      ...tileConstants(dgTile),
      PAD: s.padding,
      M: dgM,
      N: Cin,
      K: dgK,
      SPLITS: dgSplits,
      SPLIT_K: dgSplits > 1,
      CH_ALL: sameGrid ? classes[0]!.ch : 0,
      CW_ALL: sameGrid ? classes[0]!.cw : 0,
      B_COLS: Cout % 4 === 0,
    },
  }));
  const dgReduce = doInputGrad && dgSplits > 1 ? reduceKernel(xN, dgSplits, 0) : null;

  // Weight grad: M = kh·kw·Cin, N = Cout, K = B·Ho·Wo.
  const wgM = kk * Cin;
  const wgK = s.batch * Ho * Wo;
  // A small output on 'tiled' (gemmTile gives it under 256 threads): the thread layout that pads it
  // least, repeated along K up to 256 threads (gemm_lanes.wgsl), its split-K counted on that layout's
  // tiles, and the many split-K slabs summed by several threads per output (gemm_reduce_lanes.wgsl).
  const coreTile = tileFor('weightGrad', wgM, Cout);
  const byRule = variant === 'tiled' && !wantTiles.weightGrad && wantLanes === undefined && coreTile.tx * coreTile.ty < LANES_THREADS;
  const wgTile = byRule ? wgradLanesTile(wgM, Cout) : coreTile;
  const wgLanes = wantLanes ?? wgradLanes(variant, wgTile);
  const wgMinChunk = wgLanes > 1 ? Math.max(SPLIT_MIN_CHUNK[variant], 4 * LANE_MIN_STEPS * wgLanes) : undefined;
  const wgSplits = want.weightGrad ? exactSplits(wgK, want.weightGrad) : chooseSplits(variant, wgM, Cout, wgK, wgM * Cout, undefined, wgLanes > 1 ? wgTile : undefined, wgMinChunk);
  assertShape(wgTile.tx * wgTile.ty * wgLanes <= LANES_THREADS, () => `conv2d: wgradLanes ${wgLanes} × the ${wgTile.tx}×${wgTile.ty} thread layout is over ${LANES_THREADS} threads`);
  const wgReduceLanes = wantReduceLanes ?? reduceLanes(variant, wgSplits);
  const wgIo = xView() + storageView(1, 'dy', 'read', Cout % 4 === 0) + storageView(2, 'dw', 'read_write', Cout % 4 === 0) + weightGradWgsl;
  const wgKernel = (accumulate: boolean) =>
    createKernel(ctx, {
      label: `conv2d.weight_grad${bnRelu ? '.bn_relu' : ''}.${variant}${wgLanes > 1 ? '.lanes' : ''}`,
      code: wgLanes > 1 ? gemmSource(wgIo) + lanesWgsl : gemmSource(wgIo),
      entryPoint: wgLanes > 1 ? 'gemm_lanes' : entryPoint,
      constants: {
        ...base,
        ...xConstants,
        ...tileConstants(wgTile),
        ...(wgLanes > 1 ? { LANES: wgLanes } : {}),
        PAD: s.padding,
        M: wgM,
        N: Cout,
        K: wgK,
        K_CHUNK: kChunk(wgK, wgSplits),
        SPLIT_K: wgSplits > 1,
        ACCUMULATE: accumulate,
        A_COLS: Cin % 4 === 0,
      },
    });
  // Split-K: the partial products are always assigned, the reduce assigns or accumulates; one split: the GEMM itself does.
  const wgMain = wgSplits > 1 ? only(wgAssign || wgAccumulate, () => wgKernel(false)) : only(wgAssign, () => wgKernel(false));
  const wgMainAcc = wgSplits > 1 ? null : only(wgAccumulate, () => wgKernel(true));
  const wgReduceKernel = (beta: number) =>
    wgReduceLanes > 1
      ? createKernel(ctx, { label: 'conv2d.splitk_reduce.lanes', code: reduceLanesWgsl, constants: { SIZE: wN, SPLITS: wgSplits, ALPHA: 1, BETA: beta, RLANES: wgReduceLanes } })
      : reduceKernel(wN, wgSplits, beta);
  const wgReduce = wgSplits > 1 && wgAssign ? wgReduceKernel(0) : null;
  const wgReduceAcc = wgSplits > 1 && wgAccumulate ? wgReduceKernel(1) : null;
  const wgReduceGrid = grid1d(ctx, wN, LANES_THREADS / wgReduceLanes);

  const [fm, fr, dm, dr, wm, wma, wr, wra] = await Promise.all([fwdMain, fwdReduce, dgMain, dgReduce, wgMain, wgMainAcc, wgReduce, wgReduceAcc]);
  const step = (kernel: Kernel, grid: [number, number, number]): Step => ({ kernel, grid });
  const steps = (kernel: Kernel | null, grid: [number, number, number]): Step[] => (kernel ? [step(kernel, grid)] : []);
  const either = (want: boolean) => ({ assign: want, accumulate: want });
  return {
    forward: {
      compiled: either(doForward),
      main: steps(fm, gemmGrid(variant, fwdM, Cout, fwdSplits, fwdTile)),
      reduce: fr ? step(fr, grid1d(ctx, yN, 256)) : null,
      splits: fwdSplits,
      outElements: yN,
      tile: fwdTile,
    },
    inputGrad: {
      compiled: either(doInputGrad),
      main: steps(dm, gemmGrid(variant, dgM, Cin, nClasses * dgSplits, dgTile)),
      reduce: dr ? step(dr, grid1d(ctx, xN, 256)) : null,
      splits: dgSplits,
      outElements: xN,
      tile: dgTile,
    },
    weightGrad: {
      compiled: { assign: wgAssign, accumulate: wgAccumulate },
      main: steps(wm, gemmGrid(variant, wgM, Cout, wgSplits, wgTile)),
      mainAccumulate: wma ? [step(wma, gemmGrid(variant, wgM, Cout, wgSplits, wgTile))] : undefined,
      reduce: wr ? step(wr, wgReduceGrid) : null,
      reduceAccumulate: wra ? step(wra, wgReduceGrid) : undefined,
      splits: wgSplits,
      outElements: wN,
      tile: wgTile,
      lanes: wgLanes,
      reduceLanes: wgReduceLanes,
    },
  };
}

/** The input x's declaration (binding 0) for the forward and the weight gradient: plain, or read through a batch norm + ReLU
 *  whose coefficients are binding 3 (Conv2dOptions.bnReluInput); and the overrides that view needs. */
function inputView(s: Conv2dShape, bnRelu: { coefAt: number } | undefined, storage: Conv2dStorage): string {
  const el = storage.x ?? 'f32';
  return bnRelu ? bnReluView(0, 3, 'x', s.inChannels % 4 === 0, el) : storageView(0, 'x', 'read', s.inChannels % 4 === 0, el);
}

function inputConstants(s: Conv2dShape, bnRelu: { coefAt: number } | undefined): Record<string, number> {
  return bnRelu ? { BN_CHANNELS: s.inChannels, BN_COEF_AT: bnRelu.coefAt } : {};
}

/** The forward's io: x, w and y (or the split-K partial, of element `yElement`) declared, then conv2d_forward.wgsl. */
function forwardIo(s: Conv2dShape, bnRelu: { coefAt: number } | undefined, storage: Conv2dStorage, yElement: StorageElement): string {
  const vec4 = s.outChannels % 4 === 0;
  return inputView(s, bnRelu, storage) + storageView(1, 'w', 'read', vec4, storage.w ?? 'f32') + storageView(2, 'y', 'read_write', vec4, yElement) + forwardWgsl;
}

/** The forward with the batch-norm statistics epilogue (Conv2dOptions.bnStats): the 'tiled' core, no split. */
async function statsForwardStep(ctx: GpuContext, s: Conv2dShape, Ho: number, Wo: number, bnRelu: { coefAt: number } | undefined, storage: Conv2dStorage): Promise<Step> {
  const yElement = storage.y ?? 'f32';
  const Cout = s.outChannels;
  const M = s.batch * Ho * Wo;
  const K = s.kernel * s.kernel * s.inChannels;
  const tile = gemmTile('tiled', M, Cout);
  // The statistics are of the values stored: rounded first when y is f16.
  const stored = yElement === 'f16' ? 'fn stored4(v: vec4<f32>) -> vec4<f32> { return vec4<f32>(vec4<f16>(v)); }\n' : 'fn stored4(v: vec4<f32>) -> vec4<f32> { return v; }\n';
  const statsDecl = `@group(0) @binding(${bnRelu ? 4 : 3}) var<storage, read_write> stats: array<f32>;\n` + stored;
  const kernel = await createKernel(ctx, {
    label: `conv2d.forward${bnRelu ? '.bn_relu' : ''}.bn_stats.tiled`,
    code: gemmSource(forwardIo(s, bnRelu, storage, yElement) + statsDecl + bnStatsWgsl),
    entryPoint: gemmEntry('tiled'),
    constants: { ...shapeConstants(s, Ho, Wo), ...inputConstants(s, bnRelu), ...tileConstants(tile), PAD: s.padding, M, N: Cout, K, EPILOGUE_STATS: true },
  });
  return { kernel, grid: gemmGrid('tiled', M, Cout, 1, tile) };
}
