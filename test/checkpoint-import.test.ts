// Continuing a run from checkpoint files (src/train/checkpoint-import.ts) and the checks the
// IndexedDB checkpoint passes before the page offers it (src/worker/checkpoints.ts): which chosen
// file is which, the optimizer state against the model, the run's configuration from mira.config's
// train_config against the loaded dataset, and a stored record with NaN weights refused — each
// through real safetensors bytes (encodeCheckpoint / decodeCheckpoint), each refusal naming the file.
import { describe, expect, test } from 'vitest';
import type { Dataset } from '../src/data/dataset.ts';
import { encodeSafetensors } from '../src/io/safetensors.ts';
import { CheckpointError, decodeCheckpoint, encodeCheckpoint, initialState, type ModelState } from '../src/nn/checkpoint.ts';
import { FASHION_MEAN, FASHION_STD } from '../src/nn/config.ts';
import { decodeOptimizerState, importedTrainConfig, isGzip, MAX_CHECKPOINT_FILE_BYTES, optimizerStateSize, PAGE_KEPT_KEYS, refuseGzip, sortCheckpointFiles } from '../src/train/checkpoint-import.ts';
import { defaultTrainConfig, type TrainConfig } from '../src/train/config.ts';
import { modelConfigFor } from '../src/train/trainer.ts';
import { checkStoredCheckpoint, STORED_SOURCE, type StoredCheckpoint } from '../src/worker/checkpoints.ts';

/** The bundled sample's shape (28×28 grey), without its pixels: the import reads only the shape and the normalisation. */
const SAMPLE: Dataset = { name: 'fashion-mnist-sample/train', images: new Uint8Array(0), labels: new Uint8Array(0), count: 2000, height: 28, width: 28, channels: 1, classes: ['t-shirt'], mean: FASHION_MEAN, std: FASHION_STD };
const CIFAR: Dataset = { ...SAMPLE, name: 'cifar10/train', height: 32, width: 32, channels: 3, mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.243, 0.261] };

/** What the page has configured before loading: another method and width, its own kNN and checkpoint cadence. */
const PAGE: TrainConfig = defaultTrainConfig({ method: 'mira', width: 1 / 8, knnEvery: 3, knnBank: 40, knnQueries: 40, checkpointEvery: 2, dataset: 'bundled' });

/** A run as `npm run cli -- train --method swav --width 0.0625 --batch 8 --steps 6 --prototypes 16` leaves it at `step`, through safetensors bytes. */
function cliCheckpoint(step: number, over: Partial<TrainConfig> = {}, ds: Dataset = SAMPLE): { bytes: Uint8Array; state: ModelState; train: TrainConfig } {
  const train = defaultTrainConfig({ method: 'swav', width: 1 / 16, batch: 8, steps: 6, prototypes: 16, projHidden: 64, projOut: 32, seed: 3, dataset: ds === SAMPLE ? 'bundled' : 'cifar10', ...over });
  const state = initialState(modelConfigFor(train, ds), train.seed);
  state.step = step;
  state.method = train.method;
  state.extra = { train_config: train, knn_top1_init: 0.31 };
  const bytes = encodeCheckpoint(state);
  return { bytes, state: decodeCheckpoint(bytes, 'model.safetensors'), train };
}

const refusal = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointError);
    return (e as Error).message;
  }
  throw new Error('expected a CheckpointError, nothing was thrown');
};

