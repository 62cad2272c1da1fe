// The collapse metrics on the GPU against the float64 reference: entropies, MI, KL(p‖w), the
// argmax histogram, used clusters and the largest cluster — on spread, collapsed, uniform
// (all ties) and zero-containing probability matrices, B = 1, and a large batch; deterministic.
import { describe, expect, test } from 'vitest';
import { AssignmentMetrics } from '../src/mira/metrics.ts';
import { submitChecked } from '../src/gpu/kernel.ts';
import { createTensor, uploadTensor } from '../src/gpu/tensor.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { miraSolve } from '../src/ref/assignment.ts';
import { assignmentMetrics, klDivergence } from '../src/ref/metrics.ts';
import { softmax } from '../src/ref/softmax.ts';
import { makeClusteredLogits } from '../src/ref/synthetic.ts';
import { randomArray, testGpu } from './helpers/gpu.ts';

async function gpuMetrics(p: Float32Array, B: number, K: number, w?: Float32Array) {
  const ctx = await testGpu();
  const plan = (await AssignmentMetrics.create(ctx, { B, K })).bind(uploadTensor(ctx, p, [B, K], 'p'), w ? uploadTensor(ctx, w, [B, K], 'w') : undefined);
  await submitChecked(ctx, 'metrics', (enc) => plan.record(enc));
  const r = await plan.read();
  plan.destroy();
  return r;
}

function check(name: string, p: Float32Array, B: number, K: number, w?: Float32Array) {
  return async () => {
    const got = await gpuMetrics(p, B, K, w);
    const want = assignmentMetrics(p, B, K);
    const tol = (x: number) => 2e-6 * Math.max(1, Math.abs(x));
    expect(Math.abs(got.mean_entropy - want.mean_entropy), `${name} mean entropy`).toBeLessThan(tol(want.mean_entropy));
    expect(Math.abs(got.marginal_entropy - want.marginal_entropy), `${name} marginal entropy`).toBeLessThan(tol(want.marginal_entropy));
    expect(Math.abs(got.mi - want.mi), `${name} MI`).toBeLessThan(tol(want.mi) * 2);
    expect(Array.from(got.histogram), `${name} histogram`).toEqual(Array.from(want.histogram));
    expect(got.used_clusters).toBe(want.used_clusters);
    expect(got.largest_cluster_fraction).toBeCloseTo(want.largest_cluster_fraction, 7);
    if (w) {
      const kl = klDivergence(p, w, B, K);
      expect(Math.abs(got.kl - kl), `${name} KL(p‖w) ${got.kl} vs ${kl}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(kl)));
    } else expect(got.kl).toBe(0);
    return got;
  };
}

const spread = (B: number, K: number, seed: number, tau = 0.3) => Float32Array.from(softmax(randomArray(B * K, seed, -1, 1), B, K, tau));

describe('collapse metrics: GPU vs float64', () => {
  test('spread assignments with KL against MIRA targets', async () => {
    const B = 200;
    const K = 300;
    const logits = makeClusteredLogits(B, K, 5);
    const p = Float32Array.from(softmax(logits, B, K, 0.1));
    const w = Float32Array.from(miraSolve(logits, B, K, { iters: 10 }).w);
    const got = await check('spread', p, B, K, w)();
    expect(got.used_clusters).toBeGreaterThan(10);
  });

  test('B = 1, K = 2', check('B=1 K=2', new Float32Array([0.25, 0.75]), 1, 2, new Float32Array([0.5, 0.5])));

  test('collapsed: every row on one cluster', async () => {
    const B = 64;
    const K = 10;
    const p = new Float32Array(B * K);
    for (let i = 0; i < B; i++) p[i * K + 3] = 1;
    const got = await check('collapsed', p, B, K)();
    expect(got.used_clusters).toBe(1);
    expect(got.largest_cluster_fraction).toBe(1);
    expect(got.marginal_entropy).toBe(0);
    expect(got.mi).toBe(0);
  });

  test('uniform rows: every row a K-way tie goes to cluster 0; MI = 0', async () => {
    const B = 33;
    const K = 7;
    const got = await check('uniform', new Float32Array(B * K).fill(1 / K), B, K)();
    expect(got.histogram[0]).toBe(B);
    expect(Math.abs(got.mi)).toBeLessThan(1e-6);
  });

  test('exact zeros in p and in w (KL takes log max(w, 1e-30)), ties between two columns', async () => {
    const B = 50;
    const K = 6;
    const p = spread(B, K, 7);
    const w = spread(B, K, 8);
    for (let i = 0; i < B; i += 3) {
      p[i * K] = 0;
      w[i * K + 1] = 0; // p > 0 there: a large but finite KL term
    }
    for (let i = 1; i < B; i += 4) {
      p[i * K + 2] = 0.5;
      p[i * K + 4] = 0.5;
      for (const j of [0, 1, 3, 5]) p[i * K + j] = 0;
    }
    await check('zeros', p, B, K, w)();
  });

  test('a large batch (4096×100) and the same bits twice', async () => {
    const B = 4096;
    const K = 100;
    const p = spread(B, K, 9, 0.05);
    const a = await check('4096×100', p, B, K, spread(B, K, 10))();
    const b = await gpuMetrics(p, B, K, spread(B, K, 10));
    expect(b).toEqual(a);
  });

  test('bad shapes are refused before any dispatch', async () => {
    const ctx = await testGpu();
    const m = await AssignmentMetrics.create(ctx, { B: 4, K: 3 });
    expect(() => m.bind(createTensor(ctx, [13], 'f32', 'p'))).toThrow(ShapeError);
    expect(() => m.bind(createTensor(ctx, [12], 'f32', 'p'), createTensor(ctx, [12], 'u32', 'w'))).toThrow(/w .* should hold/);
    await expect(AssignmentMetrics.create(ctx, { B: 4, K: 1 })).rejects.toThrow(/K must be/);
  });
});
