// The MVEB objective on the GPU (src/mira/mveb.ts) against the PyTorch golden fixture
// (scripts/fixtures/make_mveb_fixture.py: loss to 1e-4 relative, each gradient tensor to 1e-3
// relative, max |got − ref| / max |ref|) and against the float64 reference (src/ref/mveb.ts) on
// odd shapes, stein-chunk sub-batches, exact ties in the τ selection, a near-collapsed batch
// (badly conditioned solve: finite, pivots floored and reported), parameters changed by uniform
// writes only, determinism, and every refusal of bad input before any dispatch.
import { describe, expect, test } from 'vitest';
import type { GpuContext } from '../src/gpu/context.ts';
import { submitChecked } from '../src/gpu/kernel.ts';
import { createTensor, readF32, readTensor, uploadTensor } from '../src/gpu/tensor.ts';
import { MvebObjective, MvebPlan, type MvebParams, type MvebShape } from '../src/mira/mveb.ts';
import { mvebReference, normalizeRows } from '../src/ref/mveb.ts';
import { loadMvebFixtures } from './fixtures/mveb/read.ts';
import { expectClose, randomArray, relErr, testGpu } from './helpers/gpu.ts';

interface GpuRun {
  loss: number;
  stats: Record<string, number>;
  grads: [Float32Array, Float32Array];
  /** S⁽ᵛ⁾ (B×D) read from the plan's solve (S = −X, padding rows dropped). */
  S: [Float64Array, Float64Array];
  plan: MvebPlan;
}

type Rows = [Float32Array, Float32Array];

async function runMveb(ctx: GpuContext, p: Rows, q: Rows, shape: MvebShape, params: MvebParams = {}, repeat = 1): Promise<GpuRun> {
  const { B, D } = shape;
  const obj = await MvebObjective.create(ctx, shape);
  const up = (x: Float32Array, name: string) => uploadTensor(ctx, x, [B, D], name);
  const grads: [ReturnType<typeof createTensor>, ReturnType<typeof createTensor>] = [createTensor(ctx, [B, D], 'f32', 'g1'), createTensor(ctx, [B, D], 'f32', 'g2')];
  const loss = createTensor(ctx, [1], 'f32', 'loss');
  const stats = createTensor(ctx, [MvebPlan.statNames.length], 'f32', 'stats');
  const plan = obj.bind({ student: [up(p[0], 'p1'), up(p[1], 'p2')], teacher: [up(q[0], 'q1'), up(q[1], 'q2')], grads, loss, stats });
  plan.setParams(params);
  for (let r = 0; r < repeat; r++) await submitChecked(ctx, 'mveb test', (enc) => plan.record(enc));
  const st = await readF32(ctx, stats);
  const X = await readF32(ctx, plan.tensors.get('rhs')!);
  const N = obj.chunk;
  const NP = obj.padded;
  const S: [Float64Array, Float64Array] = [new Float64Array(B * D), new Float64Array(B * D)];
  for (let v = 0; v < 2; v++) {
    for (let b = 0; b < B; b++) {
      const sys = v * (B / N) + Math.floor(b / N);
      for (let d = 0; d < D; d++) S[v]![b * D + d] = -X[(sys * NP + (b % N)) * D + d]!;
    }
  }
  return {
    loss: (await readF32(ctx, loss))[0]!,
    stats: Object.fromEntries(MvebPlan.statNames.map((n, i) => [n, st[i]!])),
    grads: [await readF32(ctx, grads[0]), await readF32(ctx, grads[1])],
    S,
    plan,
  };
}


/** Uniform noise plus `common` times a shared row: cosines about common²/(common² + 1). */
function rows(B: number, D: number, seed: number, common = 0): Float32Array {
  const shared = randomArray(D, 999);
  const x = randomArray(B * D, seed);
  for (let i = 0; i < B * D; i++) x[i] = x[i]! + common * shared[i % D]!;
  return x;
}

describe('MVEB on the GPU against the PyTorch fixture', () => {
  for (const f of loadMvebFixtures()) {
    test(`${f.name}: B = ${f.B}, D = ${f.D}, stein-chunk ${f.steinChunk}, λ = ${f.entropyWeight}, η = ${f.steinEta}`, async () => {
      const ctx = await testGpu();
      const got = await runMveb(ctx, f.p, f.q, { B: f.B, D: f.D, steinChunk: f.steinChunk }, { entropyWeight: f.entropyWeight, steinEta: f.steinEta });
      expect(Math.abs(got.loss - f.loss) / Math.abs(f.loss)).toBeLessThan(1e-4);
      for (let v = 0; v < 2; v++) expect(relErr(f.grad[v]!, got.grads[v]!), `grad${v + 1}`).toBeLessThan(1e-3);
      expect(Math.abs(got.stats.tau! - f.tau) / f.tau).toBeLessThan(1e-5);
      expect(Math.abs(got.stats.align! - f.align)).toBeLessThan(1e-5);
      expect(Math.abs(got.stats.unif! - f.unif) / Math.abs(f.unif)).toBeLessThan(1e-4);
      expect(got.stats.pivots_floored).toBe(0);
      got.plan.destroy();
    });
  }
});

