// Convolution GFLOP/s per ResNet-18 (CIFAR) layer shape: forward, input grad and weight grad, at
// batch 32 and 128 and several width multipliers, for the implicit-GEMM variants and the naive
// one-thread-per-output baseline. Every distinct layer shape once (the stem with its 3 input
// channels padded to 4; docs/ARCHITECTURE.md, memory layouts). All three passes count the same FLOPs (the convolution's
// 2·B·Ho·Wo·Cout·k²·Cin), so `vs_fwd` — a gradient pass's GFLOP/s over the forward's at the same
// layer, batch, width and variant — reads the goal directly: input grad and weight grad ≥ 0.5.
//
// quick: width 1/8, batch 32, the adapter's default variant, naive on a subset of layers.
// Every pass is first checked on sampled outputs against the float64 reference (bench/check.ts)
// and fails the suite if it is wrong.
import type { BenchResult, BenchSuite } from '../src/bench/types.ts';
import type { GpuContext } from '../src/gpu/context.ts';
import { defaultGemmVariant } from '../src/gpu/gemm.ts';
import { submitChecked } from '../src/gpu/kernel.ts';
import { createTensor, uploadTensor, type Tensor } from '../src/gpu/tensor.ts';
import { allConvs, encoderSpec, type ConvSpec } from '../src/nn/architecture.ts';
import { Conv2d, type Conv2dOptions, type Conv2dPass, type Conv2dVariant } from '../src/nn/conv2d.ts';
import { conv2dAt } from '../src/ref/conv2d.ts';
import { checkSampled } from './check.ts';
import { timeGpu } from './timing.ts';

const PASSES: Conv2dPass[] = ['forward', 'inputGrad', 'weightGrad'];
// Layers run back to back in a training step, so each pass is timed repeated in one submit
// (about 2 ms of GPU time; once on emulators, where one pass takes longer than that).
export const BACK_TO_BACK = { minMs: 2, max: 64 };

function fill(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
  return a;
}

function widthLabel(w: number): string {
  return w >= 1 ? String(w) : `1/${Math.round(1 / w)}`;
}

/** Each distinct convolution shape of the encoder, named by its first layer. */
export function distinctLayers(width: number): ConvSpec[] {
  const spec = encoderSpec({ width, inChannels: 3, imageSize: 32, stemPadding: 1 });
  const seen = new Map<string, ConvSpec>();
  for (const c of allConvs(spec)) {
    const conv = c.name === 'conv1' ? { ...c, inChannels: 4 } : c; // the stem, padded 3 → 4
    const key = `${conv.inChannels}:${conv.outChannels}:${conv.kernel}:${conv.stride}:${conv.padding}:${conv.inSize}`;
    if (!seen.has(key)) seen.set(key, conv);
  }
  return [...seen.values()];
}

// Layers the naive baseline runs on in quick mode (it is slow on emulators).
const NAIVE_QUICK = new Set(['conv1', 'layer1.0.conv1', 'layer3.0.conv1', 'layer4.0.downsample.0']);

