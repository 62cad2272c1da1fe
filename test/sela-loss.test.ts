// SeLa's hard-label cross-entropy on the GPU (src/mira/sela-loss.ts) against the float64
// reference (src/ref/sela-labels.ts), on odd shapes and several heads; a label ≥ K is refused.
import { describe, expect, test } from 'vitest';
import { SelaLossKernels } from '../src/mira/sela-loss.ts';
import { createTensor, readF32, uploadTensor } from '../src/gpu/tensor.ts';
import { submitChecked } from '../src/gpu/kernel.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { ParamError } from '../src/mira/validate.ts';
import { selaCrossEntropy } from '../src/ref/sela-labels.ts';
import { expectClose, randomArray, seededRandom, testGpu } from './helpers/gpu.ts';

function randomLabels(n: number, K: number, seed: number): Uint32Array {
  const r = seededRandom(seed);
  return Uint32Array.from({ length: n }, () => Math.floor(r() * K));
}

async function gpuLoss(q: Float32Array, labels: Uint32Array, B: number, K: number, H: number, tauS: number) {
  const ctx = await testGpu();
  const kernels = await SelaLossKernels.create(ctx, { B, K, H });
  const grad = createTensor(ctx, [B, H, K], 'f32', 'grad');
  const plan = kernels.bind({ logits: uploadTensor(ctx, q, [B, H, K], 'q'), labels: uploadTensor(ctx, labels, [B, H], 'y'), grad });
  plan.setTemperature(tauS);
  await submitChecked(ctx, 'sela_loss', (enc) => plan.record(enc));
  return { plan, loss: () => plan.readLoss(), grad: await readF32(ctx, grad) };
}

describe('SeLa hard-label cross-entropy: GPU vs float64', () => {
  const CASES: [number, number, number, number][] = [
    // B, K, H, τ_s
    [7, 2, 1, 0.1],
    [1, 3, 1, 0.1],
    [7, 129, 2, 0.1],
    [64, 128, 3, 0.1],
    [33, 1000, 1, 0.5],
    [9, 17, 10, 1],
  ];
  test.each(CASES)('B=%i K=%i H=%i τ_s=%f', async (B, K, H, tauS) => {
    const q = randomArray(H * B * K, B * 31 + K * 7 + H, -1, 1);
    const y = randomLabels(B * H, K, B + K + H);
    const g = await gpuLoss(q, y, B, K, H, tauS);
    const r = selaCrossEntropy(q, y, B, K, H, tauS);
    const loss = await g.loss();
    expect(Math.abs(loss - r.loss)).toBeLessThan(1e-5 * Math.max(1, r.loss));
    const rep = expectClose(r.grad, g.grad, 1e-7 / (tauS * H * B), 1e-5, `∂L/∂q ${B}×${H}×${K}`);
    console.log(`sela CE H=${H} B=${B} K=${K}: loss ${loss.toFixed(6)} (float64 ${r.loss.toFixed(6)}), max |Δgrad| ${rep.maxAbs.toExponential(2)}`);
    g.plan.destroy();
  });

  test('logits far apart (±60 at τ_s = 0.1) stay finite', async () => {
    const B = 16;
    const K = 5;
    const q = randomArray(B * K, 3, -60, 60);
    const y = randomLabels(B, K, 4);
    const g = await gpuLoss(q, y, B, K, 1, 0.1);
    const r = selaCrossEntropy(q, y, B, K, 1, 0.1);
    expect(Math.abs((await g.loss()) - r.loss)).toBeLessThan(1e-4 * r.loss);
    expectClose(r.grad, g.grad, 1e-6, 1e-4, 'grad at ±60');
  });

  test('a label ≥ K is counted and refused by readLoss; bad shapes and τ_s are refused', async () => {
    const ctx = await testGpu();
    const B = 8;
    const K = 4;
    const y = randomLabels(B, K, 9);
    y[5] = K;
    const g = await gpuLoss(randomArray(B * K, 8), y, B, K, 1, 0.1);
    await expect(g.loss()).rejects.toThrow(/1 label\(s\) in this batch are ≥ K = 4/);
    const kernels = await SelaLossKernels.create(ctx, { B, K, H: 2 });
    const t = (n: number, dtype: 'f32' | 'u32' = 'f32') => createTensor(ctx, [n], dtype, 't');
    expect(() => kernels.bind({ logits: t(B * K), labels: t(B * 2, 'u32'), grad: t(2 * B * K) })).toThrow(ShapeError);
    expect(() => kernels.bind({ logits: t(2 * B * K), labels: t(B, 'u32'), grad: t(2 * B * K) })).toThrow(/labels .* should hold B×H = 8×2/);
    const plan = kernels.bind({ logits: t(2 * B * K), labels: t(2 * B, 'u32'), grad: t(2 * B * K) });
    expect(() => plan.setTemperature(0)).toThrow(ParamError);
    expect(() => plan.record(ctx.device.createCommandEncoder())).toThrow(/setTemperature/);
    await expect(SelaLossKernels.create(ctx, { B, K: 1 })).rejects.toThrow(/K must be an integer ≥ 2/);
  });
});