describe('MVEB on the GPU against the float64 reference', () => {
  // S is compared to 1e-4 of its largest entry, except where K's conditioning makes float32's
  // rounding of A (~1e-7, times 1/τ, times K) larger: 257 rows in 3 dimensions sharing a direction,
  // and D = 1, where every z is ±1: two clusters of identical rows, τ clamped to 0.1 when the
  // signs are unbalanced, K two blocks of e^10 — as ill-conditioned as a collapsed batch (S is not
  // compared there; loss, unif and the gradients, identically 0 since (I − zzᵀ) = 0, still are).
  const cases: [number, number, number | undefined, number, number?][] = [
    // B, D, stein-chunk, common direction, S tolerance
    [2, 1, undefined, 0],
    [2, 3, undefined, 0],
    [7, 3, undefined, 0],
    [7, 128, undefined, 0.5],
    [64, 1, undefined, 0, Infinity],
    [64, 3, 16, 0],
    [64, 128, undefined, 1],
    [64, 128, 32, 0],
    [257, 128, undefined, 0],
    [257, 3, undefined, 0.5, 3e-3],
  ];
  for (const [B, D, chunk, common, sTol = 1e-4] of cases) {
    test(`B = ${B}, D = ${D}${chunk ? `, stein-chunk ${chunk}` : ''}${common ? `, shared direction ${common}` : ''}`, async () => {
      const ctx = await testGpu();
      const p: Rows = [rows(B, D, 1, common), rows(B, D, 2, common)];
      const q: Rows = [rows(B, D, 3, common), rows(B, D, 4, common)];
      const ref = mvebReference(p, q, B, D, { steinChunk: chunk });
      const got = await runMveb(ctx, p, q, { B, D, steinChunk: chunk });
      expect(got.plan.dispatches).toBe(6 + 2 * got.plan.objective.blocks);
      expect(Math.abs(got.stats.tau! - ref.tau) / ref.tau, 'tau').toBeLessThan(1e-5);
      expect(Math.abs(got.loss - ref.loss) / Math.abs(ref.loss), `loss ${got.loss} vs ${ref.loss}`).toBeLessThan(1e-4);
      expect(Math.abs(got.stats.align! - ref.align), 'align').toBeLessThan(1e-5);
      expect(Math.abs(got.stats.unif! - ref.unif) / Math.abs(ref.unif), 'unif').toBeLessThan(1e-4);
      for (let v = 0; v < 2; v++) {
        expect(relErr(ref.S[v]!, got.S[v]!), `S${v + 1}`).toBeLessThan(sTol);
        // Scaled by ∂L/∂z too: with D = 1, ∂L/∂p is 0 up to the rounding of (I − zzᵀ)∂L/∂z.
        const scale = Math.max(...ref.gradP[v]!.map(Math.abs), ...ref.gradZ[v]!.map(Math.abs));
        expectClose(ref.gradP[v]!, got.grads[v]!, 1e-4 * scale, 1e-3, `grad${v + 1}`);
      }
      expect(got.stats.pivots_floored).toBe(0);
      got.plan.destroy();
    });
  }
});

