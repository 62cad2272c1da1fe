// `cli step --method mveb|mio` against PyTorch (issue 12, acceptance): the golden fixtures of
// scripts/fixtures/make_embed_step_fixture.py — make_step_fixture.py's independent PyTorch model
// (ResNet-18 encoder + projector, width 1/16, 1 channel, 16×16, H = 16, P = 8) WITHOUT the prototype
// head (mira.config "prototypes": 0, "method"), batch 8, with the objectives written out in float64
// from the formulas: MVEB (the ema.* teacher, λ = η = 0.01) with the whole batch per Stein
// estimate and with --stein-chunk 4 (two estimates per view), and MIO (τ₊ = τ₋ = 0.5, μ = 1).
// One forward/backward on the GPU (float32) must give PyTorch's loss to 1e-4 relative and every
// trainable parameter's gradient to 1e-3 relative per tensor (max |got − ref| / max |ref|), under
// the same names. The fixtures' projections are spread (mean off-diagonal cosine ≤ 0.42; K + ηI's
// condition number ≤ 125), not near-collapsed (see src/mira/mveb.ts's header).
//
// Bad input: each a CliError (or ParamError) naming the flag or file, with no GPU submission and no gradients file.
//
// Regenerate: /usr/bin/python3 scripts/fixtures/make_embed_step_fixture.py
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { CliError } from '../cli/args.ts';
import { run } from '../cli/commands/step.ts';
import { nodeGpu } from '../src/gpu/node.ts';
import { ParamError } from '../src/mira/validate.ts';
import { parseSafetensors, type SafetensorsFile } from '../src/io/safetensors.ts';
import { decodeCheckpoint, encodeCheckpoint } from '../src/nn/checkpoint.ts';
import { modelParams } from '../src/nn/parameters.ts';
import { relativeError } from './helpers/gpu.ts';

const dir = (method: string) => fileURLToPath(new URL(`./fixtures/step-${method}`, import.meta.url));
const MVEB = dir('mveb');
const MIO = dir('mio');
const STEP = fileURLToPath(new URL('./fixtures/step', import.meta.url));
const readSt = (path: string): SafetensorsFile => parseSafetensors(new Uint8Array(readFileSync(path)), path);
const f64 = (file: SafetensorsFile, name: string): Float64Array => {
  const t = file.tensors.get(name);
  if (!t) throw new Error(`no tensor "${name}"`);
  return Float64Array.from(t.data as ArrayLike<number>);
};

interface FixtureConfig {
  method: string;
  batch: number;
  flags: Record<string, number>;
  stats: Record<string, number | number[]>;
}


/** Runs `cli step`, capturing its JSON line. */
async function step(args: string[]): Promise<{ rc: number; out: Record<string, unknown> | null }> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  try {
    const rc = await run(args);
    const line = lines.find((l) => l.startsWith('{'));
    return { rc, out: line ? (JSON.parse(line) as Record<string, unknown>) : null };
  } finally {
    spy.mockRestore();
  }
}

const scratch = () => mkdtempSync(join(tmpdir(), 'mira-step-embed-'));
const views = (d: string) => ['--view1', join(d, 'view1.npy'), '--view2', join(d, 'view2.npy')];

describe('the embedding fixtures are checkpoints without a head that we read and write exactly', () => {
  test.each([
    ['mveb', MVEB],
    ['mio', MIO],
  ])('%s: prototypes 0, no head.* tensors, an ema.* teacher, the method recorded; re-encoded byte for byte', (method, d) => {
    const bytes = new Uint8Array(readFileSync(join(d, 'model.safetensors')));
    const state = decodeCheckpoint(bytes, 'model.safetensors');
    expect(state.config).toEqual({ width: 1 / 16, inChannels: 1, imageSize: 16, stemPadding: 1, mean: [0.286], std: [0.353], projHidden: 16, projOut: 8, prototypes: 0 });
    expect(state.method).toBe(method);
    expect([...state.student.keys()].filter((k) => k.startsWith('head.'))).toEqual([]);
    expect(state.teacher).not.toBeNull();
    expect(state.student.size).toBe(modelParams(state.config).length);
    const again = encodeCheckpoint(state);
    expect(Buffer.compare(Buffer.from(again), Buffer.from(bytes))).toBe(0);
  });
});

