// The method arena's pure helpers (no React, no store): the live results table's rows and their
// CSV and Markdown, the overlaid charts' rows (one column per method, loss divided by its first
// value), an estimate of the GPU memory the selected set needs (the worker keeps one model per
// method), and a chart's SVG made standalone (the page's CSS variables resolved) for export.
import type { MethodId } from '../methods/registry.ts';
import { methodById } from '../methods/registry.ts';
import { encoderSpec, allConvs } from '../nn/architecture.ts';
import { defaultModelConfig } from '../nn/config.ts';
import { modelParams } from '../nn/parameters.ts';
import type { TrainConfig } from '../train/config.ts';
import type { ArenaEval, ArenaPoint, DatasetInfo } from '../worker/protocol.ts';

/** What the table and the charts are built from (the store's arena state holds these). */
export interface ArenaData {
  /** The methods of the run, in the order picked. */
  methods: readonly MethodId[];
  series: Readonly<Record<string, readonly ArenaPoint[]>>;
  evals: Readonly<Record<string, readonly ArenaEval[]>>;
  done: Readonly<Record<string, number>>;
  imagesPerS: Readonly<Record<string, number>>;
}

export interface ArenaRow {
  method: MethodId;
  label: string;
  step: number;
  /** Latest evaluation (percent), null before the first one after step 0. */
  knn: number | null;
  linear: number | null;
  /** Step of that evaluation. */
  evalStep: number | null;
  effectiveRank: number | null;
  usedClusters: number | null;
  alignment: number | null;
  uniformity: number | null;
  loss: number | null;
  imagesPerS: number | null;
}

/** One row per method, from its latest logged step and its latest evaluation after initialisation. */
export function arenaRows(d: ArenaData): ArenaRow[] {
  return d.methods.map((method) => {
    const p = d.series[method]?.at(-1);
    const e = [...(d.evals[method] ?? [])].filter((x) => x.step > 0).at(-1);
    const ips = d.imagesPerS[method];
    return {
      method,
      label: methodById(method).label,
      step: d.done[method] ?? p?.step ?? 0,
      knn: e?.knn ?? null,
      linear: e?.linear ?? null,
      evalStep: e?.step ?? null,
      effectiveRank: p?.effective_rank ?? null,
      usedClusters: p?.used_clusters ?? null,
      alignment: p?.alignment ?? null,
      uniformity: p?.uniformity ?? null,
      loss: p?.loss ?? null,
      imagesPerS: ips !== undefined && ips > 0 ? ips : null,
    };
  });
}

const COLUMNS: { key: keyof ArenaRow; head: string; digits?: number }[] = [
  { key: 'method', head: 'method' },
  { key: 'step', head: 'step' },
  { key: 'knn', head: 'knn_top1', digits: 2 },
  { key: 'linear', head: 'linear_top1', digits: 2 },
  { key: 'evalStep', head: 'eval_step' },
  { key: 'effectiveRank', head: 'effective_rank', digits: 3 },
  { key: 'usedClusters', head: 'used_clusters', digits: 1 },
  { key: 'alignment', head: 'alignment', digits: 4 },
  { key: 'uniformity', head: 'uniformity', digits: 4 },
  { key: 'loss', head: 'loss', digits: 4 },
  { key: 'imagesPerS', head: 'images_per_s', digits: 1 },
];

function cell(row: ArenaRow, c: (typeof COLUMNS)[number]): string {
  const v = row[c.key];
  if (v === null) return '';
  if (typeof v === 'number') return c.digits === undefined ? String(v) : Number.isFinite(v) ? v.toFixed(c.digits) : String(v);
  return v;
}

/** The table as CSV: a header, then one line per method; an empty cell where a method has no value (no clusters, no evaluation yet). */
export function arenaCsv(rows: readonly ArenaRow[]): string {
  const quote = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  return [COLUMNS.map((c) => c.head).join(','), ...rows.map((r) => COLUMNS.map((c) => quote(cell(r, c))).join(','))].join('\n') + '\n';
}

/** The table as Markdown (a GitHub table), "—" where a method has no value; numbers right-aligned. */
export function arenaMarkdown(rows: readonly ArenaRow[], caption?: string): string {
  const head = ['method', ...COLUMNS.slice(1).map((c) => c.head)];
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const body = rows.map((r) => line([r.label, ...COLUMNS.slice(1).map((c) => cell(r, c).replace(/\|/g, '\\|') || '—')]));
  return [...(caption ? [caption, ''] : []), line(head), line(['---', ...head.slice(1).map(() => '---:')]), ...body].join('\n') + '\n';
}

