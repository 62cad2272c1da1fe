// `cli step --method sela --labels` against PyTorch: the golden fixture of
// scripts/fixtures/make_sela_step_fixture.py (the model and first view of test/fixtures/step,
// one view, no teacher, loss = mean CE(one-hot(y), softmax(q/τₛ)) on given labels, float64). The
// GPU's loss must match to 1e-4 relative and every trainable gradient to 1e-3 relative per tensor
// (max |got − ref| / max |ref|), under the same names; bad --labels files and flag mixes are refused
// naming the flag or file.
//
// Regenerate: /usr/bin/python3 scripts/fixtures/make_sela_step_fixture.py
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test, vi } from 'vitest';
import { run } from '../cli/commands/step.ts';
import { encodeNpy } from '../src/io/npy.ts';
import { parseSafetensors } from '../src/io/safetensors.ts';

const STEP = fileURLToPath(new URL('./fixtures/step', import.meta.url));
const SELA = fileURLToPath(new URL('./fixtures/sela-step', import.meta.url));
const expected = parseSafetensors(new Uint8Array(readFileSync(join(SELA, 'expected.safetensors'))), 'expected.safetensors');
const meta = JSON.parse(expected.metadata['fixture.config']!) as { tau_s: number; labels: number[] };

async function step(extra: string[]): Promise<{ rc: number; lines: string[]; grads: string }> {
  const grads = join(mkdtempSync(join(tmpdir(), 'sela-step-')), 'grads.safetensors');
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  try {
    const rc = await run(['--checkpoint', join(STEP, 'model.safetensors'), '--view1', join(STEP, 'view1.npy'), '--grads', grads, '--tau-s', String(meta.tau_s), '--method', 'sela', ...extra]);
    return { rc, lines, grads };
  } finally {
    spy.mockRestore();
  }
}

describe('cli step --method sela matches PyTorch on given labels', () => {
  test('loss to 1e-4 and every gradient to 1e-3 relative per tensor', async () => {
    const { rc, lines, grads } = await step(['--labels', join(SELA, 'labels.npy')]);
    expect(rc).toBe(0);
    const out = JSON.parse(lines.find((l) => l.startsWith('{'))!) as { loss: number; method: string; batch: number };
    expect(out.method).toBe('sela');
    const refLoss = (expected.tensors.get('loss')!.data as Float64Array)[0]!;
    const got = parseSafetensors(new Uint8Array(readFileSync(grads)), grads);
    const refNames = [...expected.tensors.keys()].filter((k) => k !== 'loss').sort();
    expect([...got.tensors.keys()].sort()).toEqual(refNames);
    let worst = 0;
    for (const n of refNames) {
      const ref = expected.tensors.get(n)!.data as ArrayLike<number>;
      const g = got.tensors.get(n)!.data as ArrayLike<number>;
      let scale = 0;
      let d = 0;
      for (let i = 0; i < ref.length; i++) {
        scale = Math.max(scale, Math.abs(ref[i]!));
        d = Math.max(d, Math.abs(g[i]! - ref[i]!));
      }
      const rel = scale > 0 ? d / scale : d;
      worst = Math.max(worst, rel);
      expect(rel, n).toBeLessThan(1e-3);
    }
    console.log(`[sela-step] loss ${out.loss} vs PyTorch ${refLoss}; ${refNames.length} gradients, worst relative error ${worst.toExponential(2)}`);
    expect(Math.abs(out.loss - refLoss) / refLoss).toBeLessThan(1e-4);
  }, 300_000);

  test('bad input: missing --labels, a label ≥ K, the wrong length, --view2 for a one-view method', async () => {
    await expect(step([])).rejects.toThrow(/--labels/);
    const dir = mkdtempSync(join(tmpdir(), 'sela-step-bad-'));
    const big = join(dir, 'big.npy');
    writeFileSync(big, encodeNpy(Uint32Array.from([7, 0, 3, 10, 9, 1]), [6], 'uint32'));
    await expect(step(['--labels', big])).rejects.toThrow(/big\.npy: label of image 3 is 10, not a class in \[0, 10\)/);
    const short = join(dir, 'short.npy');
    writeFileSync(short, encodeNpy(Uint32Array.from([1, 2, 3]), [3], 'uint32'));
    await expect(step(['--labels', short])).rejects.toThrow(/short\.npy: 3 rows of labels for N = 6/);
    await expect(step(['--labels', join(SELA, 'labels.npy'), '--view2', join(STEP, 'view2.npy')])).rejects.toThrow(/drop --view2/);
  }, 300_000);
});
