// SeLa's multi-head model (--sela-heads H): H weight-normalised prototype heads packed back to back
// in the parameter layout (one [H·K, D] GEMM; head.* then heads.1.* … in checkpoints), logits
// B×(H·K), the heads' cross-entropies averaged.
//   - H = 3 on an odd shape (D = 13, K = 5: K·D not a multiple of the 64-element alignment, so the
//     packing is what keeps the heads one matrix): logits, loss, ∂L/∂zn and every head's ∂L/∂v
//     against the float64 weight-norm and SeLa cross-entropy references (src/ref/weightnorm.ts,
//     src/ref/sela-labels.ts); the checkpoint names and `heads` round-trip, and H = 1 writes no `heads`.
//   - `cli step --method sela`: a checkpoint with H = 2 identical heads and identical labels
//     (N×2) gives H = 1's loss and gradients (each head's v gradient half of the one head's);
//     N-only labels for an H = 2 checkpoint are refused naming the file and the shape.
//   - A short run with --sela-heads 2 on the bundled sample relabels both heads (labels.npy N×2,
//     each head's classes near equal) and resumes from them.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test, vi } from 'vitest';
import { run as stepCli } from '../cli/commands/step.ts';
import { createTensor, readF32, uploadTensor } from '../src/gpu/tensor.ts';
import { submitChecked } from '../src/gpu/kernel.ts';
import { encodeNpy, parseNpy } from '../src/io/npy.ts';
import { parseSafetensors } from '../src/io/safetensors.ts';
import { defaultModelConfig } from '../src/nn/config.ts';
import { decodeCheckpoint, encodeCheckpoint, initialState } from '../src/nn/checkpoint.ts';
import { ParamLayout, ParamStore } from '../src/nn/param-store.ts';
import { WeightNormLinear } from '../src/nn/weightnorm.ts';
import { SelaLossKernels } from '../src/mira/sela-loss.ts';
import { selaCrossEntropy } from '../src/ref/sela-labels.ts';
import { weightNormLinearBackward, weightNormLinearForward } from '../src/ref/weightnorm.ts';
import { loadDataset } from '../src/data/node-fs.ts';
import { defaultTrainConfig } from '../src/train/config.ts';
import { Trainer } from '../src/train/trainer.ts';
import { expectClose, randomArray, seededRandom, testGpu } from './helpers/gpu.ts';

const STEP = fileURLToPath(new URL('./fixtures/step', import.meta.url));
const SELA = fileURLToPath(new URL('./fixtures/sela-step', import.meta.url));

