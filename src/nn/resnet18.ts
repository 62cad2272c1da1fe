// The CIFAR ResNet-18 encoder on the GPU, one run per input batch (a view), walking the
// architecture spec. Forward keeps every activation the backward needs in its own tensor;
// backward assigns activation gradients and ACCUMULATES (+=) into the parameter gradients, so
// the caller zeroes the gradients once per step and may run several views' backwards.
//
//   stem      c0 = conv1(x);  a0 = relu(bn1(c0))
//   block     c1 = conv1(in); h1 = relu(bn1(c1)); c2 = conv2(h1)
//             (fused: h1 is never stored — conv2 reads relu(bn1(c1)) as it loads c1, in its forward
//             and its weight gradient, and bn1's backward takes the ReLU mask from c1; and on the 'tiled'
//             core each convolution gathers its batch norm's training statistics as it stores its output,
//             so the batch norm reads a few partial sums instead of the output again; see fuseBnRelu)
//             sc = in, or sd = bn_d(cd = conv_d(in))
//             out = relu(bn2(c2) + sc)                      (BN + add + ReLU fused)
//   features  avgpool(out of layer4.1)                      [B, D]
// Layers (pipelines) are built once per shape by EncoderLayers and shared by every run.
//
// Precision 'f16' (the f16 path, issue 15 item 3): the activations c0, a0, c1, h1, c2, cd, sd, out
// are stored in f16 and the convolutions read the f16 weight copy (src/nn/f16-weights.ts); every
// sum is still f32, and the activation gradients (Scratch), parameter gradients, BN statistics
// and the features (the pool's output) stay f32. Because no gradient is ever stored in f16 there
// is nothing to underflow and no loss scaling is needed (f16's smallest normal is 6e-5; the
// gradients here are f32 all the way to the f32 optimizer).
import type { GpuContext } from '../gpu/context.ts';
import { defaultGemmVariant, type GemmVariant } from '../gpu/gemm.ts';
import { assertShape } from '../gpu/errors.ts';
import { PassList } from '../gpu/pass.ts';
import { createTensor, type Tensor } from '../gpu/tensor.ts';
import { encoderSpec, type ConvSpec, type EncoderSpec } from './architecture.ts';
import { BatchNorm, plannedCoefAt, type BatchNormForwardPass, type BatchNormPasses } from './batchnorm.ts';
import { bnStatsGroups, Conv2d, type Conv2dPasses } from './conv2d.ts';
import { Add } from './elementwise.ts';
import { GlobalAvgPool } from './pool.ts';
import type { ModelConfig } from './config.ts';
import type { FlatTensors, NetworkWeights } from './param-store.ts';
import type { F16Weights } from './f16-weights.ts';

/** Storage of the encoder's activations and conv weights: f32, or f16 with f32 arithmetic. */
export type EncoderPrecision = 'f32' | 'f16';

export type BnMode = 'train' | 'eval';

/** How EncoderLayers builds the encoder beyond its shape: the activations' storage and the fused convolutions. */
export interface EncoderOptions {
  precision?: EncoderPrecision;
  fuseBnRelu?: boolean;
}

/**
 * Whether each block's bn1 + ReLU is applied by conv2 as it loads (no h1 written or read back: one dispatch and two
 * passes over the activation fewer per block and view, and h1's memory saved) — by default on GPUs ('tiled'), where the
 * core stages each loaded value once per tile, so the normalise costs nothing, and not on the CPU emulators ('direct'),
 * whose core reloads x for every 4 output channels and pays the fma and max each time (docs/results-cpu.md §6).
 */
export function defaultFuseBnRelu(variant: GemmVariant): boolean {
  return variant === 'tiled';
}

/** The pipelines of one encoder configuration at one batch size. */
export class EncoderLayers {
  private constructor(
    readonly spec: EncoderSpec,
    readonly batch: number,
    readonly convs: Map<string, Conv2d>,
    readonly bns: Map<string, BatchNorm>,
    readonly adds: Map<number, Add>,
    readonly pool: GlobalAvgPool,
    /** Each block's bn1 + ReLU applied in conv2's loads (h1 never stored). */
    readonly fuseBnRelu: boolean,
    readonly precision: EncoderPrecision = 'f32',
  ) {}

