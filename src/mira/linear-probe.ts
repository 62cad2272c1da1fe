// The linear probe: a linear classifier (features → classes, with bias) trained by cross-entropy
// on hard labels with SGD, on the GPU. Two uses:
//   online   (src/train/trainer.ts) on the DETACHED pooled encoder features of view 1, trained in
//            the same submission as the training step; it only reads the features (no input
//            gradient is ever computed), and its parameters, gradients and momentum live in its
//            own buffers, so the self-supervised run is bit-identical with and without it;
//   offline  (`cli linear`, the init and raw-pixel baselines) `fitLinearClassifier`: multinomial
//            logistic regression on fixed features, standardised per dimension.
// One training pass: labels → one-hot (src/shaders/one_hot.wgsl) → logits = x·W + b (src/nn/linear.ts)
// → mean cross-entropy and ∂L/∂logits (the swapped-loss kernel with one crop, τ = 1,
// src/mira/loss.ts) → dW = xᵀ·dlogits, db = Σ dlogits (assigned) → SGD with momentum.
//
// Defaults follow solo-learn's online evaluation (solo/methods/base.py puts the classifier in its
// own parameter group with weight_decay 0; its CIFAR configs set classifier_lr 0.1 with SGD/LARS
// momentum 0.9 and the warm-up cosine schedule, and solo/args/pretrain.py scales classifier_lr by
// batch/256 like the backbone's): lr 0.1·B/256, momentum 0.9, no weight decay, cosine decay. A
// probe with no weight decay and a small lr is what makes its accuracy a reading of the features,
// not of a tuned classifier.
import oneHotWgsl from '../shaders/one_hot.wgsl?raw';
import type { GpuContext } from '../gpu/context.ts';
import { ShapeError } from '../gpu/errors.ts';
import type { GemmVariant } from '../gpu/gemm.ts';
import { createKernel, type PassTimer } from '../gpu/kernel.ts';
import { alignUp, BINDING_ALIGN, createTensor, readF32, Tensor } from '../gpu/tensor.ts';
import { epochPermutation } from '../data/rng.ts';
import { kernelPass, sequencePass, type Pass } from '../gpu/pass.ts';
import { Linear } from '../nn/linear.ts';
import { Optimizer } from '../nn/optimizer.ts';
import { CrossEntropyKernels, type CrossEntropyPlan } from './loss.ts';

/** solo-learn's online linear-eval defaults (see the header): base lr per 256 images, momentum, weight decay. */
export const PROBE_DEFAULTS = { lrPer256: 0.1, momentum: 0.9, weightDecay: 0 } as const;

/** The probe's peak learning rate for a batch: 0.1 · B / 256 (solo-learn's scaling). */
export function probeLearningRate(batch: number): number {
  return (PROBE_DEFAULTS.lrPer256 * batch) / 256;
}

/** Cosine decay from `base` at step 0 to 0 at `total` (no warm-up). */
export function probeLrAt(base: number, step: number, total: number): number {
  const t = Math.min(Math.max(step / Math.max(1, total), 0), 1);
  return (base * (1 + Math.cos(Math.PI * t))) / 2;
}

export interface LinearProbeShape {
  /** Rows per training step. */
  batch: number;
  /** Feature dimension. */
  dim: number;
  classes: number;
}

export interface TopK {
  /** Percent. */
  top1: number;
  top5: number;
}

/** Top-1 and top-5 accuracy (percent) of N×C logits against labels. */
export function topKAccuracy(logits: Float32Array, labels: ArrayLike<number>, classes: number): TopK {
  const n = labels.length;
  let c1 = 0;
  let c5 = 0;
  for (let i = 0; i < n; i++) {
    const row = logits.subarray(i * classes, (i + 1) * classes);
    const y = labels[i]!;
    const score = row[y]!;
    // Rank of the true class: how many classes score strictly higher (ties count against it when earlier).
    let above = 0;
    for (let c = 0; c < classes; c++) if (row[c]! > score || (row[c] === score && c < y)) above++;
    if (above === 0) c1++;
    if (above < 5) c5++;
  }
  return { top1: (100 * c1) / Math.max(1, n), top5: (100 * c5) / Math.max(1, n) };
}

