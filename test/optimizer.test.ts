// SGD with momentum, LARS (MIRA's and solo-learn's) and the EMA teacher update on the GPU,
// against the float64 references (src/ref/optimizer.ts), over a flat buffer holding tensors of
// the ResNet kinds (conv, BN weight/bias, linear, bias, a tensor spanning several chunks, an
// all-zero tensor, a frozen tensor), for several steps with lr and momentum changing per step
// (uniform buffer, no recompilation).
import { describe, expect, test } from 'vitest';
import { submitChecked } from '../src/gpu/kernel.ts';
import { readF32, uploadTensor, writeTensor } from '../src/gpu/tensor.ts';
import { CHUNK, Ema, Optimizer, paramTensor, type OptimizerKind, type OptimizerStepParams, type ParamTensor } from '../src/nn/optimizer.ts';
import { emaUpdate, larsStep, sgdStep, type LarsVariant } from '../src/ref/optimizer.ts';
import { expectClose, randomArray, testGpu } from './helpers/gpu.ts';

const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

/** A flat layout with gaps (as a planner aligning tensors would leave). */
function layout(): { tensors: ParamTensor[]; size: number } {
  const shapes: [string, number[]][] = [
    ['conv1.weight', [3, 3, 4, 5]],
    ['bn1.weight', [5]],
    ['bn1.bias', [5]],
    ['projector.0.weight', [70, 80]], // 5600 > CHUNK: two chunks
    ['projector.6.bias', [7]],
    ['zero.weight', [6, 3]], // all zeros: ‖p‖ = 0, trust ratio 1
    ['head.weight_v', [11, 9]], // frozen
  ];
  const tensors: ParamTensor[] = [];
  let off = 3;
  for (const [name, shape] of shapes) {
    tensors.push(paramTensor(name, off, shape, name.startsWith('head')));
    off += shape.reduce((a, b) => a * b, 1) + 5;
  }
  return { tensors, size: off + 2 };
}

const STEPS: OptimizerStepParams[] = [
  { lr: 0.3, momentum: 0.9, weightDecay: 1e-4, eta: 0.02 },
  { lr: 0.25, momentum: 0.9, weightDecay: 1e-4, eta: 0.02, gradScale: 0.5 },
  { lr: 0.1, momentum: 0.5, weightDecay: 1e-2, eta: 0.001 },
];

async function runOptimizer(kind: OptimizerKind, variant: LarsVariant, clip = false) {
  const ctx = await testGpu();
  const { tensors, size } = layout();
  expect(tensors[3]!.length).toBeGreaterThan(CHUNK);
  const p0 = randomArray(size, 1);
  const zero = tensors.find((t) => t.name === 'zero.weight')!;
  p0.fill(0, zero.offset, zero.offset + zero.length);
  const m0 = randomArray(size, 2, -0.1, 0.1);
  const opt = await Optimizer.create(ctx, { kind, size, tensors, larsVariant: variant, label: `${kind}-${variant}` });
  const P = uploadTensor(ctx, p0, [size], 'params');
  const G = uploadTensor(ctx, new Float32Array(size), [size], 'grads');
  const M = uploadTensor(ctx, m0, [size], 'momentum');
  const pass = opt.bind({ params: P, grads: G, momentum: M });
  expect(pass.dispatches).toBe(kind === 'lars' ? 3 : 1);
  const p = f64(p0);
  const m = f64(m0);
  for (let s = 0; s < STEPS.length; s++) {
    const g = randomArray(size, 10 + s);
    writeTensor(ctx, G, g);
    const o = { ...STEPS[s]!, clip };
    opt.setParams(o);
    await submitChecked(ctx, `${kind} step ${s}`, (enc) => pass.record(enc));
    if (kind === 'sgd') sgdStep(p, f64(g), m, tensors, o);
    else {
      const trust = larsStep(p, f64(g), m, tensors, o, variant);
      const got = await opt.readTrust();
      tensors.forEach((t, i) => {
        if (t.frozen) return;
        expect(got[i]!.applied, `${t.name} trust applied`).toBe(trust[i]!.applied);
        expectClose([trust[i]!.q], [got[i]!.q], 1e-30, 1e-5, `${t.name} trust ratio step ${s}`);
        expectClose([trust[i]!.paramNorm], [got[i]!.paramNorm], 1e-30, 1e-5, `${t.name} ‖p‖`);
      });
    }
    expectClose(p, await readF32(ctx, P), 1e-6, 1e-5, `${kind}/${variant} params after step ${s}`);
    expectClose(m, await readF32(ctx, M), 1e-6, 1e-5, `${kind}/${variant} momentum after step ${s}`);
  }
  // Untouched: the gaps between tensors and the frozen head.
  const head = tensors.find((t) => t.frozen)!;
  const pg = await readF32(ctx, P);
  expect(Array.from(pg.subarray(head.offset, head.offset + head.length))).toEqual(Array.from(p0.subarray(head.offset, head.offset + head.length)));
  expect(pg[0]).toBe(p0[0]);
  return { opt, P, G, M, p, m, tensors, size };
}

