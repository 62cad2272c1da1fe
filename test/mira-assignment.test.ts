// MIRA's fixed point on the GPU against the float64 reference (src/ref/assignment.ts): random cases,
// the hard cases (logits ±100 with near-one-hot rows, logits ≥ 80, B = 1, K = 2), a 512×3000
// batch of clustered cosine logits against the float64 optimum with the stationarity condition,
// the per-iteration trace, one-iteration `step()`, determinism, and bad input refused before
// any dispatch.
import { describe, expect, test } from 'vitest';
import { MiraSolver, type MiraPlan } from '../src/mira/assignment.ts';
import { createTensor, readF32, uploadTensor } from '../src/gpu/tensor.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { ParamError } from '../src/mira/validate.ts';
import { miraOptimum, miraSolve } from '../src/ref/assignment.ts';
import { logSoftmax } from '../src/ref/softmax.ts';
import { makeClusteredLogits } from '../src/ref/synthetic.ts';
import { expectClose, randomArray, seededRandom, testGpu } from './helpers/gpu.ts';

interface Solved {
  w: Float32Array;
  v: Float32Array;
  plan: MiraPlan;
}

async function gpuSolve(logits: Float32Array, B: number, K: number, tau: number, beta: number, iters: number): Promise<Solved> {
  const ctx = await testGpu();
  const solver = await MiraSolver.create(ctx, { B, K });
  const L = uploadTensor(ctx, logits, [B, K], 'logits');
  const W = createTensor(ctx, [B, K], 'f32', 'targets');
  const plan = solver.bind(L, W);
  plan.setParams({ tau, beta });
  await plan.solve({ iters });
  return { w: await readF32(ctx, W), v: await readF32(ctx, plan.v), plan };
}

function refSolve(logits: Float32Array, B: number, K: number, tau: number, beta: number, iters: number) {
  return miraSolve(Float64Array.from(logits), B, K, { tau, beta, iters });
}

function assertSimplexRows(w: Float32Array, B: number, K: number, what: string): number {
  let worst = 0;
  for (let i = 0; i < B; i++) {
    let s = 0;
    for (let j = 0; j < K; j++) {
      const x = w[i * K + j]!;
      if (!Number.isFinite(x) || x < 0) throw new Error(`${what}: w[${i}][${j}] = ${x}`);
      s += x;
    }
    worst = Math.max(worst, Math.abs(s - 1));
  }
  expect(worst, `${what}: worst |row sum − 1|`).toBeLessThan(1e-6);
  return worst;
}

