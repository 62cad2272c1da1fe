// The MIO objective on the GPU (src/mira/mio.ts, src/shaders/mio.wgsl) against the float64
// reference (src/ref/mio.ts) on odd shapes (B = 2, 7, 64, 257; D = 1, 3, 128): loss, both
// gradients into the projector outputs, the two stats; parameters changed by a uniform write; a
// zero row (the normalisation's clamp); bit-identical reruns; and the refusals (B = 1, τ₊, τ₋, μ,
// a teacher, wrong tensors), each before anything is recorded. Then the PyTorch golden fixture
// (scripts/fixtures/make_mio_fixture.py): loss to 1e-4 relative, each gradient to 1e-3 relative (norm).
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import type { GpuContext } from '../src/gpu/context.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { submitChecked } from '../src/gpu/kernel.ts';
import { createTensor, readF32, uploadTensor, type Tensor } from '../src/gpu/tensor.ts';
import { parseNpy } from '../src/io/npy.ts';
import { MioObjective, MioPlan, type MioParams } from '../src/mira/mio.ts';
import { ParamError } from '../src/mira/validate.ts';
import { mioObjective, MIO_DEFAULTS } from '../src/ref/mio.ts';
import { expectClose, randomArray, testGpu } from './helpers/gpu.ts';

interface Run {
  plan: MioPlan;
  p: [Tensor, Tensor];
  g: [Tensor, Tensor];
  loss: Tensor;
  stats: Tensor;
}

async function setup(ctx: GpuContext, B: number, D: number, p1: Float32Array, p2: Float32Array): Promise<Run> {
  const p: [Tensor, Tensor] = [uploadTensor(ctx, p1, [B, D], 'p1'), uploadTensor(ctx, p2, [B, D], 'p2')];
  const g: [Tensor, Tensor] = [createTensor(ctx, [B, D], 'f32', 'g1'), createTensor(ctx, [B, D], 'f32', 'g2')];
  const loss = createTensor(ctx, [1], 'f32', 'loss');
  const stats = createTensor(ctx, [2], 'f32', 'stats');
  const plan = (await MioObjective.create(ctx, { B, D })).bind({ student: p, grads: g, loss, stats });
  return { plan, p, g, loss, stats };
}

async function runOnce(ctx: GpuContext, r: Run) {
  await submitChecked(ctx, 'mio', (enc) => r.plan.record(enc));
  return { loss: (await readF32(ctx, r.loss))[0]!, stats: await readF32(ctx, r.stats), g1: await readF32(ctx, r.g[0]), g2: await readF32(ctx, r.g[1]) };
}

/** ‖got − ref‖ / max(‖ref‖, floor): the floor keeps a gradient that is zero in exact arithmetic (D = 1, where z = ±1 is constant) from dividing rounding by zero. */
function relNorm(ref: ArrayLike<number>, got: ArrayLike<number>, floor = 1e-6): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    num += (ref[i]! - got[i]!) ** 2;
    den += ref[i]! ** 2;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), floor);
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/**
 * GPU against the reference: loss and stats to 2e-5 relative, gradients elementwise to 1e-3 relative
 * + 2e-4 of their scale, max_a ‖∂L/∂z_a‖∞/‖p_a‖ (the size before the projection, which can cancel to
 * exactly 0: at D = 1 every gradient is 0 and the GPU's is rounding).
 */
