// `npm run cli -- assign`: the three methods on the GPU and on the float64 reference, the trace
// file, the defaults, and a clear error for every bad input — raised before the GPU is touched
// (the library entry points are also called with a GPU context that throws on any use).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { encodeNpy, parseNpy } from '../src/io/npy.ts';
import { run, traceJson } from '../cli/commands/assign.ts';
import { CliError } from '../cli/args.ts';
import { assignOnGpu } from '../src/mira/run.ts';
import { MiraSolver } from '../src/mira/assignment.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { ParamError } from '../src/mira/validate.ts';
import type { GpuContext } from '../src/gpu/context.ts';
import { randomArray } from './helpers/gpu.ts';

const dir = mkdtempSync(join(tmpdir(), 'mira-assign-'));
const path = (name: string) => join(dir, name);
const logs: string[] = [];
const origLog = console.log;
const origErr = console.error;
console.log = (...a: unknown[]) => void logs.push(a.join(' '));
console.error = (...a: unknown[]) => void logs.push(a.join(' '));
afterAll(() => {
  console.log = origLog;
  console.error = origErr;
});

function writeNpy(name: string, data: Float32Array | Float64Array | Int32Array, shape: number[]): string {
  writeFileSync(path(name), encodeNpy(data, shape));
  return path(name);
}

function readTargets(p: string): { shape: number[]; data: Float32Array } {
  const a = parseNpy(new Uint8Array(readFileSync(p)), p);
  expect(a.dtype).toBe('float32');
  return { shape: a.shape, data: a.data as Float32Array };
}

function rowSumError(w: Float32Array, B: number, K: number): number {
  let worst = 0;
  for (let i = 0; i < B; i++) {
    let s = 0;
    for (let j = 0; j < K; j++) s += w[i * K + j]!;
    worst = Math.max(worst, Math.abs(s - 1));
  }
  return worst;
}

/** A GpuContext whose every property access throws: proves nothing reached the GPU. */
const poison = new Proxy({} as GpuContext, {
  get(_t, prop) {
    throw new Error(`the GPU was touched (${String(prop)})`);
  },
});

const B = 48;
const K = 20;
const logits = randomArray(B * K, 5, -1, 1);
const in32 = writeNpy('logits32.npy', logits, [B, K]);
const in64 = writeNpy('logits64.npy', Float64Array.from(logits), [B, K]);

describe('assign on the GPU and on the CPU', () => {
  test('mira: float32 and float64 inputs, GPU and CPU agree; the trace has one record per iteration', async () => {
    expect(await run(['--method', 'mira', '--in', in32, '--out', path('w_gpu.npy'), '--trace', path('t_gpu.json'), '--iters', '12'])).toBe(0);
    expect(await run(['--method', 'mira', '--in', in64, '--out', path('w_cpu.npy'), '--trace', path('t_cpu.json'), '--iters', '12', '--backend', 'cpu'])).toBe(0);
    const g = readTargets(path('w_gpu.npy'));
    const c = readTargets(path('w_cpu.npy'));
    expect(g.shape).toEqual([B, K]);
    expect(rowSumError(g.data, B, K)).toBeLessThan(1e-6);
    let worst = 0;
    for (let i = 0; i < B * K; i++) worst = Math.max(worst, Math.abs(g.data[i]! - c.data[i]!));
    expect(worst).toBeLessThan(1e-5);
    const tg = JSON.parse(readFileSync(path('t_gpu.json'), 'utf8'));
    const tc = JSON.parse(readFileSync(path('t_cpu.json'), 'utf8'));
    expect(tg).toHaveLength(12);
    expect(tc).toHaveLength(12);
    for (const k of ['iter', 'v', 'residual', 'delta_w', 'objective', 'marginal_entropy', 'mean_entropy', 'mi', 'marginal_error']) expect(tg[0]).toHaveProperty(k);
    expect(tg[11].v).toHaveLength(K);
    expect(tg[11].objective).toBeCloseTo(tc[11].objective, 4);
    const summary = logs.find((l) => l.startsWith('assign mira on gpu'))!;
    expect(summary).toMatch(/48×20, 12 iterations, [\d.]+ ms solve .*used clusters \d+\/20, marginal entropy [\d.]+/);
  });

  test('sinkhorn defaults to SwAV\'s 3 iterations; naive is the teacher softmax', async () => {
    expect(await run(['--method', 'sinkhorn', '--in', in32, '--out', path('s.npy'), '--trace', path('s.json'), '--json'])).toBe(0);
    expect(JSON.parse(readFileSync(path('s.json'), 'utf8'))).toHaveLength(3);
    const line = JSON.parse(logs.at(-1)!);
    expect(line).toMatchObject({ method: 'sinkhorn', backend: 'gpu', B, K, iters: 3 });
    expect(await run(['--method', 'naive', '--in', in32, '--out', path('n.npy'), '--tau', '0.5'])).toBe(0);
    const n = readTargets(path('n.npy')).data;
    // softmax(ℓ/τ) of the first row
    const row = Array.from(logits.subarray(0, K), (x) => Math.exp(x / 0.5));
    const z = row.reduce((a, b) => a + b, 0);
    for (let j = 0; j < K; j++) expect(n[j]).toBeCloseTo(row[j]! / z, 6);
  });

  test('--help prints the usage and returns 0', async () => {
    expect(await run(['--help'])).toBe(0);
    expect(logs.at(-1)).toMatch(/--method.*mira\|sinkhorn\|naive/);
  });
});

