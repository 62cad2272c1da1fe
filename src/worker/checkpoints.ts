// Checkpoints in this browser's IndexedDB, written by the engine worker every N steps: the
// model as safetensors bytes (encodeCheckpoint), the training configuration, the dataset's
// name, and the (downsampled) metric history so a resumed page redraws its charts. One slot,
// "latest": a reload offers to resume from it, but only once it has passed the same checks as a
// checkpoint file (checkStoredCheckpoint: the record's fields, decodeCheckpoint's finite weights
// and mira.config, a configuration this build can train). Works in the page and in workers.
import { decodeCheckpoint, type ModelState } from '../nn/checkpoint.ts';
import { isMethodId, METHOD_IDS } from '../methods/registry.ts';
import { quote } from '../io/messages.ts';
import { trainConfigProblems, type TrainConfig } from '../train/config.ts';
import type { StepMetrics } from '../train/metric-layout.ts';
import type { CheckpointInfo, KnnPoint } from './protocol.ts';

/** How messages name the checkpoint in IndexedDB. */
export const STORED_SOURCE = 'the checkpoint saved in this browser';

const DB_NAME = 'mira-playground';
const STORE = 'checkpoints';
const SLOT = 'latest';

export interface StoredCheckpoint {
  step: number;
  savedAt: number;
  config: TrainConfig;
  dataset: string;
  /** safetensors (encodeCheckpoint). */
  model: Uint8Array;
  records: StepMetrics[];
  knn: KnnPoint[];
  knnInit: number | null;
  /** The method's run files saved beside the model (SeLa's labels.npy); a resumed run needs them. */
  files?: Record<string, Uint8Array>;
}

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    if (typeof indexedDB === 'undefined') {
      reject(new Error('this browser has no IndexedDB, so checkpoints cannot be kept'));
      return;
    }
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => {
      if (!req.result.objectStoreNames.contains(STORE)) req.result.createObjectStore(STORE);
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB could not be opened'));
    req.onblocked = () => reject(new Error('IndexedDB is blocked by another tab of the playground'));
  });
}

function run<T>(mode: IDBTransactionMode, body: (store: IDBObjectStore) => IDBRequest<T> | null): Promise<T | undefined> {
  return open().then(
    (db) =>
      new Promise<T | undefined>((resolve, reject) => {
        const tx = db.transaction(STORE, mode);
        const req = body(tx.objectStore(STORE));
        let result: T | undefined;
        if (req) req.onsuccess = () => (result = req.result);
        tx.oncomplete = () => {
          db.close();
          resolve(result);
        };
        tx.onabort = tx.onerror = () => {
          db.close();
          reject(tx.error ?? new Error('IndexedDB transaction failed'));
        };
      }),
  );
}

export async function saveCheckpoint(c: StoredCheckpoint): Promise<void> {
  await run('readwrite', (s) => s.put(c, SLOT));
}

export async function loadCheckpoint(): Promise<StoredCheckpoint | null> {
  const c = await run<StoredCheckpoint>('readonly', (s) => s.get(SLOT));
  return c ?? null;
}

export async function deleteCheckpoint(): Promise<void> {
  await run('readwrite', (s) => s.delete(SLOT));
}

export function checkpointInfo(c: StoredCheckpoint): CheckpointInfo {
  return { step: c.step, savedAt: c.savedAt, config: c.config, dataset: c.dataset, bytes: c.model.byteLength };
}

/**
 * Checks a record read from IndexedDB (any shape: another version of the page, a damaged or
 * edited database) and decodes its model: the record's fields, the model's tensors (finite, the
 * shapes mira.config describes), its step against the record's, and a configuration this build
 * can train. Throws an Error naming STORED_SOURCE and the field; returns the record and the state.
 */
export function checkStoredCheckpoint(c: unknown): { stored: StoredCheckpoint; state: ModelState } {
  const fail = (what: string) => {
    throw new Error(`${STORED_SOURCE}: ${what}`);
  };
  if (c === null || typeof c !== 'object') fail(`the record is ${quote(c)}, not a checkpoint`);
  const r = c as Record<string, unknown>;
  if (!(r.model instanceof Uint8Array)) fail('the record has no model bytes ("model")');
  if (typeof r.step !== 'number' || !Number.isInteger(r.step) || r.step < 0) fail(`the record's "step" must be a non-negative integer, got ${quote(r.step)}`);
  if (typeof r.dataset !== 'string') fail(`the record's "dataset" must be a dataset's name, got ${quote(r.dataset)}`);
  if (!Array.isArray(r.records) || !Array.isArray(r.knn)) fail('the record\'s metric history ("records", "knn") is missing');
  if (r.knnInit !== null && typeof r.knnInit !== 'number') fail(`the record's "knnInit" must be a number or null, got ${quote(r.knnInit)}`);
  if (r.files !== undefined && (r.files === null || typeof r.files !== 'object' || !Object.values(r.files).every((f) => f instanceof Uint8Array))) fail('the record\'s run files ("files") are not byte arrays');
  const config = r.config as Record<string, unknown> | null;
  if (config === null || typeof config !== 'object') fail(`the record's "config" must be a training configuration, got ${quote(r.config)}`);
  if (!isMethodId(config!.method)) fail(`its method ${quote(config!.method)} is not in this build (it has ${METHOD_IDS.join(', ')})`);
  const problems = trainConfigProblems(config!);
  if (problems.length) fail(`its configuration: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? `; … and ${problems.length - 5} more` : ''}`);
  const state = decodeCheckpoint(r.model as Uint8Array, STORED_SOURCE);
  if (state.step !== r.step) fail(`the record says step ${r.step}, its model's mira.config step ${state.step}`);
  return { stored: c as StoredCheckpoint, state };
}
