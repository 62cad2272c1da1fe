// The whole configuration in the URL, so a link reproduces a run: `?p=tiny&m=naive&s=7` is the
// tiny preset with naive self-labelling and seed 7. Only values that differ from the preset are
// written; every value is parsed and clamped by its spec (presets.ts), unknown keys are ignored.
// The method arena adds its setup (`v=arena&ar=mira,swav,naive&an=40`: the view, the methods and
// the steps each), so a link reopens the arena as it was set up; unknown method ids are dropped.
import { isMethodId, type MethodId } from '../methods/registry.ts';
import type { TrainConfig } from '../train/config.ts';
import { PARAM_SPECS, PRESETS, formatParam, isPresetName, parseParam, type PresetName } from './presets.ts';

export interface UrlState {
  preset: PresetName;
  config: TrainConfig;
  /** The URL named a preset or any parameter (else the page picks a default for the adapter). */
  explicit: boolean;
  /** The arena's setup when the link names it (the page then opens the arena tab). */
  arena: ArenaSetup | null;
}

export interface ArenaSetup {
  methods: MethodId[];
  /** Steps each method trains. */
  steps: number;
}

/** The arena's step budget: at least 1, at most this. */
export const ARENA_MAX_STEPS = 100_000;
const ARENA_VIEW_KEY = 'v';
const ARENA_METHODS_KEY = 'ar';
const ARENA_STEPS_KEY = 'an';

function decodeArena(q: URLSearchParams): ArenaSetup | null {
  if (q.get(ARENA_VIEW_KEY) !== 'arena') return null;
  const methods = [...new Set((q.get(ARENA_METHODS_KEY) ?? '').split(',').filter(isMethodId))];
  const n = Math.round(Number(q.get(ARENA_STEPS_KEY)));
  return { methods, steps: Number.isFinite(n) && n >= 1 ? Math.min(n, ARENA_MAX_STEPS) : 0 };
}

const DATASET_KEY = 'd';
const PRESET_KEY = 'p';

export function decodeUrlState(search: string, fallback: PresetName): UrlState {
  const q = new URLSearchParams(search);
  const p = q.get(PRESET_KEY);
  const preset: PresetName = isPresetName(p) ? p : fallback;
  const config: TrainConfig = { ...PRESETS[preset].config };
  let explicit = isPresetName(p);
  for (const spec of PARAM_SPECS) {
    const raw = q.get(spec.short);
    if (raw === null) continue;
    const v = parseParam(spec, raw);
    if (v === null) continue;
    (config as unknown as Record<string, unknown>)[spec.key] = v;
    explicit = true;
  }
  const d = q.get(DATASET_KEY);
  if (d && /^[\w.-]{1,64}$/.test(d)) {
    config.dataset = d;
    explicit = true;
  }
  return { preset, config, explicit, arena: decodeArena(q) };
}

/** `?p=…&…` for this preset and configuration (only the differences from the preset), and the arena's setup when given. */
export function encodeUrlState(preset: PresetName, config: TrainConfig, arena?: ArenaSetup | null): string {
  const base = PRESETS[preset].config;
  const q = new URLSearchParams();
  q.set(PRESET_KEY, preset);
  if (config.dataset !== base.dataset) q.set(DATASET_KEY, config.dataset);
  for (const spec of PARAM_SPECS) {
    const v = config[spec.key];
    const b = base[spec.key];
    const same = typeof v === 'number' && typeof b === 'number' ? Math.abs(v - b) <= 1e-12 * Math.max(1, Math.abs(b)) : v === b;
    if (!same) q.set(spec.short, formatParam(spec, v));
  }
  if (arena) {
    q.set(ARENA_VIEW_KEY, 'arena');
    q.set(ARENA_METHODS_KEY, arena.methods.join(','));
    q.set(ARENA_STEPS_KEY, String(arena.steps));
  }
  return `?${q.toString()}`;
}
