// The method layer (docs/ARCHITECTURE.md, "Methods are plug-ins"): every registered method is
// complete — parameter rows that validate, a float64 reference that its GPU objective matches,
// metric rows whose GPU sources its objective provides, panels that chart declared metrics —
// and the one parameter table generates defaults, validation, CLI flags and URL keys that agree.
import { describe, expect, test } from 'vitest';
import { createTensor, readF32, uploadTensor } from '../src/gpu/tensor.ts';
import { submitChecked } from '../src/gpu/kernel.ts';
import { METHODS, METHOD_IDS, methodById } from '../src/methods/registry.ts';
import { checkRowValue, flagName, type ParamRow } from '../src/methods/param-rows.ts';
import { CORE_PARAMS, defaultTrainConfig, methodsUsing, PARAM_TABLE, trainConfigProblems, validateTrainConfig } from '../src/train/config.ts';
import { allMetricKeys, MetricLayout, metricRows } from '../src/train/metric-layout.ts';
import { parseFlags } from '../cli/args.ts';
import { configFlags, givenConfig } from '../cli/config-flags.ts';
import { decodeUrlState, encodeUrlState } from '../src/ui/url-state.ts';
import { PRESETS } from '../src/ui/presets.ts';
import { expectClose, randomArray, testGpu } from './helpers/gpu.ts';
import { EMBEDDING_REFERENCES, HARD_LABEL_REFERENCES, swappedLossReference, TARGET_REFERENCES } from './helpers/method-references.ts';

describe('the registry', () => {
  test('ids, colours and URL keys are unique; every method is complete', () => {
    expect(new Set(METHOD_IDS).size).toBe(METHODS.length);
    expect(new Set(METHODS.map((m) => m.color)).size).toBe(METHODS.length);
    expect(new Set(PARAM_TABLE.map((r) => r.short)).size).toBe(PARAM_TABLE.length);
    expect(new Set(PARAM_TABLE.map((r) => r.key)).size).toBe(PARAM_TABLE.length);
    for (const m of METHODS) {
      expect(m.label.length, m.id).toBeGreaterThan(0);
      expect(m.explanation.length, m.id).toBeGreaterThan(80);
      expect(m.viewsPerImage, m.id).toBeGreaterThanOrEqual(1);
      expect(m.reference, m.id).toMatch(/^src\/ref\/.+\.ts$/);
      expect(TARGET_REFERENCES[m.id] ?? HARD_LABEL_REFERENCES[m.id] ?? EMBEDDING_REFERENCES[m.id], `${m.id} has no entry in test/helpers/method-references.ts`).toBeDefined();
      const keys = metricRows(m).map((r) => r.key);
      expect(new Set(keys).size, `${m.id}: duplicate metric keys`).toBe(keys.length);
      for (const p of m.panels) if (p.kind === 'lines') for (const s of p.series) expect(keys, `${m.id} panel ${p.id}`).toContain(s.key);
      for (const r of m.params as readonly ParamRow[]) expect(methodsUsing(r.key)).toContain(m.id);
    }
    expect(() => methodById('simclr')).toThrow(/unknown method "simclr"; known methods: mira, swav, naive/);
    for (const m of METHODS) expect(metricRows(m).map((r) => r.key)).toContain('effective_rank');
  });

  test('every method’s defaults are a valid configuration; derived defaults follow the values they derive from', () => {
    for (const id of METHOD_IDS) validateTrainConfig(defaultTrainConfig({ method: id }));
    const c = defaultTrainConfig({ batch: 128, steps: 1000 });
    expect(c.lr).toBeCloseTo((0.6 * 128) / 256, 12);
    expect(c.warmupSteps).toBe(100);
    expect(c.freezeHeadSteps).toBe(100);
    expect(defaultTrainConfig({ batch: 128, lr: 0.01 }).lr).toBe(0.01);
  });

  test('one set of ranges: validation names the flag, and the CLI and the URL accept exactly what validation accepts', () => {
    const bad = { ...defaultTrainConfig(), batch: 1, betaStart: 1, momentum: 5, tauS: 0, method: 'simclr', knnBank: 5 };
    const problems = trainConfigProblems(bad);
    for (const flag of ['--batch', '--beta-start', '--momentum', '--tau-s', '--method', '--knn-bank']) expect(problems.join('\n')).toContain(flag);
    expect(problems).toHaveLength(6);
    // Every row's flag parses what the row accepts and the table refuses what it refuses.
    const flags = configFlags();
    for (const r of PARAM_TABLE) {
      const v = defaultTrainConfig()[r.key as keyof ReturnType<typeof defaultTrainConfig>];
      const f = parseFlags([`--${flagName(r.key)}`, String(v)], flags, 'test')!;
      expect(givenConfig(f)[r.key], r.key).toEqual(v);
      expect(checkRowValue(r, v), r.key).toBeNull();
    }
    // The page clamps a URL value into the same range (an excluded bound is never reached).
    const url = decodeUrlState('?p=tiny&b0=1&mo=1&lr=0', 'tiny');
    validateTrainConfig(url.config);
    expect(url.config.betaStart).toBeLessThan(1);
    expect(url.config.lr).toBeGreaterThan(0);
    // A method's own rows round-trip through the URL.
    const cfg = { ...PRESETS.tiny.config, method: 'swav' as const, eps: 0.07, iters: 5 };
    expect(decodeUrlState(encodeUrlState('tiny', cfg), 'tiny').config).toEqual(cfg);
  });

  test('the core rows and the methods’ rows make the whole table; a method’s rows are shown for it only', () => {
    expect(PARAM_TABLE.slice(0, CORE_PARAMS.length)).toEqual([...CORE_PARAMS]);
    expect(methodsUsing('eps')).toEqual(['swav']);
    expect(methodsUsing('betaStart')).toEqual(['mira']);
    expect(methodsUsing('tauS')).toEqual(['mira', 'swav', 'naive', 'sela']);
    expect(methodsUsing('selaLambda')).toEqual(['sela']);
    expect(methodsUsing('emaStart')).toEqual(['mira', 'swav', 'naive', 'mveb']);
    expect(methodsUsing('batch')).toEqual([...METHOD_IDS]);
  });
});

