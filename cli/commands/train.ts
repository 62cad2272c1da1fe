// `npm run cli -- train --dataset bundled|fashion-mnist|cifar10|<dir> --out <dir> [flags] [--json]`
// Trains by MIRA (or swav / naive) on the GPU and writes, in --out:
//   metrics.jsonl      one JSON object per logged step (loss, lr, β, EMA momentum, entropies,
//                      marginal entropies, MI, KL terms, used clusters, largest cluster; kNN
//                      when evaluated)
//   summary.json       flat keys: knn_top1, knn_top1_init (percent, k = 20), used_clusters,
//                      prototypes, steps, wall_s, images_per_s, config, …
//   model.safetensors  the checkpoint (teacher included), every --checkpoint-every steps and
//                      at the end
//   logits.npy         with --save-logits: the teacher logits of the last batch (B×K float32),
//                      the input `assign` takes (the fixed-point comparison on a trained model)
// --resume <checkpoint> continues a run from its step; metrics.jsonl keeps the lines up to that
// step and continues after them, so a run killed mid-way loses nothing before its checkpoint.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { nodeGpu } from '../../src/gpu/node.ts';
import { loadDataset } from '../../src/data/node-fs.ts';
import { decodeCheckpoint, encodeCheckpoint, type ModelState } from '../../src/nn/checkpoint.ts';
import { encodeSafetensors, parseSafetensors } from '../../src/io/safetensors.ts';
import { encodeNpy } from '../../src/io/npy.ts';
import { Trainer } from '../../src/mira/trainer.ts';
import { defaultTrainConfig, type StepMetrics, type TrainConfig } from '../../src/mira/train-config.ts';
import { CliError, parseFlags, usage, type FlagSpec } from '../args.ts';

export const summary = 'self-supervised training (MIRA, swav or naive) with kNN evaluation; writes metrics, summary and checkpoint';

const FLAGS: Record<string, FlagSpec> = {
  dataset: { kind: 'string', default: 'bundled', help: 'bundled | fashion-mnist | cifar10 | a directory with CIFAR-10 .bin / .tar.gz or IDX files' },
  out: { kind: 'string', required: true, help: 'output directory' },
  width: { kind: 'number', default: 1 / 8, help: 'ResNet-18 width multiplier (1 = 64…512 channels)' },
  batch: { kind: 'int', default: 64, min: 2, help: 'images per view per step' },
  steps: { kind: 'int', min: 1, help: 'optimisation steps (default 300)' },
  epochs: { kind: 'number', help: 'or: passes over the training split' },
  prototypes: { kind: 'int', default: 300, min: 2, help: 'K, the number of clusters' },
  'proj-hidden': { kind: 'int', default: 512, min: 1, help: 'projector hidden size' },
  'proj-out': { kind: 'int', default: 128, min: 1, help: 'projector output size' },
  method: { kind: 'string', choices: ['mira', 'swav', 'naive'], default: 'mira', help: 'how pseudo-labels are made' },
  seed: { kind: 'int', default: 1, min: 0, help: 'one seed for init, data order and augmentation' },
  lr: { kind: 'number', help: 'base learning rate (default 0.6 × batch / 256)' },
  optimizer: { kind: 'string', choices: ['sgd', 'lars'], default: 'sgd', help: 'SGD with momentum, or LARS' },
  momentum: { kind: 'number', default: 0.9, help: 'optimizer momentum' },
  'weight-decay': { kind: 'number', default: 1e-5, min: 0, help: 'on tensors with more than one dimension' },
  'warmup-steps': { kind: 'int', min: 0, help: 'linear warm-up (default 10% of the steps)' },
  'tau-s': { kind: 'number', default: 0.1, help: 'student temperature' },
  'tau-t': { kind: 'number', default: 0.225, help: 'teacher temperature' },
  'beta-start': { kind: 'number', default: 0.75, help: 'MIRA β at the start (cosine schedule)' },
  'beta-end': { kind: 'number', default: 2 / 3, help: 'MIRA β at the end' },
  iters: { kind: 'int', default: 30, min: 1, help: 'MIRA fixed-point iterations (Sinkhorn iterations for swav)' },
  eps: { kind: 'number', default: 0.05, help: 'Sinkhorn ε (swav)' },
  'ema-start': { kind: 'number', default: 0.99, help: 'EMA teacher momentum at the start (→ 1, cosine)' },
  'freeze-head-steps': { kind: 'int', min: 0, help: 'prototype head frozen for these first steps (default 10% of the steps)' },
  augment: { kind: 'string', choices: ['default', 'none'], default: 'default', help: 'the dataset recipe, or only pad + normalise' },
  'stem-padding': { kind: 'int', default: 1, min: 1, max: 2, help: '1 keeps 32/16/8/4 maps; 2 is the official code' },
  'knn-every': { kind: 'int', default: 0, min: 0, help: 'kNN evaluation every N steps (0: at start and end)' },
  'knn-bank': { kind: 'int', default: 2000, min: 1, help: 'kNN bank size (training split)' },
  'knn-queries': { kind: 'int', default: 2000, min: 1, help: 'kNN queries (test split)' },
  'log-every': { kind: 'int', default: 10, min: 1, help: 'metrics every N steps' },
  'checkpoint-every': { kind: 'int', default: 0, min: 0, help: 'write model.safetensors every N steps (0: at the end)' },
  resume: { kind: 'string', help: 'continue from this checkpoint (and the optimizer.safetensors beside it)' },
  'stop-at-step': { kind: 'int', min: 1, help: 'stop after this step with a checkpoint, as if interrupted; continue later with --resume' },
  json: { kind: 'boolean', help: 'print metrics and the summary as JSON lines instead of a progress bar' },
  'save-logits': { kind: 'boolean', help: "also write logits.npy: the last batch's teacher logits (B×K float32), for `assign`" },
};

