// Waiting for the GPU in Node must leave the CPU to a CPU Vulkan driver: dawn.node polls by re-queuing setImmediate
// while a promise is pending, which spun the main thread at 100 % of a core for the whole wait; src/gpu/node.ts naps
// between polls (docs/ARCHITECTURE.md, docs/results-cpu.md §3). Measured on this thread's own CPU clock (Linux /proc).
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { createKernel } from '../src/gpu/kernel.ts';
import { createBuffer, STORAGE } from '../src/gpu/tensor.ts';
import { testGpu } from './helpers/gpu.ts';

// Each invocation runs a long chain of integer hashes (the count comes from a buffer, so nothing folds away): GPU
// work that takes a few hundred milliseconds on an emulated GPU while the host has nothing to do but wait.
const BUSY = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@group(0) @binding(1) var<storage, read> rounds: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  var h = g.x + 1u;
  for (var i = 0u; i < rounds[0]; i++) { h = (h ^ (h >> 15u)) * 0x2c1b3c6du + i; }
  out[g.x] = h;
}`;

const THREAD_STAT = '/proc/thread-self/stat';

/** CPU time (user + system) of the calling thread, in ms, from /proc (clock ticks of 10 ms). */
function threadCpuMs(): number {
  const s = readFileSync(THREAD_STAT, 'utf8');
  const fields = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

describe('waiting for the GPU in Node', () => {
  test.skipIf(!existsSync(THREAD_STAT))('the main thread sleeps through a long onSubmittedWorkDone instead of spinning', async () => {
    const ctx = await testGpu();
    const { device } = ctx;
    const kernel = await createKernel(ctx, { label: 'test.busy', code: BUSY });
    const groups = 64;
    const out = createBuffer(ctx, groups * 64 * 4, STORAGE(), 'test.busy.out');
    const rounds = createBuffer(ctx, 4, STORAGE(), 'test.busy.rounds');
    const bound = kernel.bind([out, rounds]);
    const run = async (n: number, repeats: number) => {
      device.queue.writeBuffer(rounds, 0, new Uint32Array([n]));
      const enc = device.createCommandEncoder();
      for (let r = 0; r < repeats; r++) bound.record(enc, [groups, 1, 1]);
      device.queue.submit([enc.finish()]);
      const t0 = performance.now();
      const cpu0 = threadCpuMs();
      await device.queue.onSubmittedWorkDone();
      return { wall: performance.now() - t0, cpu: threadCpuMs() - cpu0 };
    };
    // Size the work to about 600 ms of waiting on this adapter, whatever its speed.
    const probe = await run(1 << 16, 1);
    const repeats = Math.max(1, Math.min(4096, Math.ceil(600 / Math.max(probe.wall, 0.05))));
    const { wall, cpu } = await run(1 << 16, repeats);
    out.destroy();
    rounds.destroy();
    expect(wall, `the busy kernel should keep the GPU busy for a while (${wall.toFixed(0)} ms)`).toBeGreaterThan(300);
    // Spinning costs about the whole wall time; napping between polls costs a few per cent.
    expect(cpu, `main-thread CPU while waiting ${wall.toFixed(0)} ms for the GPU`).toBeLessThan(0.25 * wall);
  }, 60_000);
});
