// Sinkhorn-Knopp on the GPU against the float64 reference: SwAV's iteration (targets, u and the
// per-iteration trace, one `step()` at a time), logits ≥ 80 where SwAV's own exp overflows, and
// SeLa over a bank of rows far larger than a batch (to a tolerance, hard labels), from logits
// and from probabilities.
import { describe, expect, test } from 'vitest';
import { SinkhornSolver, SelaSolver, selaLogProbabilities } from '../src/mira/sinkhorn.ts';
import { createTensor, readF32, readTensor, uploadTensor, writeTensor } from '../src/gpu/tensor.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { ParamError } from '../src/mira/validate.ts';
import { selaSinkhorn, sinkhornSwav } from '../src/ref/sinkhorn.ts';
import { softmax } from '../src/ref/softmax.ts';
import { makeClusteredLogits } from '../src/ref/synthetic.ts';
import { expectClose, randomArray, seededRandom, testGpu } from './helpers/gpu.ts';

async function gpuSinkhorn(logits: Float32Array, B: number, K: number, eps: number, iters: number, trace = false) {
  const ctx = await testGpu();
  const W = createTensor(ctx, [B, K], 'f32', 'q');
  const plan = (await SinkhornSolver.create(ctx, { B, K })).bind(uploadTensor(ctx, logits, [B, K], 'l'), W);
  plan.setParams({ eps });
  const tr = await plan.solve({ iters, trace });
  return { q: await readF32(ctx, W), u: await readF32(ctx, plan.u), trace: tr, plan };
}

function rowSums(q: Float32Array, B: number, K: number): number {
  let worst = 0;
  for (let i = 0; i < B; i++) {
    let s = 0;
    for (let j = 0; j < K; j++) {
      const x = q[i * K + j]!;
      if (!Number.isFinite(x) || x < 0) throw new Error(`q[${i}][${j}] = ${x}`);
      s += x;
    }
    worst = Math.max(worst, Math.abs(s - 1));
  }
  return worst;
}