function compare(what: string, ref: ReturnType<typeof mioObjective>, got: Awaited<ReturnType<typeof runOnce>>, p: [ArrayLike<number>, ArrayLike<number>], D: number): string {
  expect(Math.abs(got.loss - ref.loss)).toBeLessThanOrEqual(2e-5 * Math.abs(ref.loss));
  expect(Math.abs(got.stats[0]! - ref.stats[0])).toBeLessThanOrEqual(2e-5 * ref.stats[0]);
  expect(Math.abs(got.stats[1]! - ref.stats[1])).toBeLessThanOrEqual(2e-5 * ref.stats[1]);
  let scale = Math.max(maxAbs(ref.grads[0]), maxAbs(ref.grads[1]));
  for (let v = 0; v < 2; v++) {
    for (let a = 0; a * D < p[v]!.length; a++) {
      const row = Array.from({ length: D }, (_, d) => p[v]![a * D + d]!);
      const norm = Math.hypot(...row);
      if (norm > 1e-6) scale = Math.max(scale, maxAbs(ref.gradsZ[v]!.subarray(a * D, a * D + D)) / norm);
    }
  }
  expectClose(ref.grads[0], got.g1, 2e-4 * scale, 1e-3, `${what} grad p1`);
  expectClose(ref.grads[1], got.g2, 2e-4 * scale, 1e-3, `${what} grad p2`);
  const rel = Math.max(relNorm(ref.grads[0], got.g1), relNorm(ref.grads[1], got.g2));
  return `loss ${got.loss.toFixed(6)} (ref ${ref.loss.toFixed(6)}, rel ${(Math.abs(got.loss - ref.loss) / ref.loss).toExponential(1)}), stats ${got.stats[0]!.toFixed(4)}/${got.stats[1]!.toFixed(4)}, grads rel-norm err ${rel.toExponential(1)}`;
}

