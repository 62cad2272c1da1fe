// Bench reports, the same in Node (bench/run.ts) and in the browser (bench/page.ts):
// results with their rates filled in, and the plain-text table both print.
import { gbps, gflops, imagesPerSecond, type BenchResult } from './types.ts';

export interface BenchRow extends BenchResult {
  gflops?: number;
  gbps?: number;
  images_per_s?: number;
}

export interface BenchReport {
  environment: 'node' | 'browser';
  /** One line naming the adapter (adapterLabel), e.g. "google swiftshader (CPU emulation)". */
  adapter: string;
  /** Node: the Vulkan driver picked when the loader's default found no adapter. */
  driver?: string | null;
  /** Browser: navigator.userAgent. */
  userAgent?: string;
  quick: boolean;
  filter?: string;
  results: BenchRow[];
  /** Suites that failed to load or run; the others still report. */
  errors: { suite: string; error: string }[];
  wall_s: number;
}

export function withRates(r: BenchResult): BenchRow {
  const row: BenchRow = { ...r };
  const f = gflops(r);
  const b = gbps(r);
  const i = imagesPerSecond(r);
  if (f !== undefined) row.gflops = f;
  if (b !== undefined) row.gbps = b;
  if (i !== undefined) row.images_per_s = i;
  return row;
}

/** Three significant figures, no exponent for everyday magnitudes. */
export function fmt(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return x === undefined ? '' : String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1000) return x.toFixed(0);
  if (a >= 0.01) return x.toPrecision(3);
  return x.toExponential(2);
}

/** `clock`: gpu (timestamp queries, first pass start to last pass end) or wall (submit to done). `share`: a part's
 *  fraction of a whole where a suite measures both (an objective's share of a training step, the Gram's of the objective). */
export const COLUMNS = ['suite', 'name', 'ms', 'clock', 'GFLOP/s', 'GB/s', 'images/s', 'share'] as const;

function share(r: BenchRow): string {
  const x = r.extra?.objective_share ?? r.extra?.gram_share;
  return typeof x === 'number' && Number.isFinite(x) ? `${(100 * x).toPrecision(3)} %` : '';
}

export function rowCells(r: BenchRow): string[] {
  return [r.suite, r.name, fmt(r.ms), String(r.extra?.clock ?? 'wall'), fmt(r.gflops), fmt(r.gbps), fmt(r.images_per_s), share(r)];
}

export function reportTitle(rep: BenchReport): string {
  const where = rep.environment === 'node' ? 'Node' : 'Chromium';
  const driver = rep.driver ? ` via ${rep.driver}` : '';
  const mode = [rep.quick ? 'quick' : 'full', rep.filter ? `filter "${rep.filter}"` : ''].filter(Boolean).join(', ');
  return `${where} — adapter: ${rep.adapter}${driver} (${mode})`;
}

/** The report as an aligned text table, with its title and any suite errors. */
export function formatReport(rep: BenchReport): string {
  const rows = rep.results.map(rowCells);
  const widths = COLUMNS.map((c, j) => Math.max(c.length, ...rows.map((r) => r[j]!.length)));
  const left = (j: number) => j < 2;
  const line = (cells: readonly string[]) => cells.map((c, j) => (left(j) ? c.padEnd(widths[j]!) : c.padStart(widths[j]!))).join('  ').trimEnd();
  const out = [reportTitle(rep), line(COLUMNS), widths.map((w) => '-'.repeat(w)).join('  ')];
  out.push(...(rows.length ? rows.map(line) : ['(no results)']));
  for (const e of rep.errors) out.push(`error in suite ${e.suite}: ${e.error}`);
  out.push(`${rep.results.length} result${rep.results.length === 1 ? '' : 's'} in ${rep.wall_s.toFixed(1)} s`);
  return out.join('\n');
}

/** Keeps results whose "suite name" contains the filter (for suites that ignore it). */
export function matchesFilter(r: BenchResult, filter: string | undefined): boolean {
  return !filter || `${r.suite} ${r.name}`.includes(filter);
}

declare global {
  interface Window {
    /** Set by the bench page (bench/page.ts) when its run is over; read by the Chromium harness. */
    __benchResults?: BenchReport;
  }
}