describe('Sinkhorn-Knopp (SwAV) on the GPU vs float64', () => {
  const CASES: [number, number, number, number][] = [
    // B, K, ε, iters
    [1, 2, 0.05, 3],
    [7, 5, 0.05, 1],
    [64, 300, 0.05, 3],
    [200, 40, 0.1, 10],
    [512, 3000, 0.05, 3],
  ];
  test.each(CASES)('B=%i K=%i ε=%f, %i iterations', async (B, K, eps, iters) => {
    const logits = B * K > 1e5 ? makeClusteredLogits(B, K, 2) : randomArray(B * K, B + K, -1, 1);
    const g = await gpuSinkhorn(logits, B, K, eps, iters);
    const r = sinkhornSwav(logits, B, K, { eps, iters });
    const rs = rowSums(g.q, B, K);
    expect(rs).toBeLessThan(1e-6);
    const rep = expectClose(r.q, g.q, 2e-6, 0, `q ${B}×${K}`);
    expectClose(r.u, g.u, 1e-5, 1e-6, `u ${B}×${K}`);
    console.log(`sinkhorn ${B}×${K} ε=${eps} ×${iters}: max |q_gpu − q_ref| ${rep.maxAbs.toExponential(2)}, max |row sum − 1| ${rs.toExponential(2)}`);
    g.plan.destroy();
  });

  test('logits ≥ 80 (exp(ℓ/ε) overflows even float64) and ±100 near-one-hot rows stay finite', async () => {
    const rnd = seededRandom(5);
    const B = 128;
    const K = 24;
    const high = new Float32Array(B * K);
    for (let i = 0; i < high.length; i++) high[i] = 80 + 20 * rnd();
    const hot = new Float32Array(B * K);
    for (let i = 0; i < B; i++) for (let j = 0; j < K; j++) hot[i * K + j] = j === i % 3 ? 100 : -100 + rnd();
    // Equipartition gives the never-winning prototypes 1/K of the mass through scalings near
    // s·Δℓ = 20·200 = 4000, where a float32 steps by 2.4e-4; the kernels carry them (and s·d) as
    // double-f32, so both cases are held to 1e-6 (plain float32 missed the one-hot one by 2.4e-4).
    for (const [name, x, atol] of [
      ['logits in [80, 100]', high, 1e-6],
      ['one-hot ±100', hot, 1e-6],
    ] as const) {
      const g = await gpuSinkhorn(x, B, K, 0.05, 3, true);
      expect(rowSums(g.q, B, K), name).toBeLessThan(1e-6);
      // The trace: every scalar finite (the residual saturates where exp(u) overflows).
      const want = sinkhornSwav(x, B, K, { eps: 0.05, iters: 3, trace: true }).trace;
      g.trace.forEach((r, n) => {
        for (const k of ['residual', 'delta_w', 'objective', 'marginal_entropy', 'mean_entropy', 'mi', 'marginal_error'] as const) {
          expect(Number.isFinite(r[k]), `${name} iteration ${n + 1} ${k} = ${r[k]}`).toBe(true);
        }
        const w = want[n]!;
        if (w.residual < 1e30) expect(Math.abs(r.residual - w.residual), `${name} residual`).toBeLessThan(1e-3 * Math.max(1, w.residual));
        else expect(r.residual).toBeGreaterThan(1e30);
        expectClose([w.delta_w, w.marginal_error, w.marginal_entropy, w.mean_entropy], [r.delta_w, r.marginal_error, r.marginal_entropy, r.mean_entropy], 3e-4, 1e-4, `${name} iteration ${n + 1}`);
      });
      // exp(u) of a prototype no row prefers overflows (≈ e^4000, float64 too); u itself does not.
      for (const x of g.u) expect(Number.isFinite(x), `${name}: u = ${x}`).toBe(true);
      const rep = expectClose(sinkhornSwav(x, B, K, { eps: 0.05, iters: 3 }).q, g.q, atol, 0, name);
      console.log(`sinkhorn ${name}: max |q_gpu − q_ref| ${rep.maxAbs.toExponential(2)}`);
      g.plan.destroy();
    }
  });

  test('±100 logits at ε = 0.05: 3×7 targets within 1e-6 of float64 (double-f32 scalings; plain float32 misses by 6e-5)', async () => {
    const ctx = await testGpu();
    const B = 3;
    const K = 7;
    const L = createTensor(ctx, [B, K], 'f32', 'l');
    const W = createTensor(ctx, [B, K], 'f32', 'q');
    const plan = (await SinkhornSolver.create(ctx, { B, K })).bind(L, W);
    plan.setParams({ eps: 0.05 });
    for (const mode of ['uniform in [−100, 100]', 'ℓ ∈ {±100}'] as const) {
      let worst = 0;
      for (let seed = 1; seed <= 40; seed++) {
        const rnd = seededRandom(seed);
        const x = new Float32Array(B * K);
        for (let i = 0; i < x.length; i++) x[i] = mode === 'ℓ ∈ {±100}' ? (rnd() < 0.3 ? 100 : -100) : 200 * rnd() - 100;
        writeTensor(ctx, L, x);
        await plan.solve({ iters: 3 });
        const q = await readF32(ctx, W);
        const rep = expectClose(sinkhornSwav(x, B, K, { eps: 0.05, iters: 3 }).q, q, 1e-6, 0, `${mode}, seed ${seed}`);
        worst = Math.max(worst, rep.maxAbs);
        expect(rowSums(q, B, K)).toBeLessThan(1e-6);
      }
      console.log(`sinkhorn 3×7 ${mode}, 40 cases: max |q_gpu − q_ref| ${worst.toExponential(2)}`);
    }
    plan.destroy();
  });

  test('the trace matches the reference; step() reproduces it; the marginal error shrinks', async () => {
    const B = 80;
    const K = 50;
    const logits = makeClusteredLogits(B, K, 9);
    const g = await gpuSinkhorn(logits, B, K, 0.05, 8, true);
    const want = sinkhornSwav(logits, B, K, { eps: 0.05, iters: 8, trace: true }).trace;
    expect(g.trace).toHaveLength(8);
    g.trace.forEach((gr, n) => {
      const rr = want[n]!;
      expect(gr.iter).toBe(n + 1);
      expectClose(rr.v, gr.v, 0, 1e-4, `iteration ${n + 1} v`);
      expectClose([rr.residual, rr.delta_w, rr.marginal_error], [gr.residual, gr.delta_w, gr.marginal_error], 2e-6, 1e-3, `iteration ${n + 1} residual/delta_w/marginal_error`);
      expectClose([rr.objective, rr.marginal_entropy, rr.mean_entropy, rr.mi], [gr.objective, gr.marginal_entropy, gr.mean_entropy, gr.mi], 1e-5, 1e-5, `iteration ${n + 1} objective/entropies`);
    });
    expect(g.trace[7]!.marginal_error).toBeLessThan(g.trace[0]!.marginal_error);
    g.plan.reset();
    for (let n = 0; n < 8; n++) expect(await g.plan.step()).toEqual(g.trace[n]);
  });

  test('bad parameters and shapes are refused before any dispatch', async () => {
    const ctx = await testGpu();
    const solver = await SinkhornSolver.create(ctx, { B: 4, K: 3 });
    const t = createTensor(ctx, [4, 3], 'f32', 't');
    expect(() => solver.bind(createTensor(ctx, [5, 3], 'f32', 'bad'), t)).toThrow(ShapeError);
    const plan = solver.bind(t, createTensor(ctx, [4, 3], 'f32', 'q'));
    expect(() => plan.setParams({ eps: 0 })).toThrow(/ε must be a finite number > 0/);
    expect(() => plan.setParams({ eps: -1 })).toThrow(ParamError);
    plan.setParams({ eps: 0.05 });
    expect(() => plan.record(ctx.device.createCommandEncoder(), { iters: 0 })).toThrow(/iterations must be an integer ≥ 1/);
    await expect(SinkhornSolver.create(ctx, { B: 3, K: 1 })).rejects.toThrow(/K must be an integer ≥ 2/);
  });
});

