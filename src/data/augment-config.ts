// Augmentation settings shared by the GPU host (augment.ts), the WGSL kernel (augment.wgsl) and
// the float64 reference (src/ref/augment.ts): presets, their resolution into the exact f32
// values the GPU sees, the uniform layout, and the per-sample parameter record.
import { probabilityThreshold } from './rng.ts';

export interface CropSpec {
  /** Area fraction of the (padded) image, uniform in [lo, hi]. */
  scale: [number, number];
  /** Aspect ratio w/h, log-uniform in [lo, hi]. */
  ratio: [number, number];
}

export interface JitterSpec {
  /** Strengths as torchvision's ColorJitter: factors uniform in [max(0, 1−s), 1+s]; hue in [−h, h]. */
  brightness: number;
  contrast: number;
  saturation: number;
  hue: number;
  /** Probability of applying the jitter at all (RandomApply). */
  p: number;
}

export interface SolarizeSpec {
  p: number;
  /** Absolute view indices (0-based) that may be solarized: [1] = "the second view only". */
  views: number[];
  /** Pixels ≥ threshold (0…255 scale) become 255 − pixel; PIL's default is 128. */
  threshold: number;
}

export interface AugmentPreset {
  name: string;
  /** RandomResizedCrop; null takes the whole (padded) image, resized to outSize. */
  crop: CropSpec | null;
  flipP: number;
  jitter: JitterSpec | null;
  grayscaleP: number;
  solarize: SolarizeSpec | null;
  /** Normalisation of pixel/255; null: the dataset's own (C=3: CIFAR-10's, C=1: Fashion-MNIST's). */
  mean: number[] | null;
  std: number[] | null;
}

export type AugmentPresetName = 'cifar' | 'fashion-mnist' | 'none';

const RATIO: [number, number] = [3 / 4, 4 / 3];

export const AUGMENT_PRESETS: Record<AugmentPresetName, AugmentPreset> = {
  /** The official MIRA CIFAR-10 loader. */
  cifar: {
    name: 'cifar',
    crop: { scale: [0.2, 1], ratio: RATIO },
    flipP: 0.5,
    jitter: { brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1, p: 0.8 },
    grayscaleP: 0.2,
    solarize: { p: 0.2, views: [1], threshold: 128 },
    mean: [0.4914, 0.4822, 0.4465],
    std: [0.247, 0.243, 0.261],
  },
  /** Fashion-MNIST: padded 28→32 (2 zero pixels each side) before the crop. */
  'fashion-mnist': {
    name: 'fashion-mnist',
    crop: { scale: [0.3, 1], ratio: RATIO },
    flipP: 0.5,
    jitter: { brightness: 0.4, contrast: 0.4, saturation: 0, hue: 0, p: 0.8 },
    grayscaleP: 0,
    solarize: null,
    mean: [0.286],
    std: [0.353],
  },
  /** Only padding and normalisation (evaluation, embedding). */
  none: {
    name: 'none',
    crop: null,
    flipP: 0,
    jitter: null,
    grayscaleP: 0,
    solarize: null,
    mean: null,
    std: null,
  },
};

export interface AugmentOptions {
  /** Images per view (the length of the indices tensor). */
  batch: number;
  height: number;
  width: number;
  /** 1 or 3. */
  channels: number;
  /** Output images are outSize × outSize. */
  outSize: number;
  /** Default 4 for 3-channel data (4th channel zero, for vec4 loads in the stem), else 1. */
  outChannels?: number;
  preset: AugmentPresetName | AugmentPreset;
  /** Changes to the preset (e.g. `{ solarize: null }`). */
  overrides?: Partial<Omit<AugmentPreset, 'name'>>;
  /** Views per dispatch (default 2): the output is [views, batch, outSize, outSize, outChannels]. */
  views?: number;
  /** Absolute index of the first view (hash input; solarize's view list). Multi-crop locals start at 2. */
  viewOffset?: number;
  /** Zero pixels added on each side before the crop; default pads a smaller image up to outSize (28→32). */
  pad?: number;
  /** Mean / std of pixel/255 per input channel; default the preset's. */
  mean?: number[];
  std?: number[];
  label?: string;
}

/** Everything the kernel needs, with every real number already rounded to f32. */
export interface AugmentConfig {
  label: string;
  preset: string;
  batch: number;
  height: number;
  width: number;
  channels: number;
  pad: number;
  paddedHeight: number;
  paddedWidth: number;
  outSize: number;
  outChannels: number;
  views: number;
  viewOffset: number;
  crop: boolean;
  scaleLo: number;
  scaleHi: number;
  logRatioLo: number;
  logRatioHi: number;
  ratioLo: number;
  ratioHi: number;
  flipThreshold: number;
  jitterThreshold: number;
  grayscaleThreshold: number;
  solarizeThreshold: number;
  /** Bit v set: absolute view v may be solarized. */
  solarizeViews: number;
  solarizeLevel: number;
  /** Bit 0 brightness, 1 contrast, 2 saturation, 3 hue: which jitter ops are on (strength > 0). */
  jitterOps: number;
  brightness: [number, number];
  contrast: [number, number];
  saturation: [number, number];
  hue: number;
  mean: number[];
  std: number[];
}

