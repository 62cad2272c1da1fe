// BatchNorm 2d/1d on the GPU against the float64 reference (src/ref/batchnorm.ts): training
// forward (batch statistics, saved mean/invstd, PyTorch's running-statistics update with the
// unbiased variance), evaluation forward, backward (dx, dgamma, dbeta), and the ResNet fusions
// (bn → ReLU, bn2 → +shortcut → ReLU, with the ReLU mask inside the backward reduction).
// Shapes: C = 3, 5, 10 (scalar lanes), 8, 64 (vec4 lanes); N·H·W not a multiple of the workgroup
// and spanning several blocks, so both reduction passes are exercised.
import { describe, expect, test } from 'vitest';
import type { GpuContext } from '../src/gpu/context.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { submitChecked } from '../src/gpu/kernel.ts';
import { Arena, createTensor, readF32, uploadTensor, writeTensor, type Tensor } from '../src/gpu/tensor.ts';
import { BatchNorm, type BatchNormShape, type BatchNormVariant } from '../src/nn/batchnorm.ts';
import { batchNormBackwardTrain, batchNormForwardEval, batchNormForwardTrain, batchNormUpdateRunningStats } from '../src/ref/batchnorm.ts';
import { expectClose, randomArray, testGpu } from './helpers/gpu.ts';

const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

interface Case {
  name: string;
  shape: BatchNormShape;
  relu?: boolean;
  residual?: boolean;
  accumulate?: boolean;
  /** Added to x: a large common offset must not cancel the variance away. */
  offset?: number;
  scale?: number;
  /** Default: the adapter's ('direct' on CPU emulators). */
  variant?: BatchNormVariant;
}

interface Host {
  x: Float32Array;
  gamma: Float32Array;
  beta: Float32Array;
  rmean: Float32Array;
  rvar: Float32Array;
  res: Float32Array;
  dy: Float32Array;
  dgamma0: Float32Array;
  dbeta0: Float32Array;
}

function rowsOf(s: BatchNormShape): number {
  return s.batch * (s.height ?? 1) * (s.width ?? 1);
}

function hostData(c: Case, seed: number): Host {
  const R = rowsOf(c.shape);
  const C = c.shape.channels;
  const x = randomArray(R * C, seed, -2, 2);
  // Per-channel offsets and scales, so channels differ.
  for (let i = 0; i < x.length; i++) x[i] = x[i]! * (c.scale ?? 1) * (1 + (i % C) * 0.25) + (c.offset ?? 0) + (i % C) * 0.5;
  return {
    x,
    gamma: randomArray(C, seed + 1, 0.5, 1.5),
    beta: randomArray(C, seed + 2, -0.5, 0.5),
    rmean: randomArray(C, seed + 3, -0.2, 0.2),
    rvar: randomArray(C, seed + 4, 0.5, 2),
    res: randomArray(R * C, seed + 5),
    dy: randomArray(R * C, seed + 6),
    dgamma0: randomArray(C, seed + 7),
    dbeta0: randomArray(C, seed + 8),
  };
}

function upload(ctx: GpuContext, h: Host, R: number, C: number): Record<string, Tensor> {
  return {
    x: uploadTensor(ctx, h.x, [R, C], 'x'),
    y: createTensor(ctx, [R, C], 'f32', 'y'),
    gamma: uploadTensor(ctx, h.gamma, [C], 'gamma'),
    beta: uploadTensor(ctx, h.beta, [C], 'beta'),
    rmean: uploadTensor(ctx, h.rmean, [C], 'running_mean'),
    rvar: uploadTensor(ctx, h.rvar, [C], 'running_var'),
    res: uploadTensor(ctx, h.res, [R, C], 'residual'),
    dy: uploadTensor(ctx, h.dy, [R, C], 'dy'),
    dx: createTensor(ctx, [R, C], 'f32', 'dx'),
    dres: createTensor(ctx, [R, C], 'f32', 'dresidual'),
    dgamma: uploadTensor(ctx, h.dgamma0, [C], 'dgamma'),
    dbeta: uploadTensor(ctx, h.dbeta0, [C], 'dbeta'),
  };
}