describe('which chosen file is which', () => {
  const f = (name: string, size = 100) => ({ name, size });

  test('the model alone, with its optimizer state, and with a SeLa run\'s labels.npy, in any order', () => {
    expect(sortCheckpointFiles([f('model.safetensors')])).toEqual({ model: 0, optimizer: null, runFiles: {} });
    expect(sortCheckpointFiles([f('optimizer.safetensors'), f('run-7.safetensors')])).toEqual({ model: 1, optimizer: 0, runFiles: {} });
    expect(sortCheckpointFiles([f('labels.npy'), f('Optimiser (1).safetensors'), f('model.safetensors')])).toEqual({ model: 2, optimizer: 1, runFiles: { 'labels.npy': 0 } });
  });

  test('refuses nothing, two models, two optimizer files, no model and a file too large to be a checkpoint, naming them', () => {
    expect(refusal(() => sortCheckpointFiles([]))).toContain('no file was chosen');
    expect(refusal(() => sortCheckpointFiles([f('a.safetensors'), f('b.safetensors')]))).toMatch(/^a\.safetensors, b\.safetensors: more than one model file/);
    expect(refusal(() => sortCheckpointFiles([f('optimizer.safetensors'), f('optimizer2.safetensors'), f('m.safetensors')]))).toContain('more than one optimizer file');
    expect(refusal(() => sortCheckpointFiles([f('optimizer.safetensors')]))).toMatch(/^optimizer\.safetensors: no model file among them/);
    expect(refusal(() => sortCheckpointFiles([f('huge.safetensors', MAX_CHECKPOINT_FILE_BYTES + 1)]))).toMatch(/^huge\.safetensors: .* bytes, more than/);
  });

  test('a gzip stream (a bomb among them) is refused by its magic number, before anything inflates it', () => {
    const gz = Uint8Array.of(0x1f, 0x8b, 8, 0, 0, 0, 0, 0);
    expect(isGzip(gz)).toBe(true);
    expect(isGzip(cliCheckpoint(0).bytes)).toBe(false);
    expect(refusal(() => refuseGzip(gz, 'model.safetensors.gz'))).toMatch(/^model\.safetensors\.gz: a gzip-compressed file, not safetensors/);
  });
});

describe('the optimizer state', () => {
  const { state } = cliCheckpoint(3);
  const size = optimizerStateSize(state);
  const opt = (momentum: Float32Array, step = '3') => encodeSafetensors({ momentum: { shape: [momentum.length], data: momentum } }, { step });

  test('the momentum of the checkpoint\'s step and model is taken', () => {
    const m = Float32Array.from({ length: size }, (_, i) => i * 1e-3);
    const r = decodeOptimizerState(opt(m), 'optimizer.safetensors', 3, size);
    expect('problem' in r).toBe(false);
    expect(Array.from((r as { momentum: Float32Array }).momentum.subarray(0, 3))).toEqual(Array.from(m.subarray(0, 3)));
  });

  test('another step, another model\'s size, non-finite values, no step and bytes that are not safetensors are problems that say so', () => {
    const m = new Float32Array(size);
    expect(decodeOptimizerState(opt(m, '2'), 'o', 3, size)).toEqual({ problem: 'is from step 2, the checkpoint from step 3' });
    expect(decodeOptimizerState(opt(new Float32Array(size - 1)), 'o', 3, size)).toEqual({ problem: `holds ${size - 1} momentum values, the checkpoint's model has ${size}` });
    m[5] = NaN;
    expect(decodeOptimizerState(opt(m), 'o', 3, size)).toEqual({ problem: 'holds non-finite momentum' });
    expect(decodeOptimizerState(encodeSafetensors({ momentum: { shape: [1], data: Float32Array.of(0) } }), 'o', 3)).toMatchObject({ problem: expect.stringContaining('has no "step"') });
    expect(decodeOptimizerState(new TextEncoder().encode('not a tensor file'), 'o', 3)).toMatchObject({ problem: expect.stringMatching(/^cannot be read/) });
  });
});

