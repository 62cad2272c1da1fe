// The method arena without a GPU: the interleaving schedule and each method's configuration
// (src/worker/arena.ts), the results table's rows, CSV and Markdown, the charts' rows and the
// memory estimate (src/ui/arena.ts), the standalone SVG export, the arena's setup in the URL, and
// the store slice driven by a fake engine (the pattern of test/ui-store.test.ts): start, live
// points batched per frame, evaluations, pause/stop requests, the table's download.
import { describe, expect, test } from 'vitest';
import { arenaConfig, arenaRound, arenaSchedule } from '../src/worker/arena.ts';
import { arenaCsv, arenaMarkdown, arenaMemory, arenaRows, byStep, normalisedLoss, standaloneSvg, type ArenaData } from '../src/ui/arena.ts';
import { createPlaygroundStore } from '../src/ui/store/create.ts';
import type { FrameScheduler, PageEnvironment } from '../src/ui/store/types.ts';
import { PRESETS } from '../src/ui/presets.ts';
import { decodeUrlState, encodeUrlState } from '../src/ui/url-state.ts';
import type { EngineConnector } from '../src/worker/client.ts';
import type { ArenaPoint, DatasetInfo, EngineEvent, EngineRequest } from '../src/worker/protocol.ts';

const tiny = PRESETS.tiny.config;
const point = (step: number, over: Partial<ArenaPoint> = {}): ArenaPoint => ({ step, loss: 4 - step * 0.5, effective_rank: 10 + step, used_clusters: 8, alignment: 0.5, uniformity: -1.5, ...over });

describe('the interleaving schedule', () => {
  test('one step of each method per round, in the order picked, until every method has its steps', () => {
    expect(arenaSchedule(['mira', 'swav', 'naive'], 2)).toEqual([
      { method: 'mira', step: 1 },
      { method: 'swav', step: 1 },
      { method: 'naive', step: 1 },
      { method: 'mira', step: 2 },
      { method: 'swav', step: 2 },
      { method: 'naive', step: 2 },
    ]);
    expect(arenaSchedule(['mveb'], 3).map((s) => s.step)).toEqual([1, 2, 3]);
    expect(arenaSchedule([], 5)).toEqual([]);
  });

  test('a round skips methods that are done or halted; the others go on', () => {
    expect(arenaRound(['mira', 'swav', 'naive'], { mira: 3, swav: 2, naive: 2 }, 3)).toEqual(['swav', 'naive']);
    expect(arenaRound(['mira', 'swav', 'naive'], { mira: 1, swav: 1, naive: 1 }, 3, new Set(['swav']))).toEqual(['mira', 'naive']);
    expect(arenaRound(['mira'], { mira: 3 }, 3)).toEqual([]);
  });

  test('each method keeps the shared settings and the kNN cadence, with its recommended values, logging every step and no checkpoints', () => {
    const base = { ...tiny, seed: 7, knnEvery: 3, checkpointEvery: 2, logEvery: 10 };
    const c = arenaConfig(base, 'swav', 12);
    expect(c).toMatchObject({ method: 'swav', steps: 12, seed: 7, knnEvery: 3, logEvery: 1, checkpointEvery: 0, iters: 3, width: tiny.width, batch: tiny.batch });
    expect(arenaConfig(base, 'mira', 12).iters).toBe(30);
    expect(() => arenaConfig(base, 'nope' as never, 1)).toThrow('unknown method "nope"');
  });
});

const DATA: ArenaData = {
  methods: ['mira', 'mveb'],
  series: { mira: [point(1), point(2)], mveb: [point(1, { used_clusters: null }), point(2, { used_clusters: null, loss: 3 })] },
  evals: { mira: [{ step: 0, knn: 20, linear: 22 }, { step: 2, knn: 41.5, linear: 44.25 }], mveb: [] },
  done: { mira: 2, mveb: 2 },
  imagesPerS: { mira: 123.4 },
};

