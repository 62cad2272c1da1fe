// `npm run cli -- compare --methods mira,swav,naive --dataset … --steps N [--seeds 1,2,3]
//   [the shared training flags] --out DIR`
// Trains each listed method (any registered one: the list is checked against src/methods/registry.ts)
// from the same seed(s) — hence the same weight init where shapes agree, the same data order and
// the same augmentation — by the `train` command itself, so each run's files are exactly what
// `train` writes, under DIR/<method>-s<seed>/. Then writes:
//   DIR/report.md     one table: method, kNN top-1, online linear top-1, used clusters or effective
//                     rank and final alignment/uniformity when the method reports them, wall time,
//                     images/s — mean ± spread (half the range) over seeds — and the raw-pixel
//                     baselines (src/train/baselines.ts)
//   DIR/report.json   the same, plus every run's summary and curves
//   DIR/knn.svg, DIR/linear.svg   kNN and online-linear top-1 against steps, all methods overlaid
//                     (hand-written SVG; dashed grey: the raw pixels)
// Bad input (unknown or repeated method, empty list, bad seeds, a flag none of the listed methods
// uses, an invalid configuration for any run) is refused before any training.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { METHOD_IDS, methodById } from '../../src/methods/registry.ts';
import { flagName } from '../../src/methods/param-rows.ts';
import { defaultTrainConfig, methodsUsing, PARAM_TABLE, trainConfigProblems, type TrainConfig } from '../../src/train/config.ts';
import { CliError, parseFlags, usage, type FlagSpec } from '../args.ts';
import { configFlagGroups, configFlags, givenConfig } from '../config-flags.ts';
import { run as trainRun } from './train.ts';

export const summary = 'train several methods from the same seeds on the same data; report table, JSON and SVG charts';

/** Rows the command sets itself per run. */
const PER_RUN = new Set(['method', 'seed']);
const ROWS = PARAM_TABLE.filter((r) => !PER_RUN.has(r.key));
const COMMAND_FLAGS: Record<string, FlagSpec> = {
  methods: { kind: 'string', required: true, help: `comma-separated methods to compare (registered: ${METHOD_IDS.join(', ')})` },
  seeds: { kind: 'string', default: '1', help: 'comma-separated seeds; every method runs once per seed' },
  out: { kind: 'string', required: true, help: 'output directory' },
};
const FLAGS: Record<string, FlagSpec> = { ...configFlags(ROWS), ...COMMAND_FLAGS };

/** Metrics a method may report that the table shows when present (the last logged value). */
const OPTIONAL_COLUMNS: readonly { key: string; title: string }[] = [
  { key: 'used_clusters', title: 'used clusters' },
  { key: 'effective_rank', title: 'effective rank' },
  { key: 'alignment', title: 'alignment' },
  { key: 'uniformity', title: 'uniformity' },
];

export interface ComparePlan {
  methods: string[];
  seeds: number[];
  configs: { method: string; seed: number; dir: string; config: TrainConfig; argv: string[] }[];
}

