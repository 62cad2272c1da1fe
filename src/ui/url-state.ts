// The whole configuration in the URL, so a link reproduces a run: `?p=tiny&m=naive&s=7` is the
// tiny preset with naive self-labelling and seed 7. Only values that differ from the preset are
// written; every value is parsed and clamped by its spec (presets.ts), unknown keys are ignored.
import type { TrainConfig } from '../train/config.ts';
import { PARAM_SPECS, PRESETS, formatParam, isPresetName, parseParam, type PresetName } from './presets.ts';

export interface UrlState {
  preset: PresetName;
  config: TrainConfig;
  /** The URL named a preset or any parameter (else the page picks a default for the adapter). */
  explicit: boolean;
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
  return { preset, config, explicit };
}

/** `?p=…&…` for this preset and configuration (only the differences from the preset). */
export function encodeUrlState(preset: PresetName, config: TrainConfig): string {
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
  return `?${q.toString()}`;
}
