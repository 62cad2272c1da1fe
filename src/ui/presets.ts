// Presets (classroom and research) and the description of every hyperparameter of TrainConfig:
// its range and a one-line explanation, which the control panel renders and the URL codec
// uses to parse and clamp values. Pure data and functions: no React.
import { defaultTrainConfig, type TrainConfig } from '../mira/train-config.ts';

export type PresetName = 'tiny' | 'small' | 'collapse' | 'swav' | 'cifar' | 'paper';

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

export const PRESET_ORDER: PresetName[] = ['tiny', 'small', 'collapse', 'swav', 'cifar', 'paper'];

export function isPresetName(s: string | null | undefined): s is PresetName {
  return !!s && Object.prototype.hasOwnProperty.call(PRESETS, s);
}

/** The preset a fresh page starts from: tiny on an emulated GPU, small otherwise. */
export function defaultPreset(isSoftware: boolean): PresetName {
  return isSoftware ? 'tiny' : 'small';
}

// ───────────────────────────── hyperparameters ─────────────────────────────

export type ParamGroup = 'run' | 'model' | 'optimizer' | 'assignment' | 'logging';

export const GROUP_LABELS: Record<ParamGroup, string> = {
  run: 'Run',
  model: 'Model',
  optimizer: 'Optimiser',
  assignment: 'Pseudo-labels and teacher',
  logging: 'Augmentation, evaluation, logging',
};

interface Base {
  key: keyof TrainConfig;
  label: string;
  help: string;
  group: ParamGroup;
  /** Short key in the URL. */
  short: string;
}

export interface NumberSpec extends Base {
  kind: 'number' | 'int';
  min: number;
  max: number;
  step: number;
  /** The input edits 1/x (width as "1/16"); not used by numbers. */
  unit?: string;
}

export interface ChoiceSpec extends Base {
  kind: 'choice';
  options: { value: string | number; label: string }[];
}

export type ParamSpec = NumberSpec | ChoiceSpec;

const WIDTH_OPTIONS = [1, 1 / 2, 1 / 4, 1 / 8, 1 / 16].map((w) => ({ value: w, label: w === 1 ? '1 (64–512 ch.)' : `1/${1 / w} (${64 * w}–${512 * w} ch.)` }));