export class LinearProbe {
  /** Labels of the training batch (u32, B); write them each step with `setLabels`. */
  readonly labels: Tensor;
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly loss: Tensor;
  private readonly params: Tensor;
  private readonly grads: Tensor;
  private readonly momentum: Tensor;
  private readonly oneHot: Tensor;
  private readonly logits: Tensor;
  private readonly dlogits: Tensor;
  private readonly dweight: Tensor;
  private readonly dbias: Tensor;
  private lrSet = false;

  private constructor(
    readonly ctx: GpuContext,
    readonly shape: LinearProbeShape,
    private readonly train: Linear,
    /** The evaluation forward (evalBatch rows), compiled on the first `predict`: a training step never binds it (a shorter start). */
    private readonly inferSpec: { evalBatch: number; variant: GemmVariant | undefined },
    private readonly oneHotKernel: Awaited<ReturnType<typeof createKernel>>,
    private readonly ce: CrossEntropyKernels,
    private readonly optimizer: Optimizer,
    readonly size: number,
    biasAt: number,
  ) {
    const { batch: B, dim: D, classes: C } = shape;
    const flat = (label: string) => createTensor(ctx, [size], 'f32', label);
    this.params = flat('probe.params');
    this.grads = flat('probe.grads');
    this.momentum = flat('probe.momentum');
    const view = (t: Tensor, at: number, s: number[], label: string) => new Tensor(t.buffer, s, 'f32', label, t.byteOffset + at * 4);
    this.weight = view(this.params, 0, [D, C], 'probe.weight');
    this.bias = view(this.params, biasAt, [C], 'probe.bias');
    this.dweight = view(this.grads, 0, [D, C], 'probe.dweight');
    this.dbias = view(this.grads, biasAt, [C], 'probe.dbias');
    this.labels = createTensor(ctx, [B], 'u32', 'probe.labels');
    this.oneHot = createTensor(ctx, [B, C], 'f32', 'probe.one_hot');
    this.logits = createTensor(ctx, [B, C], 'f32', 'probe.logits');
    this.dlogits = createTensor(ctx, [B, C], 'f32', 'probe.dlogits');
    this.loss = createTensor(ctx, [1], 'f32', 'probe.loss');
  }

  /** Pipelines and zero-initialised parameters. `evalBatch`: rows per forward of `predict`. */
  static async create(ctx: GpuContext, shape: LinearProbeShape, opts: { evalBatch?: number; variant?: GemmVariant } = {}): Promise<LinearProbe> {
    const { batch: B, dim: D, classes: C } = shape;
    if (!(Number.isInteger(B) && B >= 1 && Number.isInteger(D) && D >= 1)) throw new ShapeError(`linear probe: batch and feature dimension must be positive integers; got ${B}, ${D}`);
    if (!(Number.isInteger(C) && C >= 2)) throw new ShapeError(`linear probe: needs at least 2 classes; got ${C}`);
    // The naive GEMM has no bias epilogue: the probe always uses a tiled core.
    const variant = opts.variant === 'naive' ? undefined : opts.variant;
    const evalBatch = opts.evalBatch ?? 256;
    const biasAt = alignUp(D * C * 4, BINDING_ALIGN) / 4;
    const size = biasAt + alignUp(C, 4);
    const [train, oneHotKernel, ce, optimizer] = await Promise.all([
      Linear.create(ctx, { batch: B, inFeatures: D, outFeatures: C, bias: true }, { label: 'probe', accumulate: false, inputGrad: false, variant }),
      createKernel(ctx, { label: 'probe.one_hot', code: oneHotWgsl, entryPoint: 'one_hot', constants: { B, C } }),
      CrossEntropyKernels.create(ctx, { B, K: C }),
      Optimizer.create(ctx, {
        kind: 'sgd',
        size,
        label: 'probe.sgd',
        tensors: [
          { name: 'probe.weight', offset: 0, length: D * C, decay: false, trust: false },
          { name: 'probe.bias', offset: biasAt, length: C, decay: false, trust: false },
        ],
      }),
    ]);
    return new LinearProbe(ctx, shape, train, { evalBatch, variant }, oneHotKernel, ce, optimizer, size, biasAt);
  }