describe('MVEB on the GPU: τ selection, conditioning, parameters, determinism', () => {
  test('τ is the exact ⌊N²/2⌋-th largest distance, ties counted (products exact in float32)', async () => {
    const ctx = await testGpu();
    // Unit rows whose pairwise products are all in {0, ±½, ±1}: 1 − A is exact in float32.
    const basis = [
      [1, 0, 0, 0],
      [0, 1, 0, 0],
      [0, 0, -1, 0],
      [0.5, 0.5, 0.5, 0.5],
      [0.5, -0.5, 0.5, -0.5],
      [-0.5, -0.5, 0.5, 0.5],
    ];
    // One shape (B = 9), so the pipelines compile once: distinct rows, repeats, and one row 5 times.
    for (const pick of [
      [0, 1, 2, 3, 4, 5, 0, 1, 2],
      [0, 0, 0, 3, 3, 1, 4, 5, 2],
      [3, 3, 3, 3, 0, 3, 3, 4, 5],
    ]) {
      const B = 9;
      const D = 4;
      const p = new Float32Array(pick.flatMap((i) => basis[i]!));
      const ref = mvebReference([p, p], [p, p], B, D);
      const got = await runMveb(ctx, [p, p], [p, p], { B, D });
      expect(got.stats.tau).toBe(Math.fround(ref.tau));
      got.plan.destroy();
    }
  });

  test('a near-collapsed batch (rows almost equal, τ clamped at 0.1): finite, and the solve still holds', async () => {
    const ctx = await testGpu();
    for (const [B, D, spread] of [
      [64, 128, 1e-3],
      [32, 3, 1e-4],
      [16, 8, 0],
    ] as const) {
      const u = randomArray(D, 77);
      const p: Rows = [rows(B, D, 5), rows(B, D, 6)];
      const q: Rows = [rows(B, D, 7), rows(B, D, 8)];
      for (const x of p) for (let i = 0; i < B * D; i++) x[i] = u[i % D]! + spread * x[i]!;
      const got = await runMveb(ctx, p, q, { B, D });
      const ref = mvebReference(p, q, B, D);
      console.log(`near-collapsed B = ${B}, D = ${D}, spread ${spread}: loss ${got.loss} (float64 ${ref.loss}), stats ${JSON.stringify(got.stats)}, float64 floored ${ref.pivotsFloored}`);
      expect(Number.isFinite(got.loss)).toBe(true);
      for (const g of got.grads) expect(g.every(Number.isFinite)).toBe(true);
      for (const s of Object.values(got.stats)) expect(Number.isFinite(s)).toBe(true);
      expect(got.stats.tau).toBe(Math.fround(0.1));
      expect(Math.abs(got.stats.align! - ref.align)).toBeLessThan(1e-5);
      // Exactly equal rows: K = c·11ᵀ is exact in float32 and S (a multiple of the row) is well determined.
      if (spread === 0) expect(Math.abs(got.loss - ref.loss) / Math.abs(ref.loss)).toBeLessThan(1e-5);
      const floored = got.stats.pivots_floored!;
      expect(Number.isInteger(floored) && floored >= 0 && floored <= 2 * B).toBe(true);
      // Backward stability: ‖(K + ηI)X − Ψ‖ small against ‖K‖·‖X‖, with the float64 K of the GPU's τ.
      const z = normalizeRows(p[0], B, D).z;
      let res = 0;
      let scale = 0;
      for (let i = 0; i < B; i++) {
        const k = Array.from({ length: B }, (_, j) => {
          let a = 0;
          for (let d = 0; d < D; d++) a += z[i * D + d]! * z[j * D + d]!;
          return Math.exp(a / 0.1);
        });
        const r = k.reduce((s, v) => s + v, 0);
        for (let d = 0; d < D; d++) {
          let lhs = 0.01 * -got.S[0][i * D + d]!;
          for (let j = 0; j < B; j++) lhs += k[j]! * -got.S[0][j * D + d]!;
          res = Math.max(res, Math.abs(lhs - (r / 0.1) * z[i * D + d]!));
          scale = Math.max(scale, r * Math.abs(got.S[0][i * D + d]!), (r / 0.1) * Math.abs(z[i * D + d]!));
        }
      }
      expect(res / scale, `residual (floored pivots: ${floored})`).toBeLessThan(1e-4);
      got.plan.destroy();
    }
  });

  test('λ and η change by uniform writes; the plan records the same dispatches', async () => {
    const ctx = await testGpu();
    const [B, D] = [24, 10];
    const p: Rows = [rows(B, D, 11), rows(B, D, 12)];
    const q: Rows = [rows(B, D, 13), rows(B, D, 14)];
    for (const params of [{ entropyWeight: 0.5, steinEta: 0.1 }, { entropyWeight: 0, steinEta: 2 }]) {
      const ref = mvebReference(p, q, B, D, { ...params, steinChunk: 8 });
      const got = await runMveb(ctx, p, q, { B, D, steinChunk: 8 }, params);
      expect(got.plan.paramValues).toEqual(params);
      expect(Math.abs(got.loss - ref.loss) / Math.abs(ref.loss)).toBeLessThan(1e-4);
      for (let v = 0; v < 2; v++) expect(relErr(ref.gradP[v]!, got.grads[v]!)).toBeLessThan(1e-3);
      got.plan.setParams({ entropyWeight: 0.02 });
      expect(got.plan.paramValues).toEqual({ ...params, entropyWeight: 0.02 });
      got.plan.destroy();
    }
  });

  test('the Gram on the tiled GEMM core (what GPUs run) gives what the direct one gives', async () => {
    const ctx = await testGpu();
    const [B, D] = [48, 20];
    const p: Rows = [rows(B, D, 31, 0.5), rows(B, D, 32, 0.5)];
    const q: Rows = [rows(B, D, 33), rows(B, D, 34)];
    const ref = mvebReference(p, q, B, D, { steinChunk: 24 });
    for (const gemmVariant of ['tiled', 'direct'] as const) {
      const got = await runMveb(ctx, p, q, { B, D, steinChunk: 24, gemmVariant });
      expect(Math.abs(got.loss - ref.loss) / Math.abs(ref.loss), gemmVariant).toBeLessThan(1e-4);
      for (let v = 0; v < 2; v++) expect(relErr(ref.gradP[v]!, got.grads[v]!), `${gemmVariant} grad${v + 1}`).toBeLessThan(1e-3);
      got.plan.destroy();
    }
  });

  test('deterministic: two submits give bit-identical results', async () => {
    const ctx = await testGpu();
    const [B, D] = [40, 33];
    const p: Rows = [rows(B, D, 21), rows(B, D, 22)];
    const q: Rows = [rows(B, D, 23), rows(B, D, 24)];
    const a = await runMveb(ctx, p, q, { B, D });
    const b = await runMveb(ctx, p, q, { B, D }, {}, 2);
    expect(b.loss).toBe(a.loss);
    expect(Array.from(b.grads[0])).toEqual(Array.from(a.grads[0]));
    expect(Array.from(b.grads[1])).toEqual(Array.from(a.grads[1]));
    a.plan.destroy();
    b.plan.destroy();
  });
});