const f32 = Math.fround;

function presetOf(p: AugmentOptions['preset']): AugmentPreset {
  if (typeof p !== 'string') return p;
  const preset = AUGMENT_PRESETS[p];
  if (!preset) throw new RangeError(`augment: unknown preset "${p}" (known: ${Object.keys(AUGMENT_PRESETS).join(', ')})`);
  return preset;
}

function posInt(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new RangeError(`augment: ${what} must be a positive integer, got ${v}`);
  return v;
}

function range(r: [number, number], what: string, lo = 0): [number, number] {
  if (!(r.length === 2 && r[0] >= lo && r[1] >= r[0] && Number.isFinite(r[1]))) throw new RangeError(`augment: ${what} must be [lo, hi] with ${lo} ≤ lo ≤ hi, got [${r.join(', ')}]`);
  return r;
}

/** Validates options and resolves them (with the preset) into the values the GPU uses. */
export function resolveAugmentConfig(opts: AugmentOptions): AugmentConfig {
  const preset: AugmentPreset = { ...presetOf(opts.preset), ...opts.overrides };
  const batch = posInt(opts.batch, 'batch');
  const height = posInt(opts.height, 'height');
  const width = posInt(opts.width, 'width');
  const channels = posInt(opts.channels, 'channels');
  if (channels !== 1 && channels !== 3) throw new RangeError(`augment: channels must be 1 or 3, got ${channels}`);
  const outSize = posInt(opts.outSize, 'outSize');
  const outChannels = posInt(opts.outChannels ?? (channels === 3 ? 4 : 1), 'outChannels');
  if (outChannels < channels) throw new RangeError(`augment: outChannels (${outChannels}) must be at least channels (${channels})`);
  const views = posInt(opts.views ?? 2, 'views');
  const viewOffset = opts.viewOffset ?? 0;
  if (!Number.isInteger(viewOffset) || viewOffset < 0) throw new RangeError(`augment: viewOffset must be a non-negative integer, got ${viewOffset}`);
  const pad = opts.pad ?? Math.max(0, Math.floor((outSize - Math.max(height, width)) / 2));
  if (!Number.isInteger(pad) || pad < 0) throw new RangeError(`augment: pad must be a non-negative integer, got ${pad}`);
  const paddedHeight = height + 2 * pad;
  const paddedWidth = width + 2 * pad;
  if (paddedHeight > 65536 || paddedWidth > 65536) throw new RangeError('augment: images larger than 65536 pixels a side are not supported');

  const mean = opts.mean ?? preset.mean ?? (channels === 3 ? AUGMENT_PRESETS.cifar.mean! : AUGMENT_PRESETS['fashion-mnist'].mean!);
  const std = opts.std ?? preset.std ?? (channels === 3 ? AUGMENT_PRESETS.cifar.std! : AUGMENT_PRESETS['fashion-mnist'].std!);
  if (mean.length !== channels || std.length !== channels) {
    throw new RangeError(`augment: mean and std need ${channels} values (one per channel), got ${mean.length} and ${std.length}`);
  }
  if (!std.every((s) => s > 0)) throw new RangeError(`augment: std must be positive, got [${std.join(', ')}]`);

  const crop = preset.crop;
  const scale = crop ? range(crop.scale, 'crop scale') : ([1, 1] as [number, number]);
  const ratio = crop ? range(crop.ratio, 'crop ratio') : ([1, 1] as [number, number]);
  if (crop && (scale[1] > 1 || scale[0] <= 0 || ratio[0] <= 0)) throw new RangeError(`augment: crop scale must lie in (0, 1] and ratio be positive`);
  const j = preset.jitter;
  const jitterOps = j ? (j.brightness > 0 ? 1 : 0) | (j.contrast > 0 ? 2 : 0) | (channels === 3 && j.saturation > 0 ? 4 : 0) | (channels === 3 && j.hue > 0 ? 8 : 0) : 0;
  if (j && (j.hue < 0 || j.hue > 0.5)) throw new RangeError(`augment: hue jitter must be in [0, 0.5], got ${j.hue}`);
  const factor = (s: number): [number, number] => (s > 0 ? [f32(Math.max(0, 1 - s)), f32(1 + s)] : [1, 1]);
  const sol = preset.solarize;
  let solarizeViews = 0;
  for (const v of sol?.views ?? []) {
    if (!Number.isInteger(v) || v < 0 || v > 31) throw new RangeError(`augment: solarize view indices must be 0…31, got ${v}`);
    solarizeViews |= 1 << v;
  }
  return {
    label: opts.label ?? `augment.${preset.name}`,
    preset: preset.name,
    batch,
    height,
    width,
    channels,
    pad,
    paddedHeight,
    paddedWidth,
    outSize,
    outChannels,
    views,
    viewOffset,
    crop: !!crop,
    scaleLo: f32(scale[0]),
    scaleHi: f32(scale[1]),
    logRatioLo: f32(Math.log(ratio[0])),
    logRatioHi: f32(Math.log(ratio[1])),
    ratioLo: f32(ratio[0]),
    ratioHi: f32(ratio[1]),
    flipThreshold: probabilityThreshold(preset.flipP),
    jitterThreshold: j && jitterOps ? probabilityThreshold(j.p) : 0,
    grayscaleThreshold: channels === 3 ? probabilityThreshold(preset.grayscaleP) : 0,
    solarizeThreshold: sol ? probabilityThreshold(sol.p) : 0,
    solarizeViews: solarizeViews >>> 0,
    solarizeLevel: f32(sol?.threshold ?? 128),
    jitterOps,
    brightness: factor(j?.brightness ?? 0),
    contrast: factor(j?.contrast ?? 0),
    saturation: factor(channels === 3 ? (j?.saturation ?? 0) : 0),
    hue: f32(channels === 3 ? (j?.hue ?? 0) : 0),
    mean: mean.map(f32),
    std: std.map(f32),
  };
}

