// The model configuration: everything that fixes a shape. Validated up front so an impossible
// configuration is refused with its reason before any GPU memory is planned.
import { ShapeError } from '../gpu/errors.ts';
import { quote } from '../io/messages.ts';

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
  /**
   * Prototype heads on the projector's output, each K prototypes (SeLa's multi-head recipe:
   * one label set per head); absent or 1 is the single head `head.*`, further heads are
   * `heads.1.*` … `heads.{H−1}.*` (docs/ARCHITECTURE.md, "The checkpoint format").
   */
  heads?: number;
}

/** The number of prototype heads (1 unless the configuration says more). */
export function headCount(c: Pick<ModelConfig, 'heads'>): number {
  return c.heads ?? 1;
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
  if (c.heads !== undefined && (!Number.isInteger(c.heads) || c.heads < 1 || c.heads > 64)) problems.push(`heads must be an integer in [1, 64], got ${c.heads}`);
  if (headCount(c) > 1 && c.prototypes === 0) problems.push(`heads = ${c.heads} needs prototypes (K ≥ 2): an embedding objective has no prototype head`);
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
  /** Written only when more than one (older checkpoints have one head and no such key). */
  heads?: number;
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
    ...(headCount(c) > 1 ? { heads: headCount(c) } : {}),
    step,
    ...extra,
  };
}

/** Keys of `mira.config` that the model configuration and the step come from (the rest is `extra`). */
export const STORED_CONFIG_KEYS = ['width', 'in_channels', 'image_size', 'stem_padding', 'mean', 'std', 'proj_hidden', 'proj_out', 'prototypes', 'heads', 'step'] as const;

const REQUIRED_KEYS = ['width', 'in_channels', 'image_size', 'mean', 'std', 'proj_hidden', 'proj_out', 'prototypes'] as const;

/**
 * Reads the stored configuration (parsed JSON of any shape) of file `source`. Every problem is a
 * ShapeError naming the file and the field: a missing field, a value of the wrong type, a step
 * that is not a non-negative integer, an impossible model. Lookups are by own property, so keys
 * such as "constructor" or "__proto__" count only when the file has them.
 */
export function fromStoredConfig(s: unknown, source: string): { config: ModelConfig; step: number } {
  const where = `${source}: metadata mira.config`;
  if (s === null || typeof s !== 'object' || Array.isArray(s)) throw new ShapeError(`${where} must be a JSON object, got ${quote(s)}`);
  const o = s as Record<string, unknown>;
  const has = (k: string) => Object.hasOwn(o, k) && o[k] !== undefined && o[k] !== null;
  const missing = REQUIRED_KEYS.filter((k) => !has(k));
  if (missing.length) throw new ShapeError(`${where} lacks ${missing.join(', ')}`);
  const problems: string[] = [];
  const num = (k: string, fallback?: number): number => {
    if (!has(k)) return fallback ?? NaN;
    const v = o[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      problems.push(`field "${k}" must be a finite number, got ${quote(v)}`);
      return NaN;
    }
    return v;
  };
  const numbers = (k: string): number[] => {
    const v = o[k];
    if (!Array.isArray(v) || v.length > 3 || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      problems.push(`field "${k}" must be an array of 1 or 3 finite numbers, got ${quote(v)}`);
      return [];
    }
    return v as number[];
  };
  const config: ModelConfig = {
    width: num('width'),
    inChannels: num('in_channels') as 1 | 3,
    imageSize: num('image_size'),
    stemPadding: num('stem_padding', 1) as 1 | 2,
    mean: numbers('mean'),
    std: numbers('std'),
    projHidden: num('proj_hidden'),
    projOut: num('proj_out'),
    prototypes: num('prototypes'),
    ...(has('heads') ? { heads: num('heads') } : {}),
  };
  let step = 0;
  if (has('step')) {
    const v = o.step;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) problems.push(`field "step" must be a non-negative integer (the optimizer steps taken), got ${quote(v)}`);
    else step = v;
  }
  if (problems.length) throw new ShapeError(`${where}: ${problems.join('; ')}`);
  try {
    validateModelConfig(config);
  } catch (e) {
    throw new ShapeError(`${where}: ${(e as Error).message}`);
  }
  return { config, step };
}
