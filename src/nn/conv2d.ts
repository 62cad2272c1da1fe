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
import reduceWgsl from '../shaders/gemm_reduce.wgsl?raw';
import reduceF16Wgsl from '../shaders/gemm_reduce_f16.wgsl?raw';
import forwardWgsl from '../shaders/conv2d_forward.wgsl?raw';
import inputGradWgsl from '../shaders/conv2d_input_grad.wgsl?raw';
import weightGradWgsl from '../shaders/conv2d_weight_grad.wgsl?raw';
import naiveWgsl from '../shaders/conv2d_naive.wgsl?raw';
import type { GpuContext } from '../gpu/context.ts';
import { assertShape, isPositiveInt } from '../gpu/errors.ts';
import { storageView, type StorageElement } from '../gpu/storage-view.ts';
import { defaultGemmVariant, gemmEntry, gemmGrid, gemmSource, gemmTile, isGemmTile, splitChunk, tileConstants, type GemmTile, type GemmVariant } from '../gpu/gemm.ts';
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
  /** A planner-owned scratch tensor (≥ scratchElements f32) for split-K partial products;
   *  by default the layer allocates its own on the first bind that needs one. */
  scratch?: Tensor;
  /** Which pipelines to compile (all by default; GEMM variants only, the naive ones are always all). */
  passes?: Conv2dPasses;
  /** Operands stored in f16 (the f16 path, GEMM variants only): x and y activations, w the f16 weight copy; f32 by default.
   *  Gradients (dy, dx, dw) and split-K partials are always f32, and every sum is f32 (src/gpu/storage-view.ts). */
  storage?: Conv2dStorage;
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
export function chooseSplits(variant: 'tiled' | 'direct', M: number, N: number, K: number, outElements = M * N, maxElements = PARTIAL_CAP_ELEMENTS): number {
  const [gx, gy] = gemmGrid(variant, M, N);
  const tiles = gx * gy;
  const target = SPLIT_TARGET_WORKGROUPS[variant];
  if (tiles >= target) return 1;
  const s = Math.min(Math.ceil(target / tiles), Math.floor(K / SPLIT_MIN_CHUNK[variant]), SPLIT_MAX, Math.floor(maxElements / outElements));
  const exact = exactSplits(K, Math.max(1, s));
  return exact < SPLIT_MIN_COUNT[variant] ? 1 : exact;
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
    const storage = options.storage ?? {};
    assertShape(variant !== 'naive' || !Object.values(storage).includes('f16'), () => `${label}: f16 operands need a GEMM variant ('tiled' or 'direct'), not 'naive'`);
    const plans = variant === 'naive' ? await naivePlans(ctx, s, Ho, Wo) : await gemmPlans(ctx, s, Ho, Wo, variant, want, tiles, options.passes ?? {}, storage);
    for (const p of Object.values(plans)) {
      assertShape(p.splits * p.outElements < LIMIT, () => `${label}: split-K partial products over 2^31 elements; use fewer splits`);
    }
    return new Conv2d(ctx, s, variant, label, options.label, plans, options.scratch, storage);
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

  /** y = conv(x, w). Checks sizes before anything is recorded; bind once per plan. */
  bindForward(x: Tensor, w: Tensor, y: Tensor): Pass {
    const L = this.layouts;
    this.check('forward', 'x', x, this.xElements, L.x);
    this.check('forward', 'w', w, this.wElements, L.w);
    this.check('forward', 'y', y, this.yElements, L.y);
    return this.bindPass('forward', x, w, y, false);
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
  bindWeightGrad(x: Tensor, dy: Tensor, dw: Tensor, opts: { accumulate: boolean } = { accumulate: false }): Pass {
    const L = this.layouts;
    this.check('weightGrad', 'x', x, this.xElements, L.x);
    this.check('weightGrad', 'dy', dy, this.yElements, L.y);
    this.check('weightGrad', 'dw', dw, this.wElements, L.w);
    return this.bindPass('weightGrad', x, dy, dw, opts.accumulate);
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

  private bindPass(pass: Conv2dPass, a: Tensor, b: Tensor, out: Tensor, accumulate: boolean): Pass {
    const plan = this.plans[pass];
    const mode = accumulate ? 'accumulate' : 'assign';
    assertShape(!plan.compiled || plan.compiled[mode], () => `${this.label}: the ${pass}${pass === 'weightGrad' ? ` (${mode})` : ''} pipelines were not compiled (Conv2d.create's passes option)`);
    const main = accumulate && plan.mainAccumulate ? plan.mainAccumulate : plan.main;
    const reduce = accumulate && plan.reduceAccumulate !== undefined ? plan.reduceAccumulate : plan.reduce;
    // Dispatch labels name the layer too, so profiles tell the layers apart.
    const tag = (k: Kernel) => (this.name ? `${k.label} [${this.name}]` : k.label);
    if (plan.splits > 1) {
      const partial = this.scratchFor(plan);
      const steps = main.map((st) => ({ kernel: st.kernel.bind([a, b, partial], tag(st.kernel)), grid: st.grid }));
      steps.push({ kernel: reduce!.kernel.bind([partial, out], tag(reduce!.kernel)), grid: reduce!.grid });
      return kernelPass(steps, this.flops[pass], this.bytes[pass]);
    }
    return kernelPass(main.map((st) => ({ kernel: st.kernel.bind([a, b, out], tag(st.kernel)), grid: st.grid })), this.flops[pass], this.bytes[pass]);
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
    createKernel(ctx, { label: 'conv2d.splitk_reduce', code: reduceWgsl, constants: { SIZE: size, SPLITS: splits, ALPHA: 1, BETA: beta } });
  // The forward's output in f16: the f32 partials summed in f32 and rounded once (assigned, so no BETA).
  const reduceToF16Kernel = (size: number, splits: number) => createKernel(ctx, { label: 'conv2d.splitk_reduce_f16', code: reduceF16Wgsl, constants: { SIZE: size, SPLITS: splits, ALPHA: 1 } });
  const kChunk = (K: number, splits: number) => (splits > 1 ? splitChunk(K, splits) : 1 << 30);
  const tileFor = (pass: Conv2dPass, M: number, N: number) => wantTiles[pass] ?? gemmTile(variant, M, N);

  // Forward: M = B·Ho·Wo, N = Cout, K = kh·kw·Cin.
  const fwdM = s.batch * Ho * Wo;
  const fwdK = kk * Cin;
  const fwdTile = tileFor('forward', fwdM, Cout);
  const fwdSplits = want.forward ? exactSplits(fwdK, want.forward) : chooseSplits(variant, fwdM, Cout, fwdK);
  // Split-K partials are f32 whatever y is; the reduce rounds them into y.
  const fwdOut = fwdSplits > 1 ? 'f32' : el('y');
  const fwdIo = storageView(0, 'x', 'read', Cin % 4 === 0, el('x')) + storageView(1, 'w', 'read', Cout % 4 === 0, el('w')) + storageView(2, 'y', 'read_write', Cout % 4 === 0, fwdOut) + forwardWgsl;
  const fwdMain = only(doForward, () =>
    createKernel(ctx, {
      label: `conv2d.forward.${variant}`,
      code: gemmSource(fwdIo),
      entryPoint,
      constants: { ...base, ...tileConstants(fwdTile), PAD: s.padding, M: fwdM, N: Cout, K: fwdK, K_CHUNK: kChunk(fwdK, fwdSplits), SPLIT_K: fwdSplits > 1 },
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
  const wgTile = tileFor('weightGrad', wgM, Cout);
  const wgSplits = want.weightGrad ? exactSplits(wgK, want.weightGrad) : chooseSplits(variant, wgM, Cout, wgK);
  const wgIo = storageView(0, 'x', 'read', Cin % 4 === 0, el('x')) + storageView(1, 'dy', 'read', Cout % 4 === 0) + storageView(2, 'dw', 'read_write', Cout % 4 === 0) + weightGradWgsl;
  const wgKernel = (accumulate: boolean) =>
    createKernel(ctx, {
      label: `conv2d.weight_grad.${variant}`,
      code: gemmSource(wgIo),
      entryPoint,
      constants: {
        ...base,
        ...tileConstants(wgTile),
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
  const wgReduce = wgSplits > 1 && wgAssign ? reduceKernel(wN, wgSplits, 0) : null;
  const wgReduceAcc = wgSplits > 1 && wgAccumulate ? reduceKernel(wN, wgSplits, 1) : null;

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
      reduce: wr ? step(wr, grid1d(ctx, wN, 256)) : null,
      reduceAccumulate: wra ? step(wra, grid1d(ctx, wN, 256)) : undefined,
      splits: wgSplits,
      outElements: wN,
      tile: wgTile,
    },
  };
}