async function trainCase(c: Case, seed = 1) {
  const ctx = await testGpu();
  const R = rowsOf(c.shape);
  const C = c.shape.channels;
  const bn = await BatchNorm.create(ctx, c.shape, { relu: c.relu, residual: c.residual, accumulate: c.accumulate, passes: { eval: false }, label: c.name, variant: c.variant });
  const h = hostData(c, seed);
  const t = upload(ctx, h, R, C);
  const fwd = bn.bindForward({ x: t.x!, y: t.y!, gamma: t.gamma!, beta: t.beta!, runningMean: t.rmean!, runningVar: t.rvar!, residual: c.residual ? t.res : undefined });
  expect(fwd.dispatches).toBe(3);
  await submitChecked(ctx, 'bn forward', (enc) => fwd.record(enc));
  const y = await readF32(ctx, t.y!);

  // Reference forward (+ residual) (+ ReLU).
  const s = { rows: R, channels: C };
  const ref = batchNormForwardTrain(f64(h.x), f64(h.gamma), f64(h.beta), s);
  const yRef = ref.y.map((v, i) => {
    const r = c.residual ? v + h.res[i]! : v;
    return c.relu ? Math.max(r, 0) : r;
  });
  const tol = 2e-5 * (1 + Math.abs(c.offset ?? 0) / 100);
  expectClose(yRef, y, tol, tol, `${c.name} forward y`);
  expectClose(ref.mean, await readF32(ctx, fwd.mean!), 1e-5 * (1 + Math.abs(c.offset ?? 0)), 1e-6, `${c.name} saved mean`);
  expectClose(ref.invstd, await readF32(ctx, fwd.invstd!), tol, tol, `${c.name} saved invstd`);
  const run = batchNormUpdateRunningStats(f64(h.rmean), f64(h.rvar), ref.mean, ref.variance, R);
  expectClose(run.runningMean, await readF32(ctx, t.rmean!), 1e-5 * (1 + Math.abs(c.offset ?? 0)), 1e-6, `${c.name} running_mean`);
  expectClose(run.runningVar, await readF32(ctx, t.rvar!), tol, tol, `${c.name} running_var`);

  // Backward: the ReLU mask comes from the forward's output (the GPU's y, so a value within
  // rounding of 0 cannot flip the mask between reference and GPU).
  const bwd = bn.bindBackward({
    x: t.x!,
    y: c.relu ? t.y : undefined,
    dy: t.dy!,
    dx: t.dx!,
    gamma: t.gamma!,
    mean: fwd.mean!,
    invstd: fwd.invstd!,
    dgamma: t.dgamma!,
    dbeta: t.dbeta!,
    dresidual: c.residual ? t.dres : undefined,
  });
  expect(bwd.dispatches).toBe(3);
  await submitChecked(ctx, 'bn backward', (enc) => bwd.record(enc));
  const g = f64(h.dy).map((v, i) => (c.relu && !(y[i]! > 0) ? 0 : v));
  const back = batchNormBackwardTrain(g, f64(h.x), f64(h.gamma), ref.mean, ref.invstd, s);
  const btol = 1e-5 * Math.sqrt(R);
  expectClose(back.dx, await readF32(ctx, t.dx!), btol, 1e-4, `${c.name} dx`);
  const acc = c.accumulate ?? true;
  expectClose(back.dGamma.map((v, i) => v + (acc ? h.dgamma0[i]! : 0)), await readF32(ctx, t.dgamma!), btol, 1e-4, `${c.name} dgamma`);
  expectClose(back.dBeta.map((v, i) => v + (acc ? h.dbeta0[i]! : 0)), await readF32(ctx, t.dbeta!), btol, 1e-4, `${c.name} dbeta`);
  if (c.residual) expectClose(g, await readF32(ctx, t.dres!), 1e-30, 0, `${c.name} dresidual`);
}