describe('the results table', () => {
  test('one row per method from its latest step and its latest evaluation after initialisation', () => {
    const rows = arenaRows(DATA);
    expect(rows.map((r) => r.method)).toEqual(['mira', 'mveb']);
    expect(rows[0]).toMatchObject({ label: 'MIRA', step: 2, knn: 41.5, linear: 44.25, evalStep: 2, effectiveRank: 12, usedClusters: 8, imagesPerS: 123.4 });
    expect(rows[1]).toMatchObject({ step: 2, knn: null, linear: null, usedClusters: null, loss: 3, imagesPerS: null });
  });

  test('CSV: a header and one line per method, empty cells where a method has no value', () => {
    const lines = arenaCsv(arenaRows(DATA)).trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe('method,step,knn_top1,linear_top1,eval_step,effective_rank,used_clusters,alignment,uniformity,loss,images_per_s');
    expect(lines[1]).toBe('mira,2,41.50,44.25,2,12.000,8.0,0.5000,-1.5000,3.0000,123.4');
    expect(lines[2]).toBe('mveb,2,,,,12.000,,0.5000,-1.5000,3.0000,');
  });

  test('Markdown: a caption, a GitHub table with right-aligned numbers, "—" for missing values', () => {
    const md = arenaMarkdown(arenaRows(DATA), 'Method arena: mira, mveb').trimEnd().split('\n');
    expect(md[0]).toBe('Method arena: mira, mveb');
    expect(md[2]).toBe('| method | step | knn_top1 | linear_top1 | eval_step | effective_rank | used_clusters | alignment | uniformity | loss | images_per_s |');
    expect(md[3]).toBe('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    expect(md[4]).toContain('| MIRA | 2 | 41.50 | 44.25 |');
    expect(md[5]).toBe('| MVEB | 2 | — | — | — | 12.000 | — | 0.5000 | -1.5000 | 3.0000 | — |');
    expect(md).toHaveLength(6);
  });
});

describe('the overlaid charts', () => {
  test('one row per step, one column per method; the loss divided by each method’s first value', () => {
    const rows = byStep(['mira', 'mveb'], { mira: [point(1), point(2)], mveb: [point(2, { loss: 8 }), point(3, { loss: 2 })] }, normalisedLoss);
    expect(rows).toEqual([
      { step: 1, mira: 1 },
      { step: 2, mira: 3 / 3.5, mveb: 1 },
      { step: 3, mveb: 0.25 },
    ]);
  });

  test('missing values (no clusters) leave the method out of that row', () => {
    const rows = byStep(['mira', 'mveb'], DATA.series, (p) => p.used_clusters);
    expect(rows).toEqual([
      { step: 1, mira: 8 },
      { step: 2, mira: 8 },
    ]);
  });
});

describe('memory and chart export', () => {
  const sample: DatasetInfo = { name: 'fashion-mnist-sample', source: 'bundled', trainCount: 2000, testCount: 500, height: 28, width: 28, channels: 1, classes: [] };
  const cifar: DatasetInfo = { ...sample, name: 'cifar10', trainCount: 50000, height: 32, width: 32, channels: 3 };

  test('the estimate grows with every method; the tiny preset fits, six full-width CIFAR-10 models at batch 512 do not', () => {
    const one = arenaMemory(tiny, sample, ['mira'], true);
    const three = arenaMemory(tiny, sample, ['mira', 'swav', 'naive'], true);
    expect(three.total).toBeGreaterThan(2.5 * one.total);
    expect(three.fits).toBe(true);
    const big = arenaMemory({ ...tiny, width: 1, batch: 512, projHidden: 2048, projOut: 128, prototypes: 3000 }, cifar, ['mira', 'swav', 'naive', 'sela', 'mveb', 'mio'], false);
    expect(big.fits).toBe(false);
    expect(big.total).toBeGreaterThan(big.budget);
    // A full-width ResNet-18 has ≈ 11 M parameters: four copies alone are ≈ 180 MB per method.
    expect(big.perMethod.mira).toBeGreaterThan(180e6);
  });

  test('a chart’s SVG is made standalone: CSS variables resolved, namespace, size, background and title', () => {
    const vars: Record<string, string> = { '--muted': '#8899aa', '--surface': ' #101418', '--text': '#eee' };
    const svg = standaloneSvg('<svg class="recharts-surface" width="300" height="200"><line stroke="var(--muted)"/><text fill="var(--none, #123)">a &lt; b</text></svg>', (n) => vars[n] ?? '', { width: 300, height: 200, background: 'var(--surface)', title: 'kNN <top-1>', color: 'var(--text)' });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="300" height="224"')).toBe(true);
    expect(svg).toContain('<rect width="100%" height="100%" fill="#101418"/>');
    expect(svg).toContain('stroke="#8899aa"');
    expect(svg).toContain('fill="#123"');
    expect(svg).toContain('kNN &lt;top-1&gt;');
    expect(svg).not.toContain('var(');
    expect(svg.match(/<svg/g)).toHaveLength(1);
  });
});

describe('the arena in the URL', () => {
  test('round trip: the view, the methods and the steps; the seed and settings as for a single run', () => {
    const config = { ...tiny, seed: 9, knnEvery: 3 };
    const q = encodeUrlState('tiny', config, { methods: ['mira', 'mveb', 'naive'], steps: 40 });
    expect(q).toContain('v=arena');
    const back = decodeUrlState(q, 'small');
    expect(back.arena).toEqual({ methods: ['mira', 'mveb', 'naive'], steps: 40 });
    expect(back.config).toEqual(config);
    expect(decodeUrlState(encodeUrlState('tiny', config), 'small').arena).toBeNull();
  });

  test('unknown or repeated methods are dropped, bad step counts ignored, huge ones clamped', () => {
    expect(decodeUrlState('?v=arena&ar=mira,evil,mira,swav&an=abc', 'tiny').arena).toEqual({ methods: ['mira', 'swav'], steps: 0 });
    expect(decodeUrlState('?v=arena&an=1e12', 'tiny').arena).toEqual({ methods: [], steps: 100_000 });
    expect(decodeUrlState('?ar=mira&an=5', 'tiny').arena).toBeNull();
  });
});

// ───────────────────────────── the store slice with a fake engine ─────────────────────────────

function setup(search = '') {
  const requests: EngineRequest[] = [];
  let emit: (e: EngineEvent) => void = () => {
    throw new Error('no engine was started');
  };
  const connect: EngineConnector = (onEvent) => {
    emit = onEvent;
    return { send: (r) => requests.push(r), dispose: () => undefined };
  };
  let pending: (() => void) | null = null;
  const frames: FrameScheduler = (flush) => {
    pending = flush;
    return () => (pending = null);
  };
  const downloads: { fileName: string; mime: string; bytes: Uint8Array }[] = [];
  const page: PageEnvironment & { search: string } = {
    search,
    readSearch: () => page.search,
    replaceSearch: (s) => void (page.search = s),
    download: (fileName, mime, bytes) => void downloads.push({ fileName, mime, bytes }),
    missingWebGpu: () => null,
  };
  const store = createPlaygroundStore(connect, { frames, page });
  const s = () => store.getState();
  const frame = () => {
    const f = pending;
    pending = null;
    f?.();
  };
  return { s, requests, emit: (e: EngineEvent) => emit(e), frame, page, downloads, sent: <T extends EngineRequest['type']>(type: T) => requests.filter((r): r is Extract<EngineRequest, { type: T }> => r.type === type) };
}

function ready(t: ReturnType<typeof setup>): void {
  t.s().start();
  t.emit({ type: 'ready', adapter: { name: 'test', vendor: '', architecture: '', description: '', isSoftware: true, features: { timestampQuery: false, shaderF16: false, subgroups: false } } });
  t.emit({ type: 'datasets-served', files: [] });
  t.emit({ type: 'checkpoint-info', info: null });
  t.emit({ type: 'dataset', id: 1, info: { name: 'fashion-mnist-sample', source: 'bundled', trainCount: 2000, testCount: 500, height: 28, width: 28, channels: 1, classes: [] } });
}

describe('the arena store slice', () => {
  test('a link opens the arena tab with its methods and steps; ticking writes them back into the URL', () => {
    const t = setup('?p=tiny&s=5&v=arena&ar=naive,mira&an=12');
    expect(t.s().tab).toBe('arena');
    expect(t.s().arena).toMatchObject({ selected: ['mira', 'naive'], steps: 12 });
    expect(t.s().config.seed).toBe(5);
    t.s().arenaToggle('mveb');
    t.s().arenaSetSteps(0);
    expect(decodeUrlState(t.page.search, 'small').arena).toEqual({ methods: ['mira', 'naive', 'mveb'], steps: 1 });
    t.s().setTab('dashboard');
    expect(decodeUrlState(t.page.search, 'small').arena).toBeNull();
  });

  test('start sends the picked methods, the configuration and the budget; points arrive per frame; evaluations and status update the run', () => {
    const t = setup('?p=tiny');
    ready(t);
    t.s().arenaStart();
    expect(t.sent('arena-start')).toEqual([{ type: 'arena-start', methods: ['mira', 'swav', 'naive'], config: t.s().config, steps: 60 }]);
    expect(t.s().arena).toMatchObject({ running: true, methods: ['mira', 'swav', 'naive'], done: { mira: 0, swav: 0, naive: 0 } });
    t.s().arenaStart();
    expect(t.sent('arena-start')).toHaveLength(1);

    t.emit({ type: 'arena-eval', method: 'mira', init: true, point: { step: 0, knn: 20, linear: 21 } });
    t.emit({ type: 'arena-pixels', pixels: { knn: 70, linear: 75 } });
    t.emit({ type: 'arena-points', points: [{ method: 'mira', point: point(1) }] });
    t.emit({ type: 'arena-points', points: [{ method: 'swav', point: point(1) }, { method: 'naive', point: point(1) }] });
    expect(t.s().arena.series).toEqual({});
    t.frame();
    expect(Object.keys(t.s().arena.series)).toEqual(['mira', 'swav', 'naive']);
    t.emit({ type: 'arena-eval', method: 'mira', init: false, point: { step: 1, knn: 30, linear: 31 } });
    t.emit({ type: 'arena-status', status: { running: true, paused: false, done: { mira: 1, swav: 1, naive: 1 }, steps: 60, imagesPerS: { mira: 50 }, detail: 'round 1 of 60' } });
    expect(t.s().arena).toMatchObject({ init: { mira: { knn: 20 } }, evals: { mira: [{ step: 1, knn: 30 }] }, pixels: { knn: 70 }, detail: 'round 1 of 60', imagesPerS: { mira: 50 } });

    t.s().arenaPause();
    t.s().arenaResume();
    t.s().arenaStop();
    expect(t.requests.slice(-3).map((r) => r.type)).toEqual(['arena-pause', 'arena-resume', 'arena-stop']);
  });

  test('the table downloads as CSV with one row per method, and as Markdown', () => {
    const t = setup('?p=tiny&s=3');
    ready(t);
    t.s().arenaExportTable('csv');
    expect(t.downloads).toHaveLength(0);
    expect(t.s().notices.at(-1)?.text).toContain('no results yet');
    t.s().arenaStart();
    t.emit({ type: 'arena-points', points: (['mira', 'swav', 'naive'] as const).map((m) => ({ method: m, point: point(1) })) });
    t.emit({ type: 'arena-status', status: { running: false, paused: false, done: { mira: 1, swav: 1, naive: 1 }, steps: 1, imagesPerS: {}, detail: 'done' } });
    t.s().arenaExportTable('csv');
    t.s().arenaExportTable('md');
    const [csv, md] = t.downloads;
    expect(csv!.fileName).toBe('mira-playground-arena-mira-swav-naive-seed3-step1.csv');
    const lines = new TextDecoder().decode(csv!.bytes).trimEnd().split('\n');
    expect(lines.slice(1).map((l) => l.split(',')[0])).toEqual(['mira', 'swav', 'naive']);
    expect(md!.mime).toBe('text/markdown');
    expect(new TextDecoder().decode(md!.bytes)).toContain('| Sinkhorn-Knopp (SwAV) | 1 |');
  });

  test('starting without a method or a dataset says what to do and sends nothing', () => {
    const t = setup('?p=tiny');
    t.s().arenaStart();
    expect(t.s().arena.error).toContain('Load a dataset first');
    ready(t);
    for (const m of t.s().arena.selected) t.s().arenaToggle(m);
    t.s().arenaStart();
    expect(t.s().arena.error).toBe('Tick at least one method to train.');
    expect(t.sent('arena-start')).toHaveLength(0);
  });
});
