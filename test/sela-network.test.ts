// SeLa's bank filled by the network in evaluation mode (LogitEmbedder in src/nn/embedder.ts →
// SelaLabeller.fillFromNetwork): the logits equal the float64 projector + weight-normalised head
// applied to the GPU's eval-mode encoder features (which test/embed-parity.test.ts checks against
// PyTorch), and streaming them batch by batch into a bank whose chunk boundaries fall inside
// batches gives exactly the labels of uploading the same logits from the host.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { decodeCheckpoint } from '../src/nn/checkpoint.ts';
import { ParamLayout, ParamStore } from '../src/nn/param-store.ts';
import { Embedder, LogitEmbedder } from '../src/nn/embedder.ts';
import { normalizeImages } from '../src/data/image-batch.ts';
import { parseNpy } from '../src/io/npy.ts';
import { createTensor, readF32 } from '../src/gpu/tensor.ts';
import { SelaLabeller } from '../src/mira/sela-labeller.ts';
import { expectClose, testGpu } from './helpers/gpu.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/step', import.meta.url));

/** Eval-mode projector and head in float64: linear, BN (running stats), ReLU ×2, linear + bias, L2, W = v/‖v‖. */
function headRef(feats: Float32Array, n: number, t: Map<string, Float32Array>, dims: { D: number; H: number; P: number; K: number }): Float64Array {
  // Linear weights come out of decodeCheckpoint as in×out (the transpose of PyTorch's); the head's W is K×P.
  const lin = (x: Float64Array, w: Float32Array, inF: number, outF: number, bias?: Float32Array, outIn = false) => {
    const y = new Float64Array(n * outF);
    for (let i = 0; i < n; i++) for (let o = 0; o < outF; o++) {
      let s = bias ? bias[o]! : 0;
      for (let k = 0; k < inF; k++) s += x[i * inF + k]! * w[outIn ? o * inF + k : k * outF + o]!;
      y[i * outF + o] = s;
    }
    return y;
  };
  const bnRelu = (x: Float64Array, name: string, C: number) => {
    const [g, b, m, v] = ['weight', 'bias', 'running_mean', 'running_var'].map((k) => t.get(`projector.${name}.${k}`)!);
    return x.map((val, idx) => Math.max(0, ((val - m![idx % C]!) / Math.sqrt(v![idx % C]! + 1e-5)) * g![idx % C]! + b![idx % C]!));
  };
  const { D, H, P, K } = dims;
  let x = lin(Float64Array.from(feats.subarray(0, n * D)), t.get('projector.0.weight')!, D, H);
  x = bnRelu(x, '1', H);
  x = bnRelu(lin(x, t.get('projector.3.weight')!, H, H), '4', H);
  const z = lin(x, t.get('projector.6.weight')!, H, P, t.get('projector.6.bias')!);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < P; k++) s += z[i * P + k]! ** 2;
    for (let k = 0; k < P; k++) z[i * P + k]! /= Math.max(Math.sqrt(s), 1e-12);
  }
  const v = t.get('head.weight_v')!;
  const w = new Float32Array(K * P);
  for (let k = 0; k < K; k++) {
    let s = 0;
    for (let d = 0; d < P; d++) s += v[k * P + d]! ** 2;
    for (let d = 0; d < P; d++) w[k * P + d] = v[k * P + d]! / Math.sqrt(s);
  }
  return lin(z, w, P, K, undefined, true);
}

describe('SeLa bank from the network in evaluation mode', () => {
  test('logits match the float64 head on eval features; streamed bank = uploaded bank', async () => {
    const ctx = await testGpu();
    const state = decodeCheckpoint(new Uint8Array(readFileSync(join(FIXTURE, 'model.safetensors'))), 'model.safetensors');
    const { config } = state;
    const px = ['view1.npy', 'view2.npy'].map((f) => parseNpy(new Uint8Array(readFileSync(join(FIXTURE, f))), f).data as Uint8Array);
    const pixels = new Uint8Array(px[0]!.length + px[1]!.length);
    pixels.set(px[0]!);
    pixels.set(px[1]!, px[0]!.length);
    const N = pixels.length / (config.imageSize * config.imageSize * config.inChannels);
    const K = config.prototypes;
    expect(N).toBeGreaterThanOrEqual(K);
    const images = normalizeImages(pixels, config.inChannels, config.mean, config.std);
    const store = new ParamStore(ctx, new ParamLayout(config));
    store.upload(state);
    const batch = 5; // 12 images: batches 5, 5, 2 (the last padded)
    const embedder = await Embedder.create(ctx, config, store.student, batch);
    const feats = createTensor(ctx, [N, embedder.dim], 'f32', 'feats');
    await embedder.embed(images, N, feats);
    const ref = headRef(await readF32(ctx, feats), N, state.student, { D: embedder.dim, H: config.projHidden, P: config.projOut, K });

    const le = await LogitEmbedder.create(ctx, config, store.student, batch);
    const logits = new Float32Array(N * K);
    await le.forEachBatch(images, N, () => {}); // warm-up: nothing consumed
    const out = createTensor(ctx, [N, K], 'f32', 'logits');
    await le.forEachBatch(images, N, (enc, l, start, n) => enc.copyBufferToBuffer(l.buffer, l.byteOffset, out.buffer, start * K * 4, n * K * 4));
    logits.set(await readF32(ctx, out));
    const rep = expectClose(ref, logits, 1e-5, 1e-4, 'eval-mode logits');
    console.log(`LogitEmbedder ${N}×${K}: max |GPU − float64 head| ${rep.maxAbs.toExponential(2)}`);

    // Chunks of 3 rows (120 bytes at K = 10): boundaries fall inside the batches of 5.
    const opts = { lambda: 10, tol: 1e-6, checkEvery: 1, maxIters: 300 };
    const streamed = await SelaLabeller.create(ctx, { N, K }, { maxChunkBytes: 3 * K * 4 });
    streamed.setTemperature(0.1);
    await streamed.fillFromNetwork(le, images, N);
    const a = await streamed.optimise(opts);
    const uploaded = await SelaLabeller.create(ctx, { N, K }, { maxChunkBytes: 3 * K * 4 });
    uploaded.setTemperature(0.1);
    await uploaded.uploadLogits(logits);
    const b = await uploaded.optimise(opts);
    expect(streamed.chunkCount).toBe(4);
    expect(a.iters).toBe(b.iters);
    expect(Array.from(a.labels)).toEqual(Array.from(b.labels));
    expect(a.change).toBe(b.change);
    console.log(`streamed bank: ${a.iters} iterations, labels [${Array.from(a.labels).join(' ')}], largest class ${a.largestOverMean.toFixed(2)}×N/K`);
    streamed.destroy();
    uploaded.destroy();
  });
});
