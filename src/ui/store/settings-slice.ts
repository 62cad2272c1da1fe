// The page's settings: the tab, the preset and the training configuration the panel edits (read
// from the URL at load, written back on every change so a link reproduces the run). Handles no
// engine events; the arena tab also writes the arena's setup into the URL; a new preset starts a new run once the run is the user's (lifecycle `ready`).
import type { TrainConfig } from '../../train/config.ts';
import { PRESETS, type PresetName } from '../presets.ts';
import { decodeUrlState } from '../url-state.ts';
import type { Slice, StoreContext } from './types.ts';

export type Tab = 'dashboard' | 'explorer' | 'lab' | 'arena' | 'gallery' | 'map';

export interface SettingsSlice {
  tab: Tab;
  preset: PresetName;
  config: TrainConfig;
  /** The URL named a configuration (else the adapter picks the default preset). */
  configFromUrl: boolean;
  setTab(tab: Tab): void;
  setPreset(name: PresetName): void;
  setParam<K extends keyof TrainConfig>(key: K, value: TrainConfig[K]): void;
}

/** The two configurations train the same run (the dataset aside, which the dataset panel sets). */
export function sameConfig(a: TrainConfig | null, b: TrainConfig): boolean {
  if (!a) return false;
  return (Object.keys(b) as (keyof TrainConfig)[]).every((k) => k === 'dataset' || a[k] === b[k]);
}

export function createSettingsSlice(ctx: StoreContext): Slice<SettingsSlice> {
  const url = decodeUrlState(ctx.page.readSearch(), 'small');
  return {
    state: {
      // A link to the arena opens it.
      tab: url.arena ? 'arena' : 'dashboard',
      preset: url.preset,
      config: url.config,
      configFromUrl: url.explicit,

      setTab(tab) {
        ctx.set({ tab });
        // The arena's setup is in the URL while it is shown.
        ctx.writeUrl();
      },

      setPreset(name) {
        const s = ctx.get();
        ctx.set({ preset: name, config: { ...PRESETS[name].config, dataset: s.config.dataset } });
        ctx.writeUrl();
        if (s.dataset.status === 'ready' && s.lifecycle.state === 'ready') ctx.newRun();
      },

      setParam(key, value) {
        ctx.set({ config: { ...ctx.get().config, [key]: value } });
        ctx.writeUrl();
      },
    },
    on: {},
  };
}
