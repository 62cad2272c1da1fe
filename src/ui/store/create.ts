// The page's store: createPlaygroundStore(connect) composes the slices in this folder into one
// zustand store. It owns the engine connection (started by `start()`, replaced after a lost
// device), routes each engine event to the one slice that owns its type (a table, checked at
// compile time to cover every EngineEvent), applies gathered updates once per frame, and carries
// out the lifecycle machine's effects (./lifecycle.ts). Everything mutable lives in this
// closure, so every store is independent: the page makes one (main.tsx), tests make many with a
// fake engine and a manual frame scheduler. See docs/ARCHITECTURE.md (the page).
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { EngineClient, EngineConnector } from '../../worker/client.ts';
import type { EngineEvent, EngineRequest } from '../../worker/protocol.ts';
import { encodeUrlState } from '../url-state.ts';
import { createArenaSlice } from './arena-slice.ts';
import { createCheckpointsSlice } from './checkpoints-slice.ts';
import { createCollapseLabSlice } from './collapse-lab-slice.ts';
import { createDatasetSlice } from './dataset-slice.ts';
import { createExplorerSlice } from './explorer-slice.ts';
import { createExportsSlice } from './exports-slice.ts';
import { createGallerySlice } from './gallery-slice.ts';
import { createEmbeddingMapSlice } from './embedding-map-slice.ts';
import { createGpuSlice } from './gpu-slice.ts';
import { transition, type LifecycleEffect, type LifecycleInput } from './lifecycle.ts';
import { createNoticesSlice } from './notices-slice.ts';
import { animationFrames, browserPage } from './page.ts';
import { createRunSlice } from './run-slice.ts';
import { createSettingsSlice } from './settings-slice.ts';
import type { AppState, EventTable, FrameScheduler, PageEnvironment, Slice, StoreContext } from './types.ts';

export type PlaygroundStore = StoreApi<AppState>;

export interface PlaygroundStoreOptions {
  /** When gathered updates are applied (default: the next animation frame). */
  frames?: FrameScheduler;
  /** The URL, downloads and WebGPU's presence (default: the browser's). */
  page?: Partial<PageEnvironment>;
}

/** What the factory needs of every slice besides its state. */
type SlicePart = Pick<Slice<unknown>, 'frame' | 'restart'> & { on: Partial<EventTable> };

/** The event table, one row per engine event type, refusing a type two slices claim. */
function eventTable(slices: Record<string, SlicePart>, table: EventTable): EventTable {
  const owner = new Map<string, string>();
  for (const [name, slice] of Object.entries(slices)) {
    for (const type of Object.keys(slice.on)) {
      if (owner.has(type)) throw new Error(`The engine event "${type}" is handled by two store slices (${owner.get(type)} and ${name}); give it to one.`);
      owner.set(type, name);
    }
  }
  return table;
}

