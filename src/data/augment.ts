// Host side of the GPU augmentation (src/shaders/augment.wgsl): uint8 NHWC images on the GPU
// (packed 4 per u32) + a batch of indices → normalised f32 NHWC views
// [views][batch][outSize][outSize][outChannels], every random choice drawn on the GPU from a
// counter-based hash of (seed, step, sample, view, op) — one seed reproduces everything.
//
// One pipeline per device (shapes and settings live in a uniform, written once at bind); per
// step only the 16-byte step uniform (seed, step, first view) changes, by queue.writeBuffer, so
// nothing is recompiled or rebound. `record` adds one dispatch to the step's encoder.
//
// Documented deviations from torchvision (see also augment.wgsl):
// - RandomResizedCrop: the same 10 attempts and central fallback as torchvision's get_params,
//   each attempt with its own hash words (so it is deterministic per (seed, step, sample, view));
//   sizes round half to even like Python's round(). Resizing is bilinear with half-pixel centres
//   (align_corners=False) and no antialiasing (torchvision's tensor path with antialias=False;
//   it matters only when a crop is shrunk, e.g. multi-crop local views).
// - Everything runs in float (torchvision's tensor path), with no rounding to uint8 between ops
//   as PIL would do; solarize uses PIL's threshold 128 on the 0…255 scale.
// - ColorJitter: torchvision's random op order (a Fisher–Yates permutation from the hash), its
//   factor ranges, and its formulas (contrast blends with the mean grey of the whole view; hue via
//   HSV). Ops with strength 0 are skipped, as torchvision does.
import augmentWgsl from '../shaders/augment.wgsl?raw';
import type { GpuContext } from '../gpu/context.ts';
import { ShapeError, assertShape } from '../gpu/errors.ts';
import { createKernel, type BoundKernel, type Kernel, type PassTimer } from '../gpu/kernel.ts';
import { createBuffer, createTensor, type Tensor } from '../gpu/tensor.ts';
import { CONFIG_WORDS, PARAM_WORDS, packAugmentConfig, resolveAugmentConfig, type AugmentConfig, type AugmentOptions } from './augment-config.ts';

export * from './augment-config.ts';

export const AUGMENT_WORKGROUP = 64;

export interface AugmenterOptions extends AugmentOptions {
  /** The seed used by setStep() when none is given (default 0). */
  seed?: number;
}

function checkU32(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`augment: ${what} must be an integer in 0…2^32−1, got ${v}`);
  return v;
}

export class Augmenter {
  /** The parameters drawn at the last recorded step: u32 [views][batch][16] (decodeAugmentParams). */
  readonly params: Tensor;
  readonly configBuffer: GPUBuffer;
  readonly stepBuffer: GPUBuffer;
  seed: number;
  private bound: BoundKernel | null = null;
  private readonly stepWords = new Uint32Array(4);

  private constructor(
    readonly ctx: GpuContext,
    readonly config: AugmentConfig,
    private readonly kernel: Kernel,
    seed: number,
  ) {
    const c = config;
    this.seed = checkU32(seed, 'seed');
    this.params = createTensor(ctx, [c.views, c.batch, PARAM_WORDS], 'u32', `${c.label}.params`);
    this.configBuffer = createBuffer(ctx, CONFIG_WORDS * 4, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, `${c.label}.config`);
    this.stepBuffer = createBuffer(ctx, 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, `${c.label}.step`);
    this.setStep(0);
  }

  /** Validates the options, compiles (or reuses) the pipeline and allocates the small buffers. */
  static async create(ctx: GpuContext, opts: AugmenterOptions): Promise<Augmenter> {
    let config: AugmentConfig;
    try {
      config = resolveAugmentConfig(opts);
    } catch (e) {
      throw new ShapeError((e as Error).message);
    }
    const max = ctx.limits.maxComputeWorkgroupsPerDimension;
    assertShape(config.batch <= max && config.views <= max, () => `${config.label}: batch ${config.batch} × views ${config.views} exceeds ${max} workgroups per dimension`);
    const kernel = await createKernel(ctx, { label: 'augment', code: augmentWgsl });
    return new Augmenter(ctx, config, kernel, opts.seed ?? 0);
  }

  /** [views, batch, outSize, outSize, outChannels]. */
  get outShape(): [number, number, number, number, number] {
    const c = this.config;
    return [c.views, c.batch, c.outSize, c.outSize, c.outChannels];
  }

  /** Allocates an output tensor of the right shape (callers planning memory use outShape). */
  createOutput(label = `${this.config.label}.out`): Tensor {
    return createTensor(this.ctx, this.outShape, 'f32', label);
  }

  /**
   * Sets the (seed, step) the next recorded dispatch draws from: a 16-byte queue.writeBuffer,
   * ordered before the next submit. Call once per step, before submitting that step's encoder.
   */
  setStep(step: number, seed = this.seed): void {
    this.stepWords[0] = checkU32(seed, 'seed');
    this.stepWords[1] = checkU32(step, 'step');
    this.stepWords[2] = this.config.viewOffset;
    this.stepWords[3] = 0;
    this.ctx.device.queue.writeBuffer(this.stepBuffer, 0, this.stepWords);
  }

