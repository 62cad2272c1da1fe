// Checkpoints in this browser's IndexedDB, written by the engine worker every N steps: the
// model as safetensors bytes (encodeCheckpoint), the training configuration, the dataset's
// name, and the (downsampled) metric history so a resumed page redraws its charts. One slot,
// "latest": a reload offers to resume from it. Works in the page and in workers.
import type { TrainConfig } from '../train/config.ts';
import type { StepMetrics } from '../train/metric-layout.ts';
import type { CheckpointInfo, KnnPoint } from './protocol.ts';

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
