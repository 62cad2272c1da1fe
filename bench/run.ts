// The bench harness. Runs every bench/*.bench.ts suite (each exports `suite: BenchSuite`) and
// prints a table, or JSON with --json:
//   npx vite-node bench/run.ts -- [--quick] [--json] [--filter s] [--suite a,b] [--browser]
// In Node (default) the device comes from Dawn (src/gpu/node.ts). With --browser the same
// suites run in headless Chromium: the app is built, served with `vite preview`, and
// bench.html runs them in the page (bench/page.ts) and hands back window.__benchResults.
// `npm run bench` (scripts/bench-all.mjs) runs both.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { formatReport, type BenchReport } from '../src/bench/report.ts';
import { runSuites, suiteId, type SuiteSource } from '../src/bench/runner.ts';
import { formatVsTorch, runVsTorch, VS_TORCH_DEFAULTS, type VsTorchOptions } from './vs-torch.ts';

const here = dirname(fileURLToPath(import.meta.url));

interface Args {
  quick: boolean;
  precision?: 'f32' | 'f16' | 'auto';
  json: boolean;
  browser: boolean;
  filter?: string;
  suites?: string[];
  vsTorch?: VsTorchOptions;
}

const USAGE = `usage: npx vite-node bench/run.ts -- [--quick] [--json] [--filter <substring>] [--suite <name,…>] [--browser]
  --quick     small shapes, few repetitions (CPU emulators, smoke runs)
  --json      one JSON object on stdout instead of the table (progress goes to stderr)
  --filter s  only cases whose "suite name" contains s
  --suite a,b only these suites (file name without .bench.ts, or the suite's name)
  --browser   run in headless Chromium (/usr/bin/chromium, or $CHROMIUM_PATH) instead of Node
  --precision f32|f16|auto  the train-step suite's precision (default f32; f16 needs shader-f16; Node only)
  --vs-torch  the MIRA training step here and in PyTorch (bench/torch/) side by side, instead of the suites (Node only):
              [--width 0.125] [--batch 32] [--prototypes 3000] [--proj-hidden 2048] [--proj-out 256] [--steps 5]
              [--repeats 3] [--python /usr/bin/python3]`;

