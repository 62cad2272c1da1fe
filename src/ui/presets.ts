// Presets (classroom and research), and the page's view of the one parameter table
// (src/train/config.ts): the rows the control panel renders, with their ranges and help, and the
// URL codec's parsing and clamping of values. Pure data and functions: no React.
import { PARAM_TABLE, defaultTrainConfig, type TrainConfig } from '../train/config.ts';
import type { ChoiceRow, NumberRow, ParamRow } from '../methods/param-rows.ts';

export type PresetName = 'tiny' | 'small' | 'collapse' | 'swav' | 'mveb' | 'mveb-collapse' | 'mio' | 'mio-collapse' | 'cifar' | 'paper';

export interface Preset {
  name: PresetName;
  label: string;
  /** One line for the preset picker. */
  blurb: string;
  config: TrainConfig;
}

function tiny(over: Partial<TrainConfig> = {}): TrainConfig {
  const batch = 16;
  return defaultTrainConfig({
    width: 1 / 16,
    batch,
    steps: 200,
    prototypes: 32,
    projHidden: 64,
    projOut: 32,
    lr: (0.6 * batch) / 256,
    warmupSteps: 10,
    freezeHeadSteps: 10,
    knnEvery: 50,
    knnBank: 300,
    knnQueries: 200,
    logEvery: 1,
    checkpointEvery: 25,
    ...over,
  });
}

export const PRESETS: Record<PresetName, Preset> = {
  tiny: {
    name: 'tiny',
    label: 'Tiny (emulated GPU)',
    blurb: 'Width 1/16, batch 16, K = 32: shows learning within minutes even on a CPU-emulated GPU.',
    config: tiny(),
  },
  small: {
    name: 'small',
    label: 'Small',
    blurb: 'Width 1/8, batch 64, K = 300 on the bundled sample: a few minutes on a laptop GPU.',
    config: defaultTrainConfig({ knnEvery: 50, checkpointEvery: 50 }),
  },
  collapse: {
    name: 'collapse',
    label: 'Classroom: naive collapse',
    // A teacher sharper than the student (τₜ 0.05 < τₛ 0.1) sends naive targets to one cluster
    // (on Fashion-MNIST, width 1/8: by step 40). At the default τₜ 0.225 naive collapses too, but
    // to a uniform target that only the mutual-information chart shows.
    blurb: 'The tiny run with naive self-labelling (targets = the teacher’s own softmax) and a teacher sharper than the student (τₜ 0.05): watch every image fall into one cluster. Switch to MIRA to compare.',
    config: tiny({ method: 'naive', tauT: 0.05 }),
  },
  swav: {
    name: 'swav',
    label: 'Classroom: Sinkhorn-Knopp (SwAV)',
    blurb: 'The tiny run with SwAV’s equipartition (3 Sinkhorn iterations, ε = 0.05) instead of MIRA.',
    config: tiny({ method: 'swav', iters: 3 }),
  },
  // Dimensional collapse of the embedding objectives (no clusters to count: watch the effective
  // rank on the representation-health chart). The real objective and its crippled twin share every
  // other setting, so switching the one row shows the difference (test/train-embedding.test.ts).
  mveb: {
    name: 'mveb',
    label: 'Classroom: MVEB',
    blurb: 'The tiny run with MVEB: agreement with the EMA teacher’s other view plus the embedding entropy (λ 0.01). Its effective rank stays high; compare with “MVEB without entropy”.',
    config: tiny({ method: 'mveb' }),
  },
  'mveb-collapse': {
    name: 'mveb-collapse',
    label: 'Classroom: MVEB without entropy',
    blurb: 'MVEB with entropy weight λ 0: only the agreement term is left, which every image mapped to the same point satisfies. Watch the effective rank (representation health) fall and the alignment reach 1.',
    config: tiny({ method: 'mveb', entropyWeight: 0 }),
  },
  mio: {
    name: 'mio',
    label: 'Classroom: MIO',
    blurb: 'The tiny run with MIO: positive pairs pulled together, negative pairs pushed apart. Its effective rank stays high; compare with “MIO without negatives”.',
    config: tiny({ method: 'mio' }),
  },
  'mio-collapse': {
    name: 'mio-collapse',
    label: 'Classroom: MIO without negatives',
    blurb: 'MIO with its negative-pair term off: nothing pushes different images apart. Watch the effective rank fall, the negative pair probability climb with the positive one, and the uniformity rise toward 0.',
    config: tiny({ method: 'mio', mioNegatives: 'off' }),
  },
  cifar: {
    name: 'cifar',
    label: 'CIFAR-10, width 1/4',
    blurb: 'CIFAR-10 (load it first), width 1/4, batch 128, K = 1000, 20 epochs: a desktop GPU.',
    config: defaultTrainConfig({
      dataset: 'cifar10',
      width: 1 / 4,
      batch: 128,
      steps: 7800,
      prototypes: 1000,
      projHidden: 1024,
      projOut: 128,
      lr: (0.6 * 128) / 256,
      warmupSteps: 390,
      freezeHeadSteps: 390,
      knnEvery: 390,
      logEvery: 10,
      checkpointEvery: 390,
    }),
  },
  paper: {
    name: 'paper',
    label: 'Paper recipe (ResNet-18)',
    blurb: 'The official CIFAR-10 recipe: full width, batch 256, K = 3000, LARS, 200 epochs. Hours on a fast GPU.',
    config: defaultTrainConfig({
      dataset: 'cifar10',
      width: 1,
      batch: 256,
      steps: 39000,
      prototypes: 3000,
      projHidden: 2048,
      projOut: 256,
      optimizer: 'lars',
      lr: 0.3,
      momentum: 0.9,
      weightDecay: 1e-6,
      larsEta: 0.001,
      warmupSteps: 1950,
      freezeHeadSteps: 195,
      knnEvery: 1950,
      knnBank: 10000,
      knnQueries: 10000,
      logEvery: 20,
      checkpointEvery: 975,
    }),
  },
};

