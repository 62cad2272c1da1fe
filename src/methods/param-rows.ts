// The rows of the one parameter table (docs/ARCHITECTURE.md, "One parameter table"). A row is a
// training-configuration key with everything every front end needs: its type and range (one
// set, used by validation, the CLI and the page alike), its default (fixed, or derived from
// other keys such as lr = 0.6·batch/256), its CLI flag, its URL key, its label and help text.
// The core rows live in src/train/config.ts; each method module declares the rows it owns.
// From the rows come the TrainConfig type (ConfigOf), the defaults, validation, the CLI's flag
// table and the page's controls and URL codec. Pure data and functions: no GPU, no DOM.

export type ParamGroup = 'run' | 'model' | 'optimizer' | 'method' | 'logging';

export const GROUP_LABELS: Record<ParamGroup, string> = {
  run: 'Run',
  model: 'Model',
  optimizer: 'Optimiser',
  method: 'Method: targets, teacher and objective',
  logging: 'Augmentation, evaluation, logging',
};

/** A default that depends on other keys (resolved after every fixed value is known). */
export type DerivedDefault = (config: Readonly<Record<string, unknown>>) => number;

interface RowBase<K extends string> {
  /** The TrainConfig key (camelCase); the CLI flag is its kebab-case form. */
  readonly key: K;
  /** Short key in the page's URL. */
  readonly short: string;
  /** The control's label on the page. */
  readonly label: string;
  /** One line: the CLI's help and the page's explanation. */
  readonly help: string;
  readonly group: ParamGroup;
}

/** Adapter features a choice may need (the worker reports them: src/worker/protocol.ts). */
export type AdapterFeature = 'shaderF16';

export interface NumberRow<K extends string = string> extends RowBase<K> {
  readonly kind: 'number' | 'int';
  readonly min: number;
  readonly max: number;
  /** The bounds themselves are not allowed (e.g. β ∈ (0, 1)). */
  readonly exclusiveMin?: boolean;
  readonly exclusiveMax?: boolean;
  readonly default: number | DerivedDefault;
  /** How the default is derived, for help texts ("0.6 × batch / 256"). */
  readonly derived?: string;
  /** The page's input step. */
  readonly step: number;
  /** The page offers these values in a select (any value in range stays valid elsewhere). */
  readonly options?: readonly { readonly value: number; readonly label: string }[];
}

export interface ChoiceRow<K extends string = string, V extends string | number = string | number> extends RowBase<K> {
  readonly kind: 'choice';
  /** `requires`: an adapter feature the choice needs; the page disables it on an adapter without it. */
  readonly options: readonly { readonly value: V; readonly label: string; readonly requires?: AdapterFeature }[];
  readonly default: V;
}

export interface StringRow<K extends string = string> extends RowBase<K> {
  readonly kind: 'string';
  readonly default: string;
  /** A pattern the value must match, with what it means. */
  readonly pattern?: RegExp;
}

export type ParamRow = NumberRow | ChoiceRow | StringRow;

type RowValue<R> = R extends { kind: 'choice'; options: readonly { value: infer V }[] } ? V : R extends { kind: 'string' } ? string : number;

/** The configuration type a set of rows describes: one key per row, typed by its kind. */
export type ConfigOf<R extends ParamRow> = { -readonly [Row in R as Row['key']]: RowValue<Row> };

/** camelCase key → the CLI flag's kebab-case name (tauS → tau-s, projHidden → proj-hidden). */
export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** Defaults of the rows: fixed ones first, then the derived ones from the result (and `given`). */
export function resolveDefaults(rows: readonly ParamRow[], given: Readonly<Record<string, unknown>> = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const r of rows) out[r.key] = Object.prototype.hasOwnProperty.call(given, r.key) && given[r.key] !== undefined ? given[r.key] : typeof r.default === 'function' ? undefined : r.default;
  for (const r of rows) if (out[r.key] === undefined && typeof r.default === 'function') out[r.key] = r.default(out);
  return out;
}

/** The range of a number row in words: "an integer ≥ 2", "in (0, 1)", "in [0, 1]". */
export function describeRange(r: NumberRow): string {
  const int = r.kind === 'int' ? 'an integer ' : '';
  const lo = Number.isFinite(r.min) ? r.min : null;
  const hi = Number.isFinite(r.max) ? r.max : null;
  if (lo !== null && hi !== null) return `${int}in ${r.exclusiveMin ? '(' : '['}${lo}, ${hi}${r.exclusiveMax ? ')' : ']'}`;
  if (lo !== null) return `${int}${r.exclusiveMin ? '>' : '≥'} ${lo}`;
  if (hi !== null) return `${int}${r.exclusiveMax ? '<' : '≤'} ${hi}`;
  return r.kind === 'int' ? 'an integer' : 'a finite number';
}

/** Why `v` does not fit the row, or null when it does. Messages name the CLI flag. */
export function checkRowValue(r: ParamRow, v: unknown): string | null {
  const flag = `--${flagName(r.key)}`;
  if (r.kind === 'choice') {
    return r.options.some((o) => o.value === v) ? null : `${flag} must be one of ${r.options.map((o) => o.value).join(', ')}; got ${JSON.stringify(v)}`;
  }
  if (r.kind === 'string') {
    if (typeof v !== 'string' || v === '') return `${flag} must be a non-empty string; got ${JSON.stringify(v)}`;
    return r.pattern && !r.pattern.test(v) ? `${flag} ${JSON.stringify(v)} does not match ${r.pattern}` : null;
  }
  const ok =
    typeof v === 'number' &&
    Number.isFinite(v) &&
    (r.kind !== 'int' || Number.isInteger(v)) &&
    (r.exclusiveMin ? v > r.min : v >= r.min) &&
    (r.exclusiveMax ? v < r.max : v <= r.max);
  return ok ? null : `${flag} must be ${describeRange(r)}; got ${typeof v === 'number' ? v : JSON.stringify(v)}`;
}