describe('batchnorm2d training', () => {
  const cases: Case[] = [
    { name: 'bn C=3', shape: { batch: 2, height: 5, width: 7, channels: 3 } },
    { name: 'bn C=5 relu (several blocks)', shape: { batch: 3, height: 17, width: 17, channels: 5 }, relu: true },
    { name: 'bn2 C=64 +shortcut relu', shape: { batch: 4, height: 9, width: 9, channels: 64 }, relu: true, residual: true },
    // The GPU variant (workgroup reductions over 6 blocks), checked here on the emulator too.
    { name: 'bn2 C=64 +shortcut relu, tree variant', shape: { batch: 4, height: 9, width: 9, channels: 64 }, relu: true, residual: true, variant: 'tree' },
    // Offset 100 over a spread of ~1: E[x²] − E[x]² in f32 would lose ~3 digits of the variance.
    { name: 'bn C=8 assign grads, offset 100', shape: { batch: 2, height: 6, width: 11, channels: 8 }, accumulate: false, offset: 100 },
  ];
  test.each(cases)('$name', async (c) => {
    await trainCase(c);
  });
});

describe('batchnorm1d', () => {
  test('training N=6 C=10 with ReLU', async () => {
    await trainCase({ name: 'bn1d C=10 relu', shape: { batch: 6, channels: 10 }, relu: true });
  });

  test('batch 1 in training mode is refused, as PyTorch does; evaluation mode works', async () => {
    const ctx = await testGpu();
    const C = 12;
    const bn = await BatchNorm.create(ctx, { batch: 1, channels: C }, { label: 'projector.1', passes: { train: false, backward: false } });
    const h = hostData({ name: '', shape: { batch: 1, channels: C } }, 5);
    const t = upload(ctx, h, 1, C);
    const io = { x: t.x!, y: t.y!, gamma: t.gamma!, beta: t.beta!, runningMean: t.rmean!, runningVar: t.rvar! };
    expect(() => bn.bindForward(io, 'train')).toThrow(ShapeError);
    expect(() => bn.bindForward(io, 'train')).toThrow(/projector\.1: expected more than 1 value per channel when training, got input size \[1×12\]/);
    const ev = bn.bindForward(io, 'eval');
    await submitChecked(ctx, 'bn eval', (enc) => ev.record(enc));
    const ref = batchNormForwardEval(f64(h.x), f64(h.gamma), f64(h.beta), f64(h.rmean), f64(h.rvar), { rows: 1, channels: C });
    expectClose(ref, await readF32(ctx, t.y!), 1e-5, 1e-5, 'bn1d eval');
  });
});

describe('evaluation mode', () => {
  test('bn2 C=64 from running statistics, + shortcut, ReLU; running stats untouched', async () => {
    const ctx = await testGpu();
    const shape = { batch: 3, height: 5, width: 5, channels: 64 };
    const R = 75;
    const C = 64;
    const bn = await BatchNorm.create(ctx, shape, { relu: true, residual: true, passes: { train: false, backward: false } });
    const h = hostData({ name: '', shape }, 9);
    const t = upload(ctx, h, R, C);
    const ev = bn.bindForward({ x: t.x!, y: t.y!, gamma: t.gamma!, beta: t.beta!, runningMean: t.rmean!, runningVar: t.rvar!, residual: t.res }, 'eval');
    expect(ev.dispatches).toBe(2);
    await submitChecked(ctx, 'bn eval', (enc) => ev.record(enc));
    const ref = batchNormForwardEval(f64(h.x), f64(h.gamma), f64(h.beta), f64(h.rmean), f64(h.rvar), { rows: R, channels: C });
    expectClose(ref.map((v, i) => Math.max(v + h.res[i]!, 0)), await readF32(ctx, t.y!), 2e-5, 2e-5, 'bn eval + shortcut + relu');
    expectClose(h.rmean, await readF32(ctx, t.rmean!), 1e-30, 0, 'running_mean unchanged');
  });
});

