// The dataset: which files the server has besides the bundled sample, loading (progress batched
// per frame), the loaded dataset's description and the latest failed load (the loaded dataset is
// kept). The page starts on the dataset its configuration names when it is served; after a lost
// device the new engine reloads the dataset of the lost one. A loaded dataset feeds the lifecycle.
import type { DatasetInfo, DatasetPhase, DatasetSource } from '../../worker/protocol.ts';
import type { Slice, StoreContext } from './types.ts';

export interface DatasetState {
  status: 'none' | 'loading' | 'ready';
  info: DatasetInfo | null;
  /** What is being read now. */
  progress: { phase: DatasetPhase; file: string; loaded: number; total: number } | null;
  /** The latest failed load (the loaded dataset, if any, is kept). */
  error: { file: string | null; message: string } | null;
  /** Files served under /datasets/ besides the bundled sample (e.g. the CIFAR-10 tarball). */
  served: string[];
  /** The latest source asked for (reloaded by a new engine after a lost device). */
  source: DatasetSource | null;
}

export interface DatasetSlice {
  dataset: DatasetState;
  loadDataset(source: DatasetSource): void;
  dismissDatasetError(): void;
}

export const CIFAR_NOT_SERVED =
  'This configuration trains on CIFAR-10, which is not loaded: drop cifar-10-binary.tar.gz (or its six .bin files) on the dataset panel. The bundled sample is used meanwhile.';

export function createDatasetSlice(ctx: StoreContext): Slice<DatasetSlice, 'datasets-served' | 'dataset-progress' | 'dataset' | 'dataset-error'> {
  let pendingProgress: DatasetState['progress'] = null;
  return {
    state: {
      dataset: { status: 'none', info: null, progress: null, error: null, served: [], source: null },

      loadDataset(source) {
        const d = ctx.get().dataset;
        const file = source.kind === 'files' ? (source.files[0]?.name ?? '') : 'the bundled sample';
        ctx.set({ dataset: { ...d, status: d.info ? 'ready' : 'loading', progress: { phase: 'reading', file, loaded: 0, total: 0 }, error: null, source } });
        ctx.send({ type: 'load-dataset', id: ctx.nextId(), source });
      },

      dismissDatasetError() {
        ctx.set({ dataset: { ...ctx.get().dataset, error: null } });
      },
    },

    on: {
      'datasets-served'(ev) {
        ctx.set({ dataset: { ...ctx.get().dataset, served: ev.files } });
        const s = ctx.get();
        if (s.dataset.status !== 'none') return;
        if (s.lifecycle.state === 'recovering') {
          s.loadDataset(s.lifecycle.source);
          return;
        }
        // The page starts on the dataset the configuration names, when it is here; else the sample.
        const wantCifar = s.config.dataset === 'cifar10';
        const cifar = ev.files.find((f) => /cifar/i.test(f));
        s.loadDataset(wantCifar && cifar ? { kind: 'served', file: cifar } : { kind: 'bundled' });
        if (wantCifar && !cifar) ctx.notice('info', CIFAR_NOT_SERVED);
      },

      'dataset-progress'(ev) {
        pendingProgress = { phase: ev.phase, file: ev.file, loaded: ev.loaded, total: ev.total };
        ctx.schedule();
      },

      dataset(ev) {
        pendingProgress = null;
        const key = ev.info.name === 'fashion-mnist-sample' ? 'bundled' : ev.info.name;
        const s = ctx.get();
        ctx.set({ dataset: { ...s.dataset, status: 'ready', info: ev.info, progress: null, error: null }, config: { ...s.config, dataset: key } });
        ctx.writeUrl();
        ctx.advance({ type: 'dataset-loaded' });
      },

      'dataset-error'(ev) {
        pendingProgress = null;
        const d = ctx.get().dataset;
        ctx.set({ dataset: { ...d, status: d.info ? 'ready' : 'none', progress: null, error: { file: ev.file, message: ev.message } } });
      },
    },

    frame(s) {
      if (!pendingProgress) return null;
      const progress = pendingProgress;
      pendingProgress = null;
      return { dataset: { ...s.dataset, progress } };
    },

    restart: (s) => {
      pendingProgress = null;
      return { dataset: { ...s.dataset, status: 'none', info: null, progress: null } };
    },
  };
}
