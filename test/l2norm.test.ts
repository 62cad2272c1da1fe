// Row L2 normalisation (F.normalize(x, dim=1)) on the GPU against the float64 reference
// (src/ref/l2norm.ts): forward, saved norms, backward, including rows below the 1e-12 clamp and
// a zero row; odd widths (scalar lanes) and multiples of 4 (vec4 lanes).
import { describe, expect, test } from 'vitest';
import { submitChecked } from '../src/gpu/kernel.ts';
import { createTensor, readF32, uploadTensor } from '../src/gpu/tensor.ts';
import { L2Norm } from '../src/nn/l2norm.ts';
import { l2NormalizeBackward, l2NormalizeForward } from '../src/ref/l2norm.ts';
import { expectClose, randomArray, testGpu, testGpuAs } from './helpers/gpu.ts';

const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

describe('l2norm', () => {
  test.each([
    [7, 5, 'emulator'],
    [3, 12, 'emulator'],
    [65, 256, 'emulator'],
    [5, 130, 'emulator'],
    [7, 5, 'gpu'],
    [65, 256, 'gpu'],
  ] as const)('%i×%i forward and backward (%s variant)', async (rows, dim, kind) => {
    const ctx = await testGpuAs(kind);
    const x = randomArray(rows * dim, rows * 31 + dim, -3, 3);
    // Row 1: tiny (‖x‖ ≈ 1e-14, below the clamp); row 2 (when there is one): all zeros.
    for (let d = 0; d < dim; d++) x[dim + d] = x[dim + d]! * 1e-14;
    if (rows > 2) for (let d = 0; d < dim; d++) x[2 * dim + d] = 0;
    const dy = randomArray(rows * dim, 5);
    const l2 = await L2Norm.create(ctx, { rows, dim });
    const X = uploadTensor(ctx, x, [rows, dim], 'x');
    const Y = createTensor(ctx, [rows, dim], 'f32', 'y');
    const DY = uploadTensor(ctx, dy, [rows, dim], 'dy');
    const DX = createTensor(ctx, [rows, dim], 'f32', 'dx');
    const fwd = l2.bindForward(X, Y);
    const bwd = l2.bindBackward({ y: Y, dy: DY, norm: fwd.norm, dx: DX });
    expect(fwd.dispatches + bwd.dispatches).toBe(2);
    await submitChecked(ctx, 'l2norm', (enc) => {
      fwd.record(enc);
      bwd.record(enc);
    });
    const s = { rows, dim };
    const ref = l2NormalizeForward(f64(x), s);
    expectClose(ref.y, await readF32(ctx, Y), 1e-6, 1e-5, `l2norm ${rows}×${dim} y`);
    expectClose(ref.norms, await readF32(ctx, fwd.norm), 1e-30, 1e-5, `l2norm ${rows}×${dim} norms`);
    // The backward from the GPU's own y (as it runs in the network).
    const dx = l2NormalizeBackward(f64(dy), f64(await readF32(ctx, Y)), ref.norms, s);
    const got = await readF32(ctx, DX);
    // Rows below the clamp are dy / 1e-12: compare those relatively.
    expectClose(dx, got, 1e-5, 1e-5, `l2norm ${rows}×${dim} dx`);
  });

  test('shapes are checked before any dispatch', async () => {
    const ctx = await testGpu();
    const l2 = await L2Norm.create(ctx, { rows: 4, dim: 6 }, { label: 'projector.normalize' });
    const X = createTensor(ctx, [4, 6], 'f32', 'x');
    const Y = createTensor(ctx, [4, 6], 'f32', 'y');
    const N = createTensor(ctx, [5], 'f32', 'n');
    expect(() => l2.bindForward(X, Y, N)).toThrow(/projector\.normalize: norm n\[5\] f32 should hold 4 f32 values \(4 rows\)/);
  });
});
