// Representation-health metrics (alignment, uniformity, effective rank): the float64 reference
// (src/ref/representation.ts) on cases with known answers and against PyTorch
// (scripts/fixtures/make_mio_fixture.py: cdist, torch.linalg.svdvals), then the GPU
// (src/mira/representation.ts, src/shaders/representation.wgsl) against the reference on odd
// shapes, both Jacobi layouts (D ≤ B: columns; B < D: rows), a rank-1 batch (effective rank 1),
// orthogonal rows / columns (effective rank min(B, D)), and the refusals.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import type { GpuContext } from '../src/gpu/context.ts';
import { submitChecked } from '../src/gpu/kernel.ts';
import { createTensor, readF32, uploadTensor } from '../src/gpu/tensor.ts';
import { parseNpy } from '../src/io/npy.ts';
import { RepresentationHealth, RepresentationHealthPlan } from '../src/mira/representation.ts';
import { effectiveRankOf, representationHealth, singularValues, symmetricEigenvalues } from '../src/ref/representation.ts';
import { randomArray, seededRandom, testGpu, testGpuAs } from './helpers/gpu.ts';

/**
 * A B×D matrix with unit rows and σ all equal, so that its effective rank is min(B, D) even after
 * the rows are normalised: orthonormal rows (B ≤ D, Gram–Schmidt on random vectors), or, for D < B
 * (B a multiple of D), row i = row (i mod D) of a random orthogonal D×D matrix (ZᵀZ = (B/D)·I).
 */
function orthogonal(B: number, D: number, seed: number): Float32Array {
  const n = Math.min(B, D);
  const v = Array.from({ length: n }, (_, k) => Float64Array.from(randomArray(D, seed + k, -1, 1)));
  for (let k = 0; k < n; k++) {
    for (let j = 0; j < k; j++) {
      const d = v[k]!.reduce((t, x, i) => t + x * v[j]![i]!, 0);
      v[k] = v[k]!.map((x, i) => x - d * v[j]![i]!);
    }
    const norm = Math.hypot(...v[k]!);
    v[k] = v[k]!.map((x) => x / norm);
  }
  if (B > D && B % D !== 0) throw new Error(`orthogonal: B = ${B} is not a multiple of D = ${D}`);
  const out = new Float32Array(B * D);
  for (let i = 0; i < B; i++) out.set(v[i % n]!, i * D);
  return out;
}

async function gpuHealth(ctx: GpuContext, B: number, D: number, p1: Float32Array, p2: Float32Array) {
  const z: [ReturnType<typeof uploadTensor>, ReturnType<typeof uploadTensor>] = [uploadTensor(ctx, p1, [B, D], 'z1'), uploadTensor(ctx, p2, [B, D], 'z2')];
  const out = createTensor(ctx, [3], 'f32', 'health');
  const plan = (await RepresentationHealth.create(ctx, { B, D })).bind({ z, out });
  await submitChecked(ctx, 'representation health', (enc) => plan.record(enc));
  const [alignment, uniformity, effectiveRank] = Array.from(await readF32(ctx, out));
  const sigma = Array.from(await readF32(ctx, plan.sigma)).sort((a, b) => b - a);
  plan.destroy();
  return { alignment: alignment!, uniformity: uniformity!, effectiveRank: effectiveRank!, sigma };
}

describe('representation health: float64 reference', () => {
  test('Jacobi eigenvalues and singular values of known matrices', () => {
    expect(Array.from(symmetricEigenvalues([2, 1, 1, 2], 2)).map((v) => +v.toFixed(12))).toEqual([3, 1]);
    // diag(3, 2) padded with a zero column: σ = 3, 2 either way round.
    expect(Array.from(singularValues([3, 0, 0, 0, 2, 0], 2, 3)).map((v) => +v.toFixed(12))).toEqual([3, 2]);
    expect(Array.from(singularValues([3, 0, 0, 2, 0, 0], 3, 2)).map((v) => +v.toFixed(12))).toEqual([3, 2]);
    expect(effectiveRankOf([1, 1, 1, 1])).toBeCloseTo(4, 12);
    expect(effectiveRankOf([5, 0, 0])).toBe(1);
  });

  test('rank-1 batch: effective rank 1, uniformity 0, alignment 1; orthogonal rows: effective rank min(B, D)', () => {
    const B = 16;
    const D = 8;
    const u = randomArray(D, 3);
    const r = seededRandom(4);
    const scale = Array.from({ length: B }, () => 0.5 + r());
    const p = Float32Array.from({ length: B * D }, (_, i) => u[i % D]! * scale[Math.floor(i / D)]!);
    const h = representationHealth(p, p, B, D);
    expect(h.effectiveRank).toBeCloseTo(1, 5); // rank 1 up to the float32 rounding of the input
    expect(h.uniformity).toBeCloseTo(0, 12);
    expect(h.alignment).toBeCloseTo(1, 12);
    for (const [b, d] of [[6, 10], [12, 6], [7, 7]] as const) {
      const q = orthogonal(b, d, 9);
      expect(representationHealth(q, q, b, d).effectiveRank).toBeCloseTo(Math.min(b, d), 5);
    }
  });

  test('refuses B = 1', () => {
    expect(() => representationHealth([1, 2], [1, 2], 1, 2)).toThrow(/B must be an integer ≥ 2/);
  });
});

const fixtureCases = JSON.parse(readFileSync(new URL('./fixtures/mio/cases.json', import.meta.url), 'utf8')) as { name: string; B: number; D: number }[];
const load = (name: string) => {
  const a = parseNpy(new Uint8Array(readFileSync(new URL(`./fixtures/mio/${name}.npy`, import.meta.url))), `${name}.npy`);
  return a.data instanceof Float64Array ? a.data : Float64Array.from(a.data as ArrayLike<number>);
};

