// The double-f32 helpers (src/shaders/double_f32.wgsl) on this adapter: TwoSum, the bit-pattern
// split and Dekker's TwoProduct must be error-free transforms here, or the scaling kernels that
// rely on them (mira.wgsl) silently fall back to f32 precision. A compiler that re-associates
// (a + b) − a into b, or drops the split, leaves lo = 0 and fails this at once (the plain TwoSum
// did, on lavapipe). Inlined into a large kernel a compiler may still find more to fold, so the
// kernels have their own float64 test (test/mira-sinkhorn.test.ts, 1e-6 at ±100). Checked exactly in
// float64 (a sum or product of two f32s is exact there for the magnitudes drawn here).
import { describe, expect, test } from 'vitest';
import dfCode from '../src/shaders/double_f32.wgsl?raw';
import { createKernel, submitChecked } from '../src/gpu/kernel.ts';
import { createBuffer, createTensor, readF32, uploadTensor } from '../src/gpu/tensor.ts';
import { seededRandom, testGpu } from './helpers/gpu.ts';

const PROBE = /* wgsl */ `
@group(0) @binding(0) var<storage, read> xa: array<f32>;
@group(0) @binding(1) var<storage, read> xb: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> zero: vec4<u32>;
@group(0) @binding(4) var<storage, read> xc: array<f32>;

@compute @workgroup_size(64)
fn probe(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= arrayLength(&xa)) { return; }
  df_zero = zero.x;
  let a = xa[i];
  let b = xb[i];
  let s = df_two_sum(a, b);
  let p = df_two_prod(a, b, df_split(b));
  let sp = df_split(a);
  // s·(a − b) with s = (b, 0) split as the kernels split a uniform scale.
  let d = df_scaled_diff(a, b, vec2<f32>(b, 0.0), df_split(b));
  // … less c = (c_hi, c_lo): the kernels' exponent, with its hi parts cancelling in half the cases.
  let e = df_scaled_diff_sub(a, b, vec2<f32>(b, 0.0), df_split(b), xc[2u * i], xc[2u * i + 1u]);
  out[i * 10u + 0u] = s.x;
  out[i * 10u + 1u] = s.y;
  out[i * 10u + 2u] = p.x;
  out[i * 10u + 3u] = p.y;
  out[i * 10u + 4u] = sp.x;
  out[i * 10u + 5u] = sp.y;
  out[i * 10u + 6u] = d.x;
  out[i * 10u + 7u] = d.y;
  out[i * 10u + 8u] = e.x;
  out[i * 10u + 9u] = e.y;
}
`;

/** Significant bits of a finite f32 value (0 for 0). */
function sigBits(x: number): number {
  if (x === 0) return 0;
  let m = Math.abs(x) / 2 ** Math.floor(Math.log2(Math.abs(x)));
  let bits = 1;
  while (m !== Math.floor(m)) {
    m *= 2;
    bits++;
  }
  return bits;
}

