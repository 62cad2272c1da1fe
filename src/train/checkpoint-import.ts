// Continuing a run from checkpoint files chosen by the user (the page's "Load checkpoint…"): which
// chosen file is the model, which the optimizer state and which a method's run file; the optimizer
// state read and checked against the model (also the CLI's `train --resume`); and the training
// configuration the run continues with — the checkpoint's own (mira.config's train_config, as
// `npm run cli -- train`, the page's export and torch_mira.train write it), checked against the
// dataset that is loaded and against this build's methods. Pure: bytes and objects in, a result
// or a CheckpointError naming the file and what to do out. See docs/ARCHITECTURE.md (checkpoints).
import type { Dataset } from '../data/dataset.ts';
import { clip, listFirst, quote } from '../io/messages.ts';
import { parseSafetensors } from '../io/safetensors.ts';
import { CheckpointError, type ModelState } from '../nn/checkpoint.ts';
import { ParamLayout } from '../nn/param-store.ts';
import { METHOD_IDS, METHODS, isMethodId } from '../methods/registry.ts';
import { defaultTrainConfig, PARAM_TABLE, trainConfigProblems, type TrainConfig } from './config.ts';
import { firstNonFiniteTensor } from './run-driver.ts';
import { modelConfigFor, networkImageSize } from './trainer.ts';

/** The page reads no checkpoint file larger than this (a width-1 ResNet-18 with its teacher is about 90 MB). */
export const MAX_CHECKPOINT_FILE_BYTES = 1 << 30;

/** The configuration keys that say how the page watches and saves a run, not what it trains: an imported run keeps the page's. */
export const PAGE_KEPT_KEYS = ['knnEvery', 'knnBank', 'knnQueries', 'logEvery', 'checkpointEvery'] as const satisfies readonly (keyof TrainConfig)[];

/** The files a method saves beside its checkpoint (SeLa's labels.npy), by every registered method. */
const RUN_FILE_NAMES: ReadonlySet<string> = new Set(METHODS.flatMap((m) => ('runFiles' in m ? (m.runFiles as readonly string[]) : [])));

export interface ChosenFile {
  name: string;
  size: number;
}

/** Indices into the chosen files: the model, the optimizer state (or null) and the method's run files by name. */
export interface SortedCheckpointFiles {
  model: number;
  optimizer: number | null;
  runFiles: Record<string, number>;
}

const isOptimizerName = (name: string) => /optimi[sz]er/i.test(name);

/**
 * Which chosen file is which: a name with "optimizer" is the optimizer state, a method's run file
 * (labels.npy) goes with it, and exactly one other file is the model. Refuses empty choices, two
 * models, two optimizer files and files over MAX_CHECKPOINT_FILE_BYTES, naming them.
 */
export function sortCheckpointFiles(files: readonly ChosenFile[]): SortedCheckpointFiles {
  const hint = 'choose the model (model.safetensors), optionally with its optimizer.safetensors (and a SeLa run\'s labels.npy), at once';
  if (!files.length) throw new CheckpointError(`no file was chosen: ${hint}`);
  const huge = files.find((f) => f.size > MAX_CHECKPOINT_FILE_BYTES);
  if (huge) throw new CheckpointError(`${huge.name}: ${huge.size.toLocaleString('en-US')} bytes, more than the ${MAX_CHECKPOINT_FILE_BYTES.toLocaleString('en-US')} the page reads; it is not a checkpoint the page can train`);
  const models: number[] = [];
  const optimizers: number[] = [];
  const runFiles: Record<string, number> = {};
  files.forEach((f, i) => {
    if (RUN_FILE_NAMES.has(f.name) && !Object.hasOwn(runFiles, f.name)) runFiles[f.name] = i;
    else if (isOptimizerName(f.name)) optimizers.push(i);
    else models.push(i);
  });
  const names = (idx: number[]) => listFirst(idx.map((i) => files[i]!.name));
  if (optimizers.length > 1) throw new CheckpointError(`${names(optimizers)}: more than one optimizer file; ${hint}`);
  if (models.length > 1) throw new CheckpointError(`${names(models)}: more than one model file; ${hint}`);
  if (!models.length) throw new CheckpointError(`${names(optimizers.concat(Object.values(runFiles)))}: no model file among them; ${hint}`);
  return { model: models[0]!, optimizer: optimizers[0] ?? null, runFiles };
}

/** A gzip stream's magic number: a compressed file (or a gzip bomb) is refused before anything inflates it. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Refuses a gzip file named `source` at once, without inflating it. */
export function refuseGzip(bytes: Uint8Array, source: string): void {
  if (isGzip(bytes)) throw new CheckpointError(`${source}: a gzip-compressed file, not safetensors; checkpoints are never decompressed here — give the .safetensors file itself`);
}

export type OptimizerStateResult = { momentum: Float32Array; probe?: Float32Array } | { problem: string };

/**
 * The optimizer state of optimizer.safetensors (`train` writes it beside the model): a finite
 * float32 "momentum" of the step `step` (and of `size` values when given: the model's optimizer
 * state), plus the online probe's state when it is there and finite. A problem is returned, not
 * thrown: the CLI falls back to zero momentum, the page refuses the file the user chose.
 */