function parseArgs(argv: string[]): Args {
  const args: Args = { quick: false, json: false, browser: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${a} needs a value`);
      return v;
    };
    if (a === '--') continue;
    else if (a === '--quick') args.quick = true;
    else if (a === '--json') args.json = true;
    else if (a === '--browser') args.browser = true;
    else if (a === '--filter') args.filter = value();
    else if (a.startsWith('--filter=')) args.filter = a.slice('--filter='.length);
    else if (a === '--suite') args.suites = value().split(',');
    else if (a === '--precision') {
      const p = value();
      if (p !== 'f32' && p !== 'f16' && p !== 'auto') throw new UsageError(`--precision must be f32, f16 or auto, got "${p}"`);
      args.precision = p;
    }
    else if (a.startsWith('--suite=')) args.suites = a.slice('--suite='.length).split(',');
    else if (a === '--vs-torch') args.vsTorch = { ...VS_TORCH_DEFAULTS, ...args.vsTorch };
    else if (a === '--python') args.vsTorch = { ...VS_TORCH_DEFAULTS, ...args.vsTorch, python: value() };
    else if (a in VS_TORCH_NUMBERS) {
      const key = VS_TORCH_NUMBERS[a]!;
      const v = Number(value());
      if (!Number.isFinite(v) || v <= 0 || (key !== 'width' && !Number.isInteger(v))) throw new UsageError(`${a} needs a positive ${key === 'width' ? 'number' : 'integer'}`);
      args.vsTorch = { ...VS_TORCH_DEFAULTS, ...args.vsTorch, [key]: v };
    } else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new UsageError(`unknown argument "${a}"`);
  }
  if (args.vsTorch && !argv.includes('--vs-torch')) throw new UsageError('--width, --batch, --prototypes, --proj-hidden, --proj-out, --steps, --repeats and --python go with --vs-torch');
  if (args.precision && args.browser) throw new UsageError('--precision runs in Node only; drop --browser');
  if (args.vsTorch && args.browser) throw new UsageError('--vs-torch runs in Node only (PyTorch is not in the page); drop --browser');
  return args;
}

const VS_TORCH_NUMBERS: Record<string, 'width' | 'batch' | 'prototypes' | 'projHidden' | 'projOut' | 'steps' | 'repeats'> = {
  '--width': 'width',
  '--batch': 'batch',
  '--prototypes': 'prototypes',
  '--proj-hidden': 'projHidden',
  '--proj-out': 'projOut',
  '--steps': 'steps',
  '--repeats': 'repeats',
};

class UsageError extends Error {}

function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

function nodeSuiteSources(): SuiteSource[] {
  return readdirSync(here)
    .filter((f) => f.endsWith('.bench.ts'))
    .map((f) => ({ id: suiteId(f), load: () => import(pathToFileURL(join(here, f)).href) }));
}

async function runInNode(args: Args): Promise<BenchReport> {
  const { nodeGpu } = await import('../src/gpu/node.ts');
  const t0 = performance.now();
  const { ctx, driver } = await nodeGpu();
  log(`Node adapter: ${ctx.adapterName}${driver ? ` via ${driver}` : ''}`);
  const { results, errors } = await runSuites(ctx, nodeSuiteSources(), args, log);
  return {
    environment: 'node',
    adapter: ctx.adapterName,
    driver,
    quick: args.quick,
    ...(args.filter ? { filter: args.filter } : {}),
    results,
    errors,
    wall_s: (performance.now() - t0) / 1000,
  };
}

async function runInBrowser(args: Args): Promise<BenchReport> {
  const { buildApp, servePreview, launchChromium, OUT_DIRS, BENCH_ARGS } = await import('../e2e/chromium.ts');
  log('building the app (vite build)…');
  await buildApp(OUT_DIRS.bench);
  const server = await servePreview(OUT_DIRS.bench);
  const browser = await launchChromium(BENCH_ARGS);
  try {
    const page = await browser.newPage();
    // Relay the page's progress lines and anything it warns about; not its closing table.
    page.on('console', (m) => {
      const text = m.text();
      if (text.startsWith('[bench] ')) log(`chromium: ${text.slice(8)}`);
      else if (m.type() !== 'log' && m.type() !== 'info') log(`chromium ${m.type()}: ${text}`);
    });
    // An uncaught error or a crash means the page will never finish: stop waiting.
    const broken = new Promise<never>((_, reject) => {
      page.on('pageerror', (e) => reject(new Error(`the bench page threw: ${e.message}`)));
      page.on('crash', () => reject(new Error('the bench page crashed')));
    });
    const q = new URLSearchParams({ run: '1' });
    if (args.quick) q.set('quick', '1');
    if (args.filter) q.set('filter', args.filter);
    if (args.suites) q.set('suite', args.suites.join(','));
    await page.goto(`${server.url}bench.html?${q}`);
    // Emulated GPUs are slow: no overall timeout beyond the suites' own budgets.
    await Promise.race([page.waitForFunction(() => window.__benchResults !== undefined, null, { timeout: 0, polling: 500 }), broken]);
    return await page.evaluate(() => window.__benchResults!);
  } finally {
    await browser.close();
    await server.close();
  }
}

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`error: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  // With --json, stdout carries the JSON alone: anything a suite prints goes to stderr.
  if (args.json) console.log = (...a: unknown[]) => console.error(...a);
  if (args.vsTorch) {
    const { nodeGpu } = await import('../src/gpu/node.ts');
    const { ctx, driver } = await nodeGpu();
    log(`Node adapter: ${ctx.adapterName}${driver ? ` via ${driver}` : ''}`);
    const report = await runVsTorch(ctx, args.vsTorch, log);
    process.stdout.write((args.json ? JSON.stringify({ ...report, driver }, null, 2) : formatVsTorch(report)) + '\n');
    return 0;
  }
  const report = args.browser ? await runInBrowser(args) : await runInNode(args);
  if (args.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else process.stdout.write(formatReport(report) + '\n');
  return report.errors.length ? 1 : 0;
}

// Top-level await: vite-node closes its module server once this module has evaluated, so the
// suites must be imported before then.
try {
  process.exit(await main());
} catch (e) {
  console.error(`error: ${e instanceof Error ? (e.name !== 'Error' ? e.name + ': ' : '') + e.message : String(e)}`);
  process.exit(1);
}