describe('optimizers', () => {
  test('SGD with momentum (PyTorch semantics; weight decay only where flagged)', async () => {
    await runOptimizer('sgd', 'mira');
  });

  test("LARS as in the official MIRA code (η‖p‖/‖g + wd·p‖; BN and biases excluded)", async () => {
    await runOptimizer('lars', 'mira');
  });

  test("LARS as in solo-learn, with clip_lars_lr", async () => {
    await runOptimizer('lars', 'solo', true);
  });

  test('unfreezing the head takes effect at the next step, without recompiling', async () => {
    const ctx = await testGpu();
    const r = await runOptimizer('lars', 'mira');
    r.opt.setFrozen(['head.weight_v'], false);
    const g = randomArray(r.size, 99);
    writeTensor(ctx, r.G, g);
    const o = STEPS[0]!;
    r.opt.setParams(o);
    const pass = r.opt.bind({ params: r.P, grads: r.G, momentum: r.M });
    await submitChecked(ctx, 'unfrozen step', (enc) => pass.record(enc));
    larsStep(r.p, f64(g), r.m, r.tensors.map((t) => ({ ...t, frozen: false })), o, 'mira');
    expectClose(r.p, await readF32(ctx, r.P), 1e-6, 1e-5, 'params after unfreezing');
  });

  test('bad tables and missing parameters are refused', async () => {
    const ctx = await testGpu();
    const t = (name: string, offset: number, length: number): ParamTensor => ({ name, offset, length, decay: true, trust: true });
    await expect(Optimizer.create(ctx, { kind: 'lars', size: 10, tensors: [t('a', 0, 6), t('b', 5, 3)] })).rejects.toThrow(/tensors a and b overlap/);
    await expect(Optimizer.create(ctx, { kind: 'sgd', size: 10, tensors: [t('a', 8, 3)] })).rejects.toThrow(/tensor a \[8, 11\) runs past the flat buffers of 10 elements/);
    const opt = await Optimizer.create(ctx, { kind: 'sgd', size: 10, tensors: [t('a', 0, 10)] });
    const P = uploadTensor(ctx, new Float32Array(10), [10], 'p');
    const G = uploadTensor(ctx, new Float32Array(10), [10], 'g');
    const M = uploadTensor(ctx, new Float32Array(9), [9], 'm');
    expect(() => opt.bind({ params: P, grads: G, momentum: M })).toThrow(/sgd: momentum m\[9\] f32 should hold 10 f32 values/);
    const pass = opt.bind({ params: P, grads: G, momentum: uploadTensor(ctx, new Float32Array(10), [10], 'm2') });
    const enc = ctx.device.createCommandEncoder();
    expect(() => pass.record(enc)).toThrow(/call setParams first/);
    expect(() => opt.setFrozen(['nope'], true)).toThrow(/no parameter tensor "nope"/);
  });
});