/** Checks everything and builds every run's configuration and `train` arguments; throws CliError on bad input. */
export function planCompare(f: Record<string, unknown>): ComparePlan {
  const list = String(f.methods ?? '').split(',').map((s) => s.trim()).filter((s) => s.length);
  if (!list.length) throw new CliError(`compare: --methods is empty; give a comma-separated list of registered methods (${METHOD_IDS.join(', ')})`);
  const unknown = list.filter((m) => !(METHOD_IDS as readonly string[]).includes(m));
  if (unknown.length) throw new CliError(`compare: unknown method${unknown.length > 1 ? 's' : ''} ${unknown.map((m) => `"${m}"`).join(', ')} in --methods; registered methods: ${METHOD_IDS.join(', ')}`);
  const dup = list.find((m, i) => list.indexOf(m) !== i);
  if (dup) throw new CliError(`compare: --methods lists "${dup}" twice`);
  const seedText = String(f.seeds ?? '1');
  const seeds = seedText.split(',').map((s) => s.trim());
  if (!seeds.length || seeds.some((s) => !/^\d+$/.test(s))) throw new CliError(`compare: --seeds must be comma-separated non-negative integers (e.g. 1,2,3); got "${seedText}"`);
  const seedNums = seeds.map(Number);
  if (new Set(seedNums).size !== seedNums.length) throw new CliError(`compare: --seeds repeats a seed ("${seedText}")`);
  const given = givenConfig(f as Record<string, string | number | boolean | undefined>, ROWS);
  // A method-specific flag must be used by at least one listed method.
  for (const key of Object.keys(given)) {
    const row = PARAM_TABLE.find((r) => r.key === key)!;
    if (row.group !== 'method') continue;
    const users = methodsUsing(key);
    if (!users.some((u) => list.includes(u))) throw new CliError(`compare: --${flagName(key)} is used by ${users.join(', ')} only; none of the listed methods (${list.join(', ')}) uses it. Drop the flag or add one of those methods.`);
  }
  const configs: ComparePlan['configs'] = [];
  for (const method of list) {
    const def = methodById(method);
    const own = (key: string) => PARAM_TABLE.find((r) => r.key === key)!.group !== 'method' || (def.params as readonly { key: string }[]).some((r) => r.key === key);
    for (const seed of seedNums) {
      const mine = Object.fromEntries(Object.entries(given).filter(([k]) => own(k)));
      const config = defaultTrainConfig({ ...mine, method, seed } as Partial<TrainConfig>);
      const problems = trainConfigProblems(config as unknown as Record<string, unknown>);
      if (problems.length) throw new CliError(`compare: ${method} seed ${seed}: ${problems.join('; ')}`);
      const dir = join(String(f.out), `${method}-s${seed}`);
      const argv = ['--method', method, '--seed', String(seed), '--out', dir, ...Object.entries(mine).map(([k, v]) => `--${flagName(k)}=${v}`)];
      configs.push({ method, seed, dir, config, argv });
    }
  }
  return { methods: list, seeds: seedNums, configs };
}

interface RunResult {
  method: string;
  seed: number;
  summary: Record<string, unknown>;
  last: Record<string, number>;
  knn: [number, number][];
  linear: [number, number][];
}

function readRun(method: string, seed: number, dir: string): RunResult {
  const summaryJson = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as Record<string, unknown>;
  const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l).map((l) => JSON.parse(l) as Record<string, number>);
  const knn = lines.filter((l) => l.knn_top1 !== undefined).map((l) => [l.step!, l.knn_top1!] as [number, number]);
  const linear = lines.filter((l) => l.linear_top1 !== undefined).map((l) => [l.step!, l.linear_top1!] as [number, number]);
  const last: Record<string, number> = {};
  for (const l of lines) if (l.loss !== undefined) Object.assign(last, l);
  return { method, seed, summary: summaryJson, last, knn, linear };
}

/** Mean and spread (half the range) of the finite values; null when there are none. */
export function meanSpread(xs: readonly (number | null | undefined)[]): { mean: number; spread: number; n: number } | null {
  const v = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  if (!v.length) return null;
  return { mean: v.reduce((a, b) => a + b, 0) / v.length, spread: (Math.max(...v) - Math.min(...v)) / 2, n: v.length };
}

function fmtMS(s: { mean: number; spread: number; n: number } | null, d: number): string {
  if (!s) return '–';
  return s.n > 1 ? `${s.mean.toFixed(d)} ± ${s.spread.toFixed(d)}` : s.mean.toFixed(d);
}

