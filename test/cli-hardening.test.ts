// The CLI's hardening (issue 16, items 2, 4, 5 and 9): one exit code for bad input (2) and another
// for failures (1); --out checked before any work; outputs replaced atomically; resume that
// tolerates what a crash leaves (a torn last line of metrics.jsonl, an empty optimizer file); a
// checkpoint every 10 % of the run by default; Ctrl-C / SIGTERM finish the step, write the
// checkpoint, print the resume command and exit 130 / 143; and a run that turns non-finite keeps
// its last finite checkpoint and writes the failing state beside it.
import { spawn, spawnSync } from 'node:child_process';
import { constants } from 'node:os';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { run as assign } from '../cli/commands/assign.ts';
import { run as embed } from '../cli/commands/embed.ts';
import { run as step } from '../cli/commands/step.ts';
import { keptMetricLines, readMomentum, resumeArgs, run as trainCli, TrainingFailed } from '../cli/commands/train.ts';
import { CliError, isInputError } from '../cli/args.ts';
import { writeAtomic } from '../cli/files.ts';
import { encodeNpy } from '../src/io/npy.ts';
import { encodeSafetensors, parseSafetensors } from '../src/io/safetensors.ts';
import { decodeCheckpoint, encodeCheckpoint, initialState } from '../src/nn/checkpoint.ts';
import { loadDataset } from '../src/data/node-fs.ts';
import { defaultTrainConfig, PARAM_TABLE } from '../src/train/config.ts';
import { firstNonFiniteTensor } from '../src/train/run-driver.ts';
import { modelConfigFor } from '../src/train/trainer.ts';
import { configFlags } from '../cli/config-flags.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mira-cli-hardening-'));
const tmp = (name: string) => join(dir, name);
const STEP_FIXTURE = (name: string) => join(ROOT, 'test/fixtures/step', name);
/** The brief's tiny run: seconds per step even on an emulated GPU. */
const TINY = ['--dataset', 'bundled', '--width', '0.0625', '--batch', '8', '--prototypes', '8', '--proj-hidden', '16', '--proj-out', '8', '--knn-bank', '20', '--knn-queries', '20', '--log-every', '1'];

afterEach(() => {
  vi.restoreAllMocks();
});

/** console.error captured (warnings), console.log silenced. */
function captureConsole(): { err: string[]; out: string[] } {
  const err: string[] = [];
  const out: string[] = [];
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  return { err, out };
}

async function refuse(p: Promise<unknown>, re: RegExp, type: new (...a: never[]) => Error = CliError): Promise<Error> {
  const e = await p.then(
    () => new Error('resolved'),
    (x: unknown) => x as Error,
  );
  expect(e).toBeInstanceOf(type);
  expect(e.message).toMatch(re);
  return e;
}

/** `npm run cli -- …` as a shell would see it: its exit status and both streams. */
function cli(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync('npm', ['run', '--silent', 'cli', '--', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 240_000 });
  return { status: r.status ?? 128 + (constants.signals[r.signal as keyof typeof constants.signals] ?? 0), stdout: r.stdout, stderr: r.stderr };
}