describe('the metric layout', () => {
  test('one row per key; the parser reads each GPU row from its source and each host row from the host', () => {
    const m = methodById('mira');
    const layout = new MetricLayout(m);
    expect(layout.sources.sort()).toEqual(['health', 'loss', 'student', 'targets', 'teacher']);
    // Sources laid out one after another: loss (1), then each AssignmentMetrics range.
    const slot = new Float32Array(layout.slotBytes / 4).map((_, i) => i + 0.5);
    const rec = layout.parse(slot, { step: 7, epoch: 0.5, lr: 0.1, beta: 0.7, ema_momentum: 0.99, images_per_s: 10, views_per_s: 20, wall_s: 3 });
    expect(rec.step).toBe(7);
    expect(rec.loss).toBe(0.5);
    expect(Object.keys(rec)).toEqual(metricRows(m).map((r) => r.key).filter((k) => !k.startsWith('knn_top1') && !k.startsWith('linear_top1')));
    const all = allMetricKeys();
    expect(all.slice(0, 3)).toEqual(['step', 'epoch', 'loss']);
    expect(all).toContain('views_per_s');
  });
});

describe('each pseudo-label method’s GPU objective against its float64 reference (B 6, K 5)', () => {
  const B = 6;
  const K = 5;
  const values = { tauT: 0.225, beta: 0.7, iters: 7, eps: 0.05, tauS: 0.1 };
  for (const method of METHODS.filter((m) => m.kind === 'pseudo-label' && !HARD_LABEL_REFERENCES[m.id])) {
    test(method.id, async () => {
      const ctx = await testGpu();
      const objective = await method.createObjective(ctx, { B, K, D: 4, config: defaultTrainConfig({ method: method.id }) });
      const data = [0, 1, 2, 3].map((i) => randomArray(B * K, 11 + i, -1, 1));
      const up = (a: Float32Array, n: string) => uploadTensor(ctx, a, [B, K], n);
      const io = {
        student: [up(data[0]!, 'q1'), up(data[1]!, 'q2')] as const,
        teacher: [up(data[2]!, 'l1'), up(data[3]!, 'l2')] as const,
        grads: [createTensor(ctx, [B, K], 'f32', 'g1'), createTensor(ctx, [B, K], 'f32', 'g2')] as const,
        loss: createTensor(ctx, [1], 'f32', 'loss'),
        state: null,
      };
      const plan = objective.bind(io, `test.${method.id}`);
      plan.setStep({ config: { ...defaultTrainConfig({ method: method.id }), ...values }, lr: 0.1, beta: values.beta, ema: 0.99 });
      await submitChecked(ctx, method.id, (enc) => {
        plan.recordTargets(enc);
        plan.recordLoss(enc);
        plan.recordMetrics(enc);
      });
      const f64 = (a: Float32Array) => Float64Array.from(a);
      const w = [TARGET_REFERENCES[method.id]!(f64(data[2]!), B, K, values), TARGET_REFERENCES[method.id]!(f64(data[3]!), B, K, values)] as [Float64Array, Float64Array];
      expectClose(w[0], await readF32(ctx, plan.targets!), 1e-6, 1e-4, `${method.id} targets`);
      const want = swappedLossReference(w, [f64(data[0]!), f64(data[1]!)], B, K, values.tauS);
      expectClose([want.loss], await readF32(ctx, io.loss), 1e-6, 1e-4, `${method.id} loss`);
      expectClose(want.grads[0], await readF32(ctx, io.grads[0]), 1e-6, 1e-3, `${method.id} ∂L/∂q⁽¹⁾`);
      expectClose(want.grads[1], await readF32(ctx, io.grads[1]), 1e-6, 1e-3, `${method.id} ∂L/∂q⁽²⁾`);
      // Every GPU metric row names a source this objective provides.
      const sources = { loss: io.loss, ...plan.metricSources };
      for (const r of method.metrics) if (r.source !== 'host') expect(Object.keys(sources), `${method.id} ${r.key}`).toContain(r.source.gpu);
    });
  }
});

