// The dashboard's pure helpers: downsampled histories (≤ max points, whole run visible, NaN
// never hidden), the configuration in the URL (a link reproduces a run), the metrics log's
// CSV and the NaN check that pauses training.
import { describe, expect, test } from 'vitest';
import { appendHistory, emptyHistory, historyPoints, mergePoints, type Point } from '../src/worker/history.ts';
import { MetricsLog } from '../src/worker/metrics-log.ts';
import { firstNonFinite } from '../src/train/run-driver.ts';
import { decodeUrlState, encodeUrlState } from '../src/ui/url-state.ts';
import { collapseWarnings } from '../src/ui/collapse.ts';
import { PARAM_SPECS, PRESETS, parseParam } from '../src/ui/presets.ts';
import { defaultTrainConfig, validateTrainConfig } from '../src/train/config.ts';
import type { StepMetrics } from '../src/train/metric-layout.ts';

const rec = (step: number, loss = step): Point => ({ step, loss });

describe('history', () => {
  test('keeps every record while there is room', () => {
    const h = appendHistory(emptyHistory(10), [rec(1), rec(2), rec(3)]);
    expect(historyPoints(h).map((p) => p.step)).toEqual([1, 2, 3]);
  });

  test('never holds more than max points, covers the whole run, and preserves the mean', () => {
    let h = emptyHistory(500);
    const n = 100_000;
    for (let s = 1; s <= n; s += 1000) h = appendHistory(h, Array.from({ length: 1000 }, (_, i) => rec(s + i)));
    const pts = historyPoints(h);
    expect(h.points.length).toBeLessThanOrEqual(500);
    expect(pts.length).toBeLessThanOrEqual(501);
    expect(h.count).toBe(n);
    expect(pts.at(-1)!.step).toBe(n);
    expect(pts[0]!.step).toBeLessThan(n / 200);
    // The mean of the loss over all points (weighted by stride) is the mean over all records.
    const total = h.points.reduce((a, p) => a + p.loss! * h.stride, 0) + h.partial.reduce((a, e) => a + e.point.loss! * e.weight, 0);
    expect(total / n).toBeCloseTo((n + 1) / 2, 6);
  });

  test('a NaN stays visible after merging', () => {
    const m = mergePoints([rec(1, 1), { step: 2, loss: NaN }]);
    expect(m.step).toBe(2);
    expect(Number.isNaN(m.loss)).toBe(true);
  });

  test('does not modify its input', () => {
    const h = appendHistory(emptyHistory(4), [rec(1)]);
    const copy = JSON.stringify(h);
    appendHistory(h, [rec(2), rec(3), rec(4), rec(5), rec(6)]);
    expect(JSON.stringify(h)).toBe(copy);
  });
});

describe('configuration in the URL', () => {
  test('a preset round-trips as just its name', () => {
    expect(encodeUrlState('tiny', PRESETS.tiny.config)).toBe('?p=tiny');
    const s = decodeUrlState('?p=tiny', 'small');
    expect(s.config).toEqual(PRESETS.tiny.config);
    expect(s.explicit).toBe(true);
  });

  test('every changed parameter round-trips', () => {
    const config = { ...PRESETS.small.config, method: 'naive' as const, seed: 7, width: 1 / 4, batch: 32, tauT: 0.3, betaEnd: 0.6, lr: 0.0123, optimizer: 'lars' as const, augment: 'none' as const, stemPadding: 2 as const, dataset: 'cifar10' };
    const q = encodeUrlState('small', config);
    expect(q).toContain('w=1%2F4');
    const back = decodeUrlState(q, 'tiny');
    expect(back.preset).toBe('small');
    expect(back.config).toEqual(config);
    validateTrainConfig(back.config);
  });

  test('garbage is ignored or clamped, never trusted', () => {
    // One set of ranges for the URL, the CLI and the trainer (src/train/config.ts): batch ≥ 2, K ≤ 65536, τ > 0.
    const s = decodeUrlState('?p=nope&m=evil&b=1&s=-5&k=1e9&tt=abc&ts=0&d=../../etc', 'tiny');
    expect(s.preset).toBe('tiny');
    expect(s.config.method).toBe('mira');
    expect(s.config.batch).toBe(2);
    expect(s.config.seed).toBe(0);
    expect(s.config.prototypes).toBe(65536);
    expect(s.config.tauS).toBeGreaterThan(0);
    validateTrainConfig(s.config);
    expect(s.config.tauT).toBe(PRESETS.tiny.config.tauT);
    expect(s.config.dataset).toBe('bundled');
  });

  test('every TrainConfig key has a control, and every preset is a valid configuration', () => {
    const keys = Object.keys(defaultTrainConfig()).filter((k) => k !== 'dataset').sort();
    expect(PARAM_SPECS.map((p) => p.key).sort()).toEqual(keys);
    expect(new Set(PARAM_SPECS.map((p) => p.short)).size).toBe(PARAM_SPECS.length);
    for (const p of Object.values(PRESETS)) validateTrainConfig(p.config);
    const w = PARAM_SPECS.find((p) => p.key === 'width')!;
    expect(parseParam(w, '1/16')).toBe(1 / 16);
  });
});

