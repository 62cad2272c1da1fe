// The model configuration: everything that fixes a shape. Validated up front so an impossible
// configuration is refused with its reason before any GPU memory is planned.
import { ShapeError } from '../gpu/errors.ts';

export interface ModelConfig {
  /** Channel multiplier: 1 → 64/128/256/512 channels. */
  width: number;
  /** 1 (Fashion-MNIST) or 3 (CIFAR-10). */
  inChannels: 1 | 3;
  /** Square input side; divisible by 8. */
  imageSize: number;
  /** Stem padding: 1 keeps 32/16/8/4 maps (our default); 2 is the official code's 34×34. */
  stemPadding: 1 | 2;
  /** Per-channel normalisation applied to [0,1] pixels. */
  mean: number[];
  std: number[];
  projHidden: number;
  projOut: number;
  /** K, the number of prototypes (clusters); 0: no prototype head (embedding objectives). */
  prototypes: number;
}

export const WIDTHS = [1, 1 / 2, 1 / 4, 1 / 8, 1 / 16] as const;

export function stageChannels(width: number): [number, number, number, number] {
  return [64, 128, 256, 512].map((c) => Math.max(1, Math.round(c * width))) as [number, number, number, number];
}

export function featureDim(width: number): number {
  return stageChannels(width)[3];
}

export const CIFAR_MEAN = [0.4914, 0.4822, 0.4465];
export const CIFAR_STD = [0.247, 0.243, 0.261];
export const FASHION_MEAN = [0.286];
export const FASHION_STD = [0.353];

export function defaultModelConfig(inChannels: 1 | 3, over: Partial<ModelConfig> = {}): ModelConfig {
  return {
    width: 1 / 8,
    inChannels,
    imageSize: 32,
    stemPadding: 1,
    mean: inChannels === 3 ? CIFAR_MEAN : FASHION_MEAN,
    std: inChannels === 3 ? CIFAR_STD : FASHION_STD,
    projHidden: 512,
    projOut: 128,
    prototypes: 300,
    ...over,
  };
}

/** Throws a ShapeError listing every problem with the configuration. */
export function validateModelConfig(c: ModelConfig): void {
  const problems: string[] = [];
  if (!(c.width > 0) || !Number.isFinite(c.width)) problems.push(`width must be a positive number (1, 1/2, 1/4, 1/8, 1/16), got ${c.width}`);
  if (c.inChannels !== 1 && c.inChannels !== 3) problems.push(`in_channels must be 1 or 3, got ${c.inChannels}`);
  if (!Number.isInteger(c.imageSize) || c.imageSize < 8 || c.imageSize % 8 !== 0) problems.push(`image_size must be a multiple of 8 (three stride-2 stages), got ${c.imageSize}`);
  if (c.stemPadding !== 1 && c.stemPadding !== 2) problems.push(`stem_padding must be 1 or 2, got ${c.stemPadding}`);
  if (c.mean.length !== c.inChannels || c.std.length !== c.inChannels) problems.push(`mean and std need ${c.inChannels} value(s) each, got ${c.mean.length} and ${c.std.length}`);
  if (c.std.some((s) => !(s > 0))) problems.push(`std must be positive, got ${c.std.join(', ')}`);
  for (const [k, v] of [['proj_hidden', c.projHidden], ['proj_out', c.projOut]] as const) {
    if (!Number.isInteger(v) || v < 1) problems.push(`${k} must be a positive integer, got ${v}`);
  }
  if (!Number.isInteger(c.prototypes) || c.prototypes === 1 || c.prototypes < 0) problems.push(`prototypes (K) must be an integer ≥ 2 (or 0: no prototype head, for an embedding objective), got ${c.prototypes}`);
  if (problems.length) throw new ShapeError(`invalid model configuration: ${problems.join('; ')}`);
}

/** The JSON stored as safetensors metadata `mira.config` (snake_case, as docs/ARCHITECTURE.md, the checkpoint format, names it). */
export interface StoredConfig {
  width: number;
  in_channels: number;
  image_size: number;
  stem_padding: number;
  mean: number[];
  std: number[];
  proj_hidden: number;
  proj_out: number;
  prototypes: number;
  step: number;
  [extra: string]: unknown;
}

export function toStoredConfig(c: ModelConfig, step: number, extra: Record<string, unknown> = {}): StoredConfig {
  return {
    width: c.width,
    in_channels: c.inChannels,
    image_size: c.imageSize,
    stem_padding: c.stemPadding,
    mean: c.mean,
    std: c.std,
    proj_hidden: c.projHidden,
    proj_out: c.projOut,
    prototypes: c.prototypes,
    step,
    ...extra,
  };
}

export function fromStoredConfig(s: Partial<StoredConfig>, source: string): { config: ModelConfig; step: number } {
  const missing = ['width', 'in_channels', 'image_size', 'mean', 'std', 'proj_hidden', 'proj_out', 'prototypes'].filter((k) => (s as Record<string, unknown>)[k] === undefined);
  if (missing.length) throw new ShapeError(`${source}: metadata mira.config lacks ${missing.join(', ')}`);
  const config: ModelConfig = {
    width: Number(s.width),
    inChannels: Number(s.in_channels) as 1 | 3,
    imageSize: Number(s.image_size),
    stemPadding: (s.stem_padding === undefined ? 1 : Number(s.stem_padding)) as 1 | 2,
    mean: (s.mean as number[]).map(Number),
    std: (s.std as number[]).map(Number),
    projHidden: Number(s.proj_hidden),
    projOut: Number(s.proj_out),
    prototypes: Number(s.prototypes),
  };
  validateModelConfig(config);
  return { config, step: Number(s.step ?? 0) };
}
