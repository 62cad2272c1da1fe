// `npm run cli -- export --checkpoint model.safetensors --to torch DIR` (or `--out DIR`)
// Hands a playground run to PyTorch (torch/README.md, issue 17): DIR receives
//   model.safetensors      the checkpoint, byte for byte
//   optimizer.safetensors  the momentum saved beside it, when it belongs to the same step
//   torch_mira/            a copy of the PyTorch package (torch/torch_mira), so DIR is self-contained
//   continue.sh            the ready command line: torchrun --nproc_per_node N … -m torch_mira.train
//                          --resume DIR/model.safetensors --data <the run's dataset> --out DIR/run
//   README.md              the recipe (method, schedule, batch, optimizer, …) and how to go on
// The checkpoint must be a training run's (mira.config with its train_config) of a method the
// PyTorch side implements; anything else is refused with the reason, before DIR is touched.
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSafetensors } from '../../src/io/safetensors.ts';
import { decodeCheckpoint, type ModelState } from '../../src/nn/checkpoint.ts';
import type { TrainConfig } from '../../src/train/config.ts';
import { CliError, parseFlags, usage, type FlagSpec } from '../args.ts';

export const summary = 'hand a run to PyTorch: copies checkpoint + optimizer state and writes a ready torchrun command line (continue.sh)';

/** Methods torch/torch_mira implements (torch_mira/__init__.py SUPPORTED_METHODS): the pseudo-label methods and the embedding objectives. */
export const TORCH_METHODS = ['mira', 'swav', 'naive', 'mveb', 'mio'] as const;
/** The embedding objectives among them: no prototype head (the checkpoint has prototypes 0). */
const TORCH_EMBEDDING_METHODS: readonly string[] = ['mveb', 'mio'];

const FLAGS: Record<string, FlagSpec> = {
  checkpoint: { kind: 'string', required: true, help: "a training run's model.safetensors (optimizer.safetensors beside it is copied too)" },
  to: { kind: 'string', choices: ['torch'], default: 'torch', help: 'the target framework' },
  out: { kind: 'string', help: 'output directory (or give it as the last argument)' },
  nproc: { kind: 'int', default: 2, min: 1, help: 'default processes per node in continue.sh (its first argument overrides)' },
  json: { kind: 'boolean', help: 'print one JSON line describing the export' },
};

const SYNOPSIS = '--checkpoint model.safetensors --to torch DIR [--nproc 2] [--json]';

const here = dirname(fileURLToPath(import.meta.url));
/** torch/ of this checkout (the package copied into the export). */
export const TORCH_DIR = resolve(here, '../../torch');
const DATASETS_DIR = resolve(here, '../../public/datasets');

/** Splits the one positional argument (DIR) from the flags. */
function splitPositional(argv: string[]): { flags: string[]; positional: string[] } {
  const flags: string[] = [];
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok.startsWith('--') || tok === '-h') {
      flags.push(tok);
      const spec = FLAGS[tok.slice(2)];
      if (spec && spec.kind !== 'boolean' && !tok.includes('=') && i + 1 < argv.length) flags.push(argv[++i]!);
    } else positional.push(tok);
  }
  return { flags, positional };
}

/** The dataset argument as torch_mira.train takes it: a known name, or an absolute path. */
function dataArgument(dataset: string): string {
  return ['bundled', 'fashion-mnist', 'cifar10'].includes(dataset) || isAbsolute(dataset) ? dataset : resolve(dataset);
}

export function trainConfigOf(state: ModelState, source: string): TrainConfig {
  const tc = state.extra?.train_config as TrainConfig | undefined;
  if (!tc || typeof tc !== 'object') {
    throw new CliError(`export: ${source} has no train_config in its mira.config metadata; only a training run's checkpoint (npm run cli -- train, or the page's) carries the recipe PyTorch needs to continue it`);
  }
  const missing = ['method', 'batch', 'steps', 'lr', 'seed', 'optimizer', 'dataset'].filter((k) => (tc as unknown as Record<string, unknown>)[k] === undefined);
  if (missing.length) throw new CliError(`export: ${source}: train_config lacks ${missing.join(', ')}`);
  if (!(TORCH_METHODS as readonly string[]).includes(tc.method)) {
    throw new CliError(`export: ${source} was trained with method "${tc.method}", which the PyTorch side does not implement (torch_mira: ${TORCH_METHODS.join(', ')}); continue this run in the playground (npm run cli -- train --resume ${source})`);
  }
  const embedding = TORCH_EMBEDDING_METHODS.includes(tc.method);
  if (embedding !== (state.config.prototypes === 0)) {
    throw new CliError(`export: ${source}: method "${tc.method}" ${embedding ? 'is an embedding objective, but the checkpoint has a prototype head' : 'needs a prototype head, but the checkpoint has none'} (prototypes ${state.config.prototypes}); the checkpoint and its train_config disagree, export the run's own model.safetensors`);
  }
  return tc;
}

