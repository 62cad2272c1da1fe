// Float64 reference of the CIFAR ResNet-18 encoder, forward and backward, built from the layer
// references. It is the ground truth the GPU model is compared with, and is itself compared
// with PyTorch (test/ref-resnet18-torch.test.ts) and with finite differences.
//
// Architecture: stem conv 3×3 stride 1 (padding 1, or 2 as in the official code) → BN → ReLU,
// no max-pool; four stages of two torchvision-style BasicBlocks with 64w, 128w, 256w, 512w
// channels (rounded, at least 1); the first block of stages 2–4 has stride 2 and a 1×1
// stride-2 conv + BN downsample on the shortcut (as does any block whose channels change);
// global average pool → features (N × 512w).
//   block: out = ReLU(BN2(conv2(ReLU(BN1(conv1(x))))) + shortcut(x))
//
// Layouts: activations NHWC; conv weights HWIO [kh][kw][Cin][Cout]; BN vectors per channel.
// Parameters live in a Map keyed by PyTorch's state_dict names without the `encoder.` prefix
// (conv1.weight, bn1.{weight,bias,running_mean,running_var}, layer1.0.conv1.weight,
// layer2.0.downsample.0.weight, layer2.0.downsample.1.*, …) but in OUR layouts: convert conv
// weights with hwioToOihw / oihwToHwio for PyTorch. `num_batches_tracked` is not kept.
//
// Backward convention (llm.c style): resnet18Backward returns a freshly allocated input
// gradient (assigned) and every parameter gradient of this call (which the GPU accumulates).
// It needs the training-mode forward's cache: gradients flow through the batch statistics.
import { conv2dOutShape, type Conv2dShape } from '../nn/conv2d-shape.ts';
import { conv2dBackwardInput, conv2dBackwardWeight, conv2dForward } from './conv2d.ts';
import { batchNormBackwardTrain, batchNormForwardEval, batchNormForwardTrain, batchNormUpdateRunningStats } from './batchnorm.ts';
import { globalAvgPoolBackward, globalAvgPoolForward, reluBackward, reluForward, residualAdd } from './elementwise.ts';

export { hwioToOihw, oihwToHwio, nhwcToNchw, nchwToNhwc } from '../nn/layout.ts';

export interface ResNet18Config {
  /** Channel multiplier: 1 → 64/128/256/512 channels, 1/16 → 4/8/16/32. */
  width: number;
  inChannels: number;
  /** 1 keeps the input size through the stem; 2 is the official code's (34×34 on CIFAR). */
  stemPadding: number;
}

export interface ResNet18Input {
  batch: number;
  height: number;
  width: number;
}

export function resnet18Channels(width: number): [number, number, number, number] {
  return [64, 128, 256, 512].map((c) => Math.max(1, Math.round(c * width))) as [number, number, number, number];
}

// ---------------------------------------------------------------------------------------------
// The plan: every conv + BN pair with its names and shapes, for a given input size.

interface ConvBnPlan {
  /** Parameter name prefix of the conv ("layer2.0.conv1") and of its BN ("layer2.0.bn1"). */
  conv: string;
  bn: string;
  shape: Conv2dShape;
}

interface BlockPlan {
  conv1: ConvBnPlan;
  conv2: ConvBnPlan;
  downsample: ConvBnPlan | null;
}

interface NetworkPlan {
  stem: ConvBnPlan;
  blocks: BlockPlan[];
  /** The last stage's activation shape, pooled to the features. */
  final: { batch: number; height: number; width: number; channels: number };
}

function convBn(conv: string, bn: string, batch: number, height: number, width: number, inChannels: number, outChannels: number, kernel: number, stride: number, padding: number): ConvBnPlan {
  return { conv, bn, shape: { batch, height, width, inChannels, outChannels, kernel, stride, padding } };
}

function outSize(p: ConvBnPlan): { height: number; width: number } {
  const o = conv2dOutShape(p.shape);
  return { height: o.outHeight, width: o.outWidth };
}