const SYNOPSIS = '--dataset bundled|fashion-mnist|cifar10|<dir> --out <dir> [flags]';

function fmt(x: number | undefined, d = 3): string {
  return x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d);
}

function writeAtomic(path: string, data: string | Uint8Array): void {
  writeFileSync(path + '.tmp', data);
  renameSync(path + '.tmp', path);
}

/**
 * The momentum saved beside a checkpoint (optimizer.safetensors), if it belongs to the same
 * step; otherwise the optimizer restarts with zero momentum, which we say.
 */
function readMomentum(path: string, step: number): Float32Array | undefined {
  if (!existsSync(path)) {
    console.error(`[train] no ${path}: resuming with zero optimizer momentum`);
    return undefined;
  }
  const f = parseSafetensors(new Uint8Array(readFileSync(path)), path);
  if (f.metadata.step !== String(step)) {
    console.error(`[train] ${path} is from step ${f.metadata.step}, the checkpoint from step ${step}: resuming with zero optimizer momentum`);
    return undefined;
  }
  const m = f.tensors.get('momentum');
  if (!m || !(m.data instanceof Float32Array)) throw new CliError(`${path}: no float32 "momentum" tensor`);
  return m.data;
}

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(argv, FLAGS, 'train');
  if (!f) {
    console.log(usage('train', SYNOPSIS, FLAGS));
    return 0;
  }
  if (f.steps !== undefined && f.epochs !== undefined) throw new CliError('train: give --steps or --epochs, not both');
  const outDir = f.out as string;
  let resume: ModelState | undefined;
  let resumeMomentum: Float32Array | undefined;
  if (f.resume) {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(f.resume as string));
    } catch (e) {
      throw new CliError(`cannot read --resume ${f.resume}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    resume = decodeCheckpoint(bytes, f.resume as string);
    resumeMomentum = readMomentum(join(dirname(f.resume as string), 'optimizer.safetensors'), resume.step);
  }
  const data = await loadDataset(f.dataset as string);
  const batch = f.batch as number;
  const spe = Math.max(1, Math.floor(data.train.count / batch));
  const steps = (f.steps as number | undefined) ?? (f.epochs !== undefined ? Math.max(1, Math.round((f.epochs as number) * spe)) : 300);
  const config: TrainConfig = defaultTrainConfig({
    dataset: f.dataset as string,
    width: f.width as number,
    batch,
    steps,
    prototypes: f.prototypes as number,
    projHidden: f['proj-hidden'] as number,
    projOut: f['proj-out'] as number,
    method: f.method as TrainConfig['method'],
    seed: f.seed as number,
    optimizer: f.optimizer as TrainConfig['optimizer'],
    momentum: f.momentum as number,
    weightDecay: f['weight-decay'] as number,
    tauS: f['tau-s'] as number,
    tauT: f['tau-t'] as number,
    betaStart: f['beta-start'] as number,
    betaEnd: f['beta-end'] as number,
    iters: f.iters as number,
    eps: f.eps as number,
    emaStart: f['ema-start'] as number,
    augment: f.augment as TrainConfig['augment'],
    stemPadding: f['stem-padding'] as 1 | 2,
    knnEvery: f['knn-every'] as number,
    knnBank: f['knn-bank'] as number,
    knnQueries: f['knn-queries'] as number,
    logEvery: f['log-every'] as number,
    checkpointEvery: f['checkpoint-every'] as number,
    ...(f.lr !== undefined ? { lr: f.lr as number } : {}),
    ...(f['warmup-steps'] !== undefined ? { warmupSteps: f['warmup-steps'] as number } : {}),
    ...(f['freeze-head-steps'] !== undefined ? { freezeHeadSteps: f['freeze-head-steps'] as number } : {}),
  });
  const json = !!f.json;
  const tty = !json && process.stderr.isTTY;
  mkdirSync(outDir, { recursive: true });
  const metricsPath = join(outDir, 'metrics.jsonl');
  // On resume keep only the metrics logged up to the checkpoint's step.
  const startStep = resume?.step ?? 0;
  const kept = resume && existsSync(metricsPath) ? readFileSync(metricsPath, 'utf8').split('\n').filter((l) => l && JSON.parse(l).step <= startStep) : [];
  writeFileSync(metricsPath, kept.map((l) => l + '\n').join(''));
  const lines: string[] = [];
  const state: { latest: StepMetrics | null; nanError: string | null } = { latest: null, nanError: null };
  const onLog = (m: StepMetrics) => {
    state.latest = m;
    const bad = Object.entries(m).find(([, v]) => typeof v === 'number' && !Number.isFinite(v));
    if (bad && !state.nanError) state.nanError = `${bad[0]} became ${bad[1]} at step ${m.step}`;
    const line = JSON.stringify(m);
    lines.push(line);
    if (json) console.log(line);
  };
  const { ctx } = await nodeGpu();
  const trainer = await Trainer.create(ctx, data, config, { resume, resumeMomentum, onLog });
  const say = (s: string) => (json ? undefined : console.error(s));
  say(`[train] ${config.method} on ${data.name} (${data.train.count} train / ${data.test.count} test), width ${config.width}, batch ${config.batch}, K ${config.prototypes}, ${config.steps} steps from step ${startStep}, adapter ${ctx.adapterName}`);
  const flushLines = () => {
    if (lines.length) writeFileSync(metricsPath, lines.splice(0).map((l) => l + '\n').join(''), { flag: 'a' });
  };
  const saveCheckpoint = async () => {
    const st = await trainer.saveState();
    const momentum = await trainer.saveMomentum();
    writeAtomic(join(outDir, 'model.safetensors'), encodeCheckpoint(st));
    writeAtomic(join(outDir, 'optimizer.safetensors'), encodeSafetensors({ momentum: { shape: [momentum.length], data: momentum } }, { step: String(st.step) }));
  };
  const knnLog = (top1: number, init = false) => {
    const rec = { step: trainer.currentStep, knn_top1: top1, ...(init ? { knn_top1_init: top1 } : {}) };
    lines.push(JSON.stringify(rec));
    if (json) console.log(JSON.stringify(rec));
  };
  const resumedInit = typeof resume?.extra?.knn_top1_init === 'number' ? (resume.extra.knn_top1_init as number) : null;
  if (resumedInit !== null) trainer.knnInit = resumedInit;
  else {
    const init = await trainer.evaluateKnn();
    knnLog(init.top1, true);
    say(`[train] kNN top-1 at initialisation: ${init.top1.toFixed(2)}%`);
  }
  const t0 = performance.now();
  const firstStep = trainer.currentStep;
  const stopAt = (f['stop-at-step'] as number | undefined) ?? Infinity;
  while (!trainer.done && trainer.currentStep < stopAt) {
    await trainer.step();
    const s = trainer.currentStep;
    if (state.nanError) break;
    if (config.knnEvery > 0 && s % config.knnEvery === 0 && s < config.steps) knnLog((await trainer.evaluateKnn()).top1);
    if (config.checkpointEvery > 0 && s % config.checkpointEvery === 0) {
      await trainer.flush();
      flushLines();
      await saveCheckpoint();
    }
    if (tty) {
      const done = (s - firstStep) / Math.max(1, config.steps - firstStep);
      const el = (performance.now() - t0) / 1000;
      const eta = done > 0 ? (el / done) * (1 - done) : 0;
      const bar = '█'.repeat(Math.round(done * 24)).padEnd(24, '·');
      const m = state.latest;
      process.stderr.write(`\r${bar} ${s}/${config.steps} ETA ${eta.toFixed(0)}s ${fmt(m?.images_per_s, 1)} img/s loss ${fmt(m?.loss)} used ${m?.used_clusters ?? '–'} H(mean w) ${fmt(m?.target_marginal_entropy)}   `);
    }
  }
  await trainer.flush();
  const trainWall = (performance.now() - t0) / 1000;
  if (tty) process.stderr.write('\n');
  if (state.nanError) {
    flushLines();
    await saveCheckpoint();
    throw new CliError(`train: stopped, ${state.nanError} (non-finite metric; the checkpoint in ${outDir} holds the state at that step). Try a smaller --lr or more --warmup-steps.`);
  }
  if (!trainer.done) {
    flushLines();
    await saveCheckpoint();
    console.error(`[train] stopped at step ${trainer.currentStep} of ${config.steps}; continue with --resume ${join(outDir, 'model.safetensors')} --out ${outDir}`);
    return 0;
  }
  const final = await trainer.evaluateKnn();
  knnLog(final.top1);
  flushLines();
  await saveCheckpoint();
  if (f['save-logits']) {
    const { teacherLogits, B, K } = await trainer.latestBatch();
    writeAtomic(join(outDir, 'logits.npy'), encodeNpy(teacherLogits, [B, K]));
  }
  const wall = trainWall;
  const m = state.latest;
  const summaryJson = {
    knn_top1: final.top1,
    knn_top1_init: trainer.knnInit,
    knn: final.all,
    used_clusters: m?.used_clusters ?? null,
    largest_cluster_fraction: m?.largest_cluster_fraction ?? null,
    target_marginal_entropy: m?.target_marginal_entropy ?? null,
    loss: m?.loss ?? null,
    prototypes: config.prototypes,
    steps: trainer.currentStep,
    wall_s: wall,
    images_per_s: ((trainer.currentStep - firstStep) * config.batch * 2) / wall,
    dataset: data.name,
    adapter: ctx.adapterName,
    config,
  };
  writeAtomic(join(outDir, 'summary.json'), JSON.stringify(summaryJson, null, 2) + '\n');
  if (json) console.log(JSON.stringify(summaryJson));
  else
    console.log(
      `[train] done: ${trainer.currentStep} steps in ${wall.toFixed(1)} s (${summaryJson.images_per_s.toFixed(1)} images/s); kNN top-1 ${fmt(trainer.knnInit ?? undefined, 2)}% → ${final.top1.toFixed(2)}%; used clusters ${m?.used_clusters ?? '–'} of ${config.prototypes}; wrote ${outDir}/{metrics.jsonl,summary.json,model.safetensors${f['save-logits'] ? ',logits.npy' : ''}}`,
    );
  return 0;
}
