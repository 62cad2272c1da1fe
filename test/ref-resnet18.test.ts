// The float64 ResNet-18 reference: its parameter list against the model description the GPU
// side uses (src/nn/architecture.ts), its forward in eval vs training mode, and its backward
// (every parameter and the input) against central finite differences on tiny, odd shapes.
import { describe, expect, test } from 'vitest';
import {
  isTrainable,
  randomResnet18Params,
  resnet18Backward,
  resnet18Channels,
  resnet18FeatureDim,
  resnet18Forward,
  resnet18ParamShapes,
  type ResNet18Config,
  type ResNet18Input,
} from '../src/ref/resnet18.ts';
import { encoderSpec, allConvs } from '../src/nn/architecture.ts';
import { dot, gradientCheck, perturbGradient, randomF64 } from './helpers/gradcheck.ts';

describe('resnet18 parameters', () => {
  test('channels: 64w…512w rounded, at least 1', () => {
    expect(resnet18Channels(1)).toEqual([64, 128, 256, 512]);
    expect(resnet18Channels(1 / 16)).toEqual([4, 8, 16, 32]);
    expect(resnet18Channels(1 / 128)).toEqual([1, 1, 2, 4]);
  });

  test.each([
    [1 / 16, 3, 1],
    [1 / 8, 1, 2],
    [1, 3, 1],
  ] as const)('width %s, %s input channels: names and shapes match src/nn/architecture.ts', (width, inChannels, stemPadding) => {
    const shapes = resnet18ParamShapes({ width, inChannels, stemPadding });
    const spec = encoderSpec({ width, inChannels, imageSize: 32, stemPadding });
    const expected = new Map<string, number[]>();
    for (const c of allConvs(spec)) expected.set(`${c.name}.weight`, [c.kernel, c.kernel, c.inChannels, c.outChannels]);
    const convNames = [...shapes.keys()].filter((k) => shapes.get(k)!.length === 4);
    expect(convNames.sort()).toEqual([...expected.keys()].sort());
    for (const [name, shape] of expected) expect(shapes.get(name), name).toEqual(shape);
    const bns = [spec.stemBn, ...spec.blocks.flatMap((b) => [b.bn1, b.bn2, ...(b.downsample ? [b.downsample.bn] : [])])];
    for (const bn of bns) for (const f of ['weight', 'bias', 'running_mean', 'running_var']) expect(shapes.has(`${bn}.${f}`), `${bn}.${f}`).toBe(true);
    expect(shapes.size).toBe(expected.size + 4 * bns.length);
    expect(resnet18FeatureDim({ width, inChannels, stemPadding })).toBe(spec.featureDim);
  });

  test('state_dict order: conv1, bn1.*, layer1.0.conv1, layer1.0.bn1.*, …, downsample last in a block', () => {
    const names = [...resnet18ParamShapes({ width: 1 / 16, inChannels: 3, stemPadding: 1 }).keys()];
    expect(names.slice(0, 6)).toEqual(['conv1.weight', 'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var', 'layer1.0.conv1.weight']);
    const i = names.indexOf('layer2.0.downsample.0.weight');
    expect(names.slice(i - 1, i + 6)).toEqual([
      'layer2.0.bn2.running_var',
      'layer2.0.downsample.0.weight',
      'layer2.0.downsample.1.weight',
      'layer2.0.downsample.1.bias',
      'layer2.0.downsample.1.running_mean',
      'layer2.0.downsample.1.running_var',
      'layer2.1.conv1.weight',
    ]);
    expect(names.filter((n) => n.includes('downsample.0'))).toEqual(['layer2.0.downsample.0.weight', 'layer3.0.downsample.0.weight', 'layer4.0.downsample.0.weight']);
  });
});

