// The method arena's state: the setup (methods ticked, steps each; the seed and the shared
// training settings are the page's configuration), read from the URL at load and written back on
// every change so a link reopens the arena as it was; the run's live series, evaluations and
// status from the worker (src/worker/arena.ts; points are applied once per frame); and the
// table's export as CSV or Markdown, saved through the page like every download.
import { METHOD_IDS, type MethodId } from '../../methods/registry.ts';
import type { ArenaEval, ArenaPoint, EmbeddingMapResult, PixelBaselinePoint } from '../../worker/protocol.ts';
import { arenaCsv, arenaMarkdown, arenaRows } from '../arena.ts';
import { ARENA_MAX_STEPS, decodeUrlState } from '../url-state.ts';
import type { AppState, Slice, StoreContext } from './types.ts';

/** The arena's default picks: the paper's comparison (MIRA against SwAV's Sinkhorn-Knopp and naive self-labelling). */
export const ARENA_DEFAULT_METHODS: readonly MethodId[] = ['mira', 'swav', 'naive'];
export const ARENA_DEFAULT_STEPS = 60;

export interface ArenaState {
  /** The methods ticked, in the registry's order. */
  selected: MethodId[];
  /** Steps each method trains. */
  steps: number;
  /** The methods of the current (or last) run, in training order. */
  methods: MethodId[];
  running: boolean;
  paused: boolean;
  /** Steps each method of the run has done. */
  done: Record<string, number>;
  /** The run's budget (steps each). */
  runSteps: number;
  imagesPerS: Record<string, number>;
  detail: string | null;
  error: string | null;
  series: Record<string, ArenaPoint[]>;
  /** Evaluations after initialisation, per method. */
  evals: Record<string, ArenaEval[]>;
  /** Each method's random-init kNN / linear top-1 (step 0). */
  init: Record<string, ArenaEval>;
  pixels: PixelBaselinePoint | null;
  /** Each method's PCA embedding map at the end of the run, in training order (side by side in the arena). */
  maps: EmbeddingMapResult[];
}

export interface ArenaSlice {
  arena: ArenaState;
  arenaToggle(method: MethodId): void;
  arenaSetSteps(steps: number): void;
  arenaStart(): void;
  arenaPause(): void;
  arenaResume(): void;
  arenaStop(): void;
  /** Saves the results table as a file. */
  arenaExportTable(format: 'csv' | 'md'): void;
  /** Saves bytes built by the page (a chart's SVG or PNG) as a download. */
  arenaSave(fileName: string, mime: string, bytes: Uint8Array): void;
}

const emptyRun = { methods: [], running: false, paused: false, done: {}, runSteps: 0, imagesPerS: {}, detail: null, error: null, series: {}, evals: {}, init: {}, pixels: null, maps: [] } satisfies Omit<ArenaState, 'selected' | 'steps'>;

export function clampArenaSteps(n: number): number {
  return Math.max(1, Math.min(ARENA_MAX_STEPS, Math.round(Number.isFinite(n) ? n : 1)));
}

export function createArenaSlice(ctx: StoreContext): Slice<ArenaSlice, 'arena-status' | 'arena-points' | 'arena-eval' | 'arena-pixels' | 'arena-maps'> {
  const url = decodeUrlState(ctx.page.readSearch(), 'small').arena;
  let pending: { method: string; point: ArenaPoint }[] = [];
  const patch = (over: Partial<ArenaState>) => ctx.set({ arena: { ...ctx.get().arena, ...over } });
  const fileBase = (s: AppState) => `mira-playground-arena-${s.arena.methods.join('-') || 'empty'}-seed${s.config.seed}-step${Math.min(...s.arena.methods.map((m) => s.arena.done[m] ?? 0), s.arena.runSteps)}`;
  return {
    state: {
      arena: {
        selected: url && url.methods.length ? METHOD_IDS.filter((m) => url.methods.includes(m)) : [...ARENA_DEFAULT_METHODS],
        steps: url && url.steps > 0 ? url.steps : ARENA_DEFAULT_STEPS,
        ...emptyRun,
      },

      arenaToggle(method) {
        const { selected } = ctx.get().arena;
        const next = selected.includes(method) ? selected.filter((m) => m !== method) : METHOD_IDS.filter((m) => m === method || selected.includes(m));
        patch({ selected: next });
        ctx.writeUrl();
      },

      arenaSetSteps(steps) {
        patch({ steps: clampArenaSteps(steps) });
        ctx.writeUrl();
      },

      arenaStart() {
        const s = ctx.get();
        if (s.arena.running) return;
        if (s.dataset.status !== 'ready') {
          patch({ error: 'Load a dataset first (the dataset panel), then start the arena.' });
          return;
        }
        if (!s.arena.selected.length) {
          patch({ error: 'Tick at least one method to train.' });
          return;
        }
        pending = [];
        const methods = [...s.arena.selected];
        ctx.set({ arena: { ...s.arena, ...emptyRun, methods, running: true, runSteps: s.arena.steps, done: Object.fromEntries(methods.map((m) => [m, 0])), detail: 'starting' } });
        ctx.send({ type: 'arena-start', methods, config: s.config, steps: s.arena.steps });
      },

      arenaPause() {
        if (ctx.get().arena.running) ctx.send({ type: 'arena-pause' });
      },

      arenaResume() {
        if (ctx.get().arena.running) ctx.send({ type: 'arena-resume' });
      },

      arenaStop() {
        if (ctx.get().arena.running) ctx.send({ type: 'arena-stop' });
      },

      arenaExportTable(format) {
        ctx.flush();
        const s = ctx.get();
        const rows = arenaRows(s.arena);
        if (!rows.length) {
          ctx.notice('error', 'Export failed: the arena has no results yet; start it first.');
          return;
        }
        const text = format === 'csv' ? arenaCsv(rows) : arenaMarkdown(rows, `Method arena: ${s.arena.methods.join(', ')}, seed ${s.config.seed}, ${s.arena.runSteps} steps each, dataset ${s.config.dataset}.`);
        ctx.page.download(`${fileBase(s)}.${format}`, format === 'csv' ? 'text/csv' : 'text/markdown', new TextEncoder().encode(text));
      },

      arenaSave(fileName, mime, bytes) {
        ctx.page.download(fileName, mime, bytes);
      },
    },

    on: {
      'arena-status'({ status }) {
        ctx.flush();
        patch({ running: status.running, paused: status.paused, done: status.done, runSteps: status.steps, imagesPerS: { ...ctx.get().arena.imagesPerS, ...status.imagesPerS }, detail: status.detail ?? null, error: status.error ?? null });
      },
      'arena-points'(ev) {
        pending.push(...ev.points);
        ctx.schedule();
      },
      'arena-eval'({ method, point, init }) {
        ctx.flush();
        const a = ctx.get().arena;
        if (init) patch({ init: { ...a.init, [method]: point } });
        else patch({ evals: { ...a.evals, [method]: [...(a.evals[method] ?? []), point] } });
      },
      'arena-pixels'({ pixels }) {
        patch({ pixels });
      },
      'arena-maps'({ maps }) {
        patch({ maps });
      },
    },

    frame(s): Partial<AppState> | null {
      if (!pending.length) return null;
      const series = { ...s.arena.series };
      for (const { method, point } of pending) series[method] = [...(series[method] ?? []), point];
      pending = [];
      return { arena: { ...s.arena, series } };
    },

    restart: (s) => {
      pending = [];
      return { arena: { ...s.arena, running: false, paused: false } };
    },
  };
}