describe('the float64 references, by hand', () => {
  // p = [3, 4] (‖p‖ = 5, a 2-d tensor: decay and trust), g = [0, 1]; a BN weight [1, −1] with
  // g = [0.5, 0.5] (neither); wd 0.1, η 0.001, lr 0.5, μ 0.9, momentum buffers at zero.
  const tensors = [
    { offset: 0, length: 2, decay: true, trust: true },
    { offset: 2, length: 2, decay: false, trust: false },
  ];
  const o = { lr: 0.5, momentum: 0.9, weightDecay: 0.1, eta: 0.001 };
  const fresh = () => ({ p: Float64Array.from([3, 4, 1, -1]), g: Float64Array.from([0, 1, 0.5, 0.5]), m: new Float64Array(4) });

  test("MIRA's LARS: u = g + wd·p = [0.3, 1.4], q = η‖p‖/‖u‖ = 0.005/√2.05", () => {
    const { p, g, m } = fresh();
    const trust = larsStep(p, g, m, tensors, o, 'mira');
    const q = 0.005 / Math.sqrt(2.05);
    expect(trust[0]!.q).toBeCloseTo(q, 15);
    expect(trust[1]!.applied).toBe(false);
    expectClose([q * 0.3, q * 1.4, 0.5, 0.5], m, 1e-15, 1e-13, 'momentum');
    expectClose([3 - 0.5 * q * 0.3, 4 - 0.5 * q * 1.4, 0.75, -1.25], p, 1e-15, 1e-13, 'params');
  });

  test("solo-learn's LARS: q = η‖p‖/(‖g‖ + wd·‖p‖ + eps) = 0.005/1.50000001", () => {
    const { p, g, m } = fresh();
    const trust = larsStep(p, g, m, tensors, o, 'solo');
    const q = 0.005 / (1 + 0.5 + 1e-8);
    expect(trust[0]!.q).toBeCloseTo(q, 15);
    expectClose([q * 0.3, q * 1.4, 0.5, 0.5], m, 1e-15, 1e-13, 'momentum');
  });

  test('SGD, two steps: m = d, then μ·m + d (torch clones the first d into the buffer)', () => {
    const { p, g, m } = fresh();
    sgdStep(p, g, m, tensors, o);
    sgdStep(p, g, m, tensors, o);
    // Tensor 0, element 1: d1 = 1 + 0.1·4 = 1.4, p = 4 − 0.7 = 3.3; d2 = 1 + 0.33 = 1.33,
    // m = 0.9·1.4 + 1.33 = 2.59, p = 3.3 − 1.295 = 2.005. BN element 2: m = 0.5, 0.95; p = 0.75, 0.275.
    expect(p[1]).toBeCloseTo(2.005, 13);
    expect(m[1]).toBeCloseTo(2.59, 13);
    expect(p[2]).toBeCloseTo(0.275, 13);
  });
});

describe('EMA teacher', () => {
  test.each([1003, 4096])('%i elements, three steps with changing m', async (n) => {
    const ctx = await testGpu();
    const t0 = randomArray(n, 3);
    const s0 = randomArray(n, 4);
    const ema = await Ema.create(ctx, n);
    const T = uploadTensor(ctx, t0, [n], 'teacher');
    const S = uploadTensor(ctx, s0, [n], 'student');
    const pass = ema.bind(T, S);
    const ref = f64(t0);
    for (const m of [0.99, 0.996, 1]) {
      ema.setMomentum(m);
      await submitChecked(ctx, 'ema', (enc) => pass.record(enc));
      emaUpdate(ref, f64(s0), m);
    }
    expectClose(ref, await readF32(ctx, T), 1e-6, 1e-6, 'ema teacher');
    expect(() => ema.setMomentum(1.5)).toThrow(/momentum must be in \[0, 1\]/);
  });

  test('only the given ranges (parameters, not the running statistics between them)', async () => {
    const ctx = await testGpu();
    const n = 9000;
    const ranges = [
      { offset: 10, length: 5000 }, // two chunks
      { offset: 5100, length: 7 },
      { offset: 8000, length: 999 },
    ];
    const t0 = randomArray(n, 13);
    const s0 = randomArray(n, 14);
    const ema = await Ema.create(ctx, n, { ranges, label: 'teacher' });
    const T = uploadTensor(ctx, t0, [n], 'teacher');
    const S = uploadTensor(ctx, s0, [n], 'student');
    const pass = ema.bind(T, S);
    ema.setMomentum(0.99);
    await submitChecked(ctx, 'ema ranges', (enc) => pass.record(enc));
    const ref = f64(t0);
    for (const r of ranges) {
      const part = ref.subarray(r.offset, r.offset + r.length);
      emaUpdate(part, f64(s0.subarray(r.offset, r.offset + r.length)), 0.99);
    }
    expectClose(ref, await readF32(ctx, T), 1e-6, 1e-6, 'ema over ranges (the rest untouched)');
    await expect(Ema.create(ctx, n, { ranges: [{ offset: 8990, length: 20 }] })).rejects.toThrow(/runs past 9000/);
  });
});