describe('MIO objective on the GPU', () => {
  // Every B of {2, 7, 64, 257} and every D of {1, 3, 128}, not their whole product (each shape
  // compiles its own pipelines, which takes seconds on a CPU emulator).
  const CASES: [number, number][] = [
    [2, 1],
    [2, 128],
    [7, 3],
    [64, 1],
    [64, 128],
    [257, 3],
  ];
  test.each(CASES)('B=%i D=%i: loss, gradients and stats against float64', async (B, D) => {
    const ctx = await testGpu();
    const p1 = randomArray(B * D, 100 * B + D, -2, 2);
    const p2 = Float32Array.from(p1, (v, i) => v + 0.8 * randomArray(B * D, 7 + B, -1, 1)[i]!);
    const r = await setup(ctx, B, D, p1, p2);
    const got = await runOnce(ctx, r);
    console.log(`MIO B=${B} D=${D}: ${compare(`B=${B} D=${D}`, mioObjective(p1, p2, B, D), got, [p1, p2], D)}; ${r.plan.dispatches} dispatches`);
    expect(r.plan.dispatches).toBeGreaterThanOrEqual(6);
    r.plan.destroy();
  });

  test('setParams rewrites τ₊, τ₋, μ and the negatives switch ν without recompiling; a zero row takes the clamp; reruns are bit-identical', async () => {
    const ctx = await testGpu();
    const B = 9;
    const D = 10;
    const p1 = randomArray(B * D, 3, -1, 1);
    const p2 = randomArray(B * D, 4, -1, 1);
    p2.fill(0, 2 * D, 3 * D); // row 2 of view 2 is zero: z = 0, ∂L/∂p = ∂L/∂z / 1e-12
    const r = await setup(ctx, B, D, p1, p2);
    for (const params of [MIO_DEFAULTS, { tauPos: 0.2, tauNeg: 1.3, l2Weight: 0 }, { tauPos: 0.5, tauNeg: 0.5, l2Weight: 1, negWeight: 0 }, { tauPos: 2, tauNeg: 0.1, l2Weight: 4, negWeight: 1 }] as MioParams[]) {
      r.plan.setParams(params);
      const got = await runOnce(ctx, r);
      const ref = mioObjective(p1, p2, B, D, params);
      // The zero row's gradient is ∂L/∂z/1e-12 (≈1e12): compared as 1e-12·gradient on both sides,
      // so that the other rows keep a tolerance on their own scale.
      const g2 = Float32Array.from(got.g2);
      for (let d = 0; d < D; d++) {
        expect(Math.abs(got.g2[2 * D + d]!)).toBeGreaterThan(1e6);
        g2[2 * D + d] = got.g2[2 * D + d]! * 1e-12;
        ref.grads[1][2 * D + d] = ref.grads[1][2 * D + d]! * 1e-12;
      }
      console.log(`MIO B=${B} D=${D} ${JSON.stringify(params)}: ${compare('params', ref, { ...got, g2 }, [p1, p2], D)}`);
      const again = await runOnce(ctx, r);
      expect(again.loss).toBe(got.loss);
      expect(Array.from(again.g1)).toEqual(Array.from(got.g1));
      expect(Array.from(again.g2)).toEqual(Array.from(got.g2));
    }
    expect(r.plan.currentParams.l2Weight).toBe(4);
    r.plan.setParams({ tauNeg: 0.5 });
    expect(r.plan.currentParams).toEqual({ tauPos: 2, tauNeg: 0.5, l2Weight: 4, negWeight: 1 });
    expect(() => r.plan.setParams({ negWeight: 2 })).toThrow(/--mio-negatives/);
    r.plan.destroy();
  });

  test('a near-collapsed batch (every row almost the same, in both views): finite, and as the reference', async () => {
    const ctx = await testGpu();
    const B = 16;
    const D = 32;
    const u = randomArray(D, 21, -1, 1);
    const p1 = Float32Array.from({ length: B * D }, (_, i) => u[i % D]! + 1e-4 * Math.sin(3 * i));
    const p2 = Float32Array.from({ length: B * D }, (_, i) => u[i % D]! + 1e-4 * Math.cos(5 * i));
    const r = await setup(ctx, B, D, p1, p2);
    const got = await runOnce(ctx, r);
    expect([got.loss, ...got.stats, ...got.g1, ...got.g2].every(Number.isFinite)).toBe(true);
    console.log(`MIO near-collapsed B=${B} D=${D}: ${compare('collapsed', mioObjective(p1, p2, B, D), got, [p1, p2], D)}`);
    r.plan.destroy();
  });

  test('refusals: B = 1, τ₊ ≤ 0, τ₋ ≤ 0, μ < 0 (naming the flags), a teacher, wrong tensors', async () => {
    const ctx = await testGpu();
    await expect(MioObjective.create(ctx, { B: 1, D: 8 })).rejects.toThrow(/B must be an integer ≥ 2, got 1.*no negative pairs.*--batch/);
    await expect(MioObjective.create(ctx, { B: 1, D: 8 })).rejects.toBeInstanceOf(ShapeError);
    const B = 3;
    const D = 4;
    const r = await setup(ctx, B, D, randomArray(B * D, 1), randomArray(B * D, 2));
    expect(() => r.plan.setParams({ tauPos: 0 })).toThrow(ParamError);
    expect(() => r.plan.setParams({ tauPos: 0 })).toThrow(/--tau-pos.*> 0, got 0/);
    expect(() => r.plan.setParams({ tauNeg: -0.5 })).toThrow(/--tau-neg.*> 0, got -0.5/);
    expect(() => r.plan.setParams({ l2Weight: -1 })).toThrow(/--l2-weight.*≥ 0, got -1/);
    expect(() => r.plan.setParams({ tauPos: Infinity })).toThrow(/--tau-pos/);
    expect(r.plan.currentParams).toEqual(MIO_DEFAULTS); // a refused write changes nothing
    const obj = await MioObjective.create(ctx, { B, D });
    expect(() => obj.bind({ student: r.p, teacher: r.p, grads: r.g, loss: r.loss, stats: r.stats })).toThrow(/takes no teacher/);
    expect(() => obj.bind({ student: r.p, grads: [r.p[0], r.g[1]], loss: r.loss, stats: r.stats })).toThrow(/overlap/);
    const wrong = createTensor(ctx, [B, D + 1], 'f32', 'wrong');
    expect(() => obj.bind({ student: [r.p[0], wrong], grads: r.g, loss: r.loss, stats: r.stats })).toThrow(/student view 2.*should hold 12 f32 values \(3×4\)/);
    expect(() => obj.bind({ student: r.p, grads: r.g, loss: r.loss, stats: r.loss })).toThrow(/stats.*pos_prob, neg_prob/);
    expect(MioPlan.statNames).toEqual(['pos_prob', 'neg_prob']);
    r.plan.destroy();
  });
});