  /** Rows per forward of `predict`. */
  get evalBatch(): number {
    return this.inferSpec.evalBatch;
  }

  private infer: Promise<Linear> | null = null;

  private inferLayer(): Promise<Linear> {
    const { dim: D, classes: C } = this.shape;
    if (!this.infer) {
      const p = Linear.create(this.ctx, { batch: this.evalBatch, inFeatures: D, outFeatures: C, bias: true }, { label: 'probe.eval', accumulate: false, inputGrad: false, variant: this.inferSpec.variant });
      this.infer = p;
      p.catch(() => (this.infer === p ? (this.infer = null) : undefined));
    }
    return this.infer;
  }

  /**
   * One training step on `features` (B×D, read only): one-hot targets, forward, cross-entropy,
   * backward into the probe's own gradients, SGD. Bind once; record every step.
   */
  bindTraining(features: Tensor): Pass {
    const { batch: B, classes: C } = this.shape;
    const oneHot = kernelPass([{ kernel: this.oneHotKernel.bind([this.labels, this.oneHot], 'probe.one_hot'), grid: [Math.ceil((B * C) / 256), 1, 1] }], 0, 4 * (B + B * C));
    const forward = this.train.bindForward(features, this.weight, this.logits, this.bias);
    const plan: CrossEntropyPlan = this.ce.bind([{ logits: this.logits, grad: this.dlogits, targets: [{ w: this.oneHot, weight: 1 }] }], this.loss, 'probe.loss');
    plan.setTemperature(1);
    const lossPass: Pass = { dispatches: 2, flops: 0, bytes: 0, record: (e: GPUCommandEncoder, t?: PassTimer) => plan.record(e, t) };
    const backward = this.train.bindBackward({ x: features, weight: this.weight, dy: this.dlogits, dweight: this.dweight, dbias: this.dbias });
    const sgd = this.optimizer.bind({ params: this.params, grads: this.grads, momentum: this.momentum });
    const self = this;
    const seq = sequencePass([oneHot, forward, lossPass, backward, sgd]);
    return {
      get dispatches() {
        return seq.dispatches;
      },
      flops: seq.flops,
      bytes: seq.bytes,
      record(encoder: GPUCommandEncoder, timer?: PassTimer) {
        if (!self.lrSet) throw new Error('linear probe: call setLr before recording a training step');
        seq.record(encoder, timer);
      },
    };
  }

  /** The batch's labels (B values, each < classes). */
  setLabels(labels: Uint32Array): void {
    if (labels.length !== this.shape.batch) throw new ShapeError(`linear probe: ${labels.length} labels for a batch of ${this.shape.batch}`);
    this.ctx.device.queue.writeBuffer(this.labels.buffer, this.labels.byteOffset, labels as Uint32Array<ArrayBuffer>);
  }

  /** This step's learning rate (momentum 0.9, no weight decay: solo-learn's online eval). */
  setLr(lr: number): void {
    this.optimizer.setParams({ lr, momentum: PROBE_DEFAULTS.momentum, weightDecay: PROBE_DEFAULTS.weightDecay });
    this.lrSet = true;
  }

  /** Zeroes the parameters and the momentum (a fresh probe). */
  reset(): void {
    const enc = this.ctx.device.createCommandEncoder({ label: 'probe.reset' });
    for (const t of [this.params, this.grads, this.momentum]) enc.clearBuffer(t.buffer, t.byteOffset, t.byteLength);
    this.ctx.device.queue.submit([enc.finish()]);
  }