function makePlan(config: ResNet18Config, input: ResNet18Input): NetworkPlan {
  const channels = resnet18Channels(config.width);
  const { batch } = input;
  const stem = convBn('conv1', 'bn1', batch, input.height, input.width, config.inChannels, channels[0], 3, 1, config.stemPadding);
  let { height, width } = outSize(stem);
  let inC = channels[0];
  const blocks: BlockPlan[] = [];
  for (let stage = 1; stage <= 4; stage++) {
    const outC = channels[stage - 1]!;
    for (let b = 0; b < 2; b++) {
      const name = `layer${stage}.${b}`;
      const stride = stage > 1 && b === 0 ? 2 : 1;
      const conv1 = convBn(`${name}.conv1`, `${name}.bn1`, batch, height, width, inC, outC, 3, stride, 1);
      const mid = outSize(conv1);
      const conv2 = convBn(`${name}.conv2`, `${name}.bn2`, batch, mid.height, mid.width, outC, outC, 3, 1, 1);
      const downsample = stride !== 1 || inC !== outC ? convBn(`${name}.downsample.0`, `${name}.downsample.1`, batch, height, width, inC, outC, 1, stride, 0) : null;
      blocks.push({ conv1, conv2, downsample });
      ({ height, width } = mid);
      inC = outC;
    }
  }
  return { stem, blocks, final: { batch, height, width, channels: inC } };
}

/** Every conv + BN in state_dict order: torchvision's block order is conv1, bn1, conv2, bn2, downsample.{0,1}. */
function allConvBns(plan: NetworkPlan): ConvBnPlan[] {
  const list = [plan.stem];
  for (const b of plan.blocks) list.push(...(b.downsample ? [b.conv1, b.conv2, b.downsample] : [b.conv1, b.conv2]));
  return list;
}

// ---------------------------------------------------------------------------------------------
// Parameters.

export type ResNet18Params = Map<string, Float64Array>;

/**
 * Every parameter name and its shape in our layouts, in PyTorch's state_dict order (conv
 * weights [kh, kw, Cin, Cout]; BN weight, bias, running_mean, running_var [C]).
 */
export function resnet18ParamShapes(config: ResNet18Config): Map<string, number[]> {
  // The shapes do not depend on the input size; any size that survives three stride-2 stages will do.
  const plan = makePlan(config, { batch: 1, height: 8, width: 8 });
  const shapes = new Map<string, number[]>();
  const add = (p: ConvBnPlan) => {
    const s = p.shape;
    shapes.set(`${p.conv}.weight`, [s.kernel, s.kernel, s.inChannels, s.outChannels]);
    for (const field of ['weight', 'bias', 'running_mean', 'running_var']) shapes.set(`${p.bn}.${field}`, [s.outChannels]);
  };
  for (const p of allConvBns(plan)) add(p);
  return shapes;
}

/** The trainable parameters (conv weights, BN weight and bias): the keys of the gradient map. */
export function isTrainable(name: string): boolean {
  return !name.endsWith('.running_mean') && !name.endsWith('.running_var');
}

export function resnet18FeatureDim(config: ResNet18Config): number {
  return resnet18Channels(config.width)[3];
}

/**
 * Deterministic random parameters for tests (not the training initialisation): conv weights
 * uniform with He-like scale, non-trivial BN γ, β and running statistics.
 */
export function randomResnet18Params(config: ResNet18Config, seed: number): ResNet18Params {
  let state = seed >>> 0;
  const uniform = (lo: number, hi: number) => {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  };
  const params: ResNet18Params = new Map();
  for (const [name, shape] of resnet18ParamShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const a = new Float64Array(n);
    let lo = 0;
    let hi = 0;
    if (shape.length === 4) {
      const fanIn = shape[0]! * shape[1]! * shape[2]!;
      hi = Math.sqrt(6 / fanIn);
      lo = -hi;
    } else if (name.endsWith('.weight')) [lo, hi] = [0.5, 1.5];
    else if (name.endsWith('.bias')) [lo, hi] = [-0.3, 0.3];
    else if (name.endsWith('.running_mean')) [lo, hi] = [-0.2, 0.2];
    else [lo, hi] = [0.5, 2];
    for (let i = 0; i < n; i++) a[i] = uniform(lo, hi);
    params.set(name, a);
  }
  return params;
}

