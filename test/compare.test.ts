// `cli compare` (cli/commands/compare.ts): bad input is refused before any training, naming what
// was wrong; the report's statistics and SVG; and a tiny end-to-end comparison of every
// registered method on the bundled sample (two steps each) that writes every file.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { lineChartSvg, meanSpread, planCompare, run as compareCli } from '../cli/commands/compare.ts';
import { CliError } from '../cli/args.ts';
import { METHOD_IDS } from '../src/methods/registry.ts';
import { flagName } from '../src/methods/param-rows.ts';
import { methodsUsing, PARAM_TABLE } from '../src/train/config.ts';

describe('compare: bad input is refused before any training', () => {
  const plan = (f: Record<string, unknown>) => () => planCompare({ out: '/nonexistent/never-written', ...f });
  test('unknown method, empty list, repeated method, bad seeds', () => {
    expect(plan({ methods: 'mira,simclr' })).toThrow(CliError);
    expect(plan({ methods: 'mira,simclr' })).toThrow(/unknown method "simclr".*registered methods: /);
    expect(plan({ methods: ' , ' })).toThrow(/--methods is empty/);
    expect(plan({ methods: 'mira,mira' })).toThrow(/lists "mira" twice/);
    expect(plan({ methods: 'mira', seeds: '1,x' })).toThrow(/--seeds must be/);
    expect(plan({ methods: 'mira', seeds: '2,2' })).toThrow(/repeats a seed/);
  });
  test('a method-specific flag that none of the listed methods uses; an invalid value for one run', () => {
    const row = PARAM_TABLE.find((r) => r.group === 'method' && METHOD_IDS.some((m) => !methodsUsing(r.key).includes(m)))!;
    const outsider = METHOD_IDS.find((m) => !methodsUsing(row.key).includes(m))!;
    const f = { methods: outsider, [flagName(row.key)]: typeof row.default === 'number' ? row.default : undefined };
    expect(plan(f)).toThrow(new RegExp(`--${flagName(row.key)} is used by .* only; none of the listed methods \\(${outsider}\\)`));
    expect(plan({ methods: METHOD_IDS.join(','), 'knn-bank': 5 })).toThrow(/--knn-bank/);
  });
  test('every method × seed gets the same shared flags, its own seed and directory', () => {
    const p = planCompare({ methods: METHOD_IDS.join(','), seeds: '1,2', out: 'o', steps: 7, width: 1 / 16 });
    expect(p.configs.map((c) => `${c.method}-s${c.seed}`)).toEqual(METHOD_IDS.flatMap((m) => [`${m}-s1`, `${m}-s2`]));
    for (const c of p.configs) {
      expect(c.config.steps).toBe(7);
      expect(c.config.width).toBe(1 / 16);
      expect(c.dir).toBe(join('o', `${c.method}-s${c.seed}`));
    }
  });
});

describe('report pieces', () => {
  test('mean ± half range over seeds ignores missing values', () => {
    expect(meanSpread([10, 20, null, 30])).toEqual({ mean: 20, spread: 10, n: 3 });
    expect(meanSpread([null, undefined])).toBeNull();
  });
  test('the SVG chart has one polyline per series with points and a dashed baseline', () => {
    const svg = lineChartSvg('kNN', [{ name: 'A', color: '#f00', points: [[0, 10], [10, 20]] }, { name: 'B', color: '#00f', points: [[0, 12], [10, 15]] }], { name: 'pixels', value: 50 }, 10);
    expect(svg.match(/<polyline/g)!.length).toBe(2);
    expect(svg).toContain('stroke-dasharray');
    expect(svg.startsWith('<svg')).toBe(true);
  });
});

describe('compare end to end', () => {
  test('every registered method, two steps each on the bundled sample: each run’s files, report.md/json, charts', async () => {
    const out = mkdtempSync(join(tmpdir(), 'compare-'));
    const rc = await compareCli(['--methods', METHOD_IDS.join(','), '--dataset', 'bundled', '--steps', '2', '--width', '0.0625', '--batch', '8', '--prototypes', '16', '--proj-hidden', '16', '--proj-out', '8', '--knn-bank', '60', '--knn-queries', '60', '--log-every', '1', '--out', out]);
    expect(rc).toBe(0);
    for (const m of METHOD_IDS) for (const f of ['metrics.jsonl', 'summary.json', 'model.safetensors']) expect(existsSync(join(out, `${m}-s1`, f)), `${m}-s1/${f}`).toBe(true);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    console.log(md);
    const tableRows = md.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| method'));
    expect(tableRows.length).toBe(METHOD_IDS.length);
    const json = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    expect(json.rows.map((r: { method: string }) => r.method)).toEqual([...METHOD_IDS]);
    expect(json.pixels.knn_top1_pixels.mean).toBeGreaterThan(20);
    for (const r of json.runs) expect(r.knn.length).toBe(2);
    expect(readFileSync(join(out, 'knn.svg'), 'utf8').match(/<polyline/g)!.length).toBe(METHOD_IDS.length);
  }, 900_000);
});