describe('double-f32 error-free transforms on this adapter', () => {
  test('TwoSum, the 12-bit split and TwoProduct are exact; s·(x − y) and s·(x − y) − c agree with float64 to 2⁻⁴⁴', async () => {
    const ctx = await testGpu();
    const rnd = seededRandom(16);
    const n = 4096;
    const a = new Float32Array(n);
    const b = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      // Magnitudes from 1e-3 to 1e4, both signs, the scaling kernels' range (ℓ, s = 1/ε, g, ρ),
      // and some pairs within a factor 2 of each other (where the TwoSum low part is often 0).
      const mag = (k: number) => (rnd() < 0.5 ? -1 : 1) * 10 ** (k * rnd() - 3);
      a[i] = mag(7);
      b[i] = i % 4 === 0 ? a[i]! * (1 + (rnd() - 0.5) * 1e-3) : mag(7);
    }
    a[0] = 100;
    b[0] = -100; // d = 200 exactly
    a[1] = -99.3;
    b[1] = -87.1; // −186.4 is rounded in f32 (as ℓ − rmax is): the low part is what the kernels need
    const kernel = await createKernel(ctx, { label: 'double_f32.probe', code: dfCode + PROBE, entryPoint: 'probe' });
    const c = new Float32Array(2 * n);
    for (let i = 0; i < n; i++) {
      const sd = b[i]! * (a[i]! - b[i]!);
      c[2 * i] = i % 2 === 0 ? Math.fround(sd) + Math.fround(sd * (rnd() - 0.5) * 1e-3) : Math.fround(sd * (rnd() - 0.5) * 4);
      c[2 * i + 1] = Math.fround(Math.abs(c[2 * i]!) * 1e-9 * (rnd() - 0.5));
    }
    const out = createTensor(ctx, [n, 10], 'f32', 'probe.out');
    const zero = createBuffer(ctx, 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, 'probe.zero');
    ctx.device.queue.writeBuffer(zero, 0, new Uint32Array([0, 0, 0, 0]));
    const bound = kernel.bind([uploadTensor(ctx, a, [n], 'a'), uploadTensor(ctx, b, [n], 'b'), out, zero, uploadTensor(ctx, c, [2 * n], 'c')], 'probe');
    await submitChecked(ctx, 'double_f32.probe', (enc) => bound.record(enc, [Math.ceil(n / 64)]));
    const r = await readF32(ctx, out);
    let sumLo = 0;
    let prodLo = 0;
    let worstScaled = 0;
    let worstSub = 0;
    for (let i = 0; i < n; i++) {
      const [x, y] = [a[i]!, b[i]!];
      const o = i * 10;
      expect(r[o]! + r[o + 1]!, `TwoSum(${x}, ${y})`).toBe(x + y);
      expect(r[o]!, `TwoSum(${x}, ${y}) hi`).toBe(Math.fround(x + y));
      expect(r[o + 2]! + r[o + 3]!, `TwoProduct(${x}, ${y})`).toBe(x * y);
      expect(r[o + 2]!, `TwoProduct(${x}, ${y}) hi`).toBe(Math.fround(x * y));
      expect(r[o + 4]! + r[o + 5]!, `split(${x})`).toBe(x);
      expect(sigBits(r[o + 4]!), `split(${x}) hi ${r[o + 4]}`).toBeLessThanOrEqual(12);
      expect(sigBits(r[o + 5]!), `split(${x}) lo ${r[o + 5]}`).toBeLessThanOrEqual(12);
      const want = y * (x - y);
      worstScaled = Math.max(worstScaled, Math.abs(r[o + 6]! + r[o + 7]! - want) / Math.abs(want));
      const wantSub = want - c[2 * i]! - c[2 * i + 1]!;
      worstSub = Math.max(worstSub, Math.abs(r[o + 8]! + r[o + 9]! - wantSub) / Math.max(Math.abs(want), Math.abs(c[2 * i]!)));
      if (r[o + 1] !== 0) sumLo++;
      if (r[o + 3] !== 0) prodLo++;
    }
    console.log(`double-f32 on ${ctx.adapterName}: ${n} pairs exact; non-zero low parts: TwoSum ${sumLo}, TwoProduct ${prodLo}; s·(x − y) max relative error ${worstScaled.toExponential(2)}, s·(x − y) − c ${worstSub.toExponential(2)} (of the larger term)`);
    // The probe must exercise the low parts, or it would pass on a compiler that drops them.
    expect(sumLo).toBeGreaterThan(n / 2);
    expect(prodLo).toBeGreaterThan(n / 2);
    expect(r[1 * 10 + 1], 'TwoSum(−99.3, −87.1) low part').not.toBe(0);
    expect(worstScaled).toBeLessThan(2 ** -44);
    expect(worstSub).toBeLessThan(2 ** -44);
  });
});
