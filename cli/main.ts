// `npm run cli -- <command> [flags]`: the headless engine. Each command lives in
// cli/commands/<command>.ts and exports `run(argv: string[]): Promise<number>` and `summary`.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError, EXIT_BAD_INPUT, EXIT_CODES_HELP, EXIT_FAILURE, isInputError } from './args.ts';

const here = dirname(fileURLToPath(import.meta.url));

function available(): string[] {
  return readdirSync(join(here, 'commands'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.replace(/\.ts$/, ''))
    .sort();
}

interface Command {
  run(argv: string[]): Promise<number>;
  summary: string;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const names = available();
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log('usage: npm run cli -- <command> [flags]   (each command takes --help)\n\ncommands:');
    for (const n of names) {
      const cmd = (await import(`./commands/${n}.ts`)) as Command;
      console.log(`  ${n.padEnd(8)} ${cmd.summary}`);
    }
    console.log(`\n${EXIT_CODES_HELP}`);
    return name ? 0 : EXIT_BAD_INPUT;
  }
  if (!names.includes(name)) {
    console.error(`error: unknown command "${name}". Commands: ${names.join(', ')}.`);
    return EXIT_BAD_INPUT;
  }
  const cmd = (await import(`./commands/${name}.ts`)) as Command;
  return cmd.run(rest);
}

// Top-level await: vite-node closes its module server once this module has evaluated, so the
// commands' dynamic imports must happen before that.
let exitCode: number;
try {
  exitCode = await main(process.argv.slice(2).filter((a, i) => !(i === 0 && a === '--')));
} catch (e: unknown) {
  if (e instanceof CliError) console.error(`error: ${e.message}`);
  else if (e instanceof Error) console.error(`error: ${e.name === 'Error' ? '' : e.name + ': '}${e.message}`);
  else console.error('error:', e);
  exitCode = isInputError(e) ? EXIT_BAD_INPUT : EXIT_FAILURE;
}
process.exit(exitCode);