/** The optimizer state beside the checkpoint, if it exists and is from the checkpoint's step. */
function optimizerBeside(checkpoint: string, step: number): { path: string | null; note: string } {
  const path = join(dirname(checkpoint), 'optimizer.safetensors');
  if (!existsSync(path)) return { path: null, note: `no ${path}: the PyTorch run starts with zero optimizer momentum` };
  let f;
  try {
    f = parseSafetensors(new Uint8Array(readFileSync(path)), path);
  } catch (e) {
    throw new CliError(`export: ${path} is not a readable safetensors file (${(e as Error).message}); delete it to export without optimizer state`);
  }
  if (f.metadata.step !== String(step)) return { path: null, note: `${path} is from step ${f.metadata.step}, the checkpoint from step ${step}: not copied, the PyTorch run starts with zero momentum` };
  if (!f.tensors.has('momentum')) throw new CliError(`export: ${path} has no "momentum" tensor`);
  return { path, note: `optimizer state of step ${step} copied` };
}

function continueScript(tc: TrainConfig, nproc: number): string {
  return `#!/usr/bin/env bash
# Continue the MIRA Playground run (${tc.method} on ${tc.dataset}, batch ${tc.batch}, ${tc.steps} steps) in PyTorch
# with DistributedDataParallel: NCCL on GPUs, gloo on CPUs. Written by \`npm run cli -- export\`.
#   ./continue.sh [NPROC] [more torch_mira.train flags, e.g. --steps 100 --total-steps 20000]
# Environment: PYTHON (default python3; needs torch >= 1.13), DATA (the dataset: bundled | fashion-mnist
# | cifar10 | a directory), MIRA_DATASETS_DIR (where bundled / cifar10 are looked for).
set -euo pipefail
HERE="$(cd "$(dirname "\${BASH_SOURCE[0]}")" && pwd)"
NPROC="\${1:-${nproc}}"
if [ "$#" -gt 0 ]; then shift; fi
PYTHON="\${PYTHON:-python3}"
DATA="\${DATA:-${dataArgument(tc.dataset)}}"
export MIRA_DATASETS_DIR="\${MIRA_DATASETS_DIR:-${DATASETS_DIR}}"
export PYTHONPATH="$HERE\${PYTHONPATH:+:$PYTHONPATH}"
export OMP_NUM_THREADS="\${OMP_NUM_THREADS:-1}"
# --redirects 1 --tee 1: torch 1.13's torchrun cannot parse its own default "0" under Python 3.11; harmless elsewhere.
exec "$PYTHON" -m torch.distributed.run --standalone --nproc_per_node "$NPROC" --redirects 1 --tee 1 --log_dir "$HERE/torchrun-logs" \\
  -m torch_mira.train --resume "$HERE/model.safetensors" --data "$DATA" --out "$HERE/run" "$@"
`;
}

/** The README's rows of the method's objective: targets, τ_s, teacher and head for the pseudo-label methods; the weights for the embedding objectives. */
function objectiveRows(tc: TrainConfig): [string, unknown][] {
  if (tc.method === 'mveb') {
    return [
      ['objective', `MVEB: agreement with the EMA teacher + λ ${tc.entropyWeight} × Stein entropy estimate (η ${tc.steinEta}, ${tc.steinChunk ? `chunks of ${tc.steinChunk} rows` : 'each process\'s whole batch'})`],
      ['EMA teacher', `${tc.emaStart} → 1 (cosine)`],
    ];
  }
  if (tc.method === 'mio') return [['objective', `MIO: positive / negative pair softplus (τ₊ ${tc.tauPos}, τ₋ ${tc.tauNeg}, negatives ${tc.mioNegatives}, within each process's batch) + ${tc.l2Weight} × L2; no teacher`]];
  return [
    ['targets', tc.method === 'mira' ? `β ${tc.betaStart} → ${tc.betaEnd}, τ_t ${tc.tauT}, ${tc.iters} iterations` : tc.method === 'swav' ? `ε ${tc.eps}, ${tc.iters} Sinkhorn iterations` : `softmax(ℓ/${tc.tauT})`],
    ['student τ_s', tc.tauS],
    ['EMA teacher', `${tc.emaStart} → 1 (cosine)`],
    ['prototype head frozen', `first ${tc.freezeHeadSteps} steps`],
  ];
}

