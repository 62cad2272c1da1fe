// Checkpoints and resuming: the checkpoint saved in this browser (the engine answers a query at
// startup, after a lost device and after every save), the latest save for the status bar, and the
// user's answers to the lifecycle's questions: resume the offered checkpoint or start fresh, and
// recover from a lost device (a new engine reloads the dataset and resumes the last checkpoint).
import type { CheckpointInfo } from '../../worker/protocol.ts';
import type { Slice, StoreContext } from './types.ts';

export interface CheckpointState {
  /** The engine's latest answer: the checkpoint in IndexedDB, or null when there is none. */
  info: CheckpointInfo | null;
  lastSaved: { step: number; savedAt: number } | null;
}

export interface CheckpointsSlice {
  checkpoint: CheckpointState;
  /** Accepts the resume offer. */
  resumeCheckpoint(): void;
  /** Declines the resume offer: a fresh run from the page's configuration. */
  startFresh(): void;
  /** After a lost device: a new engine on a new device, the same dataset, the last checkpoint. */
  recoverDevice(): void;
}

export function createCheckpointsSlice(ctx: StoreContext): Slice<CheckpointsSlice, 'checkpoint-info' | 'checkpoint-saved'> {
  return {
    state: {
      checkpoint: { info: null, lastSaved: null },

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
    },

    on: {
      'checkpoint-info'(ev) {
        ctx.set({ checkpoint: { ...ctx.get().checkpoint, info: ev.info } });
        ctx.advance({ type: 'checkpoint-answer', checkpoint: ev.info });
      },

      'checkpoint-saved'(ev) {
        ctx.set({ checkpoint: { ...ctx.get().checkpoint, lastSaved: { step: ev.step, savedAt: ev.savedAt } } });
      },
    },
  };
}