const CASES: [string, string, string][] = [
  ['mveb, the whole batch per Stein estimate', MVEB, 'expected.safetensors'],
  ['mveb, --stein-chunk 4 (two estimates per view of 8)', MVEB, 'expected-chunk4.safetensors'],
  ['mio', MIO, 'expected.safetensors'],
];

describe('cli step --method mveb|mio matches PyTorch on the golden fixtures', () => {
  test.each(CASES)(
    '%s: loss to 1e-4 and every gradient to 1e-3 relative (per tensor), under the same names',
    async (_, d, expectedFile) => {
      const expected = readSt(join(d, expectedFile));
      const cfg = JSON.parse(expected.metadata['fixture.config']!) as FixtureConfig;
      const grads = join(scratch(), 'grads.safetensors');
      const flags = Object.entries(cfg.flags).flatMap(([k, v]) => [k, String(v)]);
      // The same spy the bad-input tests use must see this run's submissions (so "not called" there means something).
      const submit = vi.spyOn((await nodeGpu()).ctx.device.queue, 'submit');
      const { rc, out } = await step(['--checkpoint', join(d, 'model.safetensors'), ...views(d), '--method', cfg.method, ...flags, '--grads', grads, '--json']);
      expect(rc).toBe(0);
      expect(submit).toHaveBeenCalled();
      submit.mockRestore();
      expect(out).not.toBeNull();
      expect(out!.method).toBe(cfg.method);
      expect(out!.batch).toBe(cfg.batch);
      const loss = out!.loss as number;
      const refLoss = f64(expected, 'loss')[0]!;
      const lossErr = Math.abs(loss - refLoss) / Math.abs(refLoss);

      const got = readSt(grads);
      const refNames = [...expected.tensors.keys()].filter((k) => k !== 'loss').sort();
      const rows = refNames
        .filter((n) => got.tensors.has(n))
        .map((name) => ({ name, shapeOk: got.tensors.get(name)!.shape.join('×') === expected.tensors.get(name)!.shape.join('×'), ...relativeError(f64(expected, name), f64(got, name)) }))
        .sort((a, b) => b.err - a.err);
      console.log(
        `[step parity ${cfg.method} ${expectedFile}] loss ${loss} vs PyTorch ${refLoss} (rel ${lossErr.toExponential(2)}); GPU stats ${JSON.stringify(Object.fromEntries(Object.entries(out!).filter(([k]) => /^(mveb|mio)_/.test(k))))} vs ${JSON.stringify(cfg.stats)}\n` +
          rows
            .slice(0, 5)
            .map((r) => `  ${r.err.toExponential(2)}  ${r.name}  (max|ref| ${r.scale.toExponential(2)})`)
            .join('\n'),
      );
      expect([...got.tensors.keys()].sort()).toEqual(refNames);
      const state = decodeCheckpoint(new Uint8Array(readFileSync(join(d, 'model.safetensors'))));
      expect(refNames).toEqual(modelParams(state.config).filter((p) => p.trainable).map((p) => p.name).sort());
      expect(lossErr).toBeLessThan(1e-4);
      // The method's own statistics (the GPU's metric rows) against the fixture's.
      const mean = (x: number | number[]) => (Array.isArray(x) ? x.reduce((a, b) => a + b, 0) / x.length : x);
      const stats: [string, number][] =
        cfg.method === 'mveb'
          ? [['mveb_tau', mean(cfg.stats.taus!)], ['mveb_align', mean(cfg.stats.align!)], ['mveb_unif', mean(cfg.stats.unif!)]]
          : [['mio_pos_prob', mean(cfg.stats.pos_prob!)], ['mio_neg_prob', mean(cfg.stats.neg_prob!)]];
      for (const [k, ref] of stats) expect(Math.abs((out![k] as number) - ref) / Math.abs(ref), k).toBeLessThan(1e-4);
      for (const r of rows) {
        expect(r.shapeOk, `${r.name}: shape`).toBe(true);
        expect(r.scale, `${r.name}: the reference gradient is zero — the fixture does not test it`).toBeGreaterThan(0);
        expect(r.err, `${r.name}: max|got−ref|/max|ref|`).toBeLessThanOrEqual(1e-3);
      }
    },
    // Pipeline compilation dominates on lavapipe (minutes of CPU cold); the limit is a guard.
    300_000,
  );
});