describe('MVEB refuses bad input before any dispatch', () => {
  test('shapes and stein-chunk', async () => {
    const ctx = await testGpu();
    await expect(MvebObjective.create(ctx, { B: 8, D: 4, steinChunk: 16 })).rejects.toThrow(/--stein-chunk 16 is larger than the batch 8/);
    await expect(MvebObjective.create(ctx, { B: 12, D: 4, steinChunk: 5 })).rejects.toThrow(/--stein-chunk 5 does not divide the batch 12/);
    await expect(MvebObjective.create(ctx, { B: 1, D: 4 })).rejects.toThrow(/a batch of 1 leaves one row per Stein estimate/);
    await expect(MvebObjective.create(ctx, { B: 6, D: 4, steinChunk: 1 })).rejects.toThrow(/--stein-chunk 1 leaves one row/);
    await expect(MvebObjective.create(ctx, { B: 2048, D: 4 })).rejects.toThrow(/over the supported 1024 rows per Stein estimate; pass --stein-chunk 1024/);
    await expect(MvebObjective.create(ctx, { B: 8, D: 0 })).rejects.toThrow(/embedding dimension D/);
  });

  test('λ < 0, η ≤ 0, a missing teacher, wrong or aliased tensors', async () => {
    const ctx = await testGpu();
    const [B, D] = [4, 3];
    const obj = await MvebObjective.create(ctx, { B, D });
    const t = (name: string, n = B * D) => createTensor(ctx, [n], 'f32', name);
    const good = () => ({ student: [t('p1'), t('p2')] as [ReturnType<typeof t>, ReturnType<typeof t>], teacher: [t('q1'), t('q2')] as [ReturnType<typeof t>, ReturnType<typeof t>], grads: [t('g1'), t('g2')] as [ReturnType<typeof t>, ReturnType<typeof t>], loss: t('loss', 1), stats: t('stats', 4) });
    const plan = obj.bind(good());
    expect(() => plan.setParams({ entropyWeight: -0.1 })).toThrow(/--entropy-weight \(λ\) must be a finite number ≥ 0, got -0.1/);
    expect(() => plan.setParams({ steinEta: 0 })).toThrow(/--stein-eta \(η\) must be a finite number > 0, got 0/);
    expect(() => plan.setParams({ steinEta: Number.NaN })).toThrow(/--stein-eta/);
    expect(plan.paramValues).toEqual({ entropyWeight: 0.01, steinEta: 0.01 });
    expect(() => obj.bind({ ...good(), teacher: undefined })).toThrow(/needs the EMA teacher's outputs/);
    expect(() => obj.bind({ ...good(), stats: t('stats', 3) })).toThrow(/stats .* should hold 4 \(tau, align, unif, pivots_floored\)/);
    expect(() => obj.bind({ ...good(), student: [t('p1', 5), t('p2')] })).toThrow(/student view 1 .* should hold 4×3 = 12 f32 values/);
    const g = good();
    expect(() => obj.bind({ ...g, grads: [g.student[0], g.grads[1]] })).toThrow(/gradient of view 1 .* overlaps student view 1/);
    plan.destroy();
  });
});

test('statNames are the stats the finish kernel writes', async () => {
  expect(MvebPlan.statNames).toEqual(['tau', 'align', 'unif', 'pivots_floored']);
  // The counter buffer is u32 and zeroed by the select kernel each record.
  const ctx = await testGpu();
  const got = await runMveb(ctx, [rows(4, 2, 1), rows(4, 2, 2)], [rows(4, 2, 3), rows(4, 2, 4)], { B: 4, D: 2 }, {}, 3);
  expect(Array.from((await readTensor(ctx, got.plan.tensors.get('floored')!)) as Uint32Array)).toEqual([0, 0]);
  got.plan.destroy();
});
