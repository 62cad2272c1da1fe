// ReLU, the residual add and global average pooling on the GPU against the float64 references
// (src/ref/elementwise.ts), on odd sizes (scalar lanes) and multiples of 4 (vec4 lanes), with
// inputs and outputs as ranges of one planned buffer; bad shapes are refused before any dispatch.
import { describe, expect, test } from 'vitest';
import { submitChecked } from '../src/gpu/kernel.ts';
import { Arena, createTensor, readF32, uploadTensor, writeTensor } from '../src/gpu/tensor.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import type { Pass } from '../src/gpu/pass.ts';
import { Add, Relu } from '../src/nn/elementwise.ts';
import { GlobalAvgPool } from '../src/nn/pool.ts';
import { globalAvgPoolBackward, globalAvgPoolForward, reluBackward, reluForward, residualAdd } from '../src/ref/elementwise.ts';
import { expectClose, randomArray, testGpu, testGpuAs } from './helpers/gpu.ts';

async function run(label: string, ...passes: Pass[]): Promise<void> {
  const ctx = await testGpu();
  await submitChecked(ctx, label, (enc) => passes.forEach((p) => p.record(enc)));
}

// compareClose divides by the allowance: a tiny atol stands for "bit-exact".
const EXACT = 1e-30;
const f64 = (a: Float32Array) => Float64Array.from(a);

describe('relu', () => {
  test.each([[[7, 5, 3]], [[2, 4, 4, 8]]])('shape %j: forward and backward (mask from the output, 0 at 0)', async (shape) => {
    const ctx = await testGpu();
    const n = shape.reduce((a, b) => a * b, 1);
    const x = randomArray(n, 3);
    x[0] = 0;
    x[5] = 0;
    const dy = randomArray(n, 4);
    const relu = await Relu.create(ctx, shape);
    const X = uploadTensor(ctx, x, [n], 'x');
    const Y = createTensor(ctx, [n], 'f32', 'y');
    const DY = uploadTensor(ctx, dy, [n], 'dy');
    const DX = createTensor(ctx, [n], 'f32', 'dx');
    await run('relu', relu.bindForward(X, Y), relu.bindBackward(Y, DY, DX));
    const y = await readF32(ctx, Y);
    expectClose(reluForward(f64(x)), y, EXACT, 0, 'relu forward');
    expectClose(reluBackward(f64(dy), f64(x)), await readF32(ctx, DX), EXACT, 0, 'relu backward');
  });

  test('wrong sizes throw a ShapeError naming the layer and the expected size', async () => {
    const ctx = await testGpu();
    const relu = await Relu.create(ctx, [7, 5, 3], 'stem.relu');
    const X = createTensor(ctx, [105], 'f32', 'x');
    const Y = createTensor(ctx, [104], 'f32', 'y');
    expect(() => relu.bindForward(X, Y)).toThrow(ShapeError);
    expect(() => relu.bindForward(X, Y)).toThrow(/stem\.relu: y y\[104\] f32 should hold 105 f32 values \(7×5×3\)/);
    expect(() => relu.bindForward(X, X)).toThrow(/overlap; this layer does not work in place/);
  });
});

describe('residual add', () => {
  test.each([[[3, 5, 7]], [[2, 3, 3, 16]]])('shape %j: forward y = a + b, backward da = db = dy, all in one buffer', async (shape) => {
    const ctx = await testGpu();
    const n = shape.reduce((a, b) => a * b, 1);
    const a = randomArray(n, 5);
    const b = randomArray(n, 6);
    const dy = randomArray(n, 7);
    const add = await Add.create(ctx, shape);
    // All five tensors are ranges of one buffer, as the planner lays out activations.
    const arena = new Arena(ctx, 'acts');
    for (const k of ['a', 'b', 'y', 'dy', 'da', 'db']) arena.add(k, [n]);
    const t = arena.build().tensors;
    writeTensor(ctx, t.get('a')!, a);
    writeTensor(ctx, t.get('b')!, b);
    writeTensor(ctx, t.get('dy')!, dy);
    await run('add', add.bindForward(t.get('a')!, t.get('b')!, t.get('y')!), add.bindBackward(t.get('dy')!, t.get('da')!, t.get('db')!));
    expectClose(residualAdd(f64(a), f64(b)), await readF32(ctx, t.get('y')!), 1e-7, 1e-7, 'add forward');
    expectClose(dy, await readF32(ctx, t.get('da')!), EXACT, 0, 'add backward da');
    expectClose(dy, await readF32(ctx, t.get('db')!), EXACT, 0, 'add backward db');
  });
});

describe('global average pool', () => {
  const shapes = [
    { batch: 3, height: 4, width: 4, channels: 5 },
    { batch: 2, height: 5, width: 3, channels: 64 },
    { batch: 1, height: 1, width: 1, channels: 3 },
    { batch: 2, height: 17, width: 19, channels: 12 },
  ];
  test.each(shapes.flatMap((s) => (['emulator', 'gpu'] as const).map((kind) => ({ ...s, kind }))))('$batch×$height×$width×$channels: forward and backward ($kind variant)', async ({ kind, ...s }) => {
    const ctx = await testGpuAs(kind);
    const nIn = s.batch * s.height * s.width * s.channels;
    const nOut = s.batch * s.channels;
    const x = randomArray(nIn, 8);
    const dy = randomArray(nOut, 9);
    const pool = await GlobalAvgPool.create(ctx, s);
    const X = uploadTensor(ctx, x, [nIn], 'x');
    const Y = createTensor(ctx, [nOut], 'f32', 'y');
    const DY = uploadTensor(ctx, dy, [nOut], 'dy');
    const DX = createTensor(ctx, [nIn], 'f32', 'dx');
    await run('pool', pool.bindForward(X, Y), pool.bindBackward(DY, DX));
    expectClose(globalAvgPoolForward(f64(x), s), await readF32(ctx, Y), 1e-6, 1e-6, 'avgpool forward');
    expectClose(globalAvgPoolBackward(f64(dy), s), await readF32(ctx, DX), 1e-7, 1e-6, 'avgpool backward');
  });

  test('wrong output size is refused', async () => {
    const ctx = await testGpu();
    const pool = await GlobalAvgPool.create(ctx, { batch: 3, height: 4, width: 4, channels: 5 });
    const X = createTensor(ctx, [240], 'f32', 'x');
    const Y = createTensor(ctx, [16], 'f32', 'y');
    expect(() => pool.bindForward(X, Y)).toThrow(/avgpool: y y\[16\] f32 should hold 15 f32 values \(3×5\)/);
  });
});