export const PRESET_ORDER: PresetName[] = ['tiny', 'small', 'collapse', 'swav', 'mveb', 'mveb-collapse', 'mio', 'mio-collapse', 'cifar', 'paper'];

export function isPresetName(s: string | null | undefined): s is PresetName {
  return !!s && Object.prototype.hasOwnProperty.call(PRESETS, s);
}

/** The preset a fresh page starts from: tiny on an emulated GPU, small otherwise. */
export function defaultPreset(isSoftware: boolean): PresetName {
  return isSoftware ? 'tiny' : 'small';
}

// ───────────────────────────── hyperparameters ─────────────────────────────

export { GROUP_LABELS, type ParamGroup } from '../methods/param-rows.ts';
export type NumberSpec = NumberRow & { key: keyof TrainConfig };
export type ChoiceSpec = ChoiceRow & { key: keyof TrainConfig };
export type ParamSpec = NumberSpec | ChoiceSpec;

/** Every row the control panel shows (the dataset has its own panel), in table order. */
export const PARAM_SPECS: ParamSpec[] = PARAM_TABLE.filter((r): r is ParamSpec => r.kind !== 'string') as ParamSpec[];

export const SPEC_BY_KEY = new Map<keyof TrainConfig, ParamSpec>(PARAM_SPECS.map((s) => [s.key, s]));

/** Clamps and rounds a number to its row's range (an excluded bound is never reached); NaN gives null. */
export function coerceNumber(spec: NumberRow, x: number): number | null {
  if (!Number.isFinite(x)) return null;
  const tiny = (b: number) => Math.max(Math.abs(b) * 1e-6, spec.kind === 'int' ? 1 : 1e-9);
  const lo = spec.exclusiveMin ? spec.min + tiny(spec.min) : spec.min;
  const hi = spec.exclusiveMax ? spec.max - tiny(spec.max) : spec.max;
  let v = Math.min(hi, Math.max(lo, x));
  if (spec.kind === 'int') v = Math.round(v);
  return v;
}

/** Parses a text value for a parameter (from the URL or an input); null when it does not fit. */
export function parseParam(spec: ParamRow, text: string): string | number | null {
  if (spec.kind === 'string') return text;
  if (spec.kind === 'choice') {
    const hit = spec.options.find((o) => String(o.value) === text);
    return hit ? hit.value : null;
  }
  // Widths also as "1/16".
  const frac = /^1\/(\d+)$/.exec(text);
  return coerceNumber(spec, frac ? 1 / Number(frac[1]) : Number(text));
}

/** Formats a parameter for the URL (short and exact enough to reproduce the run). */
export function formatParam(spec: ParamRow, v: unknown): string {
  if (spec.key === 'width' && typeof v === 'number' && v < 1) return `1/${Math.round(1 / v)}`;
  if (typeof v === 'number') return String(Number(v.toPrecision(12)));
  return String(v);
}