describe('bad input is refused with a clear message before anything is dispatched', () => {
  const bad = async (args: string[], re: RegExp) => {
    const err = await run(['--out', path('never.npy'), ...args]).catch((e) => e);
    expect(err).toBeInstanceOf(CliError);
    expect(err.message).toMatch(re);
  };

  test('unreadable, truncated and non-.npy files', async () => {
    await bad(['--in', path('missing.npy')], /cannot read --in .*missing\.npy/);
    const full = readFileSync(in32);
    writeFileSync(path('trunc.npy'), full.subarray(0, full.length - 10));
    await bad(['--in', path('trunc.npy')], /trunc\.npy.*truncated/);
    writeFileSync(path('text.npy'), 'hello, not numpy');
    await bad(['--in', path('text.npy')], /not a \.npy file/);
  });

  test('wrong dtype and wrong shapes', async () => {
    await bad(['--in', writeNpy('int.npy', new Int32Array(6), [2, 3])], /float32 or float64, got int32/);
    await bad(['--in', writeNpy('3d.npy', new Float32Array(8), [2, 2, 2])], /2-D .*\(3-D\)/);
    await bad(['--in', writeNpy('1d.npy', new Float32Array(8), [8])], /2-D/);
    await bad(['--in', writeNpy('k1.npy', new Float32Array(5), [5, 1])], /K must be an integer ≥ 2, got 1/);
    await bad(['--in', writeNpy('b0.npy', new Float32Array(0), [0, 5])], /B must be an integer ≥ 1, got 0/);
  });

  test('NaN and Inf logits are named by row and column', async () => {
    const x = new Float32Array(B * K);
    x[2 * K + 3] = NaN;
    await bad(['--in', writeNpy('nan.npy', x, [B, K])], /row 2, column 3 is NaN/);
    const y = new Float64Array(B * K);
    y[5 * K + 7] = -Infinity;
    await bad(['--in', writeNpy('inf.npy', y, [B, K])], /row 5, column 7 is -Infinity/);
    const z = new Float64Array(B * K);
    z[K + 1] = 1e300;
    await bad(['--in', writeNpy('big.npy', z, [B, K])], /row 1, column 1 .*beyond float32/);
  });

  test('β outside (0, 1), τ ≤ 0, ε ≤ 0, bad method or iterations', async () => {
    await bad(['--in', in32, '--beta', '1'], /β must lie strictly between 0 and 1, got 1/);
    await bad(['--in', in32, '--beta', '0'], /β must lie strictly between 0 and 1, got 0/);
    await bad(['--in', in32, '--beta', '-0.5'], /β/);
    await bad(['--in', in32, '--tau', '0'], /τ must be a finite number > 0, got 0/);
    await bad(['--in', in32, '--tau', '-1', '--method', 'naive'], /τ must be/);
    await bad(['--in', in32, '--eps', '0', '--method', 'sinkhorn'], /ε must be a finite number > 0/);
    await bad(['--in', in32, '--method', 'sinkhorn', '--iters', '0'], /iterations must be an integer ≥ 1/);
    await bad(['--in', in32, '--method', 'kmeans'], /--method must be one of mira, sinkhorn, naive/);
    await bad(['--in', in32, '--iters', '2.5'], /--iters must be an integer/);
  });

  test('the library checks come before any GPU use', async () => {
    const nan = new Float32Array(6);
    nan[4] = NaN;
    await expect(assignOnGpu(poison, nan, 2, 3, { method: 'mira' })).rejects.toThrow(/row 1, column 1 is NaN/);
    await expect(assignOnGpu(poison, new Float32Array(6), 2, 3, { method: 'mira', beta: 1.5 })).rejects.toThrow(ParamError);
    await expect(assignOnGpu(poison, new Float32Array(6), 2, 3, { method: 'mira', tau: -1 })).rejects.toThrow(/τ must be/);
    await expect(assignOnGpu(poison, new Float32Array(3), 3, 1, { method: 'mira' })).rejects.toThrow(ShapeError);
    await expect(MiraSolver.create(poison, { B: 0, K: 5 })).rejects.toThrow(/B must be an integer ≥ 1/);
    await expect(MiraSolver.create(poison, { B: 4, K: 1 })).rejects.toThrow(/K must be an integer ≥ 2/);
  });

  test('the trace JSON writes non-finite numbers as null (valid JSON)', () => {
    const text = traceJson([{ iter: 1, v: [0.5, 0.5], residual: NaN, delta_w: 0, objective: Infinity, marginal_entropy: 0, mean_entropy: 0, mi: 0, marginal_error: 0 }]);
    expect(JSON.parse(text)[0]).toMatchObject({ residual: null, objective: null });
  });
});
