// The page's startup, resume offer and device-loss recovery as one state machine: a pure
// transition function from (state, input) to (next state, effects). The store feeds it inputs
// (engine events and user actions) and carries out the effects; nothing here touches the engine.
//
//   starting ──engine-ready──▶ waiting(dataset?, checkpoint answered?)
//   waiting ──both in, no checkpoint──▶ ready                            effect: configure (fresh)
//   waiting ──checkpoint answer with a checkpoint──▶ offering-resume(checkpoint, dataset?)
//   offering-resume ──resume (dataset loaded)──▶ ready                   effect: configure (resume from the checkpoint)
//   offering-resume ──start-fresh / play──▶ ready (dataset loaded) | waiting   effect: configure (fresh)
//   waiting | offering-resume ──play (dataset loaded)──▶ ready           effect: configure (fresh)
//   waiting | offering-resume | ready ──reset──▶ ready                   effect: new-run
//   waiting | offering-resume ──imported──▶ ready                        (the engine builds from the loaded files)
//   ready ──dataset-loaded──▶ ready                                      effect: new-run (a new dataset means a new run)
//   any live state ──device-lost──▶ device-lost(message)
//   device-lost ──recover──▶ recovering(dataset source, checkpoint | none)   effect: restart-engine
//   recovering ──dataset-loaded──▶ ready                                 effect: configure (resume from the checkpoint, else fresh)
//   any state ──engine-failed──▶ failed(error)                           (no WebGPU, the worker crashed, init failed)
//
// A trainer is built once, when the dataset is loaded and the checkpoint query answered: the page
// offers to resume a checkpoint from an earlier visit instead of overwriting it with a fresh run.
// After a lost device a new engine (a new worker, a new device) reloads the same dataset and
// resumes from the last checkpoint. See docs/ARCHITECTURE.md (the page).
import type { CheckpointInfo, DatasetSource } from '../../worker/protocol.ts';

export type Lifecycle =
  /** The engine worker is starting; nothing is known about the adapter yet. */
  | { state: 'starting' }
  /** The engine is up; a fresh trainer is built once the dataset is loaded and the checkpoint query answered. */
  | { state: 'waiting'; datasetLoaded: boolean; checkpointAnswered: boolean }
  /** A checkpoint from an earlier visit is saved: the user chooses to resume it or to start fresh. */
  | { state: 'offering-resume'; checkpoint: CheckpointInfo; datasetLoaded: boolean }
  /** A trainer was asked for; from here the user drives the run. */
  | { state: 'ready' }
  /** The GPU device is gone; the page says so and offers to recover. */
  | { state: 'device-lost'; message: string }
  /** A new engine is starting on a new device: it reloads `source`, then resumes from `checkpoint` (or starts fresh without one). */
  | { state: 'recovering'; source: DatasetSource; checkpoint: CheckpointInfo | null }
  /** No engine: WebGPU is missing, the worker could not start, or it crashed. */
  | { state: 'failed'; error: string };

export type LifecycleInput =
  | { type: 'engine-ready' }
  | { type: 'engine-failed'; error: string }
  | { type: 'dataset-loaded' }
  /** The answer to a checkpoint query (also sent after every save). */
  | { type: 'checkpoint-answer'; checkpoint: CheckpointInfo | null }
  /** The user accepts the resume offer. */
  | { type: 'resume' }
  /** The user declines the resume offer. */
  | { type: 'start-fresh' }
  | { type: 'play' }
  /** The user throws the run away (Reset). */
  | { type: 'reset' }
  /** The engine accepted checkpoint files the user loaded and builds the trainer from them. */
  | { type: 'imported' }
  | { type: 'device-lost'; message: string }
  /** The user asks to recover from a lost device, reloading `source` and resuming `checkpoint`. */
  | { type: 'recover'; source: DatasetSource; checkpoint: CheckpointInfo | null };

/** Why a trainer is built: the store says so differently (a resume adopts the checkpoint's configuration, a recovery tells the user). */
export type ConfigureReason = 'startup' | 'resume-offer' | 'play' | 'recovery';