describe('metrics log', () => {
  const m = (step: number, over: Partial<StepMetrics> = {}): StepMetrics =>
    ({ step, epoch: step / 10, loss: 1 / step, lr: 0.1, beta: 0.7, ema_momentum: 0.99, used_clusters: 5, ...over }) as StepMetrics;

  test('CSV has a header in StepMetrics order and one line per record', () => {
    const log = new MetricsLog();
    log.push(m(1));
    log.push(m(2, { knn_top1: 40 }));
    const lines = log.toCsv().trim().split('\n');
    expect(lines[0]).toBe('step,epoch,loss,lr,beta,ema_momentum,used_clusters,knn_top1');
    expect(lines).toHaveLength(3);
    expect(lines[1]!.endsWith(',')).toBe(true);
    expect(lines[2]!.split(',')[7]).toBe('40');
  });

  test('names the metric that went NaN', () => {
    expect(firstNonFinite(m(3))).toBeNull();
    expect(firstNonFinite(m(3, { loss: NaN }))).toBe('loss');
    expect(firstNonFinite(m(3, { used_clusters: Infinity }))).toBe('used_clusters');
  });
});

describe('collapse warnings', () => {
  const m = (used: number, targetH: number, teacherH = targetH) => ({ used_clusters: used, target_marginal_entropy: targetH, teacher_marginal_entropy: teacherH }) as StepMetrics;
  test('none while the clusters stay in use', () => {
    expect(collapseWarnings(m(14, 3.3), { used: 16, targetH: 3.4, teacherH: 3.4 }, 32)).toEqual([]);
  });
  test('used clusters at half their peak, and a halved effective number of clusters', () => {
    const w = collapseWarnings(m(3, 1.2, 1.0), { used: 16, targetH: 3.4, teacherH: 3.4 }, 32);
    expect(w.map((x) => x.what)).toEqual(['used_clusters', 'marginal_entropy']);
    expect(w[0]!.text).toContain('3 of 32');
  });
  test('the uniform collapse: many argmax clusters, full marginal, but no information in the targets', () => {
    // Step 300 of the Fashion-MNIST acceptance runs (width 1/8, batch 64, K 300, seed 1, H100).
    const peak = { used: 54, targetH: 5.703, teacherH: 5.703 };
    const naive = { used_clusters: 39, target_marginal_entropy: 5.704, teacher_marginal_entropy: 5.704, target_mi: 0.001, target_entropy: 5.703 } as StepMetrics;
    const mira = { used_clusters: 44, target_marginal_entropy: 5.702, teacher_marginal_entropy: 5.703, target_mi: 0.424, target_entropy: 5.278 } as StepMetrics;
    expect(collapseWarnings(naive, peak, 300).map((x) => x.what)).toEqual(['uniform']);
    expect(collapseWarnings(mira, peak, 300)).toEqual([]);
  });
});