describe('MIO against PyTorch (scripts/fixtures/make_mio_fixture.py)', () => {
  const load = (name: string): { data: Float64Array; shape: number[] } => {
    const a = parseNpy(new Uint8Array(readFileSync(new URL(`./fixtures/mio/${name}.npy`, import.meta.url))), `${name}.npy`);
    return { data: a.data instanceof Float64Array ? a.data : Float64Array.from(a.data as ArrayLike<number>), shape: a.shape };
  };
  const cases = JSON.parse(readFileSync(new URL('./fixtures/mio/cases.json', import.meta.url), 'utf8')) as { name: string; B: number; D: number; tau_pos: number; tau_neg: number; l2_weight: number }[];
  test.each(cases.map((c) => [c.name, c] as const))('%s: loss to 1e-4, gradients to 1e-3 (relative norm), the reference to 1e-10', async (name, c) => {
    const ctx = await testGpu();
    const p1 = load(`${name}_p1`);
    const p2 = load(`${name}_p2`);
    expect(p1.shape).toEqual([c.B, c.D]);
    const expected = { loss: load(`${name}_loss`).data[0]!, g1: load(`${name}_grad1`).data, g2: load(`${name}_grad2`).data, stats: load(`${name}_stats`).data };
    const params = { tauPos: c.tau_pos, tauNeg: c.tau_neg, l2Weight: c.l2_weight };
    // The float64 reference agrees with PyTorch's autograd to rounding.
    const ref = mioObjective(p1.data, p2.data, c.B, c.D, params);
    expect(Math.abs(ref.loss - expected.loss)).toBeLessThan(1e-10 * Math.abs(expected.loss));
    expect(relNorm(expected.g1, ref.grads[0])).toBeLessThan(1e-10);
    expect(relNorm(expected.g2, ref.grads[1])).toBeLessThan(1e-10);
    expect(Math.abs(ref.stats[0] - expected.stats[0]!)).toBeLessThan(1e-12);
    expect(Math.abs(ref.stats[1] - expected.stats[1]!)).toBeLessThan(1e-12);
    // The GPU (inputs are float32-exact in the fixture).
    const r = await setup(ctx, c.B, c.D, Float32Array.from(p1.data), Float32Array.from(p2.data));
    r.plan.setParams(params);
    const got = await runOnce(ctx, r);
    const lossRel = Math.abs(got.loss - expected.loss) / Math.abs(expected.loss);
    // At D = 1 the gradient is 0 in exact arithmetic: the floor is 1e-2 of ‖∂L/∂z‖, the size before the projection.
    const norm = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((t, v) => t + v * v, 0));
    const g1 = relNorm(expected.g1, got.g1, 1e-2 * norm(ref.gradsZ[0]));
    const g2 = relNorm(expected.g2, got.g2, 1e-2 * norm(ref.gradsZ[1]));
    console.log(`MIO vs PyTorch ${name} (B=${c.B} D=${c.D}): loss ${got.loss} (torch ${expected.loss}, rel ${lossRel.toExponential(1)}), grads rel-norm ${g1.toExponential(1)} / ${g2.toExponential(1)}, stats ${Array.from(got.stats).map((v) => v.toFixed(5))} (torch ${Array.from(expected.stats).map((v) => v.toFixed(5))})`);
    expect(lossRel).toBeLessThan(1e-4);
    expect(g1).toBeLessThan(1e-3);
    expect(g2).toBeLessThan(1e-3);
    expect(Math.abs(got.stats[0]! - expected.stats[0]!)).toBeLessThan(1e-4);
    expect(Math.abs(got.stats[1]! - expected.stats[1]!)).toBeLessThan(1e-4);
    r.plan.destroy();
  });
});