describe('MIRA fixed point: GPU vs float64 reference', () => {
  const CASES: [number, number, number, number, number][] = [
    // B, K, τ, β, seed
    [1, 2, 0.225, 0.7, 1],
    [3, 5, 0.5, 0.3, 2],
    [17, 33, 0.225, 0.7, 3],
    [64, 300, 0.1, 0.9, 4],
    [100, 257, 1.0, 0.5, 5],
    [333, 64, 0.225, 2 / 3, 6],
  ];
  test.each(CASES)('B=%i K=%i τ=%f β=%f (cosine-range logits)', async (B, K, tau, beta, seed) => {
    const logits = randomArray(B * K, seed, -1, 1);
    const g = await gpuSolve(logits, B, K, tau, beta, 30);
    const r = refSolve(logits, B, K, tau, beta, 30);
    const rs = assertSimplexRows(g.w, B, K, 'targets');
    const rep = expectClose(r.w, g.w, 2e-6, 0, `targets ${B}×${K}`);
    expectClose(r.v, g.v, 1e-7, 1e-4, `v ${B}×${K}`);
    console.log(`${B}×${K} τ=${tau} β=${beta.toFixed(3)}: max |w_gpu − w_ref| ${rep.maxAbs.toExponential(2)}, max |row sum − 1| ${rs.toExponential(2)}`);
    g.plan.destroy();
  });

  test('hard cases stay finite: ±100 near-one-hot rows (B ≥ 64), logits ≥ 80, B = 1, K = 2', async () => {
    const rnd = seededRandom(77);
    const cases: { name: string; B: number; K: number; logits: Float32Array; atol: number }[] = [];
    // near one-hot: one logit +100 per row, the others −100 (+ small noise)
    for (const [B, K] of [
      [64, 50],
      [256, 128],
    ] as const) {
      const x = new Float32Array(B * K);
      for (let i = 0; i < B; i++) {
        const hot = Math.floor(rnd() * Math.min(K, 8)); // many prototypes never win a row
        for (let j = 0; j < K; j++) x[i * K + j] = j === hot ? 100 : -100 + rnd();
      }
      cases.push({ name: `one-hot ±100 ${B}×${K}`, B, K, logits: x, atol: 2e-6 });
    }
    {
      const B = 96;
      const K = 40;
      const x = new Float32Array(B * K);
      for (let i = 0; i < x.length; i++) x[i] = 80 + 20 * rnd();
      cases.push({ name: 'logits in [80, 100]', B, K, logits: x, atol: 2e-6 });
    }
    {
      const x = new Float32Array(128 * 16);
      for (let i = 0; i < x.length; i++) x[i] = (rnd() < 0.5 ? -100 : 100) * rnd();
      cases.push({ name: 'logits spread ±100', B: 128, K: 16, logits: x, atol: 2e-6 });
    }
    cases.push({ name: 'B=1 K=2', B: 1, K: 2, logits: new Float32Array([0.3, -0.2]), atol: 2e-6 });
    cases.push({ name: 'B=1 K=2 extreme', B: 1, K: 2, logits: new Float32Array([100, -100]), atol: 2e-6 });
    cases.push({ name: 'K=2 B=500', B: 500, K: 2, logits: randomArray(1000, 9, -1, 1), atol: 2e-6 });
    cases.push({ name: 'all equal', B: 10, K: 7, logits: new Float32Array(70).fill(0.25), atol: 2e-6 });
    for (const c of cases) {
      for (const [tau, beta] of [
        [0.225, 0.7],
        [0.1, 0.9],
      ] as const) {
        const g = await gpuSolve(c.logits, c.B, c.K, tau, beta, 30);
        const rs = assertSimplexRows(g.w, c.B, c.K, c.name);
        for (const x of g.v) expect(Number.isFinite(x), `${c.name}: v finite`).toBe(true);
        const r = refSolve(c.logits, c.B, c.K, tau, beta, 30);
        const rep = expectClose(r.w, g.w, c.atol, 0, `${c.name} τ=${tau} β=${beta}`);
        console.log(`${c.name} τ=${tau} β=${beta}: max |w_gpu − w_ref| ${rep.maxAbs.toExponential(2)}, max |row sum − 1| ${rs.toExponential(2)}`);
        g.plan.destroy();
      }
    }
  });
});

describe('MIRA traced on the hard cases', () => {
  test('every trace field stays finite and matches float64 (one-hot ±100, logits ≥ 80)', async () => {
    const ctx = await testGpu();
    const rnd = seededRandom(99);
    const B = 64;
    const K = 40;
    const hot = new Float32Array(B * K);
    for (let i = 0; i < B; i++) for (let j = 0; j < K; j++) hot[i * K + j] = j === i % 5 ? 100 : -100 + rnd();
    const high = Float32Array.from({ length: B * K }, () => 80 + 20 * rnd());
    for (const [name, x] of [
      ['one-hot ±100', hot],
      ['logits in [80, 100]', high],
    ] as const) {
      const plan = (await MiraSolver.create(ctx, { B, K })).bind(uploadTensor(ctx, x, [B, K], 'l'), createTensor(ctx, [B, K], 'f32', 'w'));
      plan.setParams({ tau: 0.225, beta: 0.7 });
      const got = await plan.solve({ iters: 10, trace: true });
      const want = miraSolve(x, B, K, { tau: 0.225, beta: 0.7, iters: 10, trace: true }).trace;
      got.forEach((r, n) => {
        for (const k of ['residual', 'delta_w', 'objective', 'marginal_entropy', 'mean_entropy', 'mi', 'marginal_error'] as const) {
          expect(Number.isFinite(r[k]), `${name} iteration ${n + 1} ${k} = ${r[k]}`).toBe(true);
        }
        for (const v of r.v) expect(Number.isFinite(v), `${name} v`).toBe(true);
        const w = want[n]!;
        expectClose([w.residual, w.delta_w, w.marginal_error], [r.residual, r.delta_w, r.marginal_error], 2e-6, 1e-3, `${name} iteration ${n + 1}`);
        expectClose([w.objective, w.marginal_entropy, w.mean_entropy, w.mi], [r.objective, r.marginal_entropy, r.mean_entropy, r.mi], 1e-5, 1e-5, `${name} iteration ${n + 1} objective/entropies`);
      });
      plan.destroy();
    }
  });
});