describe('hard-label objectives against their float64 reference on given labels (B 6, K 5)', () => {
  const B = 6;
  const K = 5;
  for (const method of METHODS.filter((m) => HARD_LABEL_REFERENCES[m.id])) {
    test(method.id, async () => {
      const ctx = await testGpu();
      expect(method.viewsPerImage).toBe(1);
      expect(method.usesTeacher).toBe(false);
      const objective = await method.createObjective(ctx, { B, K, D: 4, config: defaultTrainConfig({ method: method.id }) });
      const q = randomArray(B * K, 21, -1, 1);
      const labels = Uint32Array.from([4, 0, 2, 2, 1, 3]);
      const batchLabels = createTensor(ctx, [B, 1], 'u32', 'batch_labels');
      ctx.device.queue.writeBuffer(batchLabels.buffer, batchLabels.byteOffset, labels);
      const io = {
        student: [uploadTensor(ctx, q, [B, K], 'q')] as const,
        teacher: null,
        grads: [createTensor(ctx, [B, K], 'f32', 'g')] as const,
        loss: createTensor(ctx, [1], 'f32', 'loss'),
        state: { tensors: { batchLabels }, destroy() {} },
      };
      const plan = objective.bind(io, `test.${method.id}`);
      const tauS = 0.1;
      plan.setStep({ config: { ...defaultTrainConfig({ method: method.id }), tauS }, lr: 0.1, beta: 0.7, ema: 0.99 });
      await submitChecked(ctx, method.id, (enc) => {
        plan.recordTargets(enc);
        plan.recordLoss(enc);
        plan.recordMetrics(enc);
      });
      const want = HARD_LABEL_REFERENCES[method.id]!(Float64Array.from(q), labels, B, K, tauS);
      expectClose([want.loss], await readF32(ctx, io.loss), 1e-6, 1e-4, `${method.id} loss`);
      expectClose(want.grad, await readF32(ctx, io.grads[0]), 1e-6, 1e-3, `${method.id} ∂L/∂q`);
      expect(plan.targets).toBeNull();
      const sources = { loss: io.loss, ...plan.metricSources };
      for (const r of method.metrics) if (r.source !== 'host') expect(Object.keys(sources), `${method.id} ${r.key}`).toContain(r.source.gpu);
    });
  }
});

describe('each embedding objective on the GPU against its float64 reference (B 8, D 5)', () => {
  const B = 8;
  const D = 5;
  for (const method of METHODS.filter((m) => m.kind === 'embedding')) {
    test(method.id, async () => {
      const ctx = await testGpu();
      const config = defaultTrainConfig({ method: method.id });
      const objective = await method.createObjective(ctx, { B, K: 0, D, config });
      const data = [0, 1, 2, 3].map((i) => randomArray(B * D, 31 + i, -1, 1));
      const up = (a: Float32Array, n: string) => uploadTensor(ctx, a, [B, D], n);
      const io = {
        student: [up(data[0]!, 'p1'), up(data[1]!, 'p2')] as const,
        teacher: method.usesTeacher ? ([up(data[2]!, 't1'), up(data[3]!, 't2')] as const) : null,
        grads: [createTensor(ctx, [B, D], 'f32', 'g1'), createTensor(ctx, [B, D], 'f32', 'g2')] as const,
        loss: createTensor(ctx, [1], 'f32', 'loss'),
        state: null,
      };
      const plan = objective.bind(io, `test.${method.id}`);
      plan.setStep({ config, lr: 0.1, beta: 0.7, ema: 0.99 });
      await submitChecked(ctx, method.id, (enc) => {
        plan.recordTargets(enc);
        plan.recordLoss(enc);
        plan.recordMetrics(enc);
      });
      expect(plan.targets).toBeNull();
      const f64 = (a: Float32Array) => Float64Array.from(a);
      const want = EMBEDDING_REFERENCES[method.id]!([f64(data[0]!), f64(data[1]!)], [f64(data[2]!), f64(data[3]!)], B, D, config as unknown as Record<string, number>);
      expectClose([want.loss], await readF32(ctx, io.loss), 1e-6, 1e-4, `${method.id} loss`);
      expectClose(want.grads[0], await readF32(ctx, io.grads[0]), 1e-6, 1e-3, `${method.id} ∂L/∂p⁽¹⁾`);
      expectClose(want.grads[1], await readF32(ctx, io.grads[1]), 1e-6, 1e-3, `${method.id} ∂L/∂p⁽²⁾`);
      for (const r of method.metrics) if (r.source !== 'host') expect(Object.keys(plan.metricSources), `${method.id} ${r.key}`).toContain(r.source.gpu);
    });
  }
});
