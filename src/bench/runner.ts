// Runs bench suites on a device, the same in Node and in the browser: each suite is loaded
// and run in turn; one that fails to load or run is reported and the others go on.
import type { GpuContext } from '../gpu/context.ts';
import type { BenchOptions, BenchSuite } from './types.ts';
import { matchesFilter, withRates, type BenchReport } from './report.ts';

/** A bench/<id>.bench.ts module, loaded on demand. */
export interface SuiteSource {
  id: string;
  load(): Promise<unknown>;
}

export interface RunOptions extends BenchOptions {
  /** Only these suites (by file id or suite name). */
  suites?: string[];
}

/** "bench/conv2d.bench.ts" or "../../bench/conv2d.bench.ts" → "conv2d". */
export function suiteId(path: string): string {
  return path.replace(/^.*\//, '').replace(/\.bench\.ts$/, '');
}

function message(e: unknown): string {
  return e instanceof Error ? `${e.name !== 'Error' ? e.name + ': ' : ''}${e.message}` : String(e);
}

export async function runSuites(
  ctx: GpuContext,
  sources: SuiteSource[],
  opts: RunOptions,
  log: (line: string) => void,
): Promise<Pick<BenchReport, 'results' | 'errors'>> {
  const results: BenchReport['results'] = [];
  const errors: BenchReport['errors'] = [];
  const found = new Set<string>();
  const known: string[] = [];
  const wanted = (...names: string[]) => {
    known.push([...new Set(names)].join('/'));
    const hit = names.filter((n) => opts.suites?.includes(n));
    hit.forEach((n) => found.add(n));
    return !opts.suites?.length || hit.length > 0;
  };
  for (const src of [...sources].sort((a, b) => a.id.localeCompare(b.id))) {
    let name = src.id;
    try {
      const mod = (await src.load()) as { suite?: BenchSuite };
      const suite = mod.suite;
      if (!suite || typeof suite.run !== 'function') throw new Error(`bench/${src.id}.bench.ts does not export \`suite: BenchSuite\``);
      name = suite.name;
      if (!wanted(src.id, suite.name)) continue;
      if (ctx.lost) throw new Error(`the GPU device was lost (${ctx.lost.message}); not run`);
      log(`running ${name}…`);
      const seen = ctx.uncaptured.length;
      const t0 = performance.now();
      const rows = (await suite.run(ctx, { quick: opts.quick, filter: opts.filter, precision: opts.precision })).filter((r) => matchesFilter(r, opts.filter)).map(withRates);
      results.push(...rows);
      log(`${name}: ${rows.length} result${rows.length === 1 ? '' : 's'} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      const gpuErrors = ctx.uncaptured.slice(seen);
      if (gpuErrors.length) errors.push({ suite: name, error: `uncaptured GPU errors: ${gpuErrors.join(' | ')}` });
    } catch (e) {
      errors.push({ suite: name, error: message(e) });
      log(`${name}: FAILED: ${message(e)}`);
    }
  }
  for (const name of opts.suites ?? []) {
    if (!found.has(name)) errors.push({ suite: name, error: `no such suite (there are: ${known.join(', ') || 'none'})` });
  }
  return { results, errors };
}