  /** `passes`: which batch-norm pipelines to compile (all by default; a training step skips evaluation's, an embedder needs only them).
   *  `options.precision`: the activations' storage ('f32' default); `options.fuseBnRelu`: fused convolutions (defaultFuseBnRelu by default). */
  static async create(ctx: GpuContext, config: ModelConfig, batch: number, variant?: GemmVariant, passes?: BatchNormPasses, options: EncoderOptions = {}): Promise<EncoderLayers> {
    const spec = encoderSpec(config);
    const precision = options.precision ?? 'f32';
    const half = precision === 'f16';
    // f16: every conv reads f16 activations (but the stem: its input is the f32 image) and weights, and writes f16.
    const convStorage = (stem: boolean) => (half ? ({ x: stem ? 'f32' : 'f16', w: 'f16', y: 'f16' } as const) : undefined);
    const convVariant = variant ?? defaultGemmVariant(ctx);
    const fuse = options.fuseBnRelu ?? defaultFuseBnRelu(convVariant);
    assertShape(!fuse || convVariant !== 'naive', () => 'the naive convolutions cannot apply a batch norm as they load (fuseBnRelu)');
    // conv2 of each block reads bn1's coefficients when fused (its name → bn1's shape).
    const bnReluInput = new Map<string, { coefAt: number }>();
    if (fuse) for (const b of spec.blocks) bnReluInput.set(b.conv2.name, { coefAt: plannedCoefAt(ctx, { batch, channels: b.conv1.outChannels, height: b.conv1.outSize, width: b.conv1.outSize }) });
    const deferred = new Set(fuse ? spec.blocks.map((b) => b.bn1) : []);
    const convSpecs: ConvSpec[] = [spec.stem];
    const bnSpecs: { name: string; c: number; size: number; relu: boolean; residual: boolean }[] = [
      { name: spec.stemBn, c: spec.stem.outChannels, size: spec.stem.outSize, relu: true, residual: false },
    ];
    for (const b of spec.blocks) {
      convSpecs.push(b.conv1, b.conv2);
      bnSpecs.push({ name: b.bn1, c: b.conv1.outChannels, size: b.conv1.outSize, relu: true, residual: false });
      bnSpecs.push({ name: b.bn2, c: b.conv2.outChannels, size: b.conv2.outSize, relu: true, residual: true });
      if (b.downsample) {
        convSpecs.push(b.downsample.conv);
        bnSpecs.push({ name: b.downsample.bn, c: b.downsample.conv.outChannels, size: b.downsample.conv.outSize, relu: false, residual: false });
      }
    }
    // Fused, with training: each convolution whose core can gathers its batch norm's statistics in its epilogue.
    const bnOf = new Map<string, string>([[spec.stem.name, spec.stemBn]]);
    for (const b of spec.blocks) {
      bnOf.set(b.conv1.name, b.bn1).set(b.conv2.name, b.bn2);
      if (b.downsample) bnOf.set(b.downsample.conv.name, b.downsample.bn);
    }
    const shapeOf = (c: ConvSpec) => ({ batch, height: c.inSize, width: c.inSize, inChannels: c.inChannels, outChannels: c.outChannels, kernel: c.kernel, stride: c.stride, padding: c.padding });
    const statsGroups = new Map<string, { groupRows: number; groups: number }>();
    if (fuse && passes?.train !== false) {
      for (const c of convSpecs) {
        const g = bnStatsGroups(convVariant, shapeOf(c));
        if (g) statsGroups.set(c.name, g).set(bnOf.get(c.name)!, g);
      }
    }
    // With explicit passes (a training step or an evaluation) only what EncoderRun binds: the backward accumulates every
    // weight gradient into the zeroed buffer and never asks the stem for its input gradient (set `inputGrad` only on
    // layers built with all passes, the default); a training-only layer whose forward gathers statistics needs no plain forward.
    const convPasses = (c: ConvSpec): Conv2dPasses | undefined => {
      if (!passes) return undefined;
      const forward = !(statsGroups.has(c.name) && passes.eval === false);
      return passes.backward === false ? { forward, inputGrad: false, weightGrad: false } : { forward, inputGrad: c !== spec.stem, weightGrad: 'accumulate' };
    };
    const convs = new Map<string, Conv2d>();
    const bns = new Map<string, BatchNorm>();
    const layersBuilt = Promise.all([
      ...convSpecs.map(async (c) =>
        convs.set(
          c.name,
          await Conv2d.create(
            ctx,
            shapeOf(c),
            variant,
            { label: `encoder.${c.name}`, passes: convPasses(c), bnReluInput: bnReluInput.get(c.name), bnStats: statsGroups.has(c.name), storage: convStorage(c === spec.stem) },
          ),
        ),
      ),
      ...bnSpecs.map(async (b) =>
        bns.set(b.name, await BatchNorm.create(ctx, { batch, channels: b.c, height: b.size, width: b.size }, { label: `encoder.${b.name}`, relu: b.relu, residual: b.residual, passes, applyInConsumer: deferred.has(b.name), statsFromProducer: statsGroups.get(b.name), activations: precision })),
      ),
    ]);
    // Gradient sums where a block's input feeds both the main path and the shortcut (compiled
    // together with the layers above: every pipeline of the encoder is requested at once).
    const adds = new Map<number, Add>();
    const sizes = passes?.backward === false ? [] : [...new Set(spec.blocks.map((b) => batch * b.conv1.inSize * b.conv1.inSize * b.conv1.inChannels))];
    const [added, pool] = await Promise.all([Promise.all(sizes.map((n) => Add.create(ctx, [n], `encoder.grad_sum_${n}`, { backward: false }))), GlobalAvgPool.create(ctx, { batch, height: spec.finalSize, width: spec.finalSize, channels: spec.featureDim }, 'encoder.avgpool', { input: precision }), layersBuilt]);
    sizes.forEach((n, i) => adds.set(n, added[i]!));
    return new EncoderLayers(spec, batch, convs, bns, adds, pool, fuse, precision);
  }

