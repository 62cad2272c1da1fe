// `cli embed` against PyTorch: the step fixture's checkpoint (scripts/fixtures/make_step_fixture.py)
// has non-trivial BN running statistics; the GPU's evaluation-mode pooled features of view1 must
// equal PyTorch's eval-mode forward of the same weights (`eval_features`, float64) to 1e-4
// relative (max |got − ref| / max |ref|). Then bad input to `embed` and `step`: each is refused
// with a message that says what is wrong, before the GPU is touched.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test, vi } from 'vitest';
import { run as embed } from '../cli/commands/embed.ts';
import { run as step } from '../cli/commands/step.ts';
import { CliError } from '../cli/args.ts';
import { DatasetError } from '../src/data/dataset.ts';
import { encodeNpy, parseNpy } from '../src/io/npy.ts';
import { encodeSafetensors, parseSafetensors } from '../src/io/safetensors.ts';
import { CheckpointError } from '../src/nn/checkpoint.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/step', import.meta.url));
const fixture = (name: string) => join(FIXTURE, name);
const dir = mkdtempSync(join(tmpdir(), 'mira-embed-parity-'));
const tmp = (name: string) => join(dir, name);

/** Runs a command with console.log captured; returns its exit code and what it printed. */
async function quiet(cmd: (argv: string[]) => Promise<number>, argv: string[]): Promise<{ rc: number; lines: string[] }> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  try {
    return { rc: await cmd(argv), lines };
  } finally {
    spy.mockRestore();
  }
}

describe('cli embed matches PyTorch', () => {
  test(
    'evaluation-mode features of a checkpoint with non-trivial BN running statistics, to 1e-4 relative',
    async () => {
      const out = tmp('feats.npy');
      const { rc, lines } = await quiet(embed, ['--checkpoint', fixture('model.safetensors'), '--in', fixture('view1.npy'), '--out', out]);
      expect(rc).toBe(0);
      expect(lines.join('\n')).toMatch(/embedded 6 images .*float32 6×32/);
      const got = parseNpy(new Uint8Array(readFileSync(out)), out);
      const expected = parseSafetensors(new Uint8Array(readFileSync(fixture('expected.safetensors'))), 'expected.safetensors');
      const ref = expected.tensors.get('eval_features')!;
      expect(got.dtype).toBe('float32');
      expect(got.shape).toEqual(ref.shape);
      const r = ref.data as Float64Array;
      const g = got.data as Float32Array;
      let scale = 0;
      let worst = 0;
      let at = -1;
      for (let i = 0; i < r.length; i++) {
        scale = Math.max(scale, Math.abs(r[i]!));
        const d = Math.abs(g[i]! - r[i]!);
        if (!(d <= worst)) [worst, at] = [Number.isNaN(d) ? Infinity : d, i];
      }
      console.log(`[embed parity] max|got−ref| / max|ref| = ${(worst / scale).toExponential(2)} (worst at ${at}: ${g[at]} vs ${r[at]}; max|ref| ${scale.toFixed(4)})`);
      expect(scale).toBeGreaterThan(0);
      expect(worst / scale).toBeLessThanOrEqual(1e-4);
    },
    175_000,
  );
});

