// The collapse lab: several methods trained from one seed, a few steps each, interleaved; their
// points arrive in batches (applied once per frame) into one series per method id, created as
// the first point of a method arrives, so a method added to the engine needs nothing here.
import type { LabPoint } from '../../worker/protocol.ts';
import { PRESETS } from '../presets.ts';
import type { AppState, Slice, StoreContext } from './types.ts';

export interface LabState {
  running: boolean;
  step: number;
  steps: number;
  detail: string | null;
  error: string | null;
  /** One series per method id, in the order their first points arrived. */
  series: Record<string, LabPoint[]>;
}

export interface CollapseLabSlice {
  lab: LabState;
  labStart(steps: number): void;
  labStop(): void;
}

export function createCollapseLabSlice(ctx: StoreContext): Slice<CollapseLabSlice, 'lab-status' | 'lab-points'> {
  let pending: { method: string; point: LabPoint }[] = [];
  return {
    state: {
      lab: { running: false, step: 0, steps: 0, detail: null, error: null, series: {} },

      labStart(steps) {
        const s = ctx.get();
        if (s.lab.running || s.dataset.status !== 'ready') return;
        // On an emulated GPU the lab trains the tiny preset, whatever the panel says (the seed aside).
        const base = s.gpu.status === 'ready' && s.gpu.adapter.isSoftware ? PRESETS.tiny.config : s.config;
        pending = [];
        ctx.set({ lab: { running: true, step: 0, steps, detail: 'starting', error: null, series: {} } });
        ctx.send({ type: 'lab-start', config: { ...base, seed: s.config.seed }, steps });
      },

      labStop() {
        ctx.send({ type: 'lab-stop' });
      },
    },

    on: {
      'lab-status'(ev) {
        ctx.flush();
        ctx.set({ lab: { ...ctx.get().lab, running: ev.running, step: ev.step, steps: ev.steps, detail: ev.detail ?? null, error: ev.error ?? null } });
      },
      'lab-points'(ev) {
        pending.push(...ev.points);
        ctx.schedule();
      },
    },

    frame(s): Partial<AppState> | null {
      if (!pending.length) return null;
      const series = { ...s.lab.series };
      for (const { method, point } of pending) series[method] = [...(series[method] ?? []), point];
      pending = [];
      return { lab: { ...s.lab, series } };
    },

    restart: (s) => {
      pending = [];
      return { lab: { ...s.lab, running: false } };
    },
  };
}