describe('SeLa: Sinkhorn-Knopp on p^λ over a bank, to a tolerance, hard labels', () => {
  test('from logits: the same labels, soft assignment and iteration count as float64', async () => {
    const ctx = await testGpu();
    const N = 4000;
    const K = 10;
    const logits = makeClusteredLogits(N, K, 4, { clusters: 6, imbalance: 0.3 });
    const labels = createTensor(ctx, [N], 'u32', 'labels');
    const Q = createTensor(ctx, [N, K], 'f32', 'q');
    const plan = (await SelaSolver.create(ctx, { N, K })).bind(uploadTensor(ctx, logits, [N, K], 'bank'), labels, Q);
    plan.setParams({ lambda: 10 });
    const res = await plan.solve({ tol: 0.1, checkEvery: 10 });
    const r = selaSinkhorn(logits, N, K, { lambda: 10, tol: 0.1, checkEvery: 10, input: 'logits' });
    expect(res.converged).toBe(true);
    expect(res.iters).toBe(r.iters);
    const got = (await readTensor(ctx, labels)) as Uint32Array;
    let agree = 0;
    for (let i = 0; i < N; i++) agree += got[i] === r.labels[i] ? 1 : 0;
    console.log(`SeLa ${N}×${K}: ${res.iters} iterations (float64 ${r.iters}), change ${res.change.toExponential(2)} (float64 ${r.change.toExponential(2)}), labels agree on ${agree}/${N}`);
    expect(agree).toBe(N);
    expectClose(r.q, await readF32(ctx, Q), 2e-5, 0, 'SeLa soft assignment');
    // Equipartition: every cluster gets rows although the data has 6 clusters of unequal size.
    const counts = new Array(K).fill(0);
    for (const l of got) counts[l]++;
    expect(Math.min(...counts)).toBeGreaterThan(0);
    plan.destroy();
  });

  test('from probabilities (log p bound as logits), with zeros; labels match float64', async () => {
    const ctx = await testGpu();
    const N = 1500;
    const K = 7;
    const p = softmax(randomArray(N * K, 21, -3, 3), N, K, 1);
    for (let i = 0; i < N; i += 5) p[i * K + (i % K)] = 0; // exact zeros, as softmax underflow leaves
    const labels = createTensor(ctx, [N], 'u32', 'labels');
    const plan = (await SelaSolver.create(ctx, { N, K })).bind(uploadTensor(ctx, selaLogProbabilities(p), [N, K], 'logp'), labels, createTensor(ctx, [N, K], 'f32', 'q'), { input: 'log-probs' });
    plan.setParams({ lambda: 5 });
    const res = await plan.solve({ tol: 0.05, checkEvery: 5 });
    const r = selaSinkhorn(p, N, K, { lambda: 5, tol: 0.05, checkEvery: 5 });
    expect(res.iters).toBe(r.iters);
    const got = (await readTensor(ctx, labels)) as Uint32Array;
    let agree = 0;
    for (let i = 0; i < N; i++) agree += got[i] === r.labels[i] ? 1 : 0;
    expect(agree).toBe(N);
    expect(() => selaLogProbabilities([0.5, -0.1])).toThrow(/probability 1 is -0.1/);
    expect(() => plan.setParams({ lambda: 0 })).toThrow(/λ must be/);
    await expect(plan.solve({ tol: -1 })).rejects.toThrow(/tolerance must be/);
    plan.destroy();
  });
});
