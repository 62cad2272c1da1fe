// The float64 ResNet-18 reference against PyTorch: golden fixtures made by
// scripts/fixtures/make_resnet_fixture.py (width 1/16, 16×16, batch 4; 3 channels with stem
// padding 1, 1 channel with stem padding 2). Checked: the training-mode features, every
// parameter gradient, the input gradient, the running statistics after the forward and the
// eval-mode features. Parameters are stored F16-exact and parameter gradients as float32 (see
// the script), so those gradients are compared to 1e-6 relative; all else to 1e-9.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { parseSafetensors, type SafeTensor } from '../src/io/safetensors.ts';
import {
  hwioToOihw,
  isTrainable,
  nchwToNhwc,
  nhwcToNchw,
  oihwToHwio,
  resnet18Backward,
  resnet18Forward,
  resnet18ParamShapes,
  type ResNet18Config,
  type ResNet18Params,
} from '../src/ref/resnet18.ts';
import { closeness } from './helpers/gradcheck.ts';

interface FixtureConfig {
  width: number;
  in_channels: number;
  image_size: number;
  stem_padding: number;
  batch: number;
  eval_running_stats: string;
}

function loadFixture(inChannels: number) {
  const path = new URL(`./fixtures/resnet18_w16_c${inChannels}.safetensors`, import.meta.url);
  const file = parseSafetensors(new Uint8Array(readFileSync(path)), `resnet18_w16_c${inChannels}.safetensors`);
  const meta = JSON.parse(file.metadata['fixture.config']!) as FixtureConfig;
  const config: ResNet18Config = { width: meta.width, inChannels: meta.in_channels, stemPadding: meta.stem_padding };
  const tensor = (name: string): SafeTensor => {
    const t = file.tensors.get(name);
    if (!t) throw new Error(`fixture lacks "${name}"`);
    return t;
  };
  const f64 = (name: string) => Float64Array.from(tensor(name).data as ArrayLike<number>);
  const input = { batch: meta.batch, height: meta.image_size, width: meta.image_size };
  const x = nchwToNhwc(f64('input'), [meta.batch, meta.in_channels, meta.image_size, meta.image_size]);
  const params: ResNet18Params = new Map();
  for (const [name, shape] of resnet18ParamShapes(config)) {
    const t = tensor(`encoder.${name}`);
    // PyTorch OIHW → our HWIO; BN vectors as they are.
    params.set(name, shape.length === 4 ? oihwToHwio(f64(`encoder.${name}`), t.shape as [number, number, number, number]) : f64(`encoder.${name}`));
  }
  return { file, meta, config, input, x, params, tensor, f64 };
}

/** Tolerances relative to the tensor's own scale, so near-zero elements do not demand the impossible. */
function expectMatches(what: string, got: Float64Array, ref: Float64Array, rtol: number): void {
  const scale = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const c = closeness(got, ref, rtol * 1e-3 * scale, rtol);
  expect(c.ok, `${what}: ${c.message}`).toBe(true);
}

const F64_RTOL = 1e-9;
/** float32 storage rounds to 6e-8 relative. */
const F32_RTOL = 1e-6;

describe.each([3, 1])('ResNet-18 reference vs PyTorch, %s input channel(s)', (inChannels) => {
  const fx = loadFixture(inChannels);

  test('the fixture holds exactly the checkpoint names (encoder.* as in docs/ARCHITECTURE.md, the checkpoint format) and shapes we expect', () => {
    const shapes = resnet18ParamShapes(fx.config);
    for (const [name, shape] of shapes) {
      const t = fx.tensor(`encoder.${name}`);
      const torchShape = shape.length === 4 ? [shape[3], shape[2], shape[0], shape[1]] : shape;
      expect(t.shape, name).toEqual(torchShape);
      if (isTrainable(name)) expect(fx.tensor(`grad.encoder.${name}`).shape, name).toEqual(torchShape);
      else expect(fx.tensor(`after.encoder.${name}`).shape, name).toEqual(torchShape);
    }
    const bnCount = [...shapes.keys()].filter((k) => k.endsWith('.running_mean')).length;
    expect(fx.tensor('encoder.bn1.num_batches_tracked').dtype).toBe('I64');
    const extras = ['input', 'R', 'features', 'grad.input', 'eval_features'];
    expect(fx.file.tensors.size).toBe(shapes.size + bnCount + (shapes.size - 2 * bnCount) + 2 * bnCount + extras.length);
    expect(fx.meta.eval_running_stats).toBe('before');
  });

  test('training forward, running statistics, every parameter gradient and the input gradient', () => {
    const { config, input, x, params, f64 } = fx;
    const fwd = resnet18Forward(params, x, input, config, 'train');
    expectMatches('features', fwd.features, f64('features'), F64_RTOL);
    for (const [name, value] of fwd.runningStats) expectMatches(`after.${name}`, value, f64(`after.encoder.${name}`), F64_RTOL);

    const { dx, grads } = resnet18Backward(params, fwd.cache, f64('R'));
    expect(grads.size).toBe([...params.keys()].filter(isTrainable).length);
    for (const [name, g] of grads) {
      const t = fx.tensor(`grad.encoder.${name}`);
      expect(t.dtype).toBe('F32');
      const ours = t.shape.length === 4 ? hwioToOihw(g, [t.shape[2]!, t.shape[3]!, t.shape[1]!, t.shape[0]!]) : g;
      expectMatches(`grad.${name}`, ours, f64(`grad.encoder.${name}`), F32_RTOL);
    }
    const s = fx.meta;
    expectMatches('grad.input', nhwcToNchw(dx, [s.batch, s.image_size, s.image_size, s.in_channels]), f64('grad.input'), F64_RTOL);
  });

  test('eval-mode forward from the stored running statistics', () => {
    const out = resnet18Forward(fx.params, fx.x, fx.input, fx.config, 'eval');
    expectMatches('eval_features', out.features, fx.f64('eval_features'), F64_RTOL);
  });

  test('the comparison is sharp: a 1e-6 change in one weight, or the other stem padding, is caught', () => {
    const { config, input, x, f64 } = fx;
    const params = new Map([...fx.params].map(([k, v]) => [k, Float64Array.from(v)]));
    params.get('layer4.1.conv2.weight')![7]! += 1e-6;
    const nudged = resnet18Forward(params, x, input, config, 'train').features;
    expect(closeness(nudged, f64('features'), 0, F64_RTOL).ok).toBe(false);
    const otherPadding = resnet18Forward(fx.params, x, input, { ...config, stemPadding: 3 - config.stemPadding }, 'train').features;
    expect(closeness(otherPadding, f64('features'), 0, 1e-3).ok).toBe(false);
  });
});