/** Words in the config uniform (see `struct Config` in augment.wgsl). */
export const CONFIG_WORDS = 40;

/** The config uniform's bytes; `numImages` bounds the indices (out-of-range ones give zero images). */
export function packAugmentConfig(c: AugmentConfig, numImages: number): ArrayBuffer {
  const buf = new ArrayBuffer(CONFIG_WORDS * 4);
  const u = new Uint32Array(buf);
  const f = new Float32Array(buf);
  u.set([c.batch, c.height, c.width, c.channels, c.pad, c.outSize, c.outChannels, c.views, numImages, c.crop ? 1 : 0], 0);
  f.set([c.scaleLo, c.scaleHi, c.logRatioLo, c.logRatioHi, c.ratioLo, c.ratioHi], 10);
  u.set([c.flipThreshold, c.jitterThreshold, c.grayscaleThreshold, c.solarizeThreshold, c.solarizeViews, c.jitterOps], 16);
  f[22] = c.solarizeLevel;
  f.set([c.brightness[0], c.brightness[1], c.contrast[0], c.contrast[1], c.saturation[0], c.saturation[1], c.hue], 24);
  for (let i = 0; i < 4; i++) {
    f[32 + i] = c.mean[i] ?? 0;
    f[36 + i] = c.std[i] ?? 1;
  }
  return buf;
}

/** u32 words per (view, sample) in the params buffer. */
export const PARAM_WORDS = 16;

/** What the kernel drew for one image of one view (also what the reference computes). */
export interface AugmentSampleParams {
  /** Crop box in padded-image pixels. */
  cropY: number;
  cropX: number;
  cropH: number;
  cropW: number;
  flip: boolean;
  jitter: boolean;
  /** Jitter ops in the order applied: 0 brightness, 1 contrast, 2 saturation, 3 hue. */
  order: [number, number, number, number];
  brightness: number;
  contrast: number;
  saturation: number;
  hue: number;
  grayscale: boolean;
  solarize: boolean;
  /** 0…9: the crop attempt that succeeded; 10: the central fallback; 11: no crop (whole image). */
  attempt: number;
  /** Dataset index of the image (0xffffffff when the index was out of range). */
  image: number;
  /** pcg(base + CHECK), for checking the hash bit for bit. */
  check: number;
}

export function encodeOrder(order: readonly number[]): number {
  return (order[0]! | (order[1]! << 2) | (order[2]! << 4) | (order[3]! << 6)) >>> 0;
}

export function decodeOrder(word: number): [number, number, number, number] {
  return [word & 3, (word >>> 2) & 3, (word >>> 4) & 3, (word >>> 6) & 3];
}

/** Decodes the params buffer ([views][batch][16] u32) into records, [view][sample]. */
export function decodeAugmentParams(words: Uint32Array, views: number, batch: number): AugmentSampleParams[][] {
  const fl = new Float32Array(words.buffer, words.byteOffset, words.length);
  const out: AugmentSampleParams[][] = [];
  for (let v = 0; v < views; v++) {
    const row: AugmentSampleParams[] = [];
    for (let s = 0; s < batch; s++) {
      const o = (v * batch + s) * PARAM_WORDS;
      row.push({
        cropY: words[o]!,
        cropX: words[o + 1]!,
        cropH: words[o + 2]!,
        cropW: words[o + 3]!,
        flip: words[o + 4]! !== 0,
        jitter: words[o + 5]! !== 0,
        order: decodeOrder(words[o + 6]!),
        brightness: fl[o + 7]!,
        contrast: fl[o + 8]!,
        saturation: fl[o + 9]!,
        hue: fl[o + 10]!,
        grayscale: words[o + 11]! !== 0,
        solarize: words[o + 12]! !== 0,
        attempt: words[o + 13]!,
        image: words[o + 14]!,
        check: words[o + 15]!,
      });
    }
    out.push(row);
  }
  return out;
}