/** The charts' rows: one per step, one column per method (a missing value is absent, so lines connect over it). */
export function byStep<P extends { step: number }>(methods: readonly string[], series: Readonly<Record<string, readonly P[]>>, value: (p: P, first: P) => number | null): Record<string, number>[] {
  const rows = new Map<number, Record<string, number>>();
  for (const m of methods) {
    const s = series[m] ?? [];
    const first = s[0];
    if (!first) continue;
    for (const p of s) {
      const v = value(p, first);
      if (v === null || !Number.isFinite(v)) continue;
      const row = rows.get(p.step) ?? { step: p.step };
      row[m] = v;
      rows.set(p.step, row);
    }
  }
  return [...rows.values()].sort((a, b) => a.step! - b.step!);
}

/** The loss divided by the method's first logged loss (1 at the start for every method), so objectives of different scales share one axis; null when the first is 0. */
export function normalisedLoss(p: ArenaPoint, first: ArenaPoint): number | null {
  return first.loss !== 0 && Number.isFinite(first.loss) ? p.loss / Math.abs(first.loss) : null;
}

// ───────────────────────────── memory ─────────────────────────────

/**
 * A web page cannot ask how much GPU memory it may use (WebGPU reports no total), so the arena
 * warns above this estimate: a share a laptop's integrated GPU or a CPU emulation grants a tab
 * without trouble. A bigger set may still fit; when it does not, the worker says at the build.
 */
export const ARENA_MEMORY_BUDGET = { hardware: 2 * 1024 ** 3, software: 1024 ** 3 };

/**
 * Bytes one method's trainer holds on the GPU, estimated from the shapes: parameters, gradients,
 * momentum and the EMA teacher (4 × the parameters); the dataset's images (u8, each trainer
 * uploads its own); every conv's output for each view, student and teacher, about four tensors
 * each (output, batch-norm output, activation, gradient); the kNN bank and queries' features.
 */
export function arenaBytesPerMethod(config: TrainConfig, data: Pick<DatasetInfo, 'height' | 'width' | 'channels' | 'trainCount'>, method: MethodId): number {
  const def = methodById(method);
  const inChannels = data.channels === 3 ? 3 : 1;
  const imageSize = Math.ceil(Math.max(data.height, data.width) / 8) * 8;
  const model = defaultModelConfig(inChannels, { width: config.width, imageSize, stemPadding: config.stemPadding, projHidden: config.projHidden, projOut: config.projOut, prototypes: def.kind === 'pseudo-label' ? config.prototypes : 0 });
  const params = modelParams(model).filter((p) => p.trainable).reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
  const perImage = allConvs(encoderSpec(model)).reduce((a, c) => a + c.outChannels * c.outSize * c.outSize, 0);
  const views = def.viewsPerImage;
  const activations = config.batch * views * 2 * perImage * 4;
  const feat = allConvs(encoderSpec(model)).at(-1)?.outChannels ?? 1;
  const knn = (config.knnBank + config.knnQueries) * feat;
  return 4 * (4 * params + activations + knn) + data.trainCount * data.height * data.width * data.channels;
}

export interface ArenaMemory {
  perMethod: Record<string, number>;
  total: number;
  budget: number;
  fits: boolean;
}

export function arenaMemory(config: TrainConfig, data: Pick<DatasetInfo, 'height' | 'width' | 'channels' | 'trainCount'>, methods: readonly MethodId[], software: boolean): ArenaMemory {
  const perMethod = Object.fromEntries(methods.map((m) => [m, arenaBytesPerMethod(config, data, m)]));
  const total = Object.values(perMethod).reduce((a, b) => a + b, 0);
  const budget = software ? ARENA_MEMORY_BUDGET.software : ARENA_MEMORY_BUDGET.hardware;
  return { perMethod, total, budget, fits: total <= budget };
}

// ───────────────────────────── chart export ─────────────────────────────

/**
 * A chart's SVG markup made standalone: `var(--name)` and `var(--name, fallback)` replaced by the
 * page's values (a file has no stylesheet), the SVG namespace and size set, a background and an
 * optional title drawn first.
 */
export function standaloneSvg(markup: string, vars: (name: string) => string, opts: { width: number; height: number; background: string; title?: string; color?: string }): string {
  const resolve = (s: string) => s.replace(/var\((--[\w-]+)(?:\s*,\s*([^)]+))?\)/g, (_m, name: string, fallback?: string) => vars(name).trim() || fallback?.trim() || 'currentColor');
  const pad = opts.title ? 24 : 0;
  const inner = resolve(markup)
    .replace(/^<svg\b[^>]*>/, '')
    .replace(/<\/svg>\s*$/, '');
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const h = opts.height + pad;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${opts.width}" height="${h}" viewBox="0 0 ${opts.width} ${h}" font-family="system-ui, sans-serif">`,
    `<rect width="100%" height="100%" fill="${resolve(opts.background)}"/>`,
    ...(opts.title ? [`<text x="8" y="17" font-size="13" font-weight="600" fill="${resolve(opts.color ?? 'currentColor')}">${esc(opts.title)}</text>`] : []),
    `<g transform="translate(0 ${pad})">${inner}</g>`,
    '</svg>',
  ].join('');
}
