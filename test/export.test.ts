// `npm run cli -- export --checkpoint model.safetensors --to torch DIR` (no torch needed): the exported
// files are complete and byte-identical, continue.sh is a valid bash script whose command line passes
// only flags torch_mira.train declares, the embedding objectives (mveb, mio: no prototype head) export
// like the pseudo-label methods, the exported methods are torch_mira's SUPPORTED_METHODS, and every bad
// input is refused with the reason before DIR is made.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { run, TORCH_DIR, TORCH_METHODS } from '../cli/commands/export.ts';
import { CliError } from '../cli/args.ts';
import { encodeCheckpoint, initialState } from '../src/nn/checkpoint.ts';
import { defaultModelConfig } from '../src/nn/config.ts';
import { encodeSafetensors } from '../src/io/safetensors.ts';
import { defaultTrainConfig, type TrainConfig } from '../src/train/config.ts';

const dir = mkdtempSync(join(tmpdir(), 'mira-export-'));
const logs: string[] = [];
const origLog = console.log;
console.log = (...a: unknown[]) => void logs.push(a.join(' '));
afterAll(() => {
  console.log = origLog;
});

const config = defaultModelConfig(1, { width: 1 / 16, prototypes: 10, projHidden: 16, projOut: 8 });
/** An embedding objective's model: no prototype head. */
const headless = defaultModelConfig(1, { width: 1 / 16, prototypes: 0, projHidden: 16, projOut: 8 });

/** A training run's checkpoint (+ optimizer state of `optStep`, if given) in its own directory; `headless`: a model with prototypes 0. */
function runDir(name: string, opts: { method?: string; trainConfig?: boolean; optStep?: number | null; step?: number; headless?: boolean } = {}): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  const state = initialState(opts.headless ? headless : config, 3);
  state.step = opts.step ?? 20;
  const tc: TrainConfig = defaultTrainConfig({ dataset: 'bundled', width: 1 / 16, batch: 16, steps: 40, prototypes: 10, projHidden: 16, projOut: 8 });
  if (opts.method) (tc as unknown as Record<string, unknown>).method = opts.method;
  state.extra = opts.trainConfig === false ? {} : { train_config: tc, knn_top1_init: 39.2 };
  writeFileSync(join(d, 'model.safetensors'), encodeCheckpoint(state));
  const optStep = opts.optStep === undefined ? state.step : opts.optStep;
  if (optStep !== null) writeFileSync(join(d, 'optimizer.safetensors'), encodeSafetensors({ momentum: { shape: [128], data: new Float32Array(128).fill(0.25) } }, { step: String(optStep) }));
  return join(d, 'model.safetensors');
}

async function expectRefused(argv: string[], pattern: RegExp, out?: string): Promise<void> {
  const err = await run(argv).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, `export ${argv.join(' ')} must be refused`).toBeInstanceOf(CliError);
  expect((err as Error).message).toMatch(pattern);
  if (out) expect(existsSync(out), `${out} must not be created`).toBe(false);
}