function param(params: ResNet18Params, name: string, length: number): Float64Array {
  const p = params.get(name);
  if (!p) throw new Error(`resnet18: parameter "${name}" is missing`);
  if (p.length !== length) throw new Error(`resnet18: parameter "${name}" has ${p.length} elements, expected ${length}`);
  return p;
}

// ---------------------------------------------------------------------------------------------
// Forward.

type Mode = 'train' | 'eval';

interface ConvBnCache {
  plan: ConvBnPlan;
  /** The conv input. */
  x: Float64Array;
  /** The conv output (the BN input). */
  convOut: Float64Array;
  mean: Float64Array;
  invstd: Float64Array;
}

interface BlockCache {
  conv1: ConvBnCache;
  /** ReLU(BN1(conv1(x))), the input of conv2. */
  hidden: Float64Array;
  conv2: ConvBnCache;
  downsample: ConvBnCache | null;
  /** The block output, after the final ReLU. */
  out: Float64Array;
}

export interface ResNet18Cache {
  plan: NetworkPlan;
  stem: ConvBnCache;
  /** The stem output, after its ReLU. */
  stemOut: Float64Array;
  blocks: BlockCache[];
}

export interface ResNet18ForwardResult {
  /** Pooled features, N × 512w. */
  features: Float64Array;
  /** Training mode: the running statistics after PyTorch's update, keyed `….running_mean` / `….running_var`. Eval mode: empty. */
  runningStats: Map<string, Float64Array>;
  /** What the backward needs (training mode only; null in eval mode). */
  cache: ResNet18Cache | null;
}

/** How an activation is stored between layers: exactly (the default), or e.g. rounded to f16 to model the GPU's f16 path. */
export type ActivationStore = (a: Float64Array) => Float64Array;
const exact: ActivationStore = (a) => a;

function convBnForward(params: ResNet18Params, p: ConvBnPlan, x: Float64Array, mode: Mode, runningStats: Map<string, Float64Array>, store: ActivationStore = exact): { y: Float64Array; cache: ConvBnCache } {
  const s = p.shape;
  const weight = param(params, `${p.conv}.weight`, s.kernel * s.kernel * s.inChannels * s.outChannels);
  const C = s.outChannels;
  const gamma = param(params, `${p.bn}.weight`, C);
  const beta = param(params, `${p.bn}.bias`, C);
  const runningMean = param(params, `${p.bn}.running_mean`, C);
  const runningVar = param(params, `${p.bn}.running_var`, C);
  const convOut = store(conv2dForward(x, weight, s));
  const o = conv2dOutShape(s);
  const bnShape = { rows: s.batch * o.outHeight * o.outWidth, channels: C };
  if (mode === 'eval') {
    const y = batchNormForwardEval(convOut, gamma, beta, runningMean, runningVar, bnShape);
    return { y, cache: { plan: p, x, convOut, mean: new Float64Array(0), invstd: new Float64Array(0) } };
  }
  const bn = batchNormForwardTrain(convOut, gamma, beta, bnShape);
  const updated = batchNormUpdateRunningStats(runningMean, runningVar, bn.mean, bn.variance, bnShape.rows);
  runningStats.set(`${p.bn}.running_mean`, updated.runningMean);
  runningStats.set(`${p.bn}.running_var`, updated.runningVar);
  return { y: bn.y, cache: { plan: p, x, convOut, mean: bn.mean, invstd: bn.invstd } };
}

/**
 * The encoder forward. `x` is NHWC N×H×W×Cin. Training mode uses batch statistics and returns
 * the updated running statistics and the cache for the backward; `params` is not modified.
 * `store` models how every stored activation (conv outputs, BN/ReLU outputs, block outputs) is
 * kept: exact by default; rounded to f16 it is the float64 model of the GPU's f16 path.
 */
