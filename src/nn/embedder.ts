// Encoder features in evaluation mode (BN from running statistics), for `embed`, kNN
// evaluation and the gallery: images go through the encoder in fixed-size batches (the last
// one padded by repeating images) and the pooled features are copied into one N×D tensor.
import type { GpuContext } from '../gpu/context.ts';
import { createTensor, writeTensor, type Tensor } from '../gpu/tensor.ts';
import type { GemmVariant } from '../gpu/gemm.ts';
import type { ModelConfig } from './config.ts';
import { featureDim } from './config.ts';
import type { NetworkWeights } from './param-store.ts';
import { EncoderLayers, EncoderRun } from './resnet18.ts';

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
    const layers = await EncoderLayers.create(ctx, config, batch, variant);
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
