// The CLI's flags for the training configuration, generated from the one parameter table
// (src/train/config.ts): one flag per row (its kebab-case key), its help, its default (fixed or
// derived) and its choices; ranges are checked by the table's own validation, so the CLI, the
// page and the trainer accept exactly the same values. `train` and `compare`-style commands
// share it; `step` takes the method rows only.
import { flagName, GROUP_LABELS, type ParamGroup, type ParamRow } from '../src/methods/param-rows.ts';
import { methodsUsing, PARAM_TABLE } from '../src/train/config.ts';
import type { FlagSpec, FlagValues } from './args.ts';

function rowFlag(r: ParamRow): FlagSpec {
  const users = methodsUsing(r.key);
  const only = r.group === 'method' && users.length ? ` [${users.join(', ')}]` : '';
  if (r.kind === 'choice') {
    const numeric = typeof r.default === 'number';
    return { kind: numeric ? 'int' : 'string', help: r.help + only, default: undefined, defaultText: String(r.default), ...(numeric ? {} : { choices: r.options.map((o) => String(o.value)) }) };
  }
  if (r.kind === 'string') return { kind: 'string', help: r.help + only, defaultText: r.default };
  return { kind: r.kind, help: r.help + only, defaultText: typeof r.default === 'function' ? (r.derived ?? 'derived') : String(Number(r.default.toPrecision(6))) };
}

/** The flags of these rows (default: the whole table), keyed by flag name. */
export function configFlags(rows: readonly ParamRow[] = PARAM_TABLE): Record<string, FlagSpec> {
  return Object.fromEntries(rows.map((r) => [flagName(r.key), rowFlag(r)]));
}

/** Help sections in the table's groups, then `extra` (the command's own flags). */
export function configFlagGroups(rows: readonly ParamRow[], extra: string[]): { title: string; names: string[] }[] {
  const groups: ParamGroup[] = ['run', 'model', 'optimizer', 'method', 'logging'];
  return [
    ...groups.map((g) => ({ title: `${GROUP_LABELS[g]}:`, names: rows.filter((r) => r.group === g).map((r) => flagName(r.key)) })).filter((g) => g.names.length),
    { title: 'Command:', names: extra },
  ];
}

/** The configuration values the user gave (flags absent from the command line are left out). */
export function givenConfig(f: FlagValues, rows: readonly ParamRow[] = PARAM_TABLE): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const r of rows) {
    const v = f[flagName(r.key)];
    if (v !== undefined) out[r.key] = v;
  }
  return out;
}
