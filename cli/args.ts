// A small, strict flag parser for the CLI: unknown flags and bad values are errors that say
// which flag and what was expected (typos must not silently fall back to defaults).

export class CliError extends Error {
  override name = 'CliError';
}

/** Exit codes (README, "Exit codes"): 0 done, 1 a failure while working, 2 bad input, 130/143 `train` stopped by SIGINT/SIGTERM after writing its checkpoint. */
export const EXIT_FAILURE = 1;
export const EXIT_BAD_INPUT = 2;
export const EXIT_SIGNAL: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Errors that mean the input was wrong (a flag, a file, a configuration), not that the work
 * failed: the CLI's own, a dataset or checkpoint file that cannot be used, a .npy/safetensors file
 * that cannot be parsed, logits or parameters out of range, shapes that do not fit together
 * (thrown before anything is dispatched). Matched by name so that the readers' classes need not be
 * imported here (NpyError and SafetensorsError are the readers' classes where they have them).
 */
const INPUT_ERRORS = new Set(['CliError', 'DatasetError', 'CheckpointError', 'NpyError', 'SafetensorsError', 'InputError', 'ParamError', 'ShapeError']);

export function isInputError(e: unknown): boolean {
  return e instanceof Error && INPUT_ERRORS.has(e.name);
}

/** The exit-code paragraph of every command's --help and of `npm run cli -- help`. */
export const EXIT_CODES_HELP = 'exit codes: 0 done; 1 a failure while working (GPU, file system, a run that diverged); 2 bad input (a flag, a file, the configuration); train only: 130 / 143 stopped by SIGINT (Ctrl-C) / SIGTERM after writing its checkpoint';

export type FlagKind = 'string' | 'number' | 'int' | 'boolean';

export interface FlagSpec {
  kind: FlagKind;
  help: string;
  default?: string | number | boolean;
  /** Allowed values for string flags. */
  choices?: readonly string[];
  min?: number;
  max?: number;
  required?: boolean;
  /** The default as help shows it, when it is not a fixed value ("0.6 × batch / 256"). */
  defaultText?: string;
}

export type FlagValues = Record<string, string | number | boolean | undefined>;

export function usage(command: string, synopsis: string, flags: Record<string, FlagSpec>, groups?: { title: string; names: string[] }[]): string {
  const lines = [`usage: npm run cli -- ${command} ${synopsis}`, ''];
  const order = groups ?? [{ title: '', names: Object.keys(flags) }];
  for (const g of order) {
    if (g.title) lines.push(g.title);
    for (const name of g.names) {
      const f = flags[name]!;
      const def = f.default !== undefined ? ` (default ${f.default})` : f.defaultText !== undefined ? ` (default ${f.defaultText})` : f.required ? ' (required)' : '';
      const choices = f.choices ? ` [${f.choices.join('|')}]` : '';
      lines.push(`  --${name}${f.kind === 'boolean' ? '' : ' <' + f.kind + '>'}${choices}  ${f.help}${def}`);
    }
  }
  lines.push('', EXIT_CODES_HELP);
  return lines.join('\n');
}

/** Parses `--name value`, `--name=value` and boolean `--name`. Returns null for --help. */
export function parseFlags(argv: string[], flags: Record<string, FlagSpec>, command: string): FlagValues | null {
  const out: FlagValues = {};
  for (const [name, f] of Object.entries(flags)) if (f.default !== undefined) out[name] = f.default;
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === '--help' || tok === '-h') return null;
    if (!tok.startsWith('--')) throw new CliError(`${command}: unexpected argument "${tok}" (flags start with --; see --help)`);
    let [name, value] = tok.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    const spec = flags[name];
    if (!spec) {
      const known = Object.keys(flags).map((k) => '--' + k).join(', ');
      throw new CliError(`${command}: unknown flag --${name}. Known flags: ${known}`);
    }
    if (spec.kind === 'boolean') {
      out[name] = value === undefined ? true : !/^(0|false|no)$/i.test(value);
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new CliError(`${command}: --${name} needs a value (${spec.help})`);
    }
    if (spec.kind === 'string') {
      if (spec.choices && !spec.choices.includes(value)) throw new CliError(`${command}: --${name} must be one of ${spec.choices.join(', ')}; got "${value}"`);
      out[name] = value;
    } else {
      const n = Number(value);
      if (!Number.isFinite(n) || value.trim() === '') throw new CliError(`${command}: --${name} must be a number; got "${value}"`);
      if (spec.kind === 'int' && !Number.isInteger(n)) throw new CliError(`${command}: --${name} must be an integer; got "${value}"`);
      if (spec.min !== undefined && n < spec.min) throw new CliError(`${command}: --${name} must be ≥ ${spec.min}; got ${n}`);
      if (spec.max !== undefined && n > spec.max) throw new CliError(`${command}: --${name} must be ≤ ${spec.max}; got ${n}`);
      out[name] = n;
    }
  }
  for (const [name, f] of Object.entries(flags)) {
    if (f.required && out[name] === undefined) throw new CliError(`${command}: --${name} is required (${f.help})`);
  }
  return out;
}

