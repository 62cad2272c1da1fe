// The whole GPU encoder (width 1/16, 16×16 input, batch 4, 1 and 3 channels, stem padding 1
// and 2; with each block's bn1 + ReLU applied in conv2's loads, too) against golden fixtures from an independent PyTorch implementation
// (scripts/fixtures/make_resnet_fixture.py): training-mode features, the input gradient, every
// parameter gradient, the updated BN running statistics, and evaluation-mode features.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { parseSafetensors, type SafeTensor } from '../src/io/safetensors.ts';
import { initialState } from '../src/nn/checkpoint.ts';
import { defaultModelConfig } from '../src/nn/config.ts';
import { ParamLayout, ParamStore, type FlatTensors } from '../src/nn/param-store.ts';
import { EncoderLayers, EncoderRun, Scratch } from '../src/nn/resnet18.ts';
import { nchwToNhwc, oihwToHwio } from '../src/nn/layout.ts';
import { readF32, uploadTensor } from '../src/gpu/tensor.ts';
import { submitChecked } from '../src/gpu/kernel.ts';
import { relErr, testGpuAs } from './helpers/gpu.ts';

const f32 = (t: SafeTensor) => Float32Array.from(t.data as ArrayLike<number>);


describe.each([
  ['resnet18_w16_c3.safetensors', 3, false, 'emulator'],
  ['resnet18_w16_c1.safetensors', 1, false, 'emulator'],
  // Fused convolutions (fused-conv.test.ts): bn1 + ReLU applied in conv2's loads, and on the GPUs' core ('tiled', run
  // here on the emulator as a hardware GPU) the batch-norm statistics gathered in each convolution's epilogue.
  ['resnet18_w16_c3.safetensors', 3, true, 'emulator'],
  ['resnet18_w16_c3.safetensors', 3, true, 'gpu'],
] as const)('GPU ResNet-18 vs PyTorch (%s, %i channels, fused: %s, %s variants)', (file, channels, fuse, kind) => {
  test('features, input gradient, every parameter gradient, running stats, eval features', { timeout: 400_000 }, async () => {
    const ctx = await testGpuAs(kind);
    const fx = parseSafetensors(new Uint8Array(readFileSync(new URL(`./fixtures/${file}`, import.meta.url))), file);
    const meta = JSON.parse(fx.metadata['fixture.config']!);
    const B = meta.batch as number;
    const S = meta.image_size as number;
    const config = defaultModelConfig(channels, { width: meta.width, imageSize: S, stemPadding: meta.stem_padding, projHidden: 8, projOut: 4, prototypes: 3 });
    const state = initialState(config, 0);
    for (const [name, t] of fx.tensors) {
      if (!name.startsWith('encoder.') || name.endsWith('num_batches_tracked')) continue;
      state.student.set(name, t.shape.length === 4 ? oihwToHwio(f32(t), t.shape as [number, number, number, number]) : f32(t));
    }
    const layout = new ParamLayout(config);
    const store = new ParamStore(ctx, layout);
    store.upload(state);
    const input = fx.tensors.get('input')!;
    const x = uploadTensor(ctx, nchwToNhwc(f32(input), input.shape as [number, number, number, number]), [B, S, S, channels], 'input');
    const layers = await EncoderLayers.create(ctx, config, B, undefined, undefined, { fuseBnRelu: fuse });

    // Evaluation mode first: it reads the stored running statistics, before training updates them.
    const evalRun = new EncoderRun(ctx, layers, store.student, x, 'eval', 'eval');
    await submitChecked(ctx, 'encoder eval', (enc) => evalRun.forward.record(enc));
    const evalErr = relErr(f32(fx.tensors.get('eval_features')!), await readF32(ctx, evalRun.features));

    const run = new EncoderRun(ctx, layers, store.student, x, 'train', 'train');
    const dFeat = uploadTensor(ctx, f32(fx.tensors.get('R')!), [B, layers.spec.featureDim], 'dfeatures');
    run.inputGrad = uploadTensor(ctx, new Float32Array(x.numel), [...x.shape], 'dinput');
    const backward = run.bindBackward(dFeat, store.grads, new Scratch(ctx, 'scratch'));
    await submitChecked(ctx, 'encoder train step', (enc) => {
      enc.clearBuffer(store.grads.buffer);
      run.forward.record(enc);
      backward.record(enc);
    });
    const errors: Record<string, number> = {
      features: relErr(f32(fx.tensors.get('features')!), await readF32(ctx, run.features)),
      eval_features: evalErr,
    };
    const gin = fx.tensors.get('grad.input')!;
    errors['grad.input'] = relErr(nchwToNhwc(f32(gin), gin.shape as [number, number, number, number]), await readF32(ctx, run.inputGrad));
    const read = async (flat: FlatTensors, name: string) => readF32(ctx, flat.get(name));
    for (const [name, t] of fx.tensors) {
      if (name.startsWith('grad.encoder.')) {
        const ref = t.shape.length === 4 ? oihwToHwio(f32(t), t.shape as [number, number, number, number]) : f32(t);
        errors[name] = relErr(ref, await read(store.grads, name.slice(5)));
      } else if (name.startsWith('after.encoder.')) {
        errors[name] = relErr(f32(t), await read(store.stats, name.slice(6)));
      }
    }
    const worst = Object.entries(errors).sort((a, b) => b[1] - a[1]);
    console.log(`[resnet18 ${file}${fuse ? ' fused' : ''} ${kind}] ${Object.keys(errors).length} tensors; worst relative errors: ${worst.slice(0, 4).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}`);
    expect(Object.keys(errors).filter((k) => k.startsWith('grad.encoder.')).length).toBe(20 + 20 * 2);
    for (const [name, e] of worst) expect(e, name).toBeLessThan(5e-5);
  });
});