describe('bad input to embed and step is refused with its reason', () => {
  const views = parseNpy(new Uint8Array(readFileSync(fixture('view1.npy'))));
  const u8 = (name: string, shape: number[]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Uint8Array(n);
    for (let i = 0; i < n; i++) data[i] = (i * 37) & 255;
    writeFileSync(tmp(name), encodeNpy(data, shape));
    return tmp(name);
  };
  const refuse = async (p: Promise<number>, type: new (...a: never[]) => Error, re: RegExp) => {
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(type);
    expect((err as Error).message).toMatch(re);
  };
  const ckpt = fixture('model.safetensors');
  const embedIn = (images: string, checkpoint = ckpt) => embed(['--checkpoint', checkpoint, '--in', images, '--out', tmp('never.npy')]);
  const stepOn = (v1: string, v2: string, checkpoint = ckpt) => step(['--checkpoint', checkpoint, '--view1', v1, '--view2', v2, '--grads', tmp('never.safetensors')]);

  test('an image side not divisible by 8', async () => {
    const odd = u8('12x12.npy', [6, 12, 12, 1]);
    await refuse(embedIn(odd), DatasetError, /12x12\.npy: images are 12×12; the network needs square images with a side divisible by 8/);
    await refuse(stepOn(odd, odd), DatasetError, /images are 12×12; .*side divisible by 8/);
  });

  test('an image size or a channel count the checkpoint does not have', async () => {
    await refuse(embedIn(u8('24x24.npy', [6, 24, 24, 1])), DatasetError, /images are 24×24 but the checkpoint was trained on 16×16/);
    const rgb = u8('rgb.npy', [6, 16, 16, 3]);
    await refuse(embedIn(rgb), DatasetError, /rgb\.npy: images have 3 channel\(s\) but the checkpoint takes 1/);
    await refuse(stepOn(fixture('view1.npy'), rgb), DatasetError, /images have 3 channel\(s\) but the checkpoint takes 1/);
    writeFileSync(tmp('float.npy'), encodeNpy(new Float32Array(6 * 16 * 16), [6, 16, 16, 1]));
    await refuse(embedIn(tmp('float.npy')), DatasetError, /images must be uint8 N×16×16×1; got dtype float32/);
  });

  test('step: views with different numbers of images, and a single image', async () => {
    const five = tmp('five.npy');
    writeFileSync(five, encodeNpy((views.data as Uint8Array).slice(0, 5 * 256), [5, 16, 16, 1]));
    await refuse(stepOn(fixture('view1.npy'), five), CliError, /--view1 has 6 images but --view2 has 5; the two views must be the same images/);
    const one = tmp('one.npy');
    writeFileSync(one, encodeNpy((views.data as Uint8Array).slice(0, 256), [1, 16, 16, 1]));
    await refuse(stepOn(one, one), CliError, /BN in training mode needs at least 2 images per view/);
  });

  test('missing files', async () => {
    await refuse(embedIn(fixture('view1.npy'), tmp('missing.safetensors')), CliError, /cannot read checkpoint .*missing\.safetensors: ENOENT/);
    await refuse(embedIn(tmp('missing.npy')), CliError, /cannot read images .*missing\.npy: ENOENT/);
    await refuse(stepOn(fixture('view1.npy'), tmp('missing.npy')), CliError, /cannot read view2 .*missing\.npy: ENOENT/);
    await refuse(stepOn(fixture('view1.npy'), fixture('view2.npy'), tmp('missing.safetensors')), CliError, /cannot read checkpoint .*missing\.safetensors: ENOENT/);
  });

  test('a truncated checkpoint, and one whose tensors do not match its mira.config', async () => {
    const full = readFileSync(fixture('model.safetensors'));
    writeFileSync(tmp('truncated.safetensors'), full.subarray(0, full.length - 1000));
    const truncated = /truncated\.safetensors: not a readable safetensors file: .*(run past the data area|truncated)/;
    await refuse(embedIn(fixture('view1.npy'), tmp('truncated.safetensors')), CheckpointError, truncated);
    await refuse(stepOn(fixture('view1.npy'), fixture('view2.npy'), tmp('truncated.safetensors')), CheckpointError, truncated);
    writeFileSync(tmp('stub.safetensors'), full.subarray(0, 5));
    await refuse(embedIn(fixture('view1.npy'), tmp('stub.safetensors')), CheckpointError, /too short for the 8-byte safetensors header length/);
    // The fixture's tensors under a configuration with 3 input channels: the stem conv's shape is wrong.
    const f = parseSafetensors(new Uint8Array(full));
    const cfg = JSON.parse(f.metadata['mira.config']!);
    writeFileSync(
      tmp('mismatch.safetensors'),
      encodeSafetensors(
        new Map([...f.tensors].map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape, data: t.data }])),
        { 'mira.config': JSON.stringify({ ...cfg, in_channels: 3, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] }) },
      ),
    );
    await refuse(embedIn(fixture('view1.npy'), tmp('mismatch.safetensors')), CheckpointError, /does not match the model its metadata describes .*3 channel\(s\).*wrong shapes .*encoder\.conv1\.weight: shape \[4, 1, 3, 3\], expected \[4, 3, 3, 3\]/);
  });
});
