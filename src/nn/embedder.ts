// Encoder features in evaluation mode (BN from running statistics), for `embed`, kNN
// evaluation and the gallery: images go through the encoder in fixed-size batches (the last
// one padded by repeating images) and the pooled features are copied into one N×D tensor.
// `LogitEmbedder` goes on through the projector and the weight-normalised prototype head, also
// in evaluation mode, and hands each batch's K logits to a consumer recorded into the same
// submit (SeLa's whole-dataset label optimisation streams them into its bank).
import type { GpuContext } from '../gpu/context.ts';
import { ShapeError } from '../gpu/errors.ts';
import { createTensor, writeTensor, type Tensor } from '../gpu/tensor.ts';
import type { GemmVariant } from '../gpu/gemm.ts';
import type { ModelConfig } from './config.ts';
import { featureDim } from './config.ts';
import type { NetworkWeights } from './param-store.ts';
import { EncoderLayers, EncoderRun } from './resnet18.ts';
import { HeadLayers, HeadRun } from './projector.ts';
import { EVAL_PASSES } from './batchnorm.ts';
import type { WeightNormNormalizePass } from './weightnorm.ts';

export class Embedder {
  readonly input: Tensor;
  private readonly run: EncoderRun;

  private constructor(
    readonly ctx: GpuContext,
    readonly config: ModelConfig,
    readonly batch: number,
    layers: EncoderLayers,
    weights: NetworkWeights,
  ) {
    const S = config.imageSize;
    this.input = createTensor(ctx, [batch, S, S, config.inChannels], 'f32', 'embed.input');
    this.run = new EncoderRun(ctx, layers, weights, this.input, 'eval', 'embed');
  }

  static async create(ctx: GpuContext, config: ModelConfig, weights: NetworkWeights, batch: number, variant?: GemmVariant): Promise<Embedder> {
    const layers = await EncoderLayers.create(ctx, config, batch, variant, EVAL_PASSES);
    return new Embedder(ctx, config, batch, layers, weights);
  }

  get dim(): number {
    return featureDim(this.config.width);
  }

  /**
   * Features of `count` normalised NHWC images (host Float32Array, count×S×S×C) into `out`
   * (rows `outRow`…), one submit per batch. Resolves when the GPU is done.
   */
  async embed(images: Float32Array, count: number, out: Tensor, outRow = 0): Promise<void> {
    const per = images.length / count;
    const D = this.dim;
    for (let start = 0; start < count; start += this.batch) {
      const n = Math.min(this.batch, count - start);
      const chunk = new Float32Array(this.batch * per);
      chunk.set(images.subarray(start * per, (start + n) * per));
      for (let i = n; i < this.batch; i++) chunk.set(images.subarray(start * per, (start + 1) * per), i * per);
      writeTensor(this.ctx, this.input, chunk);
      const enc = this.ctx.device.createCommandEncoder({ label: 'embed' });
      this.run.forward.record(enc);
      enc.copyBufferToBuffer(this.run.features.buffer, this.run.features.byteOffset, out.buffer, out.byteOffset + (outRow + start) * D * 4, n * D * 4);
      this.ctx.device.queue.submit([enc.finish()]);
    }
    await this.ctx.device.queue.onSubmittedWorkDone();
  }
}

/** The network in evaluation mode up to the prototype logits: encoder → projector → head. */
export class LogitEmbedder {
  readonly input: Tensor;
  private readonly run: EncoderRun;
  private readonly normalize: WeightNormNormalizePass;
  private readonly head: HeadRun;

  private constructor(
    readonly ctx: GpuContext,
    readonly config: ModelConfig,
    readonly batch: number,
    layers: EncoderLayers,
    headLayers: HeadLayers,
    weights: NetworkWeights,
  ) {
    const S = config.imageSize;
    this.input = createTensor(ctx, [batch, S, S, config.inChannels], 'f32', 'logits_embed.input');
    this.run = new EncoderRun(ctx, layers, weights, this.input, 'eval', 'logits_embed');
    const normalize = headLayers.bindNormalize(weights.params);
    if (!normalize) throw new ShapeError(`logits need a prototype head; this model has K = ${config.prototypes}`);
    this.normalize = normalize;
    this.head = new HeadRun(ctx, headLayers, weights, this.run.features, this.normalize, 'eval', 'logits_embed.head');
  }

  static async create(ctx: GpuContext, config: ModelConfig, weights: NetworkWeights, batch: number, variant?: GemmVariant): Promise<LogitEmbedder> {
    const [layers, head] = await Promise.all([EncoderLayers.create(ctx, config, batch, variant, EVAL_PASSES), HeadLayers.create(ctx, config, batch, variant, EVAL_PASSES)]);
    return new LogitEmbedder(ctx, config, batch, layers, head, weights);
  }

  /** batch×(H·K) (H prototype heads side by side; H = 1 but for SeLa), valid for the first `n` rows of the batch being consumed. */
  get logits(): Tensor {
    return this.head.logits!;
  }

  /**
   * Runs `count` normalised NHWC images (count×S×S×C) through the network, one submit per batch
   * (the last padded by repeating its first image); `consume(encoder, logits, start, n)` records
   * what to do with rows 0…n−1 of `logits` (images start…start+n−1) into the same submit.
   * The head's W = v/‖v‖ is formed once per call, from the current weights.
   */
  async forEachBatch(images: Float32Array, count: number, consume: (encoder: GPUCommandEncoder, logits: Tensor, start: number, n: number) => void): Promise<void> {
    const per = images.length / count;
    const chunk = new Float32Array(this.batch * per);
    for (let start = 0; start < count; start += this.batch) {
      const n = Math.min(this.batch, count - start);
      chunk.set(images.subarray(start * per, (start + n) * per));
      for (let i = n; i < this.batch; i++) chunk.set(images.subarray(start * per, (start + 1) * per), i * per);
      writeTensor(this.ctx, this.input, chunk);
      const enc = this.ctx.device.createCommandEncoder({ label: 'logits_embed' });
      if (start === 0) this.normalize.record(enc);
      this.run.forward.record(enc);
      this.head.forward.record(enc);
      consume(enc, this.logits, start, n);
      this.ctx.device.queue.submit([enc.finish()]);
      // Bound the queue: the host images for later batches are staged as they are written.
      if ((start / this.batch) % 16 === 15) await this.ctx.device.queue.onSubmittedWorkDone();
    }
    await this.ctx.device.queue.onSubmittedWorkDone();
  }
}