describe('bad input is refused with a message naming the flag or file, before any dispatch', () => {
  afterEach(() => vi.restoreAllMocks());

  /** Expects a CliError (or the kernels' ParamError, which cli/main.ts prints as it prints a CliError) matching `message`, no GPU submission and no gradients file. */
  async function refused(args: string[], message: RegExp): Promise<void> {
    const { ctx } = await nodeGpu();
    const submit = vi.spyOn(ctx.device.queue, 'submit');
    const grads = join(scratch(), 'grads.safetensors');
    const err = await step([...args, '--grads', grads, '--json']).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err instanceof CliError || err instanceof ParamError, String(err)).toBe(true);
    expect((err as Error).message).toMatch(message);
    expect(submit).not.toHaveBeenCalled();
    expect(existsSync(grads)).toBe(false);
  }

  const mveb = ['--checkpoint', join(MVEB, 'model.safetensors'), ...views(MVEB), '--method', 'mveb'];
  const mio = ['--checkpoint', join(MIO, 'model.safetensors'), ...views(MIO), '--method', 'mio'];

  test('--stein-chunk larger than the batch', async () => {
    await refused([...mveb, '--stein-chunk', '16'], /--stein-chunk 16 is larger than the batch 8/);
  }, 120_000);
  test('--stein-chunk not dividing the batch', async () => {
    await refused([...mveb, '--stein-chunk', '3'], /--stein-chunk 3 does not divide the batch 8/);
  }, 120_000);
  test('τ ≤ 0: --tau-pos 0, --tau-neg -1', async () => {
    await refused([...mio, '--tau-pos', '0'], /--tau-pos/);
    await refused([...mio, '--tau-neg', '-1'], /--tau-neg/);
  }, 120_000);
  test('a prototype method’s checkpoint (with a head) given to --method mio names the file', async () => {
    const ck = join(STEP, 'model.safetensors');
    await refused(['--checkpoint', ck, '--view1', join(STEP, 'view1.npy'), '--view2', join(STEP, 'view2.npy'), '--method', 'mio'], new RegExp(`${ck.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} has a prototype head .*--method mio`));
  }, 120_000);
  test('a batch of 1 for MIO', async () => {
    const d = scratch();
    // One image per view: the first of each fixture view (a valid uint8 1×16×16×1 .npy).
    const { writeFileSync } = await import('node:fs');
    for (const v of ['view1', 'view2']) {
      const bytes = readFileSync(join(MIO, `${v}.npy`));
      const headerLen = bytes.readUInt16LE(8);
      const header = bytes.subarray(10, 10 + headerLen).toString('latin1').replace("'shape': (8,", "'shape': (1,");
      const padded = header.trimEnd().padEnd(headerLen - 1, ' ') + '\n';
      writeFileSync(join(d, `${v}.npy`), Buffer.concat([bytes.subarray(0, 10), Buffer.from(padded, 'latin1'), bytes.subarray(10 + headerLen, 10 + headerLen + 16 * 16)]));
    }
    await refused(['--checkpoint', join(MIO, 'model.safetensors'), ...views(d), '--method', 'mio'], /--view1 .*view1\.npy holds 1 image; BN in training mode needs at least 2 images per view \(and MIO has no negative pairs in a batch of 1\)/);
  }, 120_000);
});