describe('resnet18 forward', () => {
  const config: ResNet18Config = { width: 1 / 16, inChannels: 3, stemPadding: 1 };
  const input: ResNet18Input = { batch: 2, height: 8, width: 8 };

  test('training mode updates every running statistic and leaves params alone; eval mode keeps none', () => {
    const params = randomResnet18Params(config, 5);
    const before = new Map([...params].map(([k, v]) => [k, Float64Array.from(v)]));
    const x = randomF64(2 * 8 * 8 * 3, 6);
    const train = resnet18Forward(params, x, input, config, 'train');
    expect(train.features.length).toBe(2 * 32);
    expect([...train.runningStats.keys()].sort()).toEqual([...params.keys()].filter((k) => !isTrainable(k)).sort());
    for (const [k, v] of params) expect(v, k).toEqual(before.get(k));
    const evalOut = resnet18Forward(params, x, input, config, 'eval');
    expect(evalOut.cache).toBeNull();
    expect(evalOut.runningStats.size).toBe(0);
    expect(() => resnet18Backward(params, evalOut.cache, new Float64Array(64))).toThrow(/training-mode forward/);
  });

  test('refuses a missing parameter, a wrong input size and an input too small for the stages', () => {
    const params = randomResnet18Params(config, 5);
    expect(() => resnet18Forward(params, new Float64Array(10), input, config, 'train')).toThrow(/input has 10 elements, expected 2×8×8×3/);
    params.delete('layer3.1.bn2.bias');
    expect(() => resnet18Forward(params, randomF64(384, 1), input, config, 'train')).toThrow(/"layer3.1.bn2.bias" is missing/);
  });
});

describe('resnet18 backward against finite differences', () => {
  // Odd sizes on purpose: 10 → 10, 5, 3, 2 with padding 1; 9 → 11, 6, 3, 2 with padding 2.
  const CASES: [string, ResNet18Config, ResNet18Input][] = [
    ['3 channels, stem padding 1, 2×10×10', { width: 1 / 16, inChannels: 3, stemPadding: 1 }, { batch: 2, height: 10, width: 10 }],
    ['1 channel, stem padding 2, 3×9×9', { width: 1 / 16, inChannels: 1, stemPadding: 2 }, { batch: 3, height: 9, width: 9 }],
  ];

  // ReLUs make the loss piecewise smooth: failing elements are retried with smaller steps.
  // atol: rounding noise of the deep float64 loss, over 2h, reaches ~1e-8.
  const FD = { h: 1e-6, atol: 5e-8, maxPerInput: 6, kinkRetries: 2 };

  function gradientCase(config: ResNet18Config, input: ResNet18Input, seed: number) {
    const params = randomResnet18Params(config, seed);
    const x = randomF64(input.batch * input.height * input.width * config.inChannels, seed + 1, -2, 2);
    const r = randomF64(input.batch * resnet18FeatureDim(config), seed + 2);
    const fwd = resnet18Forward(params, x, input, config, 'train');
    const { dx, grads } = resnet18Backward(params, fwd.cache, r);
    const inputs: Record<string, Float64Array> = { input: x };
    const analytic: Record<string, Float64Array> = { input: dx };
    for (const [name, g] of grads) {
      inputs[name] = params.get(name)!;
      analytic[name] = g;
    }
    return { loss: () => dot(resnet18Forward(params, x, input, config, 'train').features, r), inputs, grads: analytic, paramNames: [...params.keys()] };
  }

  test.each(CASES)('%s: every trainable parameter and the input', (_, config, input) => {
    const c = gradientCase(config, input, 31);
    expect(Object.keys(c.grads).length - 1).toBe(c.paramNames.filter(isTrainable).length);
    const report = gradientCheck(c, FD);
    expect(report.ok, report.message).toBe(true);
    // A kink now and then is expected; many would mean the check had gone soft.
    expect(report.retried, report.message).toBeLessThan(report.checked / 20);
  });

  test('the check catches a 1e-4 error in one element of a deep gradient', () => {
    const [, config, input] = CASES[0]!;
    const c = gradientCase(config, input, 31);
    const only = (name: string) => ({ loss: c.loss, inputs: { [name]: c.inputs[name]! }, grads: { [name]: perturbGradient(c.grads, name, 0)[name]! } });
    expect(gradientCheck(only('layer3.0.downsample.0.weight'), { ...FD, maxPerInput: 3 }).ok).toBe(false);
    expect(gradientCheck(only('layer1.1.bn2.weight'), { ...FD, maxPerInput: 3 }).ok).toBe(false);
    expect(gradientCheck(only('input'), { ...FD, maxPerInput: 3 }).ok).toBe(false);
  });
});