describe('exit codes: 2 for bad input, 1 for failures, documented', () => {
  test('every input error class maps to 2; GPU and other failures do not', () => {
    for (const name of ['CliError', 'DatasetError', 'CheckpointError', 'NpyError', 'SafetensorsError', 'InputError', 'ParamError', 'ShapeError']) {
      const e = new Error('x');
      e.name = name;
      expect(isInputError(e), name).toBe(true);
    }
    for (const name of ['Error', 'GpuKernelError', 'WebGPUUnavailableError', 'TrainingFailed', 'TypeError']) {
      const e = new Error('x');
      e.name = name;
      expect(isInputError(e), name).toBe(false);
    }
    expect(isInputError(new TrainingFailed('diverged'))).toBe(false);
  });

  test('through npm run cli: --epochs -5 and an unreadable checkpoint both exit 2; help documents the codes', () => {
    const epochs = cli(['train', '--epochs', '-5', '--out', tmp('never-trained')]);
    expect(epochs.stderr).toMatch(/--epochs must be a number > 0; got -5/);
    expect(epochs.status).toBe(2);
    expect(existsSync(tmp('never-trained'))).toBe(false);
    // A CheckpointError (not a CliError) used to exit 1.
    writeFileSync(tmp('stub.safetensors'), 'abc');
    const bad = cli(['embed', '--checkpoint', tmp('stub.safetensors'), '--in', STEP_FIXTURE('view1.npy'), '--out', tmp('never.npy')]);
    expect(bad.stderr).toMatch(/CheckpointError: .*stub\.safetensors/);
    expect(bad.status).toBe(2);
    const help = cli(['help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/exit codes: 0 done; 1 a failure .*; 2 bad input .*130 \/ 143/);
  }, 600_000);

  test("each command's --help documents the exit codes", async () => {
    const { out } = captureConsole();
    for (const cmd of [assign, embed, step, trainCli]) expect(await cmd(['--help'])).toBe(0);
    expect(out.filter((l) => /exit codes: 0 done; 1 a failure.*2 bad input/.test(l))).toHaveLength(4);
  });
});

describe('--out is checked before any work, with a clear message', () => {
  const logits = tmp('logits.npy');
  writeFileSync(logits, encodeNpy(new Float32Array(4 * 3).map((_, i) => Math.sin(i)), [4, 3]));
  mkdirSync(tmp('a-directory'), { recursive: true });
  writeFileSync(tmp('a-file'), 'x');

  test('assign: a missing directory, a directory, a file in the path — before reading the input', async () => {
    // The input does not exist either: the output is checked first, so the message is about --out.
    await refuse(assign(['--in', tmp('missing.npy'), '--out', tmp('no-such-dir/w.npy')]), /assign: cannot write --out .*no-such-dir\/w\.npy: the directory .*no-such-dir does not exist/);
    await refuse(assign(['--in', logits, '--out', tmp('a-directory')]), /assign: --out .*a-directory is a directory; give a file name/);
    await refuse(assign(['--in', logits, '--out', tmp('a-file/w.npy')]), /assign: cannot write --out .*a-file\/w\.npy: .*a-file is a file, not a directory/);
    await refuse(assign(['--in', logits, '--out', tmp('w.npy'), '--trace', tmp('no-such-dir/t.json')]), /assign: cannot write --trace .*no-such-dir/);
  });

  test('embed and step: --out / --grads before the checkpoint is read', async () => {
    await refuse(embed(['--checkpoint', tmp('missing.safetensors'), '--in', STEP_FIXTURE('view1.npy'), '--out', tmp('no-such-dir/f.npy')]), /embed: cannot write --out .*no-such-dir/);
    await refuse(step(['--checkpoint', tmp('missing.safetensors'), '--view1', 'a.npy', '--view2', 'b.npy', '--grads', tmp('no-such-dir/g.safetensors')]), /step: cannot write --grads .*no-such-dir/);
    await refuse(embed(['--checkpoint', STEP_FIXTURE('model.safetensors'), '--in', STEP_FIXTURE('view1.npy'), '--limit', '2', '--out', tmp('f.npy')]), /--limit applies to --dataset/);
  });

  test('step: every hyperparameter before any file is read', async () => {
    const missing = ['--checkpoint', tmp('missing.safetensors'), '--view1', 'a.npy', '--view2', 'b.npy', '--grads', tmp('g.safetensors')];
    await refuse(step([...missing, '--beta', '1']), /β must lie strictly between 0 and 1, got 1/, RangeError);
    await refuse(step([...missing, '--eps', '0']), /ε must be a finite number > 0, got 0/, RangeError);
  });

  test('train: --out a file, or under a file, is refused before the dataset is loaded', async () => {
    await refuse(trainCli([...TINY, '--dataset', tmp('no-such-dataset'), '--out', tmp('a-file')]), /train: --out .*a-file is a file; give a directory/);
    await refuse(trainCli([...TINY, '--dataset', tmp('no-such-dataset'), '--out', tmp('a-file/run')]), /train: cannot write into --out .*a-file\/run: a part of the path is a file/);
    await refuse(trainCli([...TINY, '--epochs', '-5', '--out', tmp('run-epochs')]), /--epochs must be a number > 0; got -5/);
    await refuse(trainCli([...TINY, '--momentum', '5', '--out', tmp('run-momentum')]), /--momentum must be in \[0, 1\); got 5/);
  });
});

describe('atomic writes', () => {
  test('assign replaces --out and --trace by a rename (a new file), never rewriting the old one in place', async () => {
    captureConsole();
    const logits = tmp('logits-atomic.npy');
    writeFileSync(logits, encodeNpy(new Float64Array(6 * 4).map((_, i) => Math.cos(i)), [6, 4]));
    writeFileSync(tmp('targets.npy'), 'old');
    writeFileSync(tmp('trace.json'), 'old');
    const before = [statSync(tmp('targets.npy')).ino, statSync(tmp('trace.json')).ino];
    expect(await assign(['--in', logits, '--out', tmp('targets.npy'), '--trace', tmp('trace.json'), '--backend', 'cpu'])).toBe(0);
    expect(statSync(tmp('targets.npy')).ino).not.toBe(before[0]);
    expect(statSync(tmp('trace.json')).ino).not.toBe(before[1]);
    expect(JSON.parse(readFileSync(tmp('trace.json'), 'utf8'))).toHaveLength(30);
    expect(existsSync(tmp('targets.npy.tmp'))).toBe(false);
  });

  test('writeAtomic leaves the old file whole when the write fails', () => {
    writeFileSync(tmp('keep.json'), '{"old":true}');
    mkdirSync(tmp('keep.json.tmp'), { recursive: true }); // the temporary file cannot be created
    expect(() => writeAtomic(tmp('keep.json'), '{"new":true}')).toThrow();
    expect(readFileSync(tmp('keep.json'), 'utf8')).toBe('{"old":true}');
  });
});

describe('resume tolerates what a crash leaves', () => {
  test('a torn last line of metrics.jsonl is dropped with a warning naming the file', () => {
    const { err } = captureConsole();
    const path = tmp('metrics.jsonl');
    writeFileSync(path, '{"step":0,"knn_top1":10}\n{"step":1,"loss":2}\n{"step":2,"loss":1.5}\n{"step":3,"lo');
    expect(keptMetricLines(path, 2)).toEqual(['{"step":0,"knn_top1":10}', '{"step":1,"loss":2}', '{"step":2,"loss":1.5}']);
    expect(err.join('\n')).toMatch(/warning: .*metrics\.jsonl: dropped its last line, torn by an interrupted write/);
    // Lines after the checkpoint's step are not kept; a damaged line in the middle is refused, naming the line.
    expect(keptMetricLines(path, 1)).toHaveLength(2);
    writeFileSync(path, '{"step":0}\nnot json\n{"step":2}\n');
    expect(() => keptMetricLines(path, 2)).toThrow(/metrics\.jsonl line 2 is not a metrics record/);
    expect(keptMetricLines(tmp('none.jsonl'), 2)).toEqual([]);
  });

  test('an empty, unreadable or non-finite optimizer.safetensors falls back to zero momentum with a warning', () => {
    const { err } = captureConsole();
    const path = tmp('optimizer.safetensors');
    writeFileSync(path, '');
    expect(readMomentum(path, 5)).toBeUndefined();
    expect(err.at(-1)).toMatch(/warning: .*optimizer\.safetensors cannot be read .*: resuming with zero optimizer momentum/);
    writeFileSync(path, encodeSafetensors({ momentum: { shape: [3], data: Float32Array.of(1, NaN, 2) } }, { step: '5' }));
    expect(readMomentum(path, 5)).toBeUndefined();
    expect(err.at(-1)).toMatch(/optimizer\.safetensors holds non-finite momentum/);
    writeFileSync(path, encodeSafetensors({ momentum: { shape: [3], data: Float32Array.of(1, 0, 2) } }, { step: '5' }));
    expect(Array.from(readMomentum(path, 5)!.momentum)).toEqual([1, 0, 2]);
    expect(readMomentum(path, 6)).toBeUndefined();
    expect(err.at(-1)).toMatch(/is from step 5, the checkpoint from step 6/);
  });
});

describe('checkpoints by default, and the resume command', () => {
  test('--checkpoint-every defaults to 10 % of the steps; 0 still means only at the end', () => {
    expect(defaultTrainConfig({ steps: 300 }).checkpointEvery).toBe(30);
    expect(defaultTrainConfig({ steps: 4 }).checkpointEvery).toBe(1);
    expect(defaultTrainConfig({ steps: 300, checkpointEvery: 0 }).checkpointEvery).toBe(0);
    expect(configFlags(PARAM_TABLE)['checkpoint-every']!.defaultText).toBe('10% of the steps');
  });

  test('the resume command repeats the flags, drops --stop-at-step and an older --resume, and quotes for the shell', () => {
    expect(resumeArgs(['--out', 'my run', '--stop-at-step', '3', '--resume=old/model.safetensors', '--steps', '9'], 'my run/model.safetensors')).toBe("--out 'my run' --steps 9 --resume 'my run/model.safetensors'");
  });

  test('firstNonFiniteTensor names the tensor, the index and the value', () => {
    expect(firstNonFiniteTensor([['a', Float32Array.of(1, 2)], ['b', Float32Array.of(0, Infinity)]], 'ema.')).toBe('ema.b[1] = Infinity');
    expect(firstNonFiniteTensor([['a', Float32Array.of(1, 2)]])).toBeNull();
  });
});

/** Steps with a loss in metrics.jsonl, in file order. */
const lossSteps = (out: string) => readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((m) => 'loss' in m).map((m) => m.step as number);

describe('killed runs keep their work (runs the tiny model on the GPU)', () => {
  test('Ctrl-C under npm run: the step finishes, the checkpoint is written, the resume command printed, exit 130; SIGTERM exits 143; the resumed run finishes with every step once', async () => {
    const out = tmp('interrupted');
    const steps = 8;
    const args = ['train', ...TINY, '--steps', String(steps), '--json', '--out', out];
    // A terminal's Ctrl-C: SIGINT to the whole foreground process group (npm, the shell, node).
    const child = spawn('npm', ['run', '--silent', 'cli', '--', ...args], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      if (!sent && /"loss":/.test(stdout)) {
        sent = true;
        process.kill(-child.pid!, 'SIGINT');
      }
    });
    child.stderr.on('data', (d: Buffer) => void (stderr += d));
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((res) => child.on('exit', (c, s) => res([c, s])));
    // npm re-raises the signal its script ended by; a shell reports either as 128 + 2.
    expect(code ?? 128 + constants.signals[signal!]).toBe(130);
    const m = stderr.match(/stopped by SIGINT at step (\d+) of 8; wrote (\S+)\. Resume with:\n {2}(npm run cli -- train .*)/);
    expect(m, stderr).not.toBeNull();
    const stoppedAt = Number(m![1]);
    expect(stoppedAt).toBeGreaterThanOrEqual(1);
    expect(stoppedAt).toBeLessThan(steps);
    expect(m![2]).toBe(join(out, 'model.safetensors'));
    expect(m![3]).toBe(`npm run cli -- train ${resumeArgs(args.slice(1), join(out, 'model.safetensors'))}`);
    expect(decodeCheckpoint(new Uint8Array(readFileSync(join(out, 'model.safetensors')))).step).toBe(stoppedAt);
    expect(lossSteps(out)).toEqual(Array.from({ length: stoppedAt }, (_, i) => i + 1));

    // Resume in this process; SIGTERM after the first new metrics line → 143 with a checkpoint.
    const resumeArgv = m![3]!.replace(/^npm run cli -- train /, '').split(' ');
    const { out: printed } = captureConsole();
    let termSent = false;
    const logSpy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => {
      const line = a.join(' ');
      printed.push(line);
      if (!termSent && /"loss":/.test(line)) {
        termSent = true;
        process.emit('SIGTERM', 'SIGTERM');
      }
    });
    expect(await trainCli(resumeArgv)).toBe(143);
    logSpy.mockRestore();
    const second = decodeCheckpoint(new Uint8Array(readFileSync(join(out, 'model.safetensors')))).step;
    expect(second).toBeGreaterThan(stoppedAt);
    expect(process.listenerCount('SIGTERM')).toBe(0);
    expect(process.listenerCount('SIGINT')).toBe(0);

    // And to the end: every step logged exactly once.
    expect(await trainCli(resumeArgv)).toBe(0);
    expect(lossSteps(out)).toEqual(Array.from({ length: steps }, (_, i) => i + 1));
    expect(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')).steps).toBe(steps);
  }, 1_500_000);

  test('a --resume already at the last step is refused as bad input before the GPU is touched (was a TypeError after the run)', async () => {
    captureConsole();
    const out = tmp('finished');
    mkdirSync(out, { recursive: true });
    const data = await loadDataset('bundled');
    const config = defaultTrainConfig({ width: 0.0625, batch: 8, prototypes: 8, projHidden: 16, projOut: 8, steps: 10 });
    const state = initialState(modelConfigFor(config, data.train), config.seed);
    state.step = 10;
    writeFileSync(join(out, 'model.safetensors'), encodeCheckpoint(state));
    await refuse(trainCli([...TINY, '--steps', '10', '--out', out, '--resume', join(out, 'model.safetensors')]), /--resume .*model\.safetensors is at step 10, the run has 10 steps: nothing left to do/);
  });

  test('a run that turns non-finite keeps the last finite checkpoint and writes the failing state beside it', async () => {
    captureConsole();
    const out = tmp('diverging');
    mkdirSync(out, { recursive: true });
    // A finite checkpoint at step 2 whose stem weights overflow float32 in the first convolution.
    const data = await loadDataset('bundled');
    const config = defaultTrainConfig({ width: 0.0625, batch: 8, prototypes: 8, projHidden: 16, projOut: 8, steps: 10 });
    const state = initialState(modelConfigFor(config, data.train), config.seed);
    state.step = 2;
    state.student.get('encoder.conv1.weight')!.fill(3e38);
    const finite = encodeCheckpoint(state);
    writeFileSync(join(out, 'model.safetensors'), finite);
    const e = await refuse(trainCli([...TINY, '--steps', '10', '--out', out, '--resume', join(out, 'model.safetensors')]), /non-finite/, TrainingFailed);
    expect(e.message).toContain(join(out, 'model.nonfinite.safetensors'));
    expect(e.message).toMatch(/last finite checkpoint .*model\.safetensors \(step 2\)/);
    expect(Buffer.compare(readFileSync(join(out, 'model.safetensors')), Buffer.from(finite))).toBe(0);
    const failing = parseSafetensors(new Uint8Array(readFileSync(join(out, 'model.nonfinite.safetensors'))));
    expect(JSON.parse(failing.metadata['mira.config']!).step).toBeGreaterThan(2);
  }, 900_000);
});
