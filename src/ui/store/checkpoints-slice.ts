// Checkpoints and resuming: the checkpoint saved in this browser (the engine answers a query at
// startup, after a lost device and after every save), the latest save for the status bar, and the
// user's answers to the lifecycle's questions: resume the offered checkpoint or start fresh, and
// recover from a lost device (a new engine reloads the dataset and resumes the last checkpoint).
// Also checkpoint files the user loads (model.safetensors from `npm run cli -- train`, the page's
// export or torch_mira.train, with its optimizer.safetensors): the engine checks them and, when
// they pass, the page's configuration becomes the checkpoint's and training continues from its
// step; a refused checkpoint (a file, or the one in IndexedDB) is said with its name and reason.
import type { MethodId } from '../../methods/registry.ts';
import { METHOD_LABELS } from '../format.ts';
import type { CheckpointInfo, CheckpointOrigin } from '../../worker/protocol.ts';
import type { Slice, StoreContext } from './types.ts';

export interface CheckpointRefusal {
  origin: CheckpointOrigin;
  file: string;
  message: string;
}

export interface CheckpointState {
  /** The engine's latest answer: the checkpoint in IndexedDB, or null when there is none. */
  info: CheckpointInfo | null;
  lastSaved: { step: number; savedAt: number } | null;
  /** The chosen files' names while the engine reads and checks them (the request's id). */
  importing: { id: number; files: string } | null;
  /** The latest checkpoint that was not loaded, and why (the running state was kept). */
  refused: CheckpointRefusal | null;
}

export interface CheckpointsSlice {
  checkpoint: CheckpointState;
  /** Accepts the resume offer. */
  resumeCheckpoint(): void;
  /** Declines the resume offer: a fresh run from the page's configuration. */
  startFresh(): void;
  /** After a lost device: a new engine on a new device, the same dataset, the last checkpoint. */
  recoverDevice(): void;
  /** Continues from checkpoint files the user chose or dropped (a model, optionally its optimizer state). */
  importCheckpoint(files: File[]): void;
  dismissCheckpointRefusal(): void;
}

/** The notice after loaded checkpoint files were accepted: what was loaded and where the momentum comes from. */
export function importedNotice(ev: { file: string; step: number; config: { method: MethodId }; optimizer: string | null; notes: readonly string[] }): string {
  const momentum = ev.optimizer ? `The optimizer momentum is ${ev.optimizer}'s.` : 'The optimizer momentum starts at zero: no optimizer.safetensors was chosen with it (choose both files at once to continue exactly).';
  const notes = ev.notes.length ? ` Note: ${ev.notes.join('; ')}.` : '';
  return `Loaded ${ev.file}: a ${METHOD_LABELS[ev.config.method]} run at step ${ev.step.toLocaleString('en-US')}. ${momentum} The page's settings are now the checkpoint's.${notes}`;
}

export function createCheckpointsSlice(ctx: StoreContext): Slice<CheckpointsSlice, 'checkpoint-info' | 'checkpoint-saved' | 'checkpoint-imported' | 'checkpoint-refused'> {
  return {
    state: {
      checkpoint: { info: null, lastSaved: null, importing: null, refused: null },

      resumeCheckpoint() {
        ctx.advance({ type: 'resume' });
      },

      startFresh() {
        ctx.advance({ type: 'start-fresh' });
      },

      recoverDevice() {
        const s = ctx.get();
        ctx.advance({ type: 'recover', source: s.dataset.source ?? { kind: 'bundled' }, checkpoint: s.checkpoint.info });
      },

      importCheckpoint(files) {
        const s = ctx.get();
        const names = files.map((f) => f.name).join(', ');
        if (!files.length) return;
        if (s.dataset.status !== 'ready') {
          ctx.set({ checkpoint: { ...s.checkpoint, refused: { origin: 'file', file: names, message: 'No dataset is loaded yet: wait for it (or load the one the checkpoint was trained on), then load the checkpoint again.' } } });
          return;
        }
        const id = ctx.nextId();
        ctx.set({ checkpoint: { ...s.checkpoint, importing: { id, files: names }, refused: null } });
        ctx.send({ type: 'import-checkpoint', id, files, config: s.config });
      },

      dismissCheckpointRefusal() {
        ctx.set({ checkpoint: { ...ctx.get().checkpoint, refused: null } });
      },
    },

    on: {
      'checkpoint-info'(ev) {
        ctx.set({ checkpoint: { ...ctx.get().checkpoint, info: ev.info } });
        ctx.advance({ type: 'checkpoint-answer', checkpoint: ev.info });
      },

      'checkpoint-saved'(ev) {
        ctx.set({ checkpoint: { ...ctx.get().checkpoint, lastSaved: { step: ev.step, savedAt: ev.savedAt } } });
      },

      'checkpoint-imported'(ev) {
        ctx.adoptConfig({ ...ev.config });
        ctx.set({ checkpoint: { ...ctx.get().checkpoint, importing: null, refused: null } });
        ctx.notice('info', importedNotice(ev));
        ctx.advance({ type: 'imported' });
      },

      'checkpoint-refused'(ev) {
        const c = ctx.get().checkpoint;
        const importing = ev.id !== undefined && c.importing?.id === ev.id ? null : c.importing;
        ctx.set({ checkpoint: { ...c, importing, refused: { origin: ev.origin, file: ev.file, message: ev.message } } });
      },
    },
  };
}