export type LifecycleEffect =
  /** Build a trainer: from `checkpoint` when given, else fresh from the page's configuration. */
  | { type: 'configure'; checkpoint: CheckpointInfo | null; reason: ConfigureReason }
  /** Clear the charts and build a fresh trainer from the page's configuration (the engine's `reset`). */
  | { type: 'new-run' }
  /** Dispose of the engine and start a new one (a new worker gets a new device). */
  | { type: 'restart-engine' };

export interface Transition {
  next: Lifecycle;
  effects: LifecycleEffect[];
}

export const INITIAL_LIFECYCLE: Lifecycle = { state: 'starting' };

const stay = (state: Lifecycle): Transition => ({ next: state, effects: [] });
const fresh = (reason: ConfigureReason): Transition => ({ next: { state: 'ready' }, effects: [{ type: 'configure', checkpoint: null, reason }] });

/** Where the page goes next. Inputs that mean nothing in a state leave it as it is (no effects). */
export function transition(state: Lifecycle, input: LifecycleInput): Transition {
  if (input.type === 'engine-failed') return { next: { state: 'failed', error: input.error }, effects: [] };
  if (input.type === 'device-lost') {
    if (state.state === 'failed' || state.state === 'device-lost') return stay(state);
    return { next: { state: 'device-lost', message: input.message }, effects: [] };
  }
  switch (state.state) {
    case 'starting':
      return input.type === 'engine-ready' ? stay({ state: 'waiting', datasetLoaded: false, checkpointAnswered: false }) : stay(state);

    case 'waiting':
      switch (input.type) {
        case 'dataset-loaded':
          return state.checkpointAnswered ? fresh('startup') : stay({ ...state, datasetLoaded: true });
        case 'checkpoint-answer':
          if (state.checkpointAnswered) return stay(state);
          if (input.checkpoint) return stay({ state: 'offering-resume', checkpoint: input.checkpoint, datasetLoaded: state.datasetLoaded });
          return state.datasetLoaded ? fresh('startup') : stay({ ...state, checkpointAnswered: true });
        case 'play':
          return state.datasetLoaded ? fresh('play') : stay(state);
        case 'reset':
          return { next: { state: 'ready' }, effects: [{ type: 'new-run' }] };
        case 'imported':
          return stay({ state: 'ready' });
        default:
          return stay(state);
      }

    case 'offering-resume':
      switch (input.type) {
        case 'dataset-loaded':
          return stay({ ...state, datasetLoaded: true });
        case 'checkpoint-answer':
          // A later save keeps the offer up to date; a discarded checkpoint withdraws it.
          if (input.checkpoint) return stay({ ...state, checkpoint: input.checkpoint });
          return state.datasetLoaded ? fresh('startup') : stay({ state: 'waiting', datasetLoaded: false, checkpointAnswered: true });
        case 'resume':
          return state.datasetLoaded ? { next: { state: 'ready' }, effects: [{ type: 'configure', checkpoint: state.checkpoint, reason: 'resume-offer' }] } : stay(state);
        case 'start-fresh':
        case 'play':
          return state.datasetLoaded ? fresh(input.type === 'play' ? 'play' : 'startup') : stay({ state: 'waiting', datasetLoaded: false, checkpointAnswered: true });
        case 'reset':
          return { next: { state: 'ready' }, effects: [{ type: 'new-run' }] };
        case 'imported':
          return stay({ state: 'ready' });
        default:
          return stay(state);
      }

    case 'ready':
      return input.type === 'dataset-loaded' || input.type === 'reset' ? { next: state, effects: [{ type: 'new-run' }] } : stay(state);

    case 'device-lost':
      return input.type === 'recover' ? { next: { state: 'recovering', source: input.source, checkpoint: input.checkpoint }, effects: [{ type: 'restart-engine' }] } : stay(state);

    case 'recovering':
      return input.type === 'dataset-loaded' ? { next: { state: 'ready' }, effects: [{ type: 'configure', checkpoint: state.checkpoint, reason: 'recovery' }] } : stay(state);

    case 'failed':
      return stay(state);
  }
}

/** The checkpoint the page offers to resume, if it does. */
export function resumeOffer(l: Lifecycle): CheckpointInfo | null {
  return l.state === 'offering-resume' ? l.checkpoint : null;
}

/** Why the device was lost, while the page says so. */
export function deviceLostMessage(l: Lifecycle): string | null {
  return l.state === 'device-lost' ? l.message : null;
}