  conv(name: string): Conv2d {
    return this.convs.get(name)!;
  }
  bn(name: string): BatchNorm {
    return this.bns.get(name)!;
  }
}

/** Named tensors shared between runs that never overlap in time (gradient scratch). */
export class Scratch {
  private tensors = new Map<string, Tensor>();
  constructor(
    private readonly ctx: GpuContext,
    private readonly label: string,
  ) {}
  get(name: string, shape: number[]): Tensor {
    let t = this.tensors.get(name);
    if (!t) this.tensors.set(name, (t = createTensor(this.ctx, shape, 'f32', `${this.label}.${name}`)));
    return t;
  }
  destroy(): void {
    for (const t of this.tensors.values()) t.buffer.destroy();
  }
}

interface BlockActs {
  input: Tensor;
  c1: Tensor;
  /** relu(bn1(c1)); absent when fused into conv2's loads. */
  h1?: Tensor;
  c2: Tensor;
  cd?: Tensor;
  sd?: Tensor;
  out: Tensor;
  bn1: BatchNormForwardPass;
  bn2: BatchNormForwardPass;
  bnd?: BatchNormForwardPass;
}

/** One forward (and optionally backward) of the encoder over one input tensor. */
export class EncoderRun {
  readonly forward = new PassList();
  readonly features: Tensor;
  private stem!: { c0: Tensor; a0: Tensor; bn: BatchNormForwardPass };
  private blocks: BlockActs[] = [];

