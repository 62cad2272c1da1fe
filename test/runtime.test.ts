// The runtime's contracts: errors name the kernel; oversized buffers are refused with the
// limit; the readback ring never leaves a buffer mapped; the profiler returns timings.
import { describe, expect, test } from 'vitest';
import { createKernel, submitChecked } from '../src/gpu/kernel.ts';
import { Arena, createBuffer, createTensor, readF32, uploadTensor, STORAGE } from '../src/gpu/tensor.ts';
import { ReadbackRing } from '../src/gpu/readback.ts';
import { Profiler } from '../src/gpu/profiler.ts';
import { GpuKernelError } from '../src/gpu/errors.ts';
import { testGpu } from './helpers/gpu.ts';

const SCALE = /* wgsl */ `
override FACTOR: f32 = 2.0;
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < arrayLength(&x)) { x[g.x] = x[g.x] * FACTOR; }
}`;

describe('kernels', () => {
  test('a kernel with a WGSL error raises a GpuKernelError naming the kernel and the line', async () => {
    const ctx = await testGpu();
    const broken = SCALE.replace('x[g.x] * FACTOR', 'x[g.x] * undefined_name');
    const err = await createKernel(ctx, { label: 'test.broken_scale', code: broken }).catch((e) => e);
    expect(err).toBeInstanceOf(GpuKernelError);
    expect(err.message).toMatch(/kernel "test\.broken_scale"/);
    expect(err.message).toMatch(/line 6/);
    expect(err.message).toMatch(/undefined_name/);
  });

  test('a missing entry point raises a GpuKernelError naming the kernel', async () => {
    const ctx = await testGpu();
    const err = await createKernel(ctx, { label: 'test.no_entry', code: SCALE, entryPoint: 'nope' }).catch((e) => e);
    expect(err).toBeInstanceOf(GpuKernelError);
    expect(err.message).toMatch(/kernel "test\.no_entry"/);
  });

  test('override constants specialise one pipeline per value, cached', async () => {
    const ctx = await testGpu();
    const k3 = await createKernel(ctx, { label: 'test.scale', code: SCALE, constants: { FACTOR: 3 } });
    const k3again = await createKernel(ctx, { label: 'test.scale', code: SCALE, constants: { FACTOR: 3 } });
    // One pipeline per (code, entry point, constants), shared by every caller (each keeps its own label).
    expect(k3again.pipeline).toBe(k3.pipeline);
    expect((await createKernel(ctx, { label: 'test.scale4', code: SCALE, constants: { FACTOR: 4 } })).pipeline).not.toBe(k3.pipeline);
    const t = uploadTensor(ctx, new Float32Array([1, 2, 3]), [3], 'x');
    const bound = k3.bind([t]);
    await submitChecked(ctx, 'scale', (enc) => bound.record(enc, [1]));
    expect(Array.from(await readF32(ctx, t))).toEqual([3, 6, 9]);
  });

  test('a buffer over the device limit raises an error naming its owner and the limit', async () => {
    const ctx = await testGpu();
    const tooBig = ctx.limits.maxBufferSize + 4;
    expect(() => createBuffer(ctx, tooBig, STORAGE(), 'conv.huge_activations')).toThrow(GpuKernelError);
    expect(() => createBuffer(ctx, tooBig, STORAGE(), 'conv.huge_activations')).toThrow(/conv\.huge_activations.*maxBufferSize/);
  });

  test('a binding over maxStorageBufferBindingSize raises an error naming the kernel', async () => {
    const ctx = await testGpu();
    const k = await createKernel(ctx, { label: 'test.scale_big', code: SCALE });
    const fake = { buffer: { label: 'huge', size: ctx.limits.maxStorageBufferBindingSize + 256 } as GPUBuffer, offset: 0, size: ctx.limits.maxStorageBufferBindingSize + 256 };
    expect(() => k.bind([fake])).toThrow(/kernel "test\.scale_big": binding 0 \(huge\).*maxStorageBufferBindingSize/);
  });

  test('too many workgroups is refused before dispatch', async () => {
    const ctx = await testGpu();
    const k = await createKernel(ctx, { label: 'test.scale', code: SCALE, constants: { FACTOR: 3 } });
    const t = createTensor(ctx, [4], 'f32', 'x');
    const bound = k.bind([t]);
    const enc = ctx.device.createCommandEncoder();
    expect(() => bound.record(enc, [ctx.limits.maxComputeWorkgroupsPerDimension + 1])).toThrow(/test\.scale.*workgroups per dimension/);
  });
});