export function decodeOptimizerState(bytes: Uint8Array, source: string, step: number, size?: number): OptimizerStateResult {
  let f;
  try {
    f = parseSafetensors(bytes, source);
  } catch (e) {
    const said = (e as Error).message;
    return { problem: `cannot be read (${said.startsWith(source + ': ') ? said.slice(source.length + 2) : said})` };
  }
  const saved = Object.hasOwn(f.metadata, 'step') ? f.metadata.step : undefined;
  if (saved === undefined) return { problem: `has no "step" in its metadata, so it cannot be matched to the checkpoint of step ${step}` };
  if (saved !== String(step)) return { problem: `is from step ${clip(saved, 40)}, the checkpoint from step ${step}` };
  const m = f.tensors.get('momentum');
  if (!m || !(m.data instanceof Float32Array)) return { problem: 'has no float32 "momentum" tensor' };
  if (size !== undefined && m.data.length !== size) return { problem: `holds ${m.data.length} momentum values, the checkpoint's model has ${size}` };
  if (firstNonFiniteTensor([['momentum', m.data]])) return { problem: 'holds non-finite momentum' };
  // The online linear probe's state rides along (absent in older files: the probe restarts).
  const probe = f.tensors.get('probe');
  return { momentum: m.data, ...(probe?.data instanceof Float32Array && !firstNonFiniteTensor([['probe', probe.data]]) ? { probe: probe.data } : {}) };
}

/** The number of values of the optimizer state (momentum) of a checkpoint's model. */
export function optimizerStateSize(state: Pick<ModelState, 'config'>): number {
  return new ParamLayout(state.config).size;
}

export interface ImportedConfig {
  /** The configuration the page continues with. */
  config: TrainConfig;
  /** What the user should know (an extended run, settings of the page kept). */
  notes: string[];
}

const describeData = (d: Pick<Dataset, 'height' | 'width' | 'channels'>) => `${d.height}×${d.width}, ${d.channels} channel${d.channels > 1 ? 's' : ''}`;

/**
 * The configuration a checkpoint's run continues with on the loaded dataset `ds` (its key
 * `datasetKey`, as the page names it): mira.config's train_config, missing keys at their
 * defaults, the page's watching-and-saving keys (PAGE_KEPT_KEYS) from `page`, the dataset the
 * page's. A finished run is extended by as many steps again. Refuses a checkpoint without a
 * train_config, of a method this build does not have, with impossible settings, or of another
 * dataset's image size or channels (saying which dataset it needs), naming `source`.
 */
export function importedTrainConfig(state: ModelState, source: string, ds: Dataset, datasetKey: string, page: TrainConfig): ImportedConfig {
  const raw = state.extra?.train_config;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new CheckpointError(`${source}: mira.config has no "train_config" object; only a training run's checkpoint (npm run cli -- train, the page's weights export, torch_mira.train) carries the recipe to continue it`);
  }
  const tc = raw as Record<string, unknown>;
  const method = Object.hasOwn(tc, 'method') ? tc.method : state.method;
  if (!isMethodId(method)) {
    throw new CheckpointError(`${source} was trained with method ${quote(method)}, which this build does not have (it has ${METHOD_IDS.join(', ')})`);
  }
  if (state.method !== undefined && state.method !== method) throw new CheckpointError(`${source}: mira.config says method "${state.method}" but its train_config says "${method}"`);
  const trained = typeof tc.dataset === 'string' ? tc.dataset : 'its dataset';
  const wantSize = state.config.imageSize;
  const haveSize = networkImageSize(ds);
  if (state.config.inChannels !== ds.channels || wantSize !== haveSize) {
    throw new CheckpointError(
      `${source} was trained on ${quote(trained)} (images of ${state.config.inChannels} channel${state.config.inChannels > 1 ? 's' : ''}, ${wantSize}×${wantSize} for the network); the loaded dataset ${ds.name} has ${describeData(ds)} (${haveSize}×${haveSize} for the network): load ${trained === 'its dataset' ? 'a dataset of that shape' : quote(trained)} in the dataset panel, then load the checkpoint again`,
    );
  }
  const over: Record<string, unknown> = {};
  for (const r of PARAM_TABLE) if (Object.hasOwn(tc, r.key) && tc[r.key] !== undefined) over[r.key] = tc[r.key];
  over.method = method;
  over.dataset = datasetKey;
  for (const k of PAGE_KEPT_KEYS) over[k] = page[k];
  const config = defaultTrainConfig(over as Partial<TrainConfig>);
  const notes: string[] = [];
  if (typeof config.steps === 'number' && state.step >= config.steps) {
    notes.push(`the checkpoint finished its ${config.steps.toLocaleString('en-US')} steps, so the run is extended to ${(state.step + config.steps).toLocaleString('en-US')} (the schedules stretch over the longer run; change Steps to choose)`);
    config.steps = state.step + config.steps;
  }
  const problems = trainConfigProblems(config as unknown as Record<string, unknown>);
  if (problems.length) throw new CheckpointError(`${source}: train_config in mira.config: ${listFirst(problems, 5, '; ')}`);
  const model = modelConfigFor(config, ds);
  const differ = (Object.keys(model) as (keyof typeof model)[]).filter((k) => JSON.stringify(model[k]) !== JSON.stringify(state.config[k]));
  if (differ.length) {
    throw new CheckpointError(`${source}: its model does not match its own train_config on ${ds.name}: ${listFirst(differ.map((k) => `${k} ${JSON.stringify(state.config[k])} in the model, ${JSON.stringify(model[k])} from the train_config and the dataset`), 4, '; ')}`);
  }
  return { config, notes };
}
