// The swapped-prediction loss (two views and multi-crop) forward and backward, the row softmax
// and log-softmax with temperature, and the naive targets, on the GPU against the float64
// reference (src/ref/loss.ts, softmax.ts).
import { describe, expect, test } from 'vitest';
import { CrossEntropyKernels, multiCropLossCrops, swappedLossCrops } from '../src/mira/loss.ts';
import { Softmax } from '../src/mira/softmax.ts';
import { AssignmentMetrics } from '../src/mira/metrics.ts';
import { submitChecked } from '../src/gpu/kernel.ts';
import { createTensor, readF32, uploadTensor } from '../src/gpu/tensor.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { ParamError } from '../src/mira/validate.ts';
import { naiveTargets } from '../src/ref/assignment.ts';
import { multiCropLoss, swappedLoss } from '../src/ref/loss.ts';
import { logSoftmax, softmax } from '../src/ref/softmax.ts';
import { expectClose, randomArray, seededRandom, testGpu } from './helpers/gpu.ts';

/** Rows on the simplex: MIRA-like targets (softmax of random logits at a low temperature). */
function simplexRows(B: number, K: number, seed: number): Float32Array {
  return Float32Array.from(softmax(randomArray(B * K, seed, -1, 1), B, K, 0.1));
}

describe('swapped-prediction loss', () => {
  const CASES: [number, number, number][] = [
    [1, 2, 0.1],
    [5, 9, 0.1],
    [64, 300, 0.1],
    [37, 1000, 0.05],
    [256, 3000, 0.1],
  ];
  test.each(CASES)('two views, B=%i K=%i τ_s=%f: loss and both gradients', async (B, K, tauS) => {
    const ctx = await testGpu();
    const w1 = simplexRows(B, K, 1);
    const w2 = simplexRows(B, K, 2);
    const q1 = randomArray(B * K, 3, -1, 1);
    const q2 = randomArray(B * K, 4, -1, 1);
    const up = (x: Float32Array, n: string) => uploadTensor(ctx, x, [B, K], n);
    const g1 = createTensor(ctx, [B, K], 'f32', 'g1');
    const g2 = createTensor(ctx, [B, K], 'f32', 'g2');
    const loss = createTensor(ctx, [1], 'f32', 'loss');
    const plan = (await CrossEntropyKernels.create(ctx, { B, K })).bind(swappedLossCrops([up(w1, 'w1'), up(w2, 'w2')], [up(q1, 'q1'), up(q2, 'q2')], [g1, g2]), loss);
    plan.setTemperature(tauS);
    await submitChecked(ctx, 'swapped loss', (enc) => plan.record(enc));
    const r = swappedLoss(q1, q2, w1, w2, B, K, tauS);
    const got = await plan.readLoss();
    expect(Math.abs(got - r.loss)).toBeLessThan(1e-6 * Math.max(1, Math.abs(r.loss)) * 4);
    // Gradients are O(1/(B·τ_s)): compare relative to their scale.
    const scale = 1 / (B * tauS);
    const a = expectClose(r.grad1, await readF32(ctx, g1), 2e-6 * scale, 1e-4, 'grad q1');
    const b = expectClose(r.grad2, await readF32(ctx, g2), 2e-6 * scale, 1e-4, 'grad q2');
    console.log(`swapped loss ${B}×${K}: loss ${got} (ref ${r.loss}), max |Δgrad| ${Math.max(a.maxAbs, b.maxAbs).toExponential(2)} (grad scale ${scale.toExponential(1)})`);
    plan.destroy();
  });

  test('targets that do not sum to one, extreme logits, τ_s changed without recompiling', async () => {
    const ctx = await testGpu();
    const B = 40;
    const K = 33;
    const rnd = seededRandom(8);
    const w1 = Float32Array.from({ length: B * K }, () => rnd() * 2);
    const w2 = Float32Array.from({ length: B * K }, () => (rnd() < 0.7 ? 0 : rnd()));
    const q1 = Float32Array.from({ length: B * K }, () => (rnd() - 0.5) * 200);
    const q2 = randomArray(B * K, 9, -1, 1);
    const up = (x: Float32Array, n: string) => uploadTensor(ctx, x, [B, K], n);
    const g1 = createTensor(ctx, [B, K], 'f32', 'g1');
    const g2 = createTensor(ctx, [B, K], 'f32', 'g2');
    const loss = createTensor(ctx, [1], 'f32', 'loss');
    const plan = (await CrossEntropyKernels.create(ctx, { B, K })).bind(swappedLossCrops([up(w1, 'w1'), up(w2, 'w2')], [up(q1, 'q1'), up(q2, 'q2')], [g1, g2]), loss);
    for (const tauS of [0.1, 0.5, 2]) {
      plan.setTemperature(tauS);
      await submitChecked(ctx, 'swapped loss', (enc) => plan.record(enc));
      const r = swappedLoss(q1, q2, w1, w2, B, K, tauS);
      const got = await plan.readLoss();
      expect(Number.isFinite(got)).toBe(true);
      expect(Math.abs(got - r.loss) / Math.abs(r.loss)).toBeLessThan(1e-5);
      const scale = 1 / (B * tauS);
      expectClose(r.grad1, await readF32(ctx, g1), 4e-6 * scale, 1e-4, `grad q1 (q1 = ±100) τ_s=${tauS}`);
      expectClose(r.grad2, await readF32(ctx, g2), 4e-6 * scale, 1e-4, `grad q2 τ_s=${tauS}`);
    }
    plan.destroy();
  });

  test('multi-crop: two global and three local crops, every crop\'s gradient', async () => {
    const ctx = await testGpu();
    const B = 48;
    const K = 128;
    const tauS = 0.1;
    const w = [simplexRows(B, K, 11), simplexRows(B, K, 12)] as const;
    const q = [0, 1, 2, 3, 4].map((c) => randomArray(B * K, 20 + c, -1, 1));
    const up = (x: Float32Array, n: string) => uploadTensor(ctx, x, [B, K], n);
    const grads = q.map((_, c) => createTensor(ctx, [B, K], 'f32', `g${c}`));
    const qt = q.map((x, c) => up(x, `q${c}`));
    const loss = createTensor(ctx, [1], 'f32', 'loss');
    const crops = multiCropLossCrops([up(w[0], 'w1'), up(w[1], 'w2')], [qt[0]!, qt[1]!], [grads[0]!, grads[1]!], qt.slice(2), grads.slice(2));
    const plan = (await CrossEntropyKernels.create(ctx, { B, K })).bind(crops, loss);
    plan.setTemperature(tauS);
    await submitChecked(ctx, 'multi-crop loss', (enc) => plan.record(enc));
    const r = multiCropLoss([w[0], w[1]], q, B, K, tauS);
    expect(Math.abs((await plan.readLoss()) - r.loss)).toBeLessThan(1e-5 * Math.abs(r.loss));
    for (let c = 0; c < 5; c++) expectClose(r.grads[c]!, await readF32(ctx, grads[c]!), 2e-6 / (B * tauS), 1e-4, `grad of crop ${c + 1}`);
    // No local crops: the multi-crop loss is the swapped loss.
    const two = (await CrossEntropyKernels.create(ctx, { B, K })).bind(multiCropLossCrops([up(w[0], 'w1'), up(w[1], 'w2')], [qt[0]!, qt[1]!], [grads[0]!, grads[1]!], [], []), loss);
    two.setTemperature(tauS);
    await submitChecked(ctx, 'two crops', (enc) => two.record(enc));
    expect(Math.abs((await two.readLoss()) - swappedLoss(q[0]!, q[1]!, w[0], w[1], B, K, tauS).loss)).toBeLessThan(1e-5);
  });

  test('bad input is refused before any dispatch', async () => {
    const ctx = await testGpu();
    const k = await CrossEntropyKernels.create(ctx, { B: 4, K: 3 });
    const t = (n: number, name = 't') => createTensor(ctx, [n], 'f32', name);
    const ok = () => t(12);
    const loss = t(1, 'loss');
    expect(() => k.bind(swappedLossCrops([ok(), ok()], [ok(), t(13)], [ok(), ok()]), loss)).toThrow(ShapeError);
    expect(() => k.bind([], loss)).toThrow(/no student crops/);
    const w = ok();
    expect(() => k.bind([{ logits: ok(), grad: ok(), targets: [{ w, weight: 1 }, { w, weight: 1 }, { w, weight: 1 }] }], loss)).toThrow(/1 or 2 are supported/);
    const q = ok();
    expect(() => k.bind([{ logits: q, grad: q, targets: [{ w, weight: 1 }] }], loss)).toThrow(/aliases/);
    const plan = k.bind(swappedLossCrops([ok(), ok()], [ok(), ok()], [ok(), ok()]), loss);
    expect(() => plan.record(ctx.device.createCommandEncoder())).toThrow(ParamError);
    expect(() => plan.setTemperature(0)).toThrow(/τ_s must be a finite number > 0/);
    await expect(CrossEntropyKernels.create(ctx, { B: 0, K: 3 })).rejects.toThrow(/B must be/);
    // More rows than the adapter's workgroups can cover, refused by the shared row-block check.
    const tooMany = 8 * (ctx.limits.maxComputeWorkgroupsPerDimension + 1);
    await expect(CrossEntropyKernels.create(ctx, { B: tooMany, K: 3 })).rejects.toThrow(/^swapped loss: B = \d+ needs \d+ row blocks, over the adapter's limit/);
    await expect(AssignmentMetrics.create(ctx, { B: tooMany, K: 3 })).rejects.toThrow(/^assignment metrics: B = \d+ needs \d+ row blocks/);
    await expect(Softmax.create(ctx, { B: tooMany, K: 3 })).rejects.toThrow(/^softmax: B = \d+ needs \d+ row blocks/);
  });
});

describe('softmax with temperature and the naive targets', () => {
  test('softmax and log-softmax vs float64, extreme logits, B=1 K=2, temperature changes', async () => {
    const ctx = await testGpu();
    const rnd = seededRandom(3);
    const cases: [string, number, number, Float32Array][] = [
      ['B=1 K=2', 1, 2, new Float32Array([0.3, -0.7])],
      ['random 70×33', 70, 33, randomArray(70 * 33, 4, -1, 1)],
      ['±100', 64, 50, Float32Array.from({ length: 64 * 50 }, () => (rnd() < 0.5 ? -100 : 100) * rnd())],
      ['≥ 80', 20, 3000, Float32Array.from({ length: 20 * 3000 }, () => 80 + 20 * rnd())],
    ];
    for (const [name, B, K, x] of cases) {
      const X = uploadTensor(ctx, x, [B, K], 'x');
      const Y = createTensor(ctx, [B, K], 'f32', 'y');
      const sm = (await Softmax.create(ctx, { B, K })).bind(X, Y);
      const lsm = (await Softmax.create(ctx, { B, K, log: true })).bind(X, Y);
      for (const T of [0.225, 1, 0.05]) {
        sm.setTemperature(T);
        await submitChecked(ctx, 'softmax', (enc) => sm.record(enc));
        const y = await readF32(ctx, Y);
        expectClose(naiveTargets(x, B, K, { tau: T }), y, 2e-7, 1e-5, `${name} softmax T=${T}`);
        for (let i = 0; i < B; i++) {
          let s = 0;
          for (let j = 0; j < K; j++) s += y[i * K + j]!;
          expect(Math.abs(s - 1), `${name} T=${T} row ${i} sum`).toBeLessThan(1e-6);
        }
        lsm.setTemperature(T);
        await submitChecked(ctx, 'log-softmax', (enc) => lsm.record(enc));
        const want = logSoftmax(x, B, K, T);
        // log-softmax error grows with |value| (f32 spacing at 1e4 is 1e-3): relative there.
        expectClose(want, await readF32(ctx, Y), 2e-6, 2e-6, `${name} log-softmax T=${T}`);
      }
    }
  });

  test('bad input', async () => {
    const ctx = await testGpu();
    const s = await Softmax.create(ctx, { B: 2, K: 3 });
    expect(() => s.bind(createTensor(ctx, [7], 'f32', 'x'), createTensor(ctx, [6], 'f32', 'y'))).toThrow(ShapeError);
    const b = s.bind(createTensor(ctx, [6], 'f32', 'x'), createTensor(ctx, [6], 'f32', 'y'));
    expect(() => b.setTemperature(-1)).toThrow(/temperature must be/);
    expect(() => b.record(ctx.device.createCommandEncoder())).toThrow(/setTemperature/);
  });
});