  /**
   * Binds the dataset (uint8 [N, H, W, C] or any u8 tensor of N·H·W·C values), the batch's
   * indices (u32 [batch]) and the output (f32, outShape). Checks shapes first; once per plan.
   */
  bind(images: Tensor, indices: Tensor, out: Tensor): void {
    const c = this.config;
    const per = c.height * c.width * c.channels;
    assertShape(images.dtype === 'u8', () => `${c.label}: images ${images} must be u8`);
    assertShape(images.numel % per === 0 && images.numel > 0, () => `${c.label}: images ${images} is not a whole number of ${c.height}×${c.width}×${c.channels} images`);
    if (images.shape.length === 4) {
      const [, h, w, ch] = images.shape;
      assertShape(h === c.height && w === c.width && ch === c.channels, () => `${c.label}: images ${images} are not ${c.height}×${c.width}×${c.channels} (NHWC)`);
    }
    assertShape(indices.dtype === 'u32' && indices.numel === c.batch, () => `${c.label}: indices ${indices} must be ${c.batch} u32 values`);
    const want = this.outShape.reduce((a, b) => a * b, 1);
    assertShape(out.dtype === 'f32' && out.numel === want, () => `${c.label}: out ${out} must hold ${want} f32 values [${this.outShape.join('×')}]`);
    const numImages = images.numel / per;
    // Bind first (it may refuse an oversized binding), so a failed bind changes nothing.
    const bound = this.kernel.bind([{ buffer: this.configBuffer }, { buffer: this.stepBuffer }, images, indices, out, this.params], c.label);
    this.ctx.device.queue.writeBuffer(this.configBuffer, 0, packAugmentConfig(c, numImages));
    this.bound = bound;
  }

  /** Records the augmentation into the step's encoder: one dispatch of (batch, views) workgroups. */
  record(encoder: GPUCommandEncoder, timer?: PassTimer): void {
    if (!this.bound) throw new ShapeError(`${this.config.label}: record() before bind()`);
    this.bound.record(encoder, [this.config.batch, this.config.views, 1], timer);
  }

  /** Bytes read and written per dispatch (approximate: source pixels ×4 taps, output, params). */
  get bytesPerStep(): number {
    const c = this.config;
    const pixels = c.views * c.batch * c.outSize * c.outSize;
    return pixels * (4 * c.channels + 4 * c.outChannels * 3) + c.views * c.batch * PARAM_WORDS * 4;
  }

  destroy(): void {
    this.params.buffer.destroy();
    this.configBuffer.destroy();
    this.stepBuffer.destroy();
    this.bound = null;
  }
}

export interface LocalCropOptions {
  /** How many local views. */
  count: number;
  /** Their output size (smaller than the global views'). */
  size: number;
  /** Area fraction range (default [0.05, 0.2]). */
  scale?: [number, number];
  ratio?: [number, number];
}

/**
 * Multi-crop: the global views (as `Augmenter`) plus `local.count` smaller views with their own
 * crop scale, drawn as views numbered after the global ones (so their randomness is distinct
 * and solarize's "second view only" never touches them). Same padding as the global views.
 */
export class MultiCropAugmenter {
  private constructor(
    readonly global: Augmenter,
    readonly local: Augmenter,
  ) {}

  static async create(ctx: GpuContext, opts: AugmenterOptions & { local: LocalCropOptions }): Promise<MultiCropAugmenter> {
    const global = await Augmenter.create(ctx, opts);
    const g = global.config;
    const baseCrop = typeof opts.preset === 'string' ? undefined : opts.preset.crop;
    const local = await Augmenter.create(ctx, {
      ...opts,
      outSize: opts.local.size,
      views: opts.local.count,
      viewOffset: g.viewOffset + g.views,
      pad: g.pad,
      overrides: {
        ...opts.overrides,
        crop: { scale: opts.local.scale ?? [0.05, 0.2], ratio: opts.local.ratio ?? baseCrop?.ratio ?? [3 / 4, 4 / 3] },
      },
      label: `${g.label}.local`,
    });
    return new MultiCropAugmenter(global, local);
  }

  setStep(step: number, seed = this.global.seed): void {
    this.global.setStep(step, seed);
    this.local.setStep(step, seed);
  }

  bind(images: Tensor, indices: Tensor, outGlobal: Tensor, outLocal: Tensor): void {
    this.global.bind(images, indices, outGlobal);
    this.local.bind(images, indices, outLocal);
  }

  record(encoder: GPUCommandEncoder, timer?: PassTimer): void {
    this.global.record(encoder, timer);
    this.local.record(encoder, timer);
  }

  destroy(): void {
    this.global.destroy();
    this.local.destroy();
  }
}

/** Uploads a dataset's images as a packed u8 tensor [N, H, W, C] (once per dataset). */
export function uploadImages(ctx: GpuContext, ds: { images: Uint8Array; count: number; height: number; width: number; channels: number; name: string }): Tensor {
  const t = createTensor(ctx, [ds.count, ds.height, ds.width, ds.channels], 'u8', `${ds.name}.images`);
  const bytes = ds.images;
  if (bytes.byteLength % 4 === 0) ctx.device.queue.writeBuffer(t.buffer, 0, bytes as Uint8Array<ArrayBuffer>);
  else {
    const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
    padded.set(bytes);
    ctx.device.queue.writeBuffer(t.buffer, 0, padded);
  }
  return t;
}