/** The flags torch_mira.train declares (its argparse add_argument calls). */
function trainFlags(): Set<string> {
  const src = readFileSync(join(TORCH_DIR, 'torch_mira', 'train.py'), 'utf8');
  return new Set([...src.matchAll(/add_argument\("(--[a-z-]+)"/g)].map((m) => m[1]!));
}

describe('export --to torch', () => {
  test('copies checkpoint, optimizer state and package; continue.sh is a complete torchrun command line', async () => {
    const ck = runDir('good');
    const out = join(dir, 'out-good');
    expect(await run(['--checkpoint', ck, '--to', 'torch', out])).toBe(0);
    expect(readFileSync(join(out, 'model.safetensors'))).toEqual(readFileSync(ck));
    expect(readFileSync(join(out, 'optimizer.safetensors'))).toEqual(readFileSync(join(dir, 'good', 'optimizer.safetensors')));
    const pkg = readdirSync(join(out, 'torch_mira')).sort();
    expect(pkg).toEqual(readdirSync(join(TORCH_DIR, 'torch_mira')).filter((n) => n.endsWith('.py')).sort());
    for (const f of ['__init__.py', 'train.py', 'checkpoint.py', 'model.py', 'methods.py', 'augment.py', 'data.py', 'optim.py', 'schedules.py']) expect(pkg).toContain(f);

    const script = join(out, 'continue.sh');
    expect(statSync(script).mode & 0o111).not.toBe(0);
    const text = readFileSync(script, 'utf8');
    expect(spawnSync('bash', ['-n', script]).status, 'bash -n continue.sh').toBe(0);
    expect(text).toMatch(/-m torch\.distributed\.run --standalone --nproc_per_node "\$NPROC"/);
    expect(text).toContain('NPROC="${1:-2}"');
    expect(text).toContain('DATA="${DATA:-bundled}"');
    const line = text.slice(text.indexOf('-m torch_mira.train'));
    expect(line).toContain('--resume "$HERE/model.safetensors"');
    expect(line).toContain('--data "$DATA"');
    expect(line).toContain('--out "$HERE/run"');
    const known = trainFlags();
    expect(known.has('--resume') && known.has('--data') && known.has('--out')).toBe(true);
    for (const flag of line.match(/--[a-z-]+/g)!) expect(known, `continue.sh passes ${flag}, which torch_mira.train does not declare`).toContain(flag);

    const readme = readFileSync(join(out, 'README.md'), 'utf8');
    expect(readme).toContain('| method | mira |');
    expect(readme).toContain('| step | 20 of 40 |');
    expect(readme).toContain('optimizer state of step 20 copied');
    expect(logs.at(-1)).toContain('continue with');
  });

  test('--out, --nproc and --json; no optimizer state, or one from another step, is not copied and says so', async () => {
    const out = join(dir, 'out-noopt');
    logs.length = 0;
    expect(await run(['--checkpoint', runDir('noopt', { optStep: null, method: 'swav' }), '--out', out, '--nproc', '8', '--json'])).toBe(0);
    expect(existsSync(join(out, 'optimizer.safetensors'))).toBe(false);
    expect(JSON.parse(logs.at(-1)!)).toMatchObject({ method: 'swav', step: 20, steps: 40, optimizer: false });
    expect(readFileSync(join(out, 'continue.sh'), 'utf8')).toContain('NPROC="${1:-8}"');
    expect(readFileSync(join(out, 'README.md'), 'utf8')).toMatch(/zero optimizer momentum/);
    const stale = join(dir, 'out-stale');
    expect(await run(['--checkpoint', runDir('stale', { optStep: 10 }), stale])).toBe(0);
    expect(existsSync(join(stale, 'optimizer.safetensors'))).toBe(false);
    expect(readFileSync(join(stale, 'README.md'), 'utf8')).toMatch(/from step 10, the checkpoint from step 20/);
  });

  test('the embedding objectives (mveb, mio) export with their objective in the README and the same command line', async () => {
    for (const m of ['mveb', 'mio']) {
      const out = join(dir, `out-${m}`);
      logs.length = 0;
      expect(await run(['--checkpoint', runDir(m, { method: m, headless: true }), out, '--json'])).toBe(0);
      expect(JSON.parse(logs.at(-1)!)).toMatchObject({ method: m, step: 20, steps: 40, optimizer: true });
      expect(readFileSync(join(out, 'model.safetensors'))).toEqual(readFileSync(join(dir, m, 'model.safetensors')));
      expect(spawnSync('bash', ['-n', join(out, 'continue.sh')]).status).toBe(0);
      expect(readFileSync(join(out, 'continue.sh'), 'utf8')).toContain('-m torch_mira.train --resume "$HERE/model.safetensors" --data "$DATA" --out "$HERE/run"');
      const readme = readFileSync(join(out, 'README.md'), 'utf8');
      expect(readme).toContain(`| method | ${m} |`);
      expect(readme).toContain(m === 'mveb' ? '| objective | MVEB: agreement with the EMA teacher + λ 0.01 × Stein entropy estimate (η 0.01, each process\'s whole batch) |' : '| objective | MIO: positive / negative pair softplus (τ₊ 0.5, τ₋ 0.5, negatives on, within each process\'s batch) + 1 × L2; no teacher |');
      expect(readme).not.toContain('prototype head frozen');
    }
  });

  test("TORCH_METHODS are torch_mira's SUPPORTED_METHODS (torch/torch_mira/__init__.py)", () => {
    const init = readFileSync(join(TORCH_DIR, 'torch_mira', '__init__.py'), 'utf8');
    const tuple = (name: string) => [...init.match(new RegExp(`^${name} = \\(([^)]*)\\)`, 'm'))![1]!.matchAll(/"([a-z]+)"/g)].map((x) => x[1]!);
    const supported = init.match(/^SUPPORTED_METHODS = (.*)$/m)![1]!.split('+').flatMap((part) => tuple(part.trim()));
    expect(supported).toEqual([...TORCH_METHODS]);
  });

  test('bad inputs are refused with the reason, before the output directory is made', async () => {
    const out = join(dir, 'never');
    await expectRefused(['--checkpoint', join(dir, 'missing.safetensors'), out], /cannot read --checkpoint .*missing\.safetensors: ENOENT/, out);
    const junk = join(dir, 'junk.safetensors');
    writeFileSync(junk, 'not a safetensors file at all');
    await expectRefused(['--checkpoint', junk, out], /not a readable safetensors file/, out);
    const bare = join(dir, 'bare.safetensors');
    writeFileSync(bare, encodeSafetensors({ 'encoder.conv1.weight': { shape: [2], data: new Float32Array(2) } }));
    await expectRefused(['--checkpoint', bare, out], /no "mira\.config" metadata/, out);
    await expectRefused(['--checkpoint', runDir('notc', { trainConfig: false }), out], /no train_config/, out);
    expect(TORCH_METHODS as readonly string[]).not.toContain('sela');
    await expectRefused(['--checkpoint', runDir('m-sela', { method: 'sela' }), out], /method "sela", which the PyTorch side does not implement \(torch_mira: mira, swav, naive, mveb, mio\); continue this run in the playground/, out);
    await expectRefused(['--checkpoint', runDir('mveb-head', { method: 'mveb' }), out], /method "mveb" is an embedding objective, but the checkpoint has a prototype head \(prototypes 10\)/, out);
    await expectRefused(['--checkpoint', runDir('mira-headless', { method: 'mira', headless: true }), out], /method "mira" needs a prototype head, but the checkpoint has none \(prototypes 0\)/, out);
    await expectRefused(['--checkpoint', runDir('to'), '--to', 'jax', out], /--to must be one of torch; got "jax"/, out);
    await expectRefused(['--checkpoint', runDir('nodir')], /no output directory/);
    await expectRefused(['--checkpoint', runDir('two'), out, join(dir, 'other')], /one output directory/, out);
    const ck = runDir('self');
    await expectRefused(['--checkpoint', ck, join(dir, 'self')], /the checkpoint's own directory/);
  });
});