describe('SeLa multi-head: packed heads against float64 (H = 3, odd shape)', () => {
  test('logits, loss, ∂L/∂zn and each head’s ∂L/∂v; checkpoint names and heads round-trip', async () => {
    const ctx = await testGpu();
    const [B, D, K, H, tauS] = [7, 13, 5, 3, 0.1];
    const config = defaultModelConfig(1, { width: 1 / 16, imageSize: 16, projHidden: 16, projOut: D, prototypes: K, heads: H });
    const state = initialState(config, 11);
    const layout = new ParamLayout(config);
    expect(layout.headNames()).toEqual(['head.weight_v', 'heads.1.weight_v', 'heads.2.weight_v']);
    const first = layout.trainable.get('head.weight_v')!.offset;
    expect([1, 2].map((h) => layout.trainable.get(`heads.${h}.weight_v`)!.offset - first)).toEqual([K * D, 2 * K * D]);
    const store = new ParamStore(ctx, layout);
    store.upload(state);
    const head = await WeightNormLinear.create(ctx, { batch: B, dim: D, prototypes: H * K }, { label: 'heads' });
    const loss = await SelaLossKernels.create(ctx, { B, K, H });
    const x = randomArray(B * D, 5);
    const y = (() => {
      const r = seededRandom(6);
      return Uint32Array.from({ length: B * H }, () => Math.floor(r() * K));
    })();
    const xT = uploadTensor(ctx, x, [B, D], 'zn');
    const logits = createTensor(ctx, [B, H * K], 'f32', 'logits');
    const dlogits = createTensor(ctx, [B, H * K], 'f32', 'dlogits');
    const dx = createTensor(ctx, [B, D], 'f32', 'dzn');
    const norm = head.bindNormalize(store.params.prototypeHeads(H));
    const fwd = head.bindForward(xT, norm.w, logits);
    const plan = loss.bind({ logits, labels: uploadTensor(ctx, y, [B, H], 'y'), grad: dlogits });
    plan.setTemperature(tauS);
    const bwd = head.bindBackward({ x: xT, w: norm.w, vnorm: norm.vnorm, dlogits, dx, dv: store.grads.prototypeHeads(H) });
    await submitChecked(ctx, 'heads', (enc) => {
      norm.record(enc);
      fwd.record(enc);
      plan.record(enc);
      bwd.record(enc);
    });
    const names = ['head.weight_v', 'heads.1.weight_v', 'heads.2.weight_v'];
    const v = new Float64Array(H * K * D);
    names.forEach((n, h) => v.set(state.student.get(n)!, h * K * D));
    const ref = weightNormLinearForward(Float64Array.from(x), v, { batch: B, dim: D, prototypes: H * K });
    const ce = selaCrossEntropy(ref.logits, y, B, K, H, tauS);
    const back = weightNormLinearBackward(ce.grad, Float64Array.from(x), ref.weight, ref.norms, { batch: B, dim: D, prototypes: H * K });
    expectClose(ref.logits, await readF32(ctx, logits), 1e-5, 1e-5, 'logits B×(H·K)');
    const got = await plan.readLoss();
    expect(Math.abs(got - ce.loss)).toBeLessThan(1e-5 * ce.loss);
    expectClose(back.dx, await readF32(ctx, dx), 1e-6, 1e-4, '∂L/∂zn');
    for (const [h, n] of names.entries()) expectClose(back.dV.subarray(h * K * D, (h + 1) * K * D), await readF32(ctx, store.grads.get(n)), 1e-6, 1e-4, `∂L/∂${n}`);
    console.log(`[sela-heads] H=${H} B=${B} D=${D} K=${K}: loss ${got.toFixed(6)} (float64 ${ce.loss.toFixed(6)})`);

    // Checkpoints: head 0 keeps the single head's names, further heads are heads.h.*; `heads` is stored only when > 1.
    const back3 = decodeCheckpoint(encodeCheckpoint(state), 'three-heads.safetensors');
    expect(back3.config.heads).toBe(H);
    expect([...back3.student.keys()].filter((k) => k.startsWith('head'))).toEqual(['head.weight_g', 'head.weight_v', 'heads.1.weight_g', 'heads.1.weight_v', 'heads.2.weight_g', 'heads.2.weight_v']);
    const one = initialState({ ...config, heads: undefined }, 11);
    const bytes = encodeCheckpoint(one);
    const meta = JSON.parse(parseSafetensors(bytes, 'one.safetensors').metadata['mira.config']!) as Record<string, unknown>;
    expect(Object.hasOwn(meta, 'heads')).toBe(false);
    expect([...one.student.keys()].filter((k) => k.startsWith('head'))).toEqual(['head.weight_g', 'head.weight_v']);
    expect(decodeCheckpoint(bytes, 'one.safetensors').config.heads).toBeUndefined();
  }, 300_000);
});

async function step(checkpoint: string, labels: string): Promise<{ loss: number; grads: Map<string, ArrayLike<number>> }> {
  const out = join(mkdtempSync(join(tmpdir(), 'sela-heads-')), 'grads.safetensors');
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  try {
    expect(await stepCli(['--checkpoint', checkpoint, '--view1', join(STEP, 'view1.npy'), '--grads', out, '--method', 'sela', '--labels', labels])).toBe(0);
  } finally {
    spy.mockRestore();
  }
  const loss = (JSON.parse(lines.find((l) => l.startsWith('{'))!) as { loss: number }).loss;
  const file = parseSafetensors(new Uint8Array(readFileSync(out)), out);
  return { loss, grads: new Map([...file.tensors].map(([k, t]) => [k, t.data as ArrayLike<number>])) };
}