  /** Parameters then momentum (2 × size floats), to resume a probe exactly. */
  async download(): Promise<Float32Array> {
    const [p, m] = await Promise.all([readF32(this.ctx, this.params), readF32(this.ctx, this.momentum)]);
    const out = new Float32Array(2 * this.size);
    out.set(p);
    out.set(m, this.size);
    return out;
  }

  /** Restores what `download` returned. */
  upload(state: Float32Array): void {
    if (state.length !== 2 * this.size) throw new ShapeError(`linear probe: a saved state of ${state.length} floats does not fit this probe (${2 * this.size}: ${this.shape.dim} features × ${this.shape.classes} classes)`);
    this.ctx.device.queue.writeBuffer(this.params.buffer, this.params.byteOffset, state.subarray(0, this.size) as Float32Array<ArrayBuffer>);
    this.ctx.device.queue.writeBuffer(this.momentum.buffer, this.momentum.byteOffset, state.subarray(this.size) as Float32Array<ArrayBuffer>);
  }

  /** Logits (count×C, host) of the first `count` rows of `features` (N×D on the GPU). */
  async predict(features: Tensor, count: number): Promise<Float32Array> {
    const { dim: D, classes: C } = this.shape;
    if (features.numel < count * D) throw new ShapeError(`linear probe: features ${features} hold fewer than ${count} rows of ${D}`);
    const E = this.evalBatch;
    const infer = await this.inferLayer();
    const input = createTensor(this.ctx, [E, D], 'f32', 'probe.eval_input');
    const logits = createTensor(this.ctx, [E, C], 'f32', 'probe.eval_logits');
    const out = createTensor(this.ctx, [count, C], 'f32', 'probe.eval_out');
    const pass = infer.bindForward(input, this.weight, logits, this.bias);
    for (let start = 0; start < count; start += E) {
      const n = Math.min(E, count - start);
      const enc = this.ctx.device.createCommandEncoder({ label: 'probe.predict' });
      enc.copyBufferToBuffer(features.buffer, features.byteOffset + start * D * 4, input.buffer, input.byteOffset, n * D * 4);
      pass.record(enc);
      enc.copyBufferToBuffer(logits.buffer, logits.byteOffset, out.buffer, out.byteOffset + start * C * 4, n * C * 4);
      this.ctx.device.queue.submit([enc.finish()]);
    }
    const host = await readF32(this.ctx, out);
    for (const t of [input, logits, out]) t.buffer.destroy();
    return host;
  }

  /** Top-1/top-5 (percent) of the probe on `count` feature rows with these labels. */
  async evaluate(features: Tensor, labels: ArrayLike<number>): Promise<TopK> {
    const logits = await this.predict(features, labels.length);
    return topKAccuracy(logits, labels, this.shape.classes);
  }

  destroy(): void {
    for (const t of [this.params, this.grads, this.momentum, this.labels, this.oneHot, this.logits, this.dlogits, this.loss]) t.buffer.destroy();
  }
}

export interface FeatureSet {
  /** count × dim, row-major. */
  features: Float32Array;
  labels: Uint32Array;
}

export interface LinearFitOptions {
  classes: number;
  epochs: number;
  batch: number;
  /** Peak learning rate (default 0.1·batch/256). */
  lr?: number;
  seed?: number;
  variant?: GemmVariant;
}

/** Per-dimension mean and standard deviation of a training set (std floored at 1e-6). */
export function featureStats(x: Float32Array, count: number, dim: number): { mean: Float64Array; std: Float64Array } {
  const mean = new Float64Array(dim);
  const std = new Float64Array(dim);
  for (let i = 0; i < count; i++) for (let d = 0; d < dim; d++) mean[d]! += x[i * dim + d]!;
  for (let d = 0; d < dim; d++) mean[d]! /= Math.max(1, count);
  for (let i = 0; i < count; i++)
    for (let d = 0; d < dim; d++) {
      const v = x[i * dim + d]! - mean[d]!;
      std[d]! += v * v;
    }
  for (let d = 0; d < dim; d++) std[d] = Math.max(1e-6, Math.sqrt(std[d]! / Math.max(1, count)));
  return { mean, std };
}