describe('planned buffers and bad input', () => {
  test('x, y, dy, dx as ranges of one activation buffer (C = 16, vec4)', async () => {
    const ctx = await testGpu();
    const shape = { batch: 2, height: 3, width: 3, channels: 16 };
    const R = 18;
    const C = 16;
    const bn = await BatchNorm.create(ctx, shape, { relu: true, passes: { eval: false } });
    const h = hostData({ name: '', shape }, 21);
    const acts = new Arena(ctx, 'acts');
    for (const k of ['x', 'y', 'dy', 'dx']) acts.add(k, [R, C]);
    const a = acts.build().tensors;
    const prm = new Arena(ctx, 'params');
    for (const k of ['gamma', 'beta', 'rmean', 'rvar', 'dgamma', 'dbeta']) prm.add(k, [C]);
    const p = prm.build().tensors;
    writeTensor(ctx, a.get('x')!, h.x);
    writeTensor(ctx, a.get('dy')!, h.dy);
    writeTensor(ctx, p.get('gamma')!, h.gamma);
    writeTensor(ctx, p.get('beta')!, h.beta);
    writeTensor(ctx, p.get('rvar')!, h.rvar);
    const fwd = bn.bindForward({ x: a.get('x')!, y: a.get('y')!, gamma: p.get('gamma')!, beta: p.get('beta')!, runningMean: p.get('rmean')!, runningVar: p.get('rvar')! });
    const bwd = bn.bindBackward({ x: a.get('x')!, y: a.get('y')!, dy: a.get('dy')!, dx: a.get('dx')!, gamma: p.get('gamma')!, mean: fwd.mean!, invstd: fwd.invstd!, dgamma: p.get('dgamma')!, dbeta: p.get('dbeta')! });
    await submitChecked(ctx, 'bn planned', (enc) => {
      fwd.record(enc);
      bwd.record(enc);
    });
    const ref = batchNormForwardTrain(f64(h.x), f64(h.gamma), f64(h.beta), { rows: R, channels: C });
    const y = await readF32(ctx, a.get('y')!);
    expectClose(ref.y.map((v) => Math.max(v, 0)), y, 2e-5, 2e-5, 'planned forward');
    const g = f64(h.dy).map((v, i) => (y[i]! > 0 ? v : 0));
    const back = batchNormBackwardTrain(g, f64(h.x), f64(h.gamma), ref.mean, ref.invstd, { rows: R, channels: C });
    expectClose(back.dx, await readF32(ctx, a.get('dx')!), 1e-4, 1e-4, 'planned dx');
  });

  test('wrong sizes and missing fused operands are refused before any dispatch', async () => {
    const ctx = await testGpu();
    // The shape and options of the "bn2 C=64 +shortcut relu" case: its pipelines are cached.
    const shape = { batch: 4, height: 9, width: 9, channels: 64 };
    const bn = await BatchNorm.create(ctx, shape, { label: 'layer1.0.bn2', residual: true, relu: true, passes: { eval: false } });
    const t = upload(ctx, hostData({ name: '', shape }, 3), 324, 64);
    const bad = createTensor(ctx, [65], 'f32', 'gamma65');
    const io = { x: t.x!, y: t.y!, gamma: t.gamma!, beta: t.beta!, runningMean: t.rmean!, runningVar: t.rvar!, residual: t.res };
    expect(() => bn.bindForward({ ...io, gamma: bad })).toThrow(/layer1\.0\.bn2: gamma gamma65\[65\] f32 should hold 64 f32 values \(64 channels\)/);
    expect(() => bn.bindForward({ ...io, residual: undefined })).toThrow(/layer1\.0\.bn2: residual is required \(20736 f32 values, 4×9×9×64 NHWC\)/);
    const fwd = bn.bindForward(io);
    const bio = { x: t.x!, dy: t.dy!, dx: t.dx!, gamma: t.gamma!, mean: fwd.mean!, invstd: fwd.invstd!, dgamma: t.dgamma!, dbeta: t.dbeta!, dresidual: t.dres };
    expect(() => bn.bindBackward(bio)).toThrow(/y \(the forward output, for the fused ReLU mask\) is required/);
    expect(() => bn.bindBackward({ ...bio, y: t.y, dx: t.dy! })).toThrow(/overlap/);
  });
});