describe('representation health against PyTorch (scripts/fixtures/make_mio_fixture.py)', () => {
  test.each(fixtureCases.map((c) => [c.name, c] as const))('%s: the reference to 1e-9, the GPU to 1e-4', async (name, c) => {
    const p1 = load(`${name}_p1`);
    const p2 = load(`${name}_p2`);
    const [alignment, uniformity, erank] = Array.from(load(`${name}_health`));
    const h = representationHealth(p1, p2, c.B, c.D);
    expect(Math.abs(h.alignment - alignment!)).toBeLessThan(1e-9);
    expect(Math.abs(h.uniformity - uniformity!)).toBeLessThan(1e-9);
    expect(Math.abs(h.effectiveRank - erank!)).toBeLessThan(1e-9 * erank!);
    const ctx = await testGpu();
    const g = await gpuHealth(ctx, c.B, c.D, Float32Array.from(p1), Float32Array.from(p2));
    console.log(`health vs PyTorch ${name}: alignment ${g.alignment} (${alignment}), uniformity ${g.uniformity} (${uniformity}), effective rank ${g.effectiveRank} (${erank})`);
    expect(Math.abs(g.alignment - alignment!)).toBeLessThan(1e-5);
    expect(Math.abs(g.uniformity - uniformity!)).toBeLessThan(1e-4);
    expect(Math.abs(g.effectiveRank - erank!)).toBeLessThan(1e-4 * erank!);
  });
});

describe('representation health on the GPU', () => {
  test.each([
    [2, 1, 'emulator'],
    [7, 3, 'emulator'],
    [3, 7, 'emulator'],
    [64, 128, 'emulator'],
    [257, 3, 'emulator'],
    [40, 40, 'emulator'],
    [7, 3, 'gpu'],
    [64, 128, 'gpu'],
  ] as const)('B=%i D=%i against float64: the three metrics and the singular values (%s variant)', async (B, D, kind) => {
    const ctx = await testGpuAs(kind);
    const p1 = randomArray(B * D, B + 7 * D, -1, 1);
    const p2 = Float32Array.from(p1, (v, i) => v + 0.5 * Math.sin(i));
    const g = await gpuHealth(ctx, B, D, p1, p2);
    const h = representationHealth(p1, p2, B, D);
    console.log(`health B=${B} D=${D}: alignment ${g.alignment.toFixed(6)} (ref ${h.alignment.toFixed(6)}), uniformity ${g.uniformity.toFixed(6)} (${h.uniformity.toFixed(6)}), effective rank ${g.effectiveRank.toFixed(5)} (${h.effectiveRank.toFixed(5)})`);
    expect(Math.abs(g.alignment - h.alignment)).toBeLessThan(1e-5);
    expect(Math.abs(g.uniformity - h.uniformity)).toBeLessThan(1e-4);
    expect(Math.abs(g.effectiveRank - h.effectiveRank)).toBeLessThan(1e-4 * h.effectiveRank);
    const smax = h.singularValues[0]!;
    g.sigma.forEach((s, k) => expect(Math.abs(s - h.singularValues[k]!)).toBeLessThan(1e-5 * smax + 1e-4 * h.singularValues[k]!));
  });

  test.each([
    [64, 128],
    [96, 16],
  ])('rank-1 batch B=%i D=%i: effective rank 1; orthogonal rows/columns: min(B, D)', async (B, D) => {
    const ctx = await testGpu();
    const u = randomArray(D, 5);
    const r = seededRandom(6);
    const scale = Array.from({ length: B }, () => 0.5 + r());
    const p = Float32Array.from({ length: B * D }, (_, i) => u[i % D]! * scale[Math.floor(i / D)]!);
    const g = await gpuHealth(ctx, B, D, p, p);
    console.log(`rank-1 B=${B} D=${D}: effective rank ${g.effectiveRank}, uniformity ${g.uniformity}, alignment ${g.alignment}`);
    expect(Math.abs(g.effectiveRank - 1)).toBeLessThan(1e-3);
    expect(Math.abs(g.uniformity)).toBeLessThan(1e-5);
    expect(Math.abs(g.alignment - 1)).toBeLessThan(1e-6);
    const q = orthogonal(B, D, 11);
    const o = await gpuHealth(ctx, B, D, q, q);
    console.log(`orthogonal B=${B} D=${D}: effective rank ${o.effectiveRank} (min(B, D) = ${Math.min(B, D)})`);
    expect(Math.abs(o.effectiveRank - Math.min(B, D))).toBeLessThan(1e-3 * Math.min(B, D));
  });

  test('refusals: B = 1, min(B, D) over the solver, a wrong out tensor', async () => {
    const ctx = await testGpu();
    await expect(RepresentationHealth.create(ctx, { B: 1, D: 4 })).rejects.toThrow(/B must be an integer ≥ 2/);
    await expect(RepresentationHealth.create(ctx, { B: 600, D: 600 })).rejects.toThrow(/min\(B, D\) = 600 is over 512/);
    const h = await RepresentationHealth.create(ctx, { B: 3, D: 2 });
    const z = uploadTensor(ctx, randomArray(6, 1), [3, 2], 'z');
    expect(() => h.bind({ z: [z, z], out: createTensor(ctx, [2], 'f32', 'out') })).toThrow(/out.*should hold 3 f32 values \(alignment, uniformity, effective_rank\)/);
    expect(RepresentationHealthPlan.names).toEqual(['alignment', 'uniformity', 'effective_rank']);
  });
});