/** (x − mean)/std per dimension, as a new array. */
export function standardize(x: Float32Array, dim: number, s: { mean: Float64Array; std: Float64Array }): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = (x[i]! - s.mean[i % dim]!) / s.std[i % dim]!;
  return out;
}

/**
 * Multinomial logistic regression on fixed features, trained on the GPU: features standardised
 * with the training set's per-dimension mean and std, zero-initialised weights, shuffled
 * mini-batches (the last partial batch of an epoch dropped), SGD momentum 0.9, no weight decay,
 * cosine lr over all steps; top-1/top-5 on `test`.
 */
export async function fitLinearClassifier(ctx: GpuContext, train: FeatureSet, test: FeatureSet, opts: LinearFitOptions): Promise<TopK & { steps: number; lr: number; loss: number }> {
  const n = train.labels.length;
  if (n < 1 || test.labels.length < 1) throw new ShapeError(`linear classifier: needs training and test rows; got ${n} and ${test.labels.length}`);
  const dim = train.features.length / n;
  if (!Number.isInteger(dim) || test.features.length !== test.labels.length * dim) throw new ShapeError(`linear classifier: features of ${train.features.length} and ${test.features.length} values do not split into rows of one dimension (${n} and ${test.labels.length} labels)`);
  for (const [what, set] of [['training', train], ['test', test]] as const) {
    const bad = set.labels.findIndex((y) => y >= opts.classes);
    if (bad >= 0) throw new ShapeError(`linear classifier: ${what} label ${set.labels[bad]} at row ${bad} is not below the ${opts.classes} classes`);
  }
  const B = Math.min(opts.batch, n);
  const stats = featureStats(train.features, n, dim);
  const xs = standardize(train.features, dim, stats);
  const xt = standardize(test.features, dim, stats);
  const probe = await LinearProbe.create(ctx, { batch: B, dim, classes: opts.classes }, { evalBatch: Math.min(1024, test.labels.length), variant: opts.variant });
  const batchFeats = createTensor(ctx, [B, dim], 'f32', 'linear.batch');
  const pass = probe.bindTraining(batchFeats);
  const lr = opts.lr ?? probeLearningRate(B);
  const perEpoch = Math.max(1, Math.floor(n / B));
  const total = perEpoch * opts.epochs;
  const rows = new Float32Array(B * dim);
  const ys = new Uint32Array(B);
  for (let e = 0; e < opts.epochs; e++) {
    const perm = epochPermutation(opts.seed ?? 0, e, n);
    for (let s = 0; s < perEpoch; s++) {
      for (let i = 0; i < B; i++) {
        const r = perm[s * B + i]!;
        rows.set(xs.subarray(r * dim, (r + 1) * dim), i * dim);
        ys[i] = train.labels[r]!;
      }
      ctx.device.queue.writeBuffer(batchFeats.buffer, batchFeats.byteOffset, rows);
      probe.setLabels(ys);
      probe.setLr(probeLrAt(lr, e * perEpoch + s, total));
      const enc = ctx.device.createCommandEncoder({ label: 'linear.step' });
      pass.record(enc);
      ctx.device.queue.submit([enc.finish()]);
    }
    await ctx.device.queue.onSubmittedWorkDone();
  }
  const loss = (await readF32(ctx, probe.loss))[0]!;
  const testFeats = createTensor(ctx, [test.labels.length, dim], 'f32', 'linear.test');
  ctx.device.queue.writeBuffer(testFeats.buffer, testFeats.byteOffset, xt as Float32Array<ArrayBuffer>);
  const r = await probe.evaluate(testFeats, test.labels);
  probe.destroy();
  batchFeats.buffer.destroy();
  testFeats.buffer.destroy();
  return { ...r, steps: total, lr, loss };
}