export function resnet18Forward(params: ResNet18Params, x: Float64Array, input: ResNet18Input, config: ResNet18Config, mode: Mode, store: ActivationStore = exact): ResNet18ForwardResult {
  const plan = makePlan(config, input);
  const expected = input.batch * input.height * input.width * config.inChannels;
  if (x.length !== expected) throw new Error(`resnet18Forward: input has ${x.length} elements, expected ${input.batch}×${input.height}×${input.width}×${config.inChannels} = ${expected}`);
  if (plan.final.height < 1 || plan.final.width < 1) throw new Error(`resnet18Forward: a ${input.height}×${input.width} input is too small for three stride-2 stages`);
  const runningStats = new Map<string, Float64Array>();
  const stem = convBnForward(params, plan.stem, x, mode, runningStats, store);
  let act = store(reluForward(stem.y));
  const stemOut = act;
  const blocks: BlockCache[] = [];
  for (const b of plan.blocks) {
    const c1 = convBnForward(params, b.conv1, act, mode, runningStats, store);
    const hidden = store(reluForward(c1.y));
    const c2 = convBnForward(params, b.conv2, hidden, mode, runningStats, store);
    const ds = b.downsample ? convBnForward(params, b.downsample, act, mode, runningStats, store) : null;
    const out = store(reluForward(residualAdd(c2.y, ds ? store(ds.y) : act)));
    blocks.push({ conv1: c1.cache, hidden, conv2: c2.cache, downsample: ds ? ds.cache : null, out });
    act = out;
  }
  const features = globalAvgPoolForward(act, plan.final);
  return { features, runningStats, cache: mode === 'train' ? { plan, stem: stem.cache, stemOut, blocks } : null };
}

// ---------------------------------------------------------------------------------------------
// Backward.

/** Back through BN (batch statistics) and the conv; records their gradients; returns dx. */
function convBnBackward(params: ResNet18Params, c: ConvBnCache, dy: Float64Array, grads: Map<string, Float64Array>): Float64Array {
  const p = c.plan;
  const s = p.shape;
  const o = conv2dOutShape(s);
  const gamma = params.get(`${p.bn}.weight`)!;
  const bn = batchNormBackwardTrain(dy, c.convOut, gamma, c.mean, c.invstd, { rows: s.batch * o.outHeight * o.outWidth, channels: s.outChannels });
  grads.set(`${p.bn}.weight`, bn.dGamma);
  grads.set(`${p.bn}.bias`, bn.dBeta);
  grads.set(`${p.conv}.weight`, conv2dBackwardWeight(c.x, bn.dx, s));
  return conv2dBackwardInput(bn.dx, params.get(`${p.conv}.weight`)!, s);
}

/**
 * The encoder backward from dFeatures (N × 512w). Returns dx (NHWC, like the input) and the
 * gradient of every trainable parameter, keyed as in `params`, in state_dict order.
 */
export function resnet18Backward(params: ResNet18Params, cache: ResNet18Cache | null, dFeatures: Float64Array): { dx: Float64Array; grads: Map<string, Float64Array> } {
  if (!cache) throw new Error('resnet18Backward: needs the cache of a training-mode forward (eval mode keeps none)');
  const { plan } = cache;
  const f = plan.final;
  if (dFeatures.length !== f.batch * f.channels) throw new Error(`resnet18Backward: dFeatures has ${dFeatures.length} elements, expected ${f.batch}×${f.channels}`);
  const grads = new Map<string, Float64Array>();
  let dAct = globalAvgPoolBackward(dFeatures, f);
  for (let i = cache.blocks.length - 1; i >= 0; i--) {
    const b = cache.blocks[i]!;
    const dSum = reluBackward(dAct, b.out);
    const dHidden = convBnBackward(params, b.conv2, dSum, grads);
    const dx = convBnBackward(params, b.conv1, reluBackward(dHidden, b.hidden), grads);
    const dShortcut = b.downsample ? convBnBackward(params, b.downsample, dSum, grads) : dSum;
    dAct = residualAdd(dx, dShortcut);
  }
  const dx = convBnBackward(params, cache.stem, reluBackward(dAct, cache.stemOut), grads);
  // Report the gradients in state_dict order, whatever order the backward produced them in.
  const ordered = new Map<string, Float64Array>();
  for (const c of allConvBns(plan)) {
    for (const name of [`${c.conv}.weight`, `${c.bn}.weight`, `${c.bn}.bias`]) ordered.set(name, grads.get(name)!);
  }
  return { dx, grads: ordered };
}