describe('MIRA on a 512×3000 batch of clustered cosine logits', () => {
  test('targets reach the float64 optimum and satisfy stationarity', async () => {
    const B = 512;
    const K = 3000;
    const tau = 0.225;
    const beta = 0.7;
    const logits = makeClusteredLogits(B, K, 1);
    const g = await gpuSolve(logits, B, K, tau, beta, 30);
    assertSimplexRows(g.w, B, K, '512×3000');
    const opt = miraOptimum(logits, B, K, { tau, beta });
    const rep = expectClose(opt.w, g.w, 1e-5, 0, 'targets vs the float64 optimum');
    console.log(`512×3000: max |w_gpu − w*| = ${rep.maxAbs.toExponential(2)} (float64 optimum after ${opt.iters} iterations)`);
    // Stationarity: w_ij ∝ p_ij^(1/(1−β)) · m_j^(−β/(1−β)), m = mean_i w_i (both from the GPU w).
    const m = new Float64Array(K);
    for (let i = 0; i < B; i++) for (let j = 0; j < K; j++) m[j]! += g.w[i * K + j]! / B;
    const logp = logSoftmax(logits, B, K, tau);
    const a = beta / (1 - beta);
    let worst = 0;
    for (let i = 0; i < B; i++) {
      const x = new Float64Array(K);
      let mx = -Infinity;
      for (let j = 0; j < K; j++) {
        x[j] = logp[i * K + j]! / (1 - beta) - a * Math.log(m[j]!);
        mx = Math.max(mx, x[j]!);
      }
      let z = 0;
      for (let j = 0; j < K; j++) z += Math.exp(x[j]! - mx);
      for (let j = 0; j < K; j++) worst = Math.max(worst, Math.abs(Math.exp(x[j]! - mx) / z - g.w[i * K + j]!));
    }
    console.log(`512×3000: stationarity max |w − normalise(p^(1/(1−β)) m^(−a))| = ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-5);
    g.plan.destroy();
  });
});

describe('trace, step and determinism', () => {
  const B = 96;
  const K = 160;
  const tau = 0.3;
  const beta = 0.75;
  const logits = makeClusteredLogits(B, K, 3);

  test('the GPU trace matches the reference trace, record by record', async () => {
    const ctx = await testGpu();
    const plan = (await MiraSolver.create(ctx, { B, K })).bind(uploadTensor(ctx, logits, [B, K], 'l'), createTensor(ctx, [B, K], 'f32', 'w'));
    plan.setParams({ tau, beta });
    const got = await plan.solve({ iters: 12, trace: true });
    const want = miraSolve(logits, B, K, { tau, beta, iters: 12, trace: true }).trace;
    expect(got).toHaveLength(12);
    for (let n = 0; n < 12; n++) {
      const [gr, rr] = [got[n]!, want[n]!];
      const what = `iteration ${n + 1}`;
      expect(gr.iter).toBe(rr.iter);
      expectClose(rr.v, gr.v, 1e-9, 1e-4, `${what} v`);
      expectClose([rr.residual], [gr.residual], 1e-6, 1e-2, `${what} residual`);
      expectClose([rr.delta_w], [gr.delta_w], 2e-6, 1e-2, `${what} delta_w`);
      expectClose([rr.objective, rr.marginal_entropy, rr.mean_entropy, rr.mi], [gr.objective, gr.marginal_entropy, gr.mean_entropy, gr.mi], 1e-5, 1e-5, `${what} objective/entropies/mi`);
      expectClose([rr.marginal_error], [gr.marginal_error], 1e-6, 1e-4, `${what} marginal_error`);
    }
  });

  test('step() reproduces the traced solve bit for bit; reset() starts again; solves are deterministic', async () => {
    const ctx = await testGpu();
    const L = uploadTensor(ctx, logits, [B, K], 'l');
    const W = createTensor(ctx, [B, K], 'f32', 'w');
    const plan = (await MiraSolver.create(ctx, { B, K })).bind(L, W);
    plan.setParams({ tau, beta });
    const full = await plan.solve({ iters: 5, trace: true });
    const wFull = await readF32(ctx, W);
    plan.reset();
    const steps = [];
    for (let n = 0; n < 5; n++) steps.push(await plan.step({ targets: n === 4 }));
    expect(steps.map((r) => r.iter)).toEqual([1, 2, 3, 4, 5]);
    for (let n = 0; n < 5; n++) expect(steps[n]).toEqual(full[n]);
    expect(Array.from(await readF32(ctx, W))).toEqual(Array.from(wFull));
    // One more step continues; reset() goes back to iteration 1.
    expect((await plan.step()).iter).toBe(6);
    plan.reset();
    expect(await plan.step()).toEqual(full[0]);
    // Same input, same bits.
    await plan.solve({ iters: 5 });
    expect(Array.from(await readF32(ctx, W))).toEqual(Array.from(wFull));
  });

  test('new τ/β take effect on the next submit without new pipelines', async () => {
    const ctx = await testGpu();
    const solver = await MiraSolver.create(ctx, { B, K });
    const W = createTensor(ctx, [B, K], 'f32', 'w');
    const plan = solver.bind(uploadTensor(ctx, logits, [B, K], 'l'), W);
    for (const [t, b] of [
      [0.225, 0.7],
      [0.5, 0.4],
      [0.1, 0.9],
    ] as const) {
      plan.setParams({ tau: t, beta: b });
      await plan.solve({ iters: 30 });
      expectClose(miraSolve(logits, B, K, { tau: t, beta: b, iters: 30 }).w, await readF32(ctx, W), 2e-6, 1e-4, `τ=${t} β=${b}`);
    }
    // The pipelines are shared by every shape: a second solver reuses them.
    const other = await MiraSolver.create(ctx, { B: 7, K: 3 });
    expect(other.kernels.rows.pipeline).toBe(solver.kernels.rows.pipeline);
  });
});

describe('bad input is refused before any dispatch', () => {
  test('wrong tensor sizes, aliasing, β and τ out of range', async () => {
    const ctx = await testGpu();
    const before = ctx.uncaptured.length;
    const solver = await MiraSolver.create(ctx, { B: 4, K: 3 });
    const ok = createTensor(ctx, [4, 3], 'f32', 'ok');
    expect(() => solver.bind(createTensor(ctx, [4, 4], 'f32', 'wrong'), ok)).toThrow(ShapeError);
    expect(() => solver.bind(ok, createTensor(ctx, [3, 4, 1], 'f32', 'wrong'))).not.toThrow(); // 12 values: shape is the caller's view
    expect(() => solver.bind(ok, createTensor(ctx, [12], 'u32', 'ints'))).toThrow(/f32/);
    expect(() => solver.bind(ok, ok)).toThrow(/alias/);
    const plan = solver.bind(ok, createTensor(ctx, [4, 3], 'f32', 'w'));
    expect(() => plan.setParams({ tau: 0.2, beta: 1 })).toThrow(ParamError);
    expect(() => plan.setParams({ tau: 0.2, beta: 0 })).toThrow(/β must lie strictly between 0 and 1/);
    expect(() => plan.setParams({ tau: 0, beta: 0.5 })).toThrow(/τ must be a finite number > 0/);
    expect(() => plan.setParams({ tau: NaN, beta: 0.5 })).toThrow(/τ/);
    // Recording before any parameters were written is refused too.
    expect(() => plan.record(ctx.device.createCommandEncoder(), { iters: 3 })).toThrow(/parameters were never written/);
    await expect(MiraSolver.create(ctx, { B: 1.5, K: 3 })).rejects.toThrow(ShapeError);
    expect(ctx.uncaptured.length).toBe(before);
  });
});