function readme(state: ModelState, tc: TrainConfig, source: string, optNote: string, nproc: number): string {
  const c = state.config;
  const rows: [string, unknown][] = [
    ['method', tc.method],
    ['dataset', tc.dataset],
    ['step', `${state.step} of ${tc.steps}`],
    ['batch (global, both views)', tc.batch],
    ['model', `ResNet-18 width ${c.width}, ${c.inChannels} channel(s), ${c.imageSize}×${c.imageSize}, stem padding ${c.stemPadding}, projector ${c.projHidden}→${c.projOut}, K = ${c.prototypes}`],
    ['optimizer', `${tc.optimizer}, lr ${tc.lr} (warm-up ${tc.warmupSteps} steps, cosine), momentum ${tc.momentum}, weight decay ${tc.weightDecay}`],
    ...objectiveRows(tc),
    ['augmentation', tc.augment],
    ['seed', tc.seed],
  ];
  return `# A MIRA Playground run, ready to continue in PyTorch

Exported from \`${source}\` by \`npm run cli -- export\`.

| | |
|---|---|
${rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n')}

Files: \`model.safetensors\` (student, \`ema.*\` teacher, \`mira.config\` with the recipe), ${optNote.startsWith('optimizer') ? '`optimizer.safetensors` (' + optNote + ')' : 'no optimizer state (' + optNote + ')'},
\`torch_mira/\` (the PyTorch package; its README is torch/README.md of the playground), \`continue.sh\`.

## Continue

    ./continue.sh            # ${nproc} processes: one per GPU with NCCL, or CPU processes with gloo
    ./continue.sh 8 --steps 1000 --total-steps 50000   # 8 GPUs, a longer schedule

The same as

    PYTHONPATH=. python3 -m torch.distributed.run --standalone --nproc_per_node ${nproc} --redirects 1 --tee 1 \\
      -m torch_mira.train --resume model.safetensors --data ${dataArgument(tc.dataset)} --out run

The global batch stays ${tc.batch} (split over the processes) unless you change the recipe; the run continues the
schedule from step ${state.step}, with the playground's data order and augmentation draws. Set \`DATA\` to point at the
dataset on another machine (CIFAR-10 .bin files or tarball, or IDX files).

## Back into the playground

\`run/model.safetensors\` (+ \`run/optimizer.safetensors\`) are in the playground's format:

    npm run cli -- embed --checkpoint run/model.safetensors --dataset ${tc.dataset} --split test --out features.npy
    npm run cli -- train --resume run/model.safetensors --dataset ${tc.dataset} … --out run

or load \`run/model.safetensors\` on the page.
`;
}

export async function run(argv: string[]): Promise<number> {
  const { flags, positional } = splitPositional(argv);
  const f = parseFlags(flags, FLAGS, 'export');
  if (!f) {
    console.log(usage('export', SYNOPSIS, FLAGS));
    return 0;
  }
  if (positional.length > 1) throw new CliError(`export: one output directory, got ${positional.map((p) => `"${p}"`).join(' ')}`);
  if (positional.length && f.out) throw new CliError(`export: the output directory is given twice (--out ${f.out} and "${positional[0]}"); give one`);
  const out = (f.out as string | undefined) ?? positional[0];
  if (!out) throw new CliError('export: no output directory; give it as the last argument (export --checkpoint model.safetensors --to torch DIR) or with --out');
  const source = f.checkpoint as string;
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(source));
  } catch (e) {
    throw new CliError(`export: cannot read --checkpoint ${source}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let state: ModelState;
  try {
    state = decodeCheckpoint(bytes, source);
  } catch (e) {
    throw new CliError(`export: ${(e as Error).message}`);
  }
  const tc = trainConfigOf(state, source);
  const opt = optimizerBeside(source, state.step);
  const pkg = join(TORCH_DIR, 'torch_mira');
  if (!existsSync(join(pkg, 'train.py'))) throw new CliError(`export: the PyTorch package is missing from this checkout (${pkg}/train.py)`);
  if (resolve(out, 'model.safetensors') === resolve(source)) {
    throw new CliError(`export: ${out} is the checkpoint's own directory; export into a new one`);
  }

  mkdirSync(join(out, 'torch_mira'), { recursive: true });
  writeFileSync(join(out, 'model.safetensors'), bytes);
  if (opt.path) copyFileSync(opt.path, join(out, 'optimizer.safetensors'));
  const copied = readdirSync(pkg).filter((n) => n.endsWith('.py'));
  for (const n of copied) copyFileSync(join(pkg, n), join(out, 'torch_mira', n));
  const nproc = f.nproc as number;
  const script = join(out, 'continue.sh');
  writeFileSync(script, continueScript(tc, nproc));
  chmodSync(script, 0o755);
  writeFileSync(join(out, 'README.md'), readme(state, tc, source, opt.note, nproc));
  const result = { out, method: tc.method, step: state.step, steps: tc.steps, optimizer: opt.path !== null, package_files: copied.length, command: `${script} [NPROC]` };
  if (f.json) console.log(JSON.stringify(result));
  else console.log(`[export] ${tc.method} run at step ${state.step} of ${tc.steps} → ${out} (${opt.note}); continue with: ${script} [NPROC]`);
  return 0;
}
