// The training configuration: the one parameter table (docs/ARCHITECTURE.md, "One parameter
// table"). The core rows below and every registered method's rows generate the TrainConfig type,
// the defaults (derived ones included: lr = 0.6·batch/256, warm-up = 10 % of the steps),
// validation with one set of ranges, the CLI's flags and help (cli/commands/train.ts) and the
// page's controls, help texts and URL keys (src/ui/presets.ts, src/ui/url-state.ts).
import { ShapeError } from '../gpu/errors.ts';
import { METHODS, type AnyMethod, type MethodId } from '../methods/registry.ts';
import { checkRowValue, flagName, resolveDefaults, type ChoiceRow, type ConfigOf, type ParamRow } from '../methods/param-rows.ts';

const WIDTH_OPTIONS = [1, 1 / 2, 1 / 4, 1 / 8, 1 / 16].map((w) => ({ value: w, label: w === 1 ? '1 (64–512 ch.)' : `1/${1 / w} (${64 * w}–${512 * w} ch.)` }));
const BATCH_OPTIONS = [8, 16, 32, 64, 128, 256, 512].map((b) => ({ value: b, label: String(b) }));
const METHOD_OPTIONS = METHODS.map((m) => ({ value: m.id, label: m.label })) as readonly { value: MethodId; label: string }[];
const BIG = 1e9;

/** Rows every method shares: the run, the model, the optimiser, evaluation and logging. */
export const CORE_PARAMS = [
  { key: 'method', short: 'm', label: 'Method', group: 'run', kind: 'choice', options: METHOD_OPTIONS, default: 'mira' as MethodId, help: 'The self-supervised method: how a batch becomes a loss (see each method’s explanation).' } satisfies ChoiceRow<'method', MethodId>,
  { key: 'dataset', short: 'd', label: 'Dataset', group: 'run', kind: 'string', default: 'bundled', help: 'bundled | fashion-mnist | cifar10 | a directory with CIFAR-10 .bin / .tar.gz or IDX files' },
  { key: 'seed', short: 's', label: 'Seed', group: 'run', kind: 'int', min: 0, max: 2 ** 31 - 1, default: 1, step: 1, help: 'One seed for weight init, data order and augmentation: same seed, same run.' },
  { key: 'steps', short: 'n', label: 'Steps', group: 'run', kind: 'int', min: 1, max: BIG, default: 300, step: 10, help: 'Total optimisation steps; the schedules (lr, β, EMA) span them.' },
  { key: 'batch', short: 'b', label: 'Batch', group: 'run', kind: 'int', min: 2, max: 65536, default: 64, step: 1, options: BATCH_OPTIONS, help: 'Images per step (each seen in every view of the method); MIRA’s marginal is estimated over it.' },
  { key: 'precision', short: 'pr', label: 'Precision', group: 'run', kind: 'choice', options: [{ value: 'f32', label: 'f32' }, { value: 'f16', label: 'f16 storage, f32 sums (needs shader-f16)', requires: 'shaderF16' }, { value: 'auto', label: 'auto (f16 on a GPU with shader-f16)' }] as const, default: 'f32', help: 'Storage of the encoder’s activations and conv weights: f32 (reproducible, the parity tests’ setting), f16 with f32 arithmetic, master weights and gradients (needs the adapter feature shader-f16), or auto: f16 on a hardware GPU that offers it, else f32.' },
  { key: 'width', short: 'w', label: 'Width', group: 'model', kind: 'number', min: 0, max: 1, exclusiveMin: true, default: 1 / 8, step: 1 / 16, options: WIDTH_OPTIONS, help: 'ResNet-18 channel multiplier: 1 is the paper’s 64/128/256/512 channels.' },
  { key: 'projHidden', short: 'ph', label: 'Projector hidden', group: 'model', kind: 'int', min: 1, max: 16384, default: 512, step: 8, help: 'Width of the projector’s two hidden layers (2048 in the paper).' },
  { key: 'projOut', short: 'po', label: 'Projector output', group: 'model', kind: 'int', min: 1, max: 4096, default: 128, step: 4, help: 'Dimension of the L2-normalised embedding compared with the prototypes (256 in the paper).' },
  { key: 'stemPadding', short: 'sp', label: 'Stem padding', group: 'model', kind: 'choice', options: [{ value: 1, label: '1 (32×32 maps)' }, { value: 2, label: '2 (official, 34×34)' }] as const, default: 1, help: '1 keeps 32/16/8/4 feature maps; 2 is the official code’s 34×34.' },
  { key: 'optimizer', short: 'o', label: 'Optimiser', group: 'optimizer', kind: 'choice', options: [{ value: 'sgd', label: 'SGD + momentum' }, { value: 'lars', label: 'LARS' }] as const, default: 'sgd', help: 'SGD with momentum, or LARS (layer-wise trust ratio, the paper’s choice for large batches).' },
  { key: 'lr', short: 'lr', label: 'Learning rate', group: 'optimizer', kind: 'number', min: 0, max: 10, exclusiveMin: true, default: (c: Readonly<Record<string, unknown>>) => (0.6 * (c.batch as number)) / 256, derived: '0.6 × batch / 256', step: 0.005, help: 'Peak rate after warm-up, then cosine to 0.' },
  { key: 'momentum', short: 'mo', label: 'Momentum', group: 'optimizer', kind: 'number', min: 0, max: 1, exclusiveMax: true, default: 0.9, step: 0.01, help: 'Heavy-ball momentum of the optimiser.' },
  { key: 'weightDecay', short: 'wd', label: 'Weight decay', group: 'optimizer', kind: 'number', min: 0, max: 1, default: 1e-5, step: 1e-6, help: 'L2 penalty on tensors with more than one dimension (BN and biases excluded under LARS).' },
  { key: 'larsEta', short: 'le', label: 'LARS η', group: 'optimizer', kind: 'number', min: 0, max: 1, exclusiveMin: true, default: 0.001, step: 0.001, help: 'LARS trust coefficient: how far one step may move a layer relative to its norm.' },
  { key: 'warmupSteps', short: 'wu', label: 'Warm-up steps', group: 'optimizer', kind: 'int', min: 0, max: BIG, default: (c: Readonly<Record<string, unknown>>) => Math.round((c.steps as number) * 0.1), derived: '10% of the steps', step: 1, help: 'Linear learning-rate warm-up before the cosine decay.' },
  { key: 'augment', short: 'a', label: 'Augmentation', group: 'logging', kind: 'choice', options: [{ value: 'default', label: 'default (the dataset’s recipe)' }, { value: 'none', label: 'none (pad + normalise)' }] as const, default: 'default', help: 'The dataset’s recipe of random crops, colour jitter, grayscale, solarize and flips, or none.' },
  { key: 'knnEvery', short: 'ke', label: 'kNN every', group: 'logging', kind: 'int', min: 0, max: BIG, default: 0, step: 1, help: 'Evaluate 20-NN accuracy on held-out images every N steps (0: at the start and the end only).' },
  { key: 'knnBank', short: 'kb', label: 'kNN bank', group: 'logging', kind: 'int', min: 20, max: 1_000_000, default: 2000, step: 10, help: 'Labelled training images embedded as the kNN memory bank (at least k = 20).' },
  { key: 'knnQueries', short: 'kq', label: 'kNN queries', group: 'logging', kind: 'int', min: 1, max: 1_000_000, default: 2000, step: 10, help: 'Test images classified by their 20 nearest neighbours.' },
  { key: 'linearProbe', short: 'lp', label: 'Linear probe', group: 'logging', kind: 'choice', options: [{ value: 'on', label: 'on (online, detached)' }, { value: 'off', label: 'off' }] as const, default: 'on', help: 'Train a linear classifier on the detached encoder features with the true labels beside the run (never changes it); its test top-1 at every kNN evaluation.' },
  { key: 'logEvery', short: 'l', label: 'Log every', group: 'logging', kind: 'int', min: 1, max: BIG, default: 10, step: 1, help: 'Read metrics back every N steps (asynchronously; never stalls the GPU).' },
  { key: 'checkpointEvery', short: 'c', label: 'Checkpoint every', group: 'logging', kind: 'int', min: 0, max: BIG, default: (c: Readonly<Record<string, unknown>>) => Math.max(1, Math.round((c.steps as number) * 0.1)), derived: '10% of the steps', step: 1, help: 'Write the checkpoint every N steps (0: only at the end), so that a killed run keeps its work; in the page, to this browser’s IndexedDB.' },
] as const;

