// SeLa's training objective against PyTorch (test/fixtures/sela, from
// scripts/fixtures/make_sela_fixture.py): H = 2 heads, B = 50, K = 129, τ_s = 0.1, given labels.
// The GPU's loss and ∂L/∂q match autograd to 1e-3 relative per tensor (max |got − ref| / max |ref|);
// the float64 reference matches it to rounding. The fixture stores q head-major (H×B×K); the
// model's logits are B×(H·K) (the heads side by side in each row), so q and ∂L/∂q are transposed
// to [B][H][K] here.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { parseNpy } from '../src/io/npy.ts';
import { SelaLossKernels } from '../src/mira/sela-loss.ts';
import { createTensor, readF32, uploadTensor } from '../src/gpu/tensor.ts';
import { submitChecked } from '../src/gpu/kernel.ts';
import { selaCrossEntropy } from '../src/ref/sela-labels.ts';
import { relErr, testGpu } from './helpers/gpu.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/sela', import.meta.url));
const load = (name: string) => parseNpy(new Uint8Array(readFileSync(join(FIXTURE, name))), name);


describe('SeLa objective vs PyTorch', () => {
  test('one training step with given labels, 2 heads: loss and ∂L/∂q', async () => {
    const [H, B, K, tauS] = Array.from(load('params.npy').data as Float64Array);
    const logits = load('logits.npy');
    const labels = load('labels.npy');
    expect(logits.dtype).toBe('float32');
    expect(logits.shape).toEqual([H, B, K]);
    expect(labels.dtype).toBe('uint32');
    expect(labels.shape).toEqual([B, H]);
    const loss = (load('loss.npy').data as Float64Array)[0]!;
    // [H][B][K] → [B][H][K], the layout of the model's multi-head logits.
    const toBHK = <T extends Float32Array | Float64Array>(x: T): T => {
      const out = new (x.constructor as new (n: number) => T)(x.length);
      for (let h = 0; h < H!; h++) for (let b = 0; b < B!; b++) out.set(x.subarray((h * B! + b) * K!, (h * B! + b + 1) * K!), (b * H! + h) * K!);
      return out;
    };
    const q = toBHK(logits.data as Float32Array);
    const grad = toBHK(load('grad.npy').data as Float64Array);

    const ref = selaCrossEntropy(q, labels.data as Uint32Array, B!, K!, H!, tauS!);
    expect(Math.abs(ref.loss - loss) / loss).toBeLessThan(1e-12);
    expect(relErr(grad, ref.grad)).toBeLessThan(1e-12);

    const ctx = await testGpu();
    const g = createTensor(ctx, [B!, H!, K!], 'f32', 'grad');
    const plan = (await SelaLossKernels.create(ctx, { B: B!, K: K!, H: H! })).bind({
      logits: uploadTensor(ctx, q, [B!, H!, K!], 'q'),
      labels: uploadTensor(ctx, labels.data as Uint32Array, [B!, H!], 'y'),
      grad: g,
    });
    plan.setTemperature(tauS!);
    await submitChecked(ctx, 'sela_loss', (enc) => plan.record(enc));
    const gotLoss = await plan.readLoss();
    const gotGrad = await readF32(ctx, g);
    const lossErr = Math.abs(gotLoss - loss) / loss;
    const gradErr = relErr(grad, gotGrad);
    console.log(`SeLa objective vs PyTorch (H=${H} B=${B} K=${K}): loss ${gotLoss.toFixed(6)} (torch ${loss.toFixed(6)}, rel ${lossErr.toExponential(2)}), ∂L/∂q rel ${gradErr.toExponential(2)}`);
    expect(lossErr).toBeLessThan(1e-3);
    expect(gradErr).toBeLessThan(1e-3);
    plan.destroy();
  });
});