  constructor(
    readonly ctx: GpuContext,
    readonly layers: EncoderLayers,
    readonly weights: NetworkWeights,
    readonly input: Tensor,
    readonly mode: BnMode,
    readonly label: string,
    /** The f16 weight copy of `weights` (required when the layers' precision is 'f16'; its cast recorded by the caller before this run's forward). */
    readonly weightsF16: F16Weights | null = null,
  ) {
    const { spec, batch: B } = layers;
    if (layers.precision === 'f16' && !weightsF16) throw new Error(`${label}: f16 encoder layers need the f16 weight copy (src/nn/f16-weights.ts)`);
    const act = (name: string, c: ConvSpec) => createTensor(ctx, [B, c.outSize, c.outSize, c.outChannels], layers.precision, `${label}.${name}`);
    const p = (n: string) => weights.params.get(`encoder.${n}`);
    const convWeight = (c: ConvSpec) => this.convWeight(c);
    const bnIO = (name: string, x: Tensor, y: Tensor | undefined, residual?: Tensor, groupStats?: Tensor) => ({
      x,
      y,
      gamma: p(`${name}.weight`),
      beta: p(`${name}.bias`),
      runningMean: weights.stats.get(`encoder.${name}.running_mean`),
      runningVar: weights.stats.get(`encoder.${name}.running_var`),
      residual,
      groupStats,
    });
    const f = this.forward;
    // A training forward whose convolution gathers its batch norm's statistics hands them over in `stats` (its groups).
    const stats = new Map<string, Tensor>();
    const conv = (c: ConvSpec, x: Tensor, y: Tensor, coef?: Tensor) => {
      const layer = layers.conv(c.name);
      const groups = mode === 'train' ? layer.statsGroups : null;
      const s = groups ? createTensor(ctx, [groups.groups * 3 * c.outChannels], 'f32', `${label}.${c.name}.bn_stats`) : undefined;
      if (s) stats.set(c.name, s);
      f.push(layer.bindForward(x, convWeight(c), y, coef, s));
    };
    const c0 = act('conv1', spec.stem);
    const a0 = act('relu1', spec.stem);
    conv(spec.stem, input, c0);
    const bn0 = layers.bn(spec.stemBn).bindForward(bnIO(spec.stemBn, c0, a0, undefined, stats.get(spec.stem.name)), mode);
    f.push(bn0);
    this.stem = { c0, a0, bn: bn0 };
    let x = a0;
    for (const b of spec.blocks) {
      const c1 = act(`${b.name}.conv1`, b.conv1);
      const h1 = layers.fuseBnRelu ? undefined : act(`${b.name}.relu1`, b.conv1);
      const c2 = act(`${b.name}.conv2`, b.conv2);
      const out = act(`${b.name}.out`, b.conv2);
      conv(b.conv1, x, c1);
      const bn1 = layers.bn(b.bn1).bindForward(bnIO(b.bn1, c1, h1, undefined, stats.get(b.conv1.name)), mode);
      f.push(bn1);
      if (h1) conv(b.conv2, h1, c2);
      else conv(b.conv2, c1, c2, bn1.coef);
      const acts: BlockActs = { input: x, c1, h1, c2, out, bn1, bn2: undefined as unknown as BatchNormForwardPass };
      let shortcut = x;
      if (b.downsample) {
        acts.cd = act(`${b.name}.downsample.conv`, b.downsample.conv);
        acts.sd = act(`${b.name}.downsample.bn`, b.downsample.conv);
        conv(b.downsample.conv, x, acts.cd);
        acts.bnd = layers.bn(b.downsample.bn).bindForward(bnIO(b.downsample.bn, acts.cd, acts.sd, undefined, stats.get(b.downsample.conv.name)), mode);
        f.push(acts.bnd);
        shortcut = acts.sd;
      }
      acts.bn2 = layers.bn(b.bn2).bindForward(bnIO(b.bn2, c2, out, shortcut, stats.get(b.conv2.name)), mode);
      f.push(acts.bn2);
      this.blocks.push(acts);
      x = out;
    }
    this.features = createTensor(ctx, [B, spec.featureDim], 'f32', `${label}.features`);
    f.push(layers.pool.bindForward(x, this.features));
  }

  /** The weight a convolution reads: the f32 master, or its f16 copy on the f16 path. */
  private convWeight(c: ConvSpec): Tensor {
    const name = `encoder.${c.name}.weight`;
    return this.weightsF16 ? this.weightsF16.get(name) : this.weights.params.get(name);
  }