type MethodRows = AnyMethod['params'][number];

/** Every key of a training run: the core rows and every method's rows. */
export type TrainConfig = ConfigOf<(typeof CORE_PARAMS)[number] | MethodRows>;
export type OptimizerName = TrainConfig['optimizer'];

/** The whole table: core rows, then each method's rows once, in registry order. */
export const PARAM_TABLE: readonly ParamRow[] = (() => {
  const rows: ParamRow[] = [...CORE_PARAMS];
  const seen = new Map<string, ParamRow>(rows.map((r) => [r.key, r]));
  for (const m of METHODS) {
    for (const r of m.params as readonly ParamRow[]) {
      const had = seen.get(r.key);
      if (had && had !== r) throw new Error(`parameter table: method ${m.id} declares its own "${r.key}", another row already has that key`);
      if (!had) {
        rows.push(r);
        seen.set(r.key, r);
      }
    }
  }
  const shorts = new Set<string>();
  for (const r of rows) {
    if (shorts.has(r.short)) throw new Error(`parameter table: URL key "${r.short}" is used twice`);
    shorts.add(r.short);
  }
  return rows;
})();

export const ROW_BY_KEY: ReadonlyMap<string, ParamRow> = new Map(PARAM_TABLE.map((r) => [r.key, r]));

/** The methods that use a row (core rows: all of them). */
export function methodsUsing(key: string): readonly MethodId[] {
  if (CORE_PARAMS.some((r) => r.key === key)) return METHODS.map((m) => m.id);
  return METHODS.filter((m) => (m.params as readonly ParamRow[]).some((r) => r.key === key)).map((m) => m.id);
}

/** The defaults, with `over` applied first so that derived defaults follow it (lr from its batch). */
export function defaultTrainConfig(over: Partial<TrainConfig> = {}): TrainConfig {
  return resolveDefaults(PARAM_TABLE, over as Record<string, unknown>) as TrainConfig;
}

/** Every problem of a configuration, each naming the CLI flag; empty when it is valid. */
export function trainConfigProblems(c: Readonly<Record<string, unknown>>): string[] {
  const problems: string[] = [];
  for (const r of PARAM_TABLE) {
    const why = checkRowValue(r, c[r.key]);
    if (why) problems.push(why);
  }
  return problems;
}

/** Throws a ShapeError listing every impossible setting. */
export function validateTrainConfig(c: TrainConfig): void {
  const p = trainConfigProblems(c as unknown as Record<string, unknown>);
  if (p.length) throw new ShapeError(`invalid training configuration: ${p.join('; ')}`);
}

/** The CLI flag of a configuration key. */
export const flagOf = (key: string): string => flagName(key);
