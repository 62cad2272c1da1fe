// `npm run cli -- assign --method sela`: hard SeLa labels of N×K logits on the GPU agree with the
// float64 SeLa (src/ref/sela-labels.ts) on generated cases — identical except where the float64
// winner and runner-up are within 1e-6 — and with `--backend cpu`; bad input is refused with a
// message naming the flag or the file.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { encodeNpy, parseNpy } from '../src/io/npy.ts';
import { run } from '../cli/commands/assign.ts';
import { CliError } from '../cli/args.ts';
import { selaLabels } from '../src/ref/sela-labels.ts';
import { makeClusteredLogits } from '../src/ref/synthetic.ts';
import { randomArray, seededRandom } from './helpers/gpu.ts';

const dir = mkdtempSync(join(tmpdir(), 'sela-assign-'));
const path = (name: string) => join(dir, name);
const logs: string[] = [];
const origLog = console.log;
console.log = (...a: unknown[]) => void logs.push(a.join(' '));
afterAll(() => {
  console.log = origLog;
});

function readLabels(p: string): Uint32Array {
  const a = parseNpy(new Uint8Array(readFileSync(p)), p);
  expect(a.dtype).toBe('uint32');
  return a.data as Uint32Array;
}

describe('assign --method sela', () => {
  // Generated cases: shapes and logits drawn from a seed, so they are not tuned to pass.
  const rnd = seededRandom(2026);
  const cases = Array.from({ length: 5 }, (_, c) => {
    const K = 2 + Math.floor(rnd() * (c === 4 ? 300 : 40));
    const N = K + Math.floor(rnd() * 3000);
    const lambda = [10, 10, 5, 25, 10][c]!;
    return { c, N, K, lambda };
  });
  test.each(cases)('case $c: N=$N K=$K λ=$lambda — GPU and cpu backend vs float64 SeLa', async ({ c, N, K, lambda }) => {
    const logits = c % 2 === 0 ? makeClusteredLogits(N, K, 100 + c, { clusters: Math.max(2, Math.floor(K / 2)), imbalance: 0.3 }) : randomArray(N * K, 100 + c, -4, 4);
    const inPath = path(`logits${c}.npy`);
    writeFileSync(inPath, encodeNpy(logits, [N, K]));
    const ref = selaLabels(logits, N, K, { lambda, tol: 0.1, checkEvery: 10 });
    for (const backend of ['gpu', 'cpu']) {
      const out = path(`labels${c}_${backend}.npy`);
      logs.length = 0;
      expect(await run(['--method', 'sela', '--in', inPath, '--out', out, '--sela-lambda', String(lambda), '--backend', backend])).toBe(0);
      expect(logs.join('\n')).toMatch(new RegExp(`assign sela on ${backend} .*: ${N}×${K}, λ ${lambda}, ${ref.iters} iterations`));
      const got = readLabels(out);
      expect(got.length).toBe(N);
      let unforgiven = 0;
      let differ = 0;
      for (let i = 0; i < N; i++) {
        if (got[i] === ref.labels[i]) continue;
        differ++;
        if (ref.margin[i]! >= 1e-6) unforgiven++;
      }
      origLog(`assign sela ${backend} case ${c} (${N}×${K}, λ ${lambda}): ${ref.iters} iterations, ${differ} labels differ from float64 (${unforgiven} outside 1e-6 ties)`);
      expect(unforgiven).toBe(0);
    }
  });

  test('bad input: λ ≤ 0, K > N, --trace, and the other methods unchanged', async () => {
    const inPath = path('small.npy');
    writeFileSync(inPath, encodeNpy(randomArray(5 * 3, 1), [5, 3]));
    const wide = path('wide.npy');
    writeFileSync(wide, encodeNpy(randomArray(3 * 5, 2), [3, 5]));
    const out = path('o.npy');
    await expect(run(['--method', 'sela', '--in', inPath, '--out', out, '--sela-lambda', '0'])).rejects.toThrow(/--sela-lambda must be > 0/);
    await expect(run(['--method', 'sela', '--in', inPath, '--out', out, '--sela-lambda', '-2'])).rejects.toThrow(CliError);
    await expect(run(['--method', 'sela', '--in', wide, '--out', out])).rejects.toThrow(/--in .*wide\.npy holds N = 3 rows of K = 5 logits/);
    await expect(run(['--method', 'sela', '--in', inPath, '--out', out, '--trace', path('t.json')])).rejects.toThrow(/--trace is not available for --method sela/);
    await expect(run(['--method', 'sela', '--in', path('missing.npy'), '--out', out])).rejects.toThrow(/cannot read --in .*missing\.npy: no such file/);
    await expect(run(['--method', 'selaa', '--in', inPath, '--out', out])).rejects.toThrow(/--method must be one of mira, sinkhorn, naive, sela/);
    // The contract of the other methods: targets B×K float32, as before.
    expect(await run(['--method', 'naive', '--in', inPath, '--out', out, '--backend', 'cpu'])).toBe(0);
    const t = parseNpy(new Uint8Array(readFileSync(out)), out);
    expect(t.dtype).toBe('float32');
    expect(t.shape).toEqual([5, 3]);
  });
});