export const PARAM_SPECS: ParamSpec[] = [
  { key: 'method', short: 'm', label: 'Method', group: 'run', kind: 'choice', help: 'How the teacher’s logits become targets: MIRA’s fixed point, Sinkhorn-Knopp (SwAV) or the plain softmax.', options: [
    { value: 'mira', label: 'MIRA' },
    { value: 'swav', label: 'Sinkhorn-Knopp (SwAV)' },
    { value: 'naive', label: 'naive self-labelling' },
  ] },
  { key: 'seed', short: 's', label: 'Seed', group: 'run', kind: 'int', min: 0, max: 2 ** 31 - 1, step: 1, help: 'Drives weight init, data order and augmentation: same seed, same run.' },
  { key: 'steps', short: 'n', label: 'Steps', group: 'run', kind: 'int', min: 1, max: 1_000_000, step: 10, help: 'Total optimisation steps; the schedules (lr, β, EMA) span them.' },
  { key: 'batch', short: 'b', label: 'Batch', group: 'run', kind: 'choice', help: 'Images per step (two augmented views each); MIRA’s marginal is estimated over it.', options: [8, 16, 32, 64, 128, 256, 512].map((b) => ({ value: b, label: String(b) })) },
  { key: 'width', short: 'w', label: 'Width', group: 'model', kind: 'choice', help: 'ResNet-18 channel multiplier: 1 is the paper’s 64/128/256/512 channels.', options: WIDTH_OPTIONS },
  { key: 'prototypes', short: 'k', label: 'Clusters K', group: 'model', kind: 'int', min: 2, max: 10000, step: 1, help: 'Number of prototypes (clusters) the head assigns images to.' },
  { key: 'projHidden', short: 'ph', label: 'Projector hidden', group: 'model', kind: 'int', min: 8, max: 4096, step: 8, help: 'Width of the projector’s two hidden layers (2048 in the paper).' },
  { key: 'projOut', short: 'po', label: 'Projector output', group: 'model', kind: 'int', min: 4, max: 1024, step: 4, help: 'Dimension of the L2-normalised embedding compared with the prototypes (256).' },
  { key: 'stemPadding', short: 'sp', label: 'Stem padding', group: 'model', kind: 'choice', help: '1 keeps 32/16/8/4 feature maps; 2 is the official code’s 34×34.', options: [
    { value: 1, label: '1 (32×32 maps)' },
    { value: 2, label: '2 (official, 34×34)' },
  ] },
  { key: 'optimizer', short: 'o', label: 'Optimiser', group: 'optimizer', kind: 'choice', help: 'SGD with momentum, or LARS (layer-wise trust ratio, the paper’s choice for large batches).', options: [
    { value: 'sgd', label: 'SGD + momentum' },
    { value: 'lars', label: 'LARS' },
  ] },
  { key: 'lr', short: 'lr', label: 'Learning rate', group: 'optimizer', kind: 'number', min: 1e-5, max: 10, step: 0.005, help: 'Peak rate after warm-up, then cosine to 0 (the paper: 0.3 × batch/256).' },
  { key: 'momentum', short: 'mo', label: 'Momentum', group: 'optimizer', kind: 'number', min: 0, max: 0.999, step: 0.01, help: 'Heavy-ball momentum of the optimiser.' },
  { key: 'weightDecay', short: 'wd', label: 'Weight decay', group: 'optimizer', kind: 'number', min: 0, max: 0.1, step: 1e-6, help: 'L2 penalty on weights (BN and biases excluded under LARS).' },
  { key: 'larsEta', short: 'le', label: 'LARS η', group: 'optimizer', kind: 'number', min: 1e-5, max: 1, step: 0.001, help: 'LARS trust coefficient: how far one step may move a layer relative to its norm.' },
  { key: 'warmupSteps', short: 'wu', label: 'Warm-up steps', group: 'optimizer', kind: 'int', min: 0, max: 1_000_000, step: 1, help: 'Linear learning-rate warm-up before the cosine decay.' },
  { key: 'tauS', short: 'ts', label: 'Student τₛ', group: 'assignment', kind: 'number', min: 0.01, max: 2, step: 0.01, help: 'Temperature of the student’s softmax in the cross-entropy (0.1).' },
  { key: 'tauT', short: 'tt', label: 'Teacher τₜ', group: 'assignment', kind: 'number', min: 0.01, max: 2, step: 0.005, help: 'Temperature of the teacher’s logits before assignment (0.225); sharper below.' },
  { key: 'betaStart', short: 'b0', label: 'β start', group: 'assignment', kind: 'number', min: 0.01, max: 0.99, step: 0.01, help: 'Weight of the mutual-information term at step 0 (0.75); higher spreads targets more.' },
  { key: 'betaEnd', short: 'b1', label: 'β end', group: 'assignment', kind: 'number', min: 0.01, max: 0.99, step: 0.01, help: 'β at the last step, reached on a cosine (2/3).' },
  { key: 'iters', short: 'it', label: 'Iterations', group: 'assignment', kind: 'int', min: 1, max: 500, step: 1, help: 'Fixed-point iterations of MIRA (30), or Sinkhorn iterations for SwAV (3).' },
  { key: 'eps', short: 'e', label: 'Sinkhorn ε', group: 'assignment', kind: 'number', min: 0.005, max: 1, step: 0.005, help: 'Entropic regularisation of Sinkhorn-Knopp (SwAV: 0.05); only for the swav method.' },
  { key: 'emaStart', short: 'em', label: 'EMA start', group: 'assignment', kind: 'number', min: 0, max: 1, step: 0.001, help: 'Teacher momentum at step 0, rising to 1 on a cosine (0.99).' },
  { key: 'freezeHeadSteps', short: 'fh', label: 'Freeze head', group: 'assignment', kind: 'int', min: 0, max: 1_000_000, step: 1, help: 'Steps during which the prototypes’ gradients are zeroed (the paper: one epoch).' },
  { key: 'augment', short: 'a', label: 'Augmentation', group: 'logging', kind: 'choice', help: 'Random crops, colour jitter, grayscale, solarize and flips (default), or none.', options: [
    { value: 'default', label: 'default (two views)' },
    { value: 'none', label: 'none' },
  ] },
  { key: 'knnEvery', short: 'ke', label: 'kNN every', group: 'logging', kind: 'int', min: 0, max: 1_000_000, step: 1, help: 'Evaluate 20-NN accuracy on held-out images every N steps (0: only at the end).' },
  { key: 'knnBank', short: 'kb', label: 'kNN bank', group: 'logging', kind: 'int', min: 10, max: 60000, step: 10, help: 'Labelled training images embedded as the kNN memory bank.' },
  { key: 'knnQueries', short: 'kq', label: 'kNN queries', group: 'logging', kind: 'int', min: 10, max: 10000, step: 10, help: 'Test images classified by their 20 nearest neighbours.' },
  { key: 'logEvery', short: 'l', label: 'Log every', group: 'logging', kind: 'int', min: 1, max: 1000, step: 1, help: 'Read metrics back every N steps (asynchronously; never stalls the GPU).' },
  { key: 'checkpointEvery', short: 'c', label: 'Checkpoint every', group: 'logging', kind: 'int', min: 0, max: 1_000_000, step: 1, help: 'Save the model to this browser (IndexedDB) every N steps; a reload offers to resume.' },
];

export const SPEC_BY_KEY = new Map<keyof TrainConfig, ParamSpec>(PARAM_SPECS.map((s) => [s.key, s]));

/** Clamps and rounds a number to its spec; NaN gives null. */
export function coerceNumber(spec: NumberSpec, x: number): number | null {
  if (!Number.isFinite(x)) return null;
  let v = Math.min(spec.max, Math.max(spec.min, x));
  if (spec.kind === 'int') v = Math.round(v);
  return v;
}

/** Parses a text value for a parameter (from the URL or an input); null when it does not fit. */
export function parseParam(spec: ParamSpec, text: string): string | number | null {
  if (spec.kind === 'choice') {
    const hit = spec.options.find((o) => String(o.value) === text || (typeof o.value === 'number' && Math.abs(o.value - Number(text)) < 1e-9));
    if (hit) return hit.value;
    // Widths also as "1/16".
    const frac = /^1\/(\d+)$/.exec(text);
    if (frac) {
      const v = 1 / Number(frac[1]);
      const f = spec.options.find((o) => typeof o.value === 'number' && Math.abs(o.value - v) < 1e-9);
      if (f) return f.value;
    }
    return null;
  }
  return coerceNumber(spec, Number(text));
}

/** Formats a parameter for the URL (short and exact enough to reproduce the run). */
export function formatParam(spec: ParamSpec, v: unknown): string {
  if (spec.key === 'width' && typeof v === 'number' && v < 1) return `1/${Math.round(1 / v)}`;
  if (typeof v === 'number') return String(Number(v.toPrecision(12)));
  return String(v);
}