describe('cli step --method sela with H = 2 identical heads and labels equals H = 1', () => {
  test('loss equal, encoder and projector gradients equal, each head’s v gradient half of one head’s', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sela-two-heads-'));
    const state = decodeCheckpoint(new Uint8Array(readFileSync(join(STEP, 'model.safetensors'))), 'model.safetensors');
    state.student.set('heads.1.weight_g', state.student.get('head.weight_g')!.slice());
    state.student.set('heads.1.weight_v', state.student.get('head.weight_v')!.slice());
    const two = join(dir, 'two.safetensors');
    writeFileSync(two, encodeCheckpoint({ ...state, config: { ...state.config, heads: 2 } }));
    const y = parseNpy(new Uint8Array(readFileSync(join(SELA, 'labels.npy'))), 'labels.npy').data as Uint32Array;
    const y2 = new Uint32Array(y.length * 2);
    y.forEach((v, i) => y2.set([v, v], 2 * i));
    const labels2 = join(dir, 'labels2.npy');
    writeFileSync(labels2, encodeNpy(y2, [y.length, 2], 'uint32'));

    const a = await step(join(STEP, 'model.safetensors'), join(SELA, 'labels.npy'));
    const b = await step(two, labels2);
    expect(Math.abs(b.loss - a.loss)).toBeLessThan(1e-6 * a.loss);
    expect([...b.grads.keys()].sort()).toEqual([...a.grads.keys(), 'heads.1.weight_v'].sort());
    // Per tensor, max |Δ| / max |ref| (float32 sums in another order: the head GEMM is 2K wide).
    const rel = (want: ArrayLike<number>, got: ArrayLike<number>) => {
      let scale = 0;
      let d = 0;
      for (let i = 0; i < want.length; i++) {
        scale = Math.max(scale, Math.abs(want[i]!));
        d = Math.max(d, Math.abs(got[i]! - want[i]!));
      }
      return d / scale;
    };
    let worst = 0;
    for (const [name, g] of a.grads) {
      const half = name === 'head.weight_v' ? 0.5 : 1;
      const want = Float64Array.from(g as ArrayLike<number>, (x) => x * half);
      for (const n of name === 'head.weight_v' ? [name, 'heads.1.weight_v'] : [name]) {
        const r = rel(want, b.grads.get(n)!);
        worst = Math.max(worst, r);
        expect(r, n).toBeLessThan(1e-5);
      }
    }
    console.log(`[sela-heads] H=1 loss ${a.loss}, H=2 (identical heads and labels) loss ${b.loss}; ${a.grads.size} gradients agree, worst relative ${worst.toExponential(2)}`);
    // One label per image for a two-head checkpoint is refused naming the file and the shape it needs.
    await expect(step(two, join(SELA, 'labels.npy'))).rejects.toThrow(/labels\.npy: labels of shape \[6\]; expected \[6, 2\]/);
  }, 300_000);
});

describe('SeLa --sela-heads 2 on the bundled sample', () => {
  test('both heads are relabelled with near-equal classes; labels.npy is N×2 and a run resumes from it', async () => {
    const ctx = await testGpu();
    const data = await loadDataset('bundled');
    const cfg = defaultTrainConfig({ method: 'sela', selaHeads: 2, width: 1 / 16, batch: 16, prototypes: 16, projHidden: 64, projOut: 32, steps: 16, relabelEvery: 8, logEvery: 8, knnBank: 100, knnQueries: 100 });
    const logs: Record<string, number>[] = [];
    const trainer = await Trainer.create(ctx, data, cfg, { onLog: () => {} });
    expect(trainer.model.heads).toBe(2);
    const initial = parseNpy((await trainer.saveRunFiles())['labels.npy']!, 'labels.npy');
    expect(initial.shape).toEqual([data.train.count, 2]);
    while (!trainer.done) {
      await trainer.step();
      const rec = await trainer.afterStep();
      if (rec) logs.push(rec);
    }
    await trainer.flush();
    const files = await trainer.saveRunFiles();
    const state = await trainer.saveState();
    trainer.destroy();
    expect(logs.length).toBe(2);
    const labels = parseNpy(files['labels.npy']!, 'labels.npy');
    expect(labels.shape).toEqual([data.train.count, 2]);
    const t = labels.data as Uint32Array;
    const N = data.train.count;
    for (const h of [0, 1]) {
      const sizes = new Uint32Array(16);
      let changed = 0;
      for (let i = 0; i < N; i++) {
        sizes[t[i * 2 + h]!]!++;
        changed += t[i * 2 + h] !== (initial.data as Uint32Array)[i * 2 + h] ? 1 : 0;
      }
      expect(Math.max(...sizes), `head ${h}'s largest class`).toBeLessThanOrEqual(Math.ceil(N / 16));
      expect(changed, `head ${h} relabelled`).toBeGreaterThan(0);
    }
    for (const r of logs) {
      expect(Number.isFinite(r.sela_nmi_heads)).toBe(true);
      expect(r.sela_changed_heads).toBeGreaterThan(0);
    }
    console.log(`[sela-heads] H=2: NMI head 0 / mean ${logs.map((r) => `${r.sela_nmi!.toFixed(3)}/${r.sela_nmi_heads!.toFixed(3)}`).join(' ')}`);
    expect(state.student.has('heads.1.weight_v')).toBe(true);
    const resumed = await Trainer.create(ctx, data, defaultTrainConfig({ ...cfg, steps: 18 }), { resume: state, resumeFiles: files, onLog: () => {} });
    await resumed.step();
    resumed.destroy();
  }, 900_000);
});