describe('the configuration a loaded run continues with', () => {
  test('is the checkpoint\'s train_config (method, width, K, projector, seed, …), on the page\'s dataset, with the page\'s kNN and checkpoint cadence', () => {
    const { state, train } = cliCheckpoint(3);
    const { config, notes } = importedTrainConfig(state, 'model.safetensors', SAMPLE, 'bundled', PAGE);
    expect(notes).toEqual([]);
    for (const k of ['method', 'width', 'batch', 'steps', 'prototypes', 'projHidden', 'projOut', 'seed', 'lr', 'warmupSteps', 'optimizer'] as const) expect(config[k], k).toEqual(train[k]);
    for (const k of PAGE_KEPT_KEYS) expect(config[k], k).toEqual(PAGE[k]);
    expect(config.dataset).toBe('bundled');
  });

  test('a finished run is extended by as many steps again, and the page is told', () => {
    const { state } = cliCheckpoint(6);
    const { config, notes } = importedTrainConfig(state, 'model.safetensors', SAMPLE, 'bundled', PAGE);
    expect(config.steps).toBe(12);
    expect(notes.join(' ')).toContain('finished its 6 steps, so the run is extended to 12');
  });

  test('a checkpoint of CIFAR-10 on the Fashion-MNIST sample says which dataset it needs', () => {
    const { state } = cliCheckpoint(3, {}, CIFAR);
    const msg = refusal(() => importedTrainConfig(state, 'cifar.safetensors', SAMPLE, 'bundled', PAGE));
    expect(msg).toMatch(/^cifar\.safetensors was trained on "cifar10" \(images of 3 channels, 32×32/);
    expect(msg).toContain('load "cifar10" in the dataset panel, then load the checkpoint again');
  });

  test('no train_config, a method this build does not have, and an impossible setting are refused, naming the file', () => {
    const { state } = cliCheckpoint(3);
    expect(refusal(() => importedTrainConfig({ ...state, extra: {} }, 'embed-only.safetensors', SAMPLE, 'bundled', PAGE))).toMatch(/^embed-only\.safetensors: mira\.config has no "train_config"/);
    const dino = { ...state, method: 'dino', extra: { train_config: { ...(state.extra!.train_config as object), method: 'dino' } } };
    expect(refusal(() => importedTrainConfig(dino, 'dino.safetensors', SAMPLE, 'bundled', PAGE))).toMatch(/^dino\.safetensors was trained with method "dino", which this build does not have \(it has mira, swav/);
    const bad = { ...state, extra: { train_config: { ...(state.extra!.train_config as object), lr: -1 } } };
    expect(refusal(() => importedTrainConfig(bad, 'bad.safetensors', SAMPLE, 'bundled', PAGE))).toMatch(/^bad\.safetensors: train_config in mira\.config: .*lr/);
    const wider = { ...state, extra: { train_config: { ...(state.extra!.train_config as object), width: 1 / 8 } } };
    expect(refusal(() => importedTrainConfig(wider, 'w.safetensors', SAMPLE, 'bundled', PAGE))).toMatch(/^w\.safetensors: its model does not match its own train_config .*width 0\.0625 in the model, 0\.125/);
  });
});

describe('the checkpoint in IndexedDB is checked before it is offered', () => {
  function record(model: Uint8Array, over: Partial<StoredCheckpoint> = {}): StoredCheckpoint {
    return { step: 3, savedAt: 1, config: cliCheckpoint(3).train, dataset: 'bundled', model, records: [], knn: [], knnInit: 0.2, ...over };
  }

  test('a sound record passes, with its decoded model', () => {
    const { bytes } = cliCheckpoint(3);
    const { state } = checkStoredCheckpoint(record(bytes));
    expect(state.step).toBe(3);
    expect(state.method).toBe('swav');
  });

  test('NaN weights, a step that disagrees, a method this build does not have and a damaged record are refused, naming the checkpoint and the field', () => {
    const { state } = cliCheckpoint(3);
    const poisoned = { ...state, student: new Map(state.student) };
    const w = poisoned.student.get('encoder.conv1.weight')!.slice();
    w[4] = NaN;
    poisoned.student.set('encoder.conv1.weight', w);
    const nan = encodeCheckpoint(poisoned);
    const fail = (c: unknown) => {
      try {
        checkStoredCheckpoint(c);
      } catch (e) {
        return (e as Error).message;
      }
      throw new Error('the record was accepted');
    };
    expect(fail(record(nan))).toMatch(new RegExp(`^${STORED_SOURCE}: non-finite weights in 1 tensor: "encoder\\.conv1\\.weight" \\(1 value, the first NaN at index`));
    const ok = cliCheckpoint(3).bytes;
    expect(fail(record(ok, { step: 7 }))).toBe(`${STORED_SOURCE}: the record says step 7, its model's mira.config step 3`);
    expect(fail(record(ok, { config: { ...cliCheckpoint(3).train, method: 'dino' as TrainConfig['method'] } }))).toMatch(/its method "dino" is not in this build/);
    expect(fail({ ...record(ok), model: 'AAAA' })).toBe(`${STORED_SOURCE}: the record has no model bytes ("model")`);
    expect(fail({ ...record(ok), records: undefined })).toContain('metric history');
    expect(fail(null)).toMatch(/the record is null, not a checkpoint/);
  });
});