export function createPlaygroundStore(connect: EngineConnector, options: PlaygroundStoreOptions = {}): PlaygroundStore {
  const page: PageEnvironment = { ...browserPage, ...options.page };
  const frames = options.frames ?? animationFrames;

  return createStore<AppState>()((set, get) => {
    let engine: EngineClient | null = null;
    /** Bumped when an engine is replaced: events of the old one are dropped. */
    let generation = 0;
    let nextId = 1;
    let cancelFrame: (() => void) | null = null;

    const send = (request: EngineRequest): void => engine?.send(request);

    const ctx: StoreContext = {
      get,
      set: (patch) => set(patch),
      send,
      nextId: () => nextId++,
      schedule() {
        cancelFrame ??= frames(flush);
      },
      flush,
      notice: (kind, text) => notices.post(kind, text),
      advance,
      writeUrl() {
        const s = get();
        const search = encodeUrlState(s.preset, s.config, s.tab === 'arena' ? { methods: s.arena.selected, steps: s.arena.steps } : null);
        if (search !== page.readSearch()) page.replaceSearch(search);
      },
      bootEngine: () => boot('started'),
      newRun() {
        set(run.clear());
        send({ type: 'reset', config: get().config });
      },
      adoptConfig(config) {
        set({ ...run.clear(), config });
        ctx.writeUrl();
      },
      page,
    };

    const gpu = createGpuSlice(ctx);
    const settings = createSettingsSlice(ctx);
    const dataset = createDatasetSlice(ctx);
    const run = createRunSlice(ctx);
    const checkpoints = createCheckpointsSlice(ctx);
    const explorer = createExplorerSlice(ctx);
    const lab = createCollapseLabSlice(ctx);
    const arena = createArenaSlice(ctx);
    const gallery = createGallerySlice(ctx);
    const embeddingMap = createEmbeddingMapSlice(ctx);
    const exports = createExportsSlice(ctx);
    const notices = createNoticesSlice(ctx);
    const named: Record<string, SlicePart> = { gpu, settings, dataset, run, checkpoints, explorer, lab, arena, gallery, embeddingMap, exports, notices };
    const slices = Object.values(named);
    const handlers = eventTable(named, { ...gpu.on, ...dataset.on, ...run.on, ...checkpoints.on, ...explorer.on, ...lab.on, ...arena.on, ...gallery.on, ...embeddingMap.on, ...exports.on });

    function flush(): void {
      cancelFrame?.();
      cancelFrame = null;
      const s = get();
      const patch: Partial<AppState> = {};
      for (const slice of slices) Object.assign(patch, slice.frame?.(s));
      if (Object.keys(patch).length) set(patch);
    }

    function onEvent(event: EngineEvent): void {
      (handlers[event.type] as (e: EngineEvent) => void)(event);
    }

    function onCrash(message: string): void {
      set({ gpu: { status: 'failed', error: `The engine worker stopped: ${message}` } });
      if (get().gemmCheck.status === 'running') set({ gemmCheck: { status: 'error', error: message } });
      advance({ type: 'engine-failed', error: message });
    }

    function boot(verb: 'started' | 'restarted'): void {
      const mine = ++generation;
      try {
        engine = connect(
          (event) => mine === generation && onEvent(event),
          (message) => mine === generation && onCrash(message),
        );
        engine.send({ type: 'init' });
      } catch (e) {
        const error = `The engine worker could not be ${verb}: ${(e as Error).message}`;
        set({ gpu: { status: 'failed', error } });
        advance({ type: 'engine-failed', error });
      }
    }

    /** A new worker (a new device): the old one is disposed of, every slice's engine-bound state cleared. */
    function restartEngine(): void {
      engine?.dispose();
      engine = null;
      generation++;
      const s = get();
      const patch: Partial<AppState> = {};
      for (const slice of slices) Object.assign(patch, slice.restart?.(s));
      set(patch);
      boot('restarted');
    }

    function carryOut(effect: LifecycleEffect): void {
      switch (effect.type) {
        case 'configure': {
          const cp = effect.checkpoint;
          if (!cp) {
            send({ type: 'configure', config: get().config });
            if (effect.reason === 'recovery') ctx.notice('info', 'The engine restarted on a new GPU device. There was no checkpoint, so training starts afresh.');
          } else if (effect.reason === 'recovery') {
            // The page's configuration stays as the user left it (pending edits included); the trainer is the checkpoint's.
            send({ type: 'configure', config: { ...cp.config }, resume: true });
            ctx.notice('info', `The engine restarted on a new GPU device and resumes from the checkpoint of step ${cp.step.toLocaleString('en-US')}.`);
          } else {
            const config = { ...cp.config };
            ctx.adoptConfig(config);
            send({ type: 'configure', config, resume: true });
          }
          return;
        }
        case 'new-run':
          return ctx.newRun();
        case 'restart-engine':
          return restartEngine();
      }
    }

    function advance(input: LifecycleInput): LifecycleEffect[] {
      const { next, effects } = transition(get().lifecycle, input);
      if (next !== get().lifecycle) set({ lifecycle: next });
      for (const effect of effects) carryOut(effect);
      return effects;
    }

    return { ...gpu.state, ...settings.state, ...dataset.state, ...run.state, ...checkpoints.state, ...explorer.state, ...lab.state, ...arena.state, ...gallery.state, ...embeddingMap.state, ...exports.state, ...notices.state };
  });
}
