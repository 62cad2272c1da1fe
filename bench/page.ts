// The browser bench page (bench.html): runs the bench/*.bench.ts suites on this page's WebGPU
// adapter, renders a table, and sets window.__benchResults (a BenchReport) when done — which
// is what `npm run bench` (bench/run.ts --browser) waits for in headless Chromium.
// Query: ?run=1 starts at once; quick=1, filter=<s>, suite=<a,b> as in the Node harness.
import '../src/ui/styles.css';
import { acquireGpu } from '../src/gpu/context.ts';
import { COLUMNS, formatReport, rowCells, type BenchReport } from '../src/bench/report.ts';
import { runSuites, suiteId, type SuiteSource } from '../src/bench/runner.ts';

const modules = import.meta.glob('./*.bench.ts');
const sources: SuiteSource[] = Object.entries(modules).map(([path, load]) => ({ id: suiteId(path), load }));

const form = document.getElementById('controls') as HTMLFormElement;
const status = document.getElementById('status')!;
const output = document.getElementById('output')!;

function readOptions(): { quick: boolean; filter?: string; suites?: string[] } {
  const data = new FormData(form);
  const filter = String(data.get('filter') ?? '').trim();
  const suite = String(data.get('suite') ?? '').trim();
  return { quick: data.get('quick') !== null, ...(filter ? { filter } : {}), ...(suite ? { suites: suite.split(',') } : {}) };
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, className?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (className) e.className = className;
  return e;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function render(rep: BenchReport): void {
  const table = el('table', undefined, 'results');
  const head = table.createTHead().insertRow();
  COLUMNS.forEach((c, j) => head.appendChild(el('th', c, j >= 2 ? 'num' : undefined)));
  const body = table.createTBody();
  for (const r of rep.results) {
    const tr = body.insertRow();
    rowCells(r).forEach((c, j) => tr.appendChild(el('td', c, j >= 2 ? 'num' : undefined)));
  }
  table.createCaption().textContent = `${rep.adapter} — ${plural(rep.results.length, 'result')} in ${rep.wall_s.toFixed(1)} s`;
  output.replaceChildren(table, ...rep.errors.map((e) => el('pre', `${e.suite}: ${e.error}`, 'error-text')));
}

async function run(): Promise<void> {
  const opts = readOptions();
  const t0 = performance.now();
  const progress = (line: string) => {
    status.textContent = line;
    console.log(`[bench] ${line}`);
  };
  delete window.__benchResults;
  let report: BenchReport;
  try {
    progress('acquiring the WebGPU adapter…');
    const ctx = await acquireGpu({ environment: 'browser', label: 'mira-bench' });
    progress(`adapter: ${ctx.adapterName}`);
    const { results, errors } = await runSuites(ctx, sources, opts, progress);
    report = { environment: 'browser', adapter: ctx.adapterName, userAgent: navigator.userAgent, quick: opts.quick, ...(opts.filter ? { filter: opts.filter } : {}), results, errors, wall_s: 0 };
    ctx.device.destroy();
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    report = { environment: 'browser', adapter: 'none', userAgent: navigator.userAgent, quick: opts.quick, results: [], errors: [{ suite: '*', error }], wall_s: 0 };
  }
  report.wall_s = (performance.now() - t0) / 1000;
  render(report);
  status.textContent = `Done: ${plural(report.results.length, 'result')}, ${plural(report.errors.length, 'error')}.`;
  console.info(formatReport(report));
  window.__benchResults = report;
}

const params = new URLSearchParams(location.search);
(form.elements.namedItem('quick') as HTMLInputElement).checked = params.get('quick') === '1';
(form.elements.namedItem('filter') as HTMLInputElement).value = params.get('filter') ?? '';
(form.elements.namedItem('suite') as HTMLInputElement).value = params.get('suite') ?? '';
form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  void run();
});
if (params.get('run') === '1') void run();