/** A line chart of top-1 (%) against steps, one polyline per series, in plain SVG. */
export function lineChartSvg(title: string, series: { name: string; color: string; points: [number, number][] }[], baseline: { name: string; value: number } | null, maxStep: number): string {
  const W = 640;
  const H = 360;
  const m = { l: 52, r: 150, t: 32, b: 40 };
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).concat(baseline ? [baseline.value] : []);
  const lo = Math.max(0, Math.floor((Math.min(...ys, 100) - 5) / 10) * 10);
  const hi = Math.min(100, Math.ceil((Math.max(...ys, 0) + 5) / 10) * 10);
  const x = (s: number) => m.l + ((W - m.l - m.r) * s) / Math.max(1, maxStep);
  const y = (v: number) => m.t + ((H - m.t - m.b) * (hi - v)) / Math.max(1, hi - lo);
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`, `<rect width="${W}" height="${H}" fill="white"/>`, `<text x="${m.l}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`];
  for (let v = lo; v <= hi; v += 10) out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/><text x="${m.l - 6}" y="${y(v) + 4}" text-anchor="end">${v}%</text>`);
  for (let i = 0; i <= 4; i++) {
    const s = Math.round((maxStep * i) / 4);
    out.push(`<text x="${x(s)}" y="${H - m.b + 16}" text-anchor="middle">${s}</text>`);
  }
  out.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 6}" text-anchor="middle">step</text>`, `<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="#888"/><line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#888"/>`);
  let ly = m.t + 8;
  if (baseline) {
    out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${y(baseline.value)}" y2="${y(baseline.value)}" stroke="#777" stroke-dasharray="6 4"/>`);
    out.push(`<line x1="${W - m.r + 10}" x2="${W - m.r + 30}" y1="${ly}" y2="${ly}" stroke="#777" stroke-dasharray="6 4"/><text x="${W - m.r + 36}" y="${ly + 4}">${esc(baseline.name)}</text>`);
    ly += 18;
  }
  for (const s of series) {
    if (!s.points.length) continue;
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${s.points.map(([a, b]) => `${x(a).toFixed(1)},${y(b).toFixed(1)}`).join(' ')}"/>`);
    for (const [a, b] of s.points) out.push(`<circle cx="${x(a).toFixed(1)}" cy="${y(b).toFixed(1)}" r="2.5" fill="${s.color}"/>`);
    out.push(`<line x1="${W - m.r + 10}" x2="${W - m.r + 30}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"/><text x="${W - m.r + 36}" y="${ly + 4}">${esc(s.name)}</text>`);
    ly += 18;
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Mean curve over seeds at the steps every seed evaluated. */
function meanCurve(runs: RunResult[], pick: (r: RunResult) => [number, number][]): [number, number][] {
  const maps = runs.map((r) => new Map(pick(r)));
  const steps = [...(maps[0]?.keys() ?? [])].filter((s) => maps.every((m) => m.has(s)));
  return steps.map((s) => [s, maps.reduce((a, m) => a + m.get(s)!, 0) / maps.length] as [number, number]);
}

export function buildReport(plan: ComparePlan, runs: RunResult[], dataset: string): { markdown: string; json: Record<string, unknown> } {
  const rows = plan.methods.map((method) => {
    const mine = runs.filter((r) => r.method === method);
    const num = (f: (r: RunResult) => unknown) => meanSpread(mine.map((r) => f(r) as number | null));
    const optional = Object.fromEntries(OPTIONAL_COLUMNS.map((c) => [c.key, num((r) => r.last[c.key])]));
    return {
      method,
      label: methodById(method).label,
      knn_top1: num((r) => r.summary.knn_top1),
      knn_top1_init: num((r) => r.summary.knn_top1_init),
      linear_top1: num((r) => r.summary.linear_top1),
      linear_top1_init: num((r) => r.summary.linear_top1_init),
      ...optional,
      wall_s: num((r) => r.summary.wall_s),
      images_per_s: num((r) => r.summary.images_per_s),
    };
  });
  const shown = OPTIONAL_COLUMNS.filter((c) => rows.some((r) => (r as Record<string, unknown>)[c.key]));
  // The pixel baselines depend on the evaluation set (the seed), not the method: one value per seed.
  const perSeed = plan.seeds.map((seed) => runs.find((r) => r.seed === seed)).filter((r): r is RunResult => !!r);
  const pixels = { knn_top1_pixels: meanSpread(perSeed.map((r) => r.summary.knn_top1_pixels as number)), linear_top1_pixels: meanSpread(perSeed.map((r) => r.summary.linear_top1_pixels as number)) };
  const c0 = plan.configs[0]!.config;
  const head = ['method', 'kNN top-1 (%)', 'online linear top-1 (%)', ...shown.map((c) => c.title), 'wall (s)', 'images/s'];
  const table = [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => {
      const rr = r as Record<string, unknown>;
      return `| ${r.label} | ${fmtMS(r.knn_top1, 2)} | ${fmtMS(r.linear_top1, 2)} | ${shown.map((c) => fmtMS(rr[c.key] as ReturnType<typeof meanSpread>, 3)).join(' | ')}${shown.length ? ' | ' : ''}${fmtMS(r.wall_s, 1)} | ${fmtMS(r.images_per_s, 1)} |`;
    }),
  ];
  const init = rows.map((r) => `${r.label} ${fmtMS(r.knn_top1_init, 2)} / ${fmtMS(r.linear_top1_init, 2)}`).join('; ');
  const markdown = [
    `# Method comparison on ${dataset}`,
    '',
    `${c0.steps} steps, batch ${c0.batch}, width ${c0.width}, K ${c0.prototypes} (pseudo-label methods), seeds ${plan.seeds.join(', ')}; kNN: weighted 20-NN on ${c0.knnQueries} test images against a ${c0.knnBank}-image bank; online linear: the detached probe's top-1 on the same queries. Values: mean ± half the range over seeds.`,
    '',
    ...table,
    '',
    `Raw pixels (standardised) on the same bank and queries: kNN ${fmtMS(pixels.knn_top1_pixels, 2)}%, linear ${fmtMS(pixels.linear_top1_pixels, 2)}%.`,
    `At initialisation (kNN / a linear probe fitted on the bank's features): ${init}.`,
    '',
    '![kNN top-1](knn.svg) ![online linear top-1](linear.svg)',
    '',
  ].join('\n');
  const json = { dataset, methods: plan.methods, seeds: plan.seeds, config: c0, rows, pixels, runs: runs.map((r) => ({ method: r.method, seed: r.seed, summary: r.summary, knn: r.knn, linear: r.linear })) };
  return { markdown, json };
}

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(argv, FLAGS, 'compare');
  if (!f) {
    console.log(usage('compare', '--methods mira,swav,naive --dataset NAME --steps N [--seeds 1,2,3] [flags] --out DIR', FLAGS, configFlagGroups(ROWS, Object.keys(COMMAND_FLAGS))));
    return 0;
  }
  const plan = planCompare(f);
  const out = f.out as string;
  mkdirSync(out, { recursive: true });
  const total = plan.configs.length;
  const t0 = performance.now();
  const runs: RunResult[] = [];
  for (const [i, c] of plan.configs.entries()) {
    const el = (performance.now() - t0) / 1000;
    const eta = i ? (el / i) * (total - i) : NaN;
    console.error(`[compare] run ${i + 1}/${total}: ${c.method} seed ${c.seed} → ${c.dir} (${el.toFixed(0)} s elapsed${Number.isFinite(eta) ? `, about ${eta.toFixed(0)} s left` : ''})`);
    const rc = await trainRun(c.argv);
    if (rc !== 0 || !existsSync(join(c.dir, 'summary.json'))) throw new CliError(`compare: the ${c.method} seed ${c.seed} run did not finish (see above); its files are in ${c.dir}`);
    const r = readRun(c.method, c.seed, c.dir);
    runs.push(r);
    console.error(`[compare] ${c.method} seed ${c.seed}: kNN ${String(r.summary.knn_top1)}%, online linear ${String(r.summary.linear_top1)}%`);
  }
  const data = String(runs[0]?.summary.dataset ?? f.dataset ?? 'bundled');
  const { markdown, json } = buildReport(plan, runs, data);
  writeFileSync(join(out, 'report.md'), markdown);
  writeFileSync(join(out, 'report.json'), JSON.stringify(json, null, 2) + '\n');
  const maxStep = plan.configs[0]!.config.steps;
  const pix = json.pixels as { knn_top1_pixels: { mean: number } | null; linear_top1_pixels: { mean: number } | null };
  const series = (pick: (r: RunResult) => [number, number][]) => plan.methods.map((m) => ({ name: methodById(m).label, color: methodById(m).color, points: meanCurve(runs.filter((r) => r.method === m), pick) }));
  writeFileSync(join(out, 'knn.svg'), lineChartSvg('kNN top-1 (%)', series((r) => r.knn), pix.knn_top1_pixels ? { name: 'raw pixels', value: pix.knn_top1_pixels.mean } : null, maxStep));
  writeFileSync(join(out, 'linear.svg'), lineChartSvg('online linear top-1 (%)', series((r) => r.linear), pix.linear_top1_pixels ? { name: 'raw pixels', value: pix.linear_top1_pixels.mean } : null, maxStep));
  console.log(markdown);
  console.error(`[compare] ${total} runs in ${((performance.now() - t0) / 1000).toFixed(0)} s; wrote ${out}/{report.md,report.json,knn.svg,linear.svg}`);
  return 0;
}