describe('memory', () => {
  test('an arena places tensors at 256-byte boundaries in one buffer', async () => {
    const ctx = await testGpu();
    const arena = new Arena(ctx, 'params');
    arena.add('conv1.weight', [3, 3, 4, 8]);
    arena.add('bn1.weight', [8]);
    arena.add('counts', [5], 'u32');
    const { buffer, tensors } = arena.build();
    const offsets = [...tensors.values()].map((t) => t.byteOffset);
    expect(offsets).toEqual([0, 1280, 1536]);
    expect(tensors.get('bn1.weight')!.buffer).toBe(buffer);
    expect(() => arena.add('bn1.weight', [8])).toThrow(/declared twice/);
  });

  test('the readback ring reads asynchronously, unmaps, and drops samples when full', async () => {
    const ctx = await testGpu();
    const ring = new ReadbackRing(ctx, 16, 2, 'metrics');
    const src = uploadTensor(ctx, new Float32Array([1, 2, 3, 4]), [4], 'metrics.src');
    const reads: Promise<ArrayBuffer>[] = [];
    for (let step = 0; step < 3; step++) {
      const slot = ring.acquire();
      if (!slot) continue;
      const enc = ctx.device.createCommandEncoder();
      ring.copy(enc, slot, src.buffer, 0, 0, 16);
      ctx.device.queue.submit([enc.finish()]);
      reads.push(ring.read(slot));
    }
    expect(ring.dropped).toBe(1);
    const got = await Promise.all(reads);
    expect(got.map((b) => Array.from(new Float32Array(b)))).toEqual([
      [1, 2, 3, 4],
      [1, 2, 3, 4],
    ]);
    // Every slot is free (unmapped) again.
    expect(ring.acquire()).not.toBeNull();
    expect(ring.acquire()).not.toBeNull();
  });
});

test('the profiler times each dispatch when the adapter has timestamp queries', async () => {
  const ctx = await testGpu();
  if (!Profiler.available(ctx)) {
    console.log('[runtime] adapter has no timestamp-query; profiler not exercised');
    return;
  }
  const prof = new Profiler(ctx, 8);
  const k = await createKernel(ctx, { label: 'test.scale', code: SCALE, constants: { FACTOR: 3 } });
  const t = createTensor(ctx, [1024], 'f32', 'x');
  const bound = k.bind([t]);
  const enc = ctx.device.createCommandEncoder();
  bound.record(enc, [16], prof);
  bound.record(enc, [16], prof);
  prof.resolve(enc);
  ctx.device.queue.submit([enc.finish()]);
  const timings = await prof.read();
  expect(timings.map((x) => x.label)).toEqual(['test.scale', 'test.scale']);
  for (const x of timings) {
    expect(x.ms).toBeGreaterThanOrEqual(0);
    expect(x.end - x.start).toBeCloseTo(x.ms, 9);
  }
  // Relative to the first pass, in submission order: the second pass does not start before the first.
  expect(timings[0]!.start).toBe(0);
  expect(timings[1]!.start).toBeGreaterThanOrEqual(timings[0]!.start);
  // Node's Dawn runs without timestamp quantisation (2^16 ns steps), so the clocks are exact.
  const quantum = 65536e-6;
  const onGrid = (t: number) => Math.abs(t / quantum - Math.round(t / quantum)) < 1e-9;
  expect([timings[0]!.end, timings[1]!.start, timings[1]!.end].every(onGrid)).toBe(false);
});