/** One layer's passes (those whose name contains `filter`), checked then timed; also used by bench/conv2d-passes.ts. */
export async function benchLayer(
  ctx: GpuContext,
  c: ConvSpec,
  batch: number,
  width: number,
  variant: Conv2dVariant,
  quick: boolean,
  filter: string | undefined,
  options: Conv2dOptions = {},
): Promise<BenchResult[]> {
  const layer = `${c.name} ${c.inChannels}→${c.outChannels} ${c.kernel}x${c.kernel} s${c.stride} @${c.inSize}`;
  const nameOf = (pass: Conv2dPass) => `conv2d.${variant} ${pass} ${layer} b${batch} w${widthLabel(width)}`;
  const wanted = PASSES.filter((p) => !filter || nameOf(p).includes(filter));
  if (wanted.length === 0) return [];
  const conv = await Conv2d.create(
    ctx,
    { batch, height: c.inSize, width: c.inSize, inChannels: c.inChannels, outChannels: c.outChannels, kernel: c.kernel, stride: c.stride, padding: c.padding },
    variant,
    { ...options, label: c.name },
  );
  const owned: Tensor[] = [];
  const host = { x: fill(conv.xElements), w: fill(conv.wElements), dy: fill(conv.yElements) };
  const t = (n: number, label: string, data?: Float32Array) => {
    const tensor = data ? uploadTensor(ctx, data, [n], label) : createTensor(ctx, [n], 'f32', label);
    owned.push(tensor);
    return tensor;
  };
  const x = t(conv.xElements, 'bench.x', host.x);
  const w = t(conv.wElements, 'bench.w', host.w);
  const dy = t(conv.yElements, 'bench.dy', host.dy);
  const y = t(conv.yElements, 'bench.y');
  const dx = t(conv.xElements, 'bench.dx');
  const dw = t(conv.wElements, 'bench.dw');
  const bound = {
    forward: conv.bindForward(x, w, y),
    inputGrad: conv.bindInputGrad(dy, w, dx),
    weightGrad: conv.bindWeightGrad(x, dy, dw, { accumulate: true }),
  };
  // What each pass writes, and its operands in the order conv2dAt takes them.
  const check = {
    forward: { out: y, a: host.x, b: host.w },
    inputGrad: { out: dx, a: host.dy, b: host.w },
    weightGrad: { out: dw, a: host.x, b: host.dy },
  };
  const out: BenchResult[] = [];
  try {
    for (const pass of wanted) {
      const b = bound[pass];
      // Checked once before timing: dw starts at zero, so one accumulating run leaves exactly ∂L/∂w.
      const io = check[pass];
      await submitChecked(ctx, nameOf(pass), (enc) => b.record(enc));
      await checkSampled(ctx, nameOf(pass), io.out, (i) => conv2dAt(conv.shape, pass, io.a, io.b, i));
      const timing = await timeGpu(ctx, (enc, timer) => b.record(enc, timer), {
        iters: quick ? 5 : 10,
        budgetMs: quick ? 2000 : 5000,
        warmup: quick ? 1 : 2,
        backToBack: BACK_TO_BACK,
      });
      out.push({
        suite: 'conv2d',
        name: nameOf(pass),
        ms: timing.ms,
        flops: conv.flops[pass],
        bytes: conv.bytes[pass],
        images: batch,
        extra: {
          layer: c.name,
          pass,
          batch,
          width: widthLabel(width),
          variant,
          splits: conv.splits[pass],
          ...(conv.tiles[pass] ? { threads: `${conv.tiles[pass]!.tx}x${conv.tiles[pass]!.ty}` } : {}),
          // K-lanes of the weight gradient (gemm_lanes.wgsl) and threads per output of its reduce, where used.
          ...(pass === 'weightGrad' && conv.wgradLanes.lanes > 1 ? { lanes: conv.wgradLanes.lanes } : {}),
          ...(pass === 'weightGrad' && conv.wgradLanes.reduceLanes > 1 ? { reduce_lanes: conv.wgradLanes.reduceLanes } : {}),
          dispatches: b.dispatches,
          clock: timing.clock,
          repeat: timing.repeat,
          wall_ms: +timing.wallMs.toFixed(4),
        },
      });
    }
  } finally {
    conv.destroy();
    for (const tensor of owned) tensor.buffer.destroy();
  }
  // A gradient pass's GFLOP/s relative to the forward's (same FLOP count, so the time ratio).
  const fwd = out.find((r) => r.extra!.pass === 'forward');
  if (fwd) for (const r of out) if (r !== fwd) r.extra!.vs_fwd = Number((fwd.ms / r.ms).toFixed(2));
  return out;
}

export const suite: BenchSuite = {
  name: 'conv2d',
  async run(ctx, { quick, filter }) {
    const main = defaultGemmVariant(ctx);
    const other: Conv2dVariant = main === 'tiled' ? 'direct' : 'tiled';
    const widths = quick ? [1 / 8] : [1, 1 / 2, 1 / 4, 1 / 8];
    const batches = quick ? [32] : [32, 128];
    const out: BenchResult[] = [];
    for (const width of widths) {
      for (const batch of batches) {
        for (const c of distinctLayers(width)) {
          out.push(...(await benchLayer(ctx, c, batch, width, main, quick, filter)));
          if (!quick) out.push(...(await benchLayer(ctx, c, batch, width, other, quick, filter)));
          if (!quick || NAIVE_QUICK.has(c.name)) out.push(...(await benchLayer(ctx, c, batch, width, 'naive', quick, filter)));
        }
      }
    }
    return out;
  },
};