  /**
   * Binds the backward from dFeatures ([B, D]) into `grads` (+=). Gradients of activations go
   * to `scratch`, shared with other runs. Needs a training-mode forward.
   */
  bindBackward(dFeatures: Tensor, grads: FlatTensors, scratch: Scratch): PassList {
    if (this.mode !== 'train') throw new Error(`${this.label}: backward needs a training-mode forward`);
    const { layers } = this;
    const { spec } = layers;
    const bwd = new PassList();
    const p = (n: string) => this.weights.params.get(`encoder.${n}`);
    const g = (n: string) => grads.get(`encoder.${n}`);
    const like = (name: string, t: Tensor) => scratch.get(name, [...t.shape]);
    const convBack = (c: ConvSpec, x: Tensor, dy: Tensor, dx: Tensor | null, coef?: Tensor) => {
      const layer = layers.conv(c.name);
      if (dx) bwd.push(layer.bindInputGrad(dy, this.convWeight(c), dx));
      bwd.push(layer.bindWeightGrad(x, dy, g(`${c.name}.weight`), { accumulate: true, coef }));
    };
    // y undefined with a ReLU: the layer applied in its consumer, and the mask comes from x and the forward's coefficients.
    const bnBack = (name: string, fwd: BatchNormForwardPass, x: Tensor, y: Tensor | undefined, dy: Tensor, dx: Tensor, dresidual?: Tensor) => {
      const coef = layers.bn(name).options.applyInConsumer ? fwd.coef : undefined;
      bwd.push(
        layers.bn(name).bindBackward({ x, y, coef, dy, dx, gamma: p(`${name}.weight`), mean: fwd.mean!, invstd: fwd.invstd!, dgamma: g(`${name}.weight`), dbeta: g(`${name}.bias`), dresidual }),
      );
    };

    const last = this.blocks[this.blocks.length - 1]!;
    let dOut = scratch.get(`d.${spec.blocks[spec.blocks.length - 1]!.name}.out`, [...last.out.shape]);
    bwd.push(layers.pool.bindBackward(dFeatures, dOut));
    for (let i = spec.blocks.length - 1; i >= 0; i--) {
      const b = spec.blocks[i]!;
      const a = this.blocks[i]!;
      const dc2 = like(`d.${b.name}.conv2`, a.c2);
      const dres = like(`d.${b.name}.residual`, a.out);
      bnBack(b.bn2, a.bn2, a.c2, a.out, dOut, dc2, dres);
      const dh1 = like(`d.${b.name}.relu1`, a.c1);
      if (a.h1) convBack(b.conv2, a.h1, dc2, dh1);
      else convBack(b.conv2, a.c1, dc2, dh1, a.bn1.coef);
      const dc1 = like(`d.${b.name}.conv1`, a.c1);
      bnBack(b.bn1, a.bn1, a.c1, a.h1, dh1, dc1);
      const dMain = like(`d.${b.name}.in_main`, a.input);
      convBack(b.conv1, a.input, dc1, dMain);
      let dShort = dres;
      if (b.downsample) {
        const dcd = like(`d.${b.name}.downsample.conv`, a.cd!);
        bnBack(b.downsample.bn, a.bnd!, a.cd!, undefined, dres, dcd);
        dShort = like(`d.${b.name}.in_short`, a.input);
        convBack(b.downsample.conv, a.input, dcd, dShort);
      }
      const dIn = like(`d.${b.name}.in`, a.input);
      bwd.push(layers.adds.get(a.input.numel)!.bindForward(dMain, dShort, dIn));
      dOut = dIn;
    }
    const dc0 = like('d.conv1', this.stem.c0);
    bnBack(spec.stemBn, this.stem.bn, this.stem.c0, this.stem.a0, dOut, dc0);
    // The stem's input is data: no input gradient unless asked for.
    convBack(spec.stem, this.input, dc0, this.inputGrad ?? null);
    return bwd;
  }

  /** Set before bindBackward to also compute the gradient with respect to the input image. */
  inputGrad: Tensor | null = null;
}
