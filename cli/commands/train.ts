// `npm run cli -- train --dataset bundled|fashion-mnist|cifar10|<dir> --out <dir> [flags] [--json]`
// Trains by any registered method (--method mira | swav | naive …) on the GPU. The flags of the
// configuration come from the one parameter table (src/train/config.ts, docs/ARCHITECTURE.md),
// the run's cadence from the training-run driver (src/train/run-driver.ts). Writes, in --out:
//   metrics.jsonl      one JSON object per logged step (the run's declared metrics: loss, lr, β,
//                      EMA momentum, the method's metrics, images_per_s, views_per_s, wall_s;
//                      kNN when evaluated)
//   summary.json       flat keys: method, knn_top1, knn_top1_init (percent, k = 20), linear_top1
//                      (the online probe), linear_top1_init, knn_top1_pixels, linear_top1_pixels
//                      (raw-pixel baselines, src/train/baselines.ts),
//                      used_clusters, prototypes, steps, wall_s, images_per_s (training images
//                      per second, a pair of views counts once), views_per_s, config, …
//   model.safetensors  the checkpoint (teacher included), every --checkpoint-every steps and
//                      at the end; optimizer.safetensors beside it
//   logits.npy         with --save-logits: the teacher logits of the last batch (B×K float32),
//                      the input `assign` takes (the fixed-point comparison on a trained model)
// --resume <checkpoint> continues a run from its step; metrics.jsonl keeps the lines up to that
// step and continues after them, so a run killed mid-way loses nothing before its checkpoint. What
// a crash can leave is tolerated: a torn last line of metrics.jsonl is dropped, an empty or
// unreadable optimizer.safetensors means zero momentum (each with a warning naming the file).
// The checkpoint is written every 10 % of the run by default (--checkpoint-every); Ctrl-C
// (SIGINT) or SIGTERM finishes the current step, writes it, prints the resume command and exits
// with 130 / 143. A checkpoint whose weights are not finite never replaces the last finite one: it
// goes to model.nonfinite.safetensors beside it. Every file is written atomically (tmp, fsync, rename).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { nodeGpu } from '../../src/gpu/node.ts';
import { loadDataset } from '../../src/data/node-fs.ts';
import { decodeCheckpoint, encodeCheckpoint, type ModelState } from '../../src/nn/checkpoint.ts';
import { encodeSafetensors } from '../../src/io/safetensors.ts';
import { decodeOptimizerState } from '../../src/train/checkpoint-import.ts';
import { encodeNpy } from '../../src/io/npy.ts';
import { methodById } from '../../src/methods/registry.ts';
import { Trainer } from '../../src/train/trainer.ts';
import { defaultTrainConfig, PARAM_TABLE, trainConfigProblems, type TrainConfig } from '../../src/train/config.ts';
import type { StepMetrics } from '../../src/train/metric-layout.ts';
import { firstNonFiniteTensor, TrainingRun, type KnnPoint } from '../../src/train/run-driver.ts';
import { pixelBaselines } from '../../src/train/baselines.ts';
import { CliError, EXIT_SIGNAL, parseFlags, usage, type FlagSpec } from '../args.ts';
import { ensureWritableDir, writeAtomic } from '../files.ts';
import { configFlagGroups, configFlags, givenConfig } from '../config-flags.ts';

export const summary = 'self-supervised training by any registered method, with kNN evaluation; writes metrics, summary and checkpoint';

/** The command's own flags; the configuration's come from the parameter table. */
const COMMAND_FLAGS: Record<string, FlagSpec> = {
  out: { kind: 'string', required: true, help: 'output directory' },
  epochs: { kind: 'number', help: 'instead of --steps: passes over the training split' },
  resume: { kind: 'string', help: 'continue from this checkpoint (and the optimizer.safetensors beside it)' },
  'stop-at-step': { kind: 'int', min: 1, help: 'stop after this step with a checkpoint, as if interrupted; continue later with --resume' },
  json: { kind: 'boolean', help: 'print metrics and the summary as JSON lines instead of a progress bar' },
  'save-logits': { kind: 'boolean', help: "also write logits.npy: the last batch's teacher logits (B×K float32), for `assign`" },
};
const FLAGS: Record<string, FlagSpec> = { ...configFlags(), ...COMMAND_FLAGS };

const SYNOPSIS = '--dataset bundled|fashion-mnist|cifar10|<dir> --out <dir> [flags]';

/** The metrics.jsonl line of a kNN evaluation: kNN top-1 and, with the online probe, its top-1 (and the baselines at initialisation). */
export function knnRecord(p: KnnPoint): Record<string, number> {
  return {
    step: p.step,
    knn_top1: p.top1,
    ...(p.init ? { knn_top1_init: p.top1 } : {}),
    ...(p.linear !== undefined ? { linear_top1: p.linear } : {}),
    ...(p.init && p.linearInit !== undefined ? { linear_top1_init: p.linearInit } : {}),
  };
}

function fmt(x: number | undefined, d = 3): string {
  return x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d);
}

/** A failure of the run itself (not of its input): exit code 1. */
export class TrainingFailed extends Error {
  override name = 'TrainingFailed';
}

/**
 * The momentum saved beside a checkpoint (optimizer.safetensors), if it belongs to the same
 * step; otherwise — missing, empty, unreadable, another step, no finite float32 "momentum" — the
 * optimizer restarts with zero momentum, which we say, naming the file.
 */
export function readMomentum(path: string, step: number): { momentum: Float32Array; probe?: Float32Array } | undefined {
  const fallback = (why: string) => {
    console.error(`[train] warning: ${path} ${why}: resuming with zero optimizer momentum`);
    return undefined;
  };
  if (!existsSync(path)) return fallback('does not exist');
  const r = decodeOptimizerState(new Uint8Array(readFileSync(path)), path, step);
  return 'problem' in r ? fallback(r.problem) : r;
}

/**
 * The lines of metrics.jsonl to keep when resuming from `step`: those logged up to it. A torn
 * last line (a crash during the append) is dropped with a warning naming the file; a malformed
 * line before the last is refused (the file was edited or damaged, not torn by a crash).
 */
export function keptMetricLines(path: string, step: number): string[] {
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, 'utf8').split('\n');
  const kept: string[] = [];
  let last = lines.length - 1;
  while (last >= 0 && lines[last] === '') last--;
  for (let i = 0; i <= last; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch {
      rec = undefined;
    }
    const recStep = rec !== null && typeof rec === 'object' ? (rec as { step?: unknown }).step : undefined;
    if (typeof recStep !== 'number') {
      if (i === last) {
        console.error(`[train] warning: ${path}: dropped its last line, torn by an interrupted write (${JSON.stringify(line.length > 60 ? line.slice(0, 60) + '…' : line)})`);
        break;
      }
      throw new CliError(`train: ${path} line ${i + 1} is not a metrics record (a JSON object with a numeric "step"); move the file away to resume without the earlier metrics`);
    }
    if (recStep <= step) kept.push(line);
  }
  return kept;
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, FLAGS, 'train');
  if (!parsed) {
    console.log(usage('train', SYNOPSIS, FLAGS, configFlagGroups(PARAM_TABLE, Object.keys(COMMAND_FLAGS))));
    return 0;
  }
  const f = parsed;
  if (f.steps !== undefined && f.epochs !== undefined) throw new CliError('train: give --steps or --epochs, not both');
  if (f.epochs !== undefined && !((f.epochs as number) > 0)) throw new CliError(`train: --epochs must be a number > 0; got ${f.epochs}`);
  const given = givenConfig(f);
  // The whole configuration is checked before any file is read or the GPU is touched (with
  // --epochs the step count is only known once the dataset is loaded; it is checked again then).
  const early = trainConfigProblems(defaultTrainConfig(given as Partial<TrainConfig>) as unknown as Record<string, unknown>);
  if (early.length) throw new CliError(`train: ${early.join('; ')}`);
  const method = methodById(given.method as string ?? defaultTrainConfig().method);
  const unused = Object.keys(given).filter((k) => PARAM_TABLE.find((r) => r.key === k)?.group === 'method' && !(method.params as readonly { key: string }[]).some((r) => r.key === k));
  if (unused.length) console.error(`[train] note: ${unused.map((k) => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())).join(', ')} ${unused.length > 1 ? 'are' : 'is'} not used by --method ${method.id}`);
  const outDir = f.out as string;
  ensureWritableDir(outDir, 'out', 'train');
  let resume: ModelState | undefined;
  let resumeMomentum: Float32Array | undefined;
  let resumeProbe: Float32Array | undefined;
  const resumeFiles: Record<string, Uint8Array> = {};
  if (f.resume) {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(f.resume as string));
    } catch (e) {
      throw new CliError(`cannot read --resume ${f.resume}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    resume = decodeCheckpoint(bytes, f.resume as string);
    const saved = readMomentum(join(dirname(f.resume as string), 'optimizer.safetensors'), resume.step);
    resumeMomentum = saved?.momentum;
    resumeProbe = saved?.probe;
    for (const name of method.runFiles ?? []) {
      const path = join(dirname(f.resume as string), name);
      try {
        resumeFiles[name] = new Uint8Array(readFileSync(path));
      } catch (e) {
        throw new CliError(`cannot resume a ${method.id} run: ${path} (saved beside the checkpoint) cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
  }
  const data = await loadDataset((given.dataset as string | undefined) ?? defaultTrainConfig().dataset);
  const batch = (given.batch as number | undefined) ?? defaultTrainConfig().batch;
  const spe = Math.max(1, Math.floor(data.train.count / batch));
  if (f.epochs !== undefined) given.steps = Math.max(1, Math.round((f.epochs as number) * spe));
  const config: TrainConfig = defaultTrainConfig(given as Partial<TrainConfig>);
  const problems = trainConfigProblems(config as unknown as Record<string, unknown>);
  if (problems.length) throw new CliError(`train: ${problems.join('; ')}`);
  if (resume && resume.step >= config.steps) throw new CliError(`train: --resume ${f.resume} is at step ${resume.step}, the run has ${config.steps} steps: nothing left to do (give a larger --steps to train on)`);
  const json = !!f.json;
  const tty = !json && process.stderr.isTTY;
  const metricsPath = join(outDir, 'metrics.jsonl');
  const modelPath = join(outDir, 'model.safetensors');
  const nonFinitePath = join(outDir, 'model.nonfinite.safetensors');
  // On resume keep only the metrics logged up to the checkpoint's step (atomically: a kill here
  // must not lose them).
  const startStep = resume?.step ?? 0;
  const kept = resume ? keptMetricLines(metricsPath, startStep) : [];
  writeAtomic(metricsPath, kept.map((l) => l + '\n').join(''));
  const lines: string[] = [];
  let latest: StepMetrics | null = null;
  const emit = (rec: object) => {
    const line = JSON.stringify(rec);
    lines.push(line);
    if (json) console.log(line);
  };
  const flushLines = () => {
    if (lines.length) writeFileSync(metricsPath, lines.splice(0).map((l) => l + '\n').join(''), { flag: 'a' });
  };
  let lastCheckpointStep: number | null = resume ? startStep : null;
  /** The state at this step, beside the resumable checkpoint; never replaces it. */
  const saveNonFinite = async (t: Trainer) => writeAtomic(nonFinitePath, encodeCheckpoint(await t.saveState()));
  /**
   * Writes the resumable checkpoint, after checking every downloaded tensor is finite; a state
   * that is not goes to model.nonfinite.safetensors instead and the run stops (exit 1).
   */
  const saveCheckpoint = async (t: Trainer) => {
    flushLines();
    const st = await t.saveState();
    const momentum = await t.saveMomentum();
    const probe = await t.saveProbe();
    const bad = firstNonFiniteTensor(st.student) ?? (st.teacher && firstNonFiniteTensor(st.teacher, 'ema.')) ?? firstNonFiniteTensor([['optimizer momentum', momentum]]);
    if (bad) {
      writeAtomic(nonFinitePath, encodeCheckpoint(st));
      throw new TrainingFailed(`train: the weights became non-finite by step ${st.step} (${bad}); wrote that state to ${nonFinitePath} and kept ${lastCheckpointStep === null ? 'no checkpoint (none was written before)' : `the last finite checkpoint ${modelPath} (step ${lastCheckpointStep}); continue from it with --resume ${modelPath} --out ${outDir} and a smaller --lr or more --warmup-steps`}`);
    }
    writeAtomic(modelPath, encodeCheckpoint(st));
    // The online linear probe's parameters and momentum ride along, so a resumed run continues it exactly.
    writeAtomic(join(outDir, 'optimizer.safetensors'), encodeSafetensors({ momentum: { shape: [momentum.length], data: momentum }, ...(probe ? { probe: { shape: [probe.length], data: probe } } : {}) }, { step: String(st.step) }));
    for (const [name, bytes] of Object.entries(await t.saveRunFiles())) writeAtomic(join(outDir, name), bytes);
    lastCheckpointStep = st.step;
  };
  const knnLine = (p: KnnPoint) => emit(knnRecord(p));
  const { ctx } = await nodeGpu();
  let driver: TrainingRun | undefined;
  const trainer = await Trainer.create(ctx, data, config, { resume, resumeMomentum, resumeProbe, resumeFiles, onLog: (m) => driver?.onLog(m) });
  const runner = (driver = new TrainingRun(trainer, {
    metrics: (m) => {
      latest = m;
      emit(m);
    },
    knn: knnLine,
    event: emit,
    checkpoint: (t) => saveCheckpoint(t),
  }));
  const say = (s: string) => (json ? undefined : console.error(s));
  say(`[train] ${method.id} on ${data.name} (${data.train.count} train / ${data.test.count} test), width ${config.width}, batch ${config.batch}, K ${config.prototypes}, ${config.steps} steps from step ${startStep}, adapter ${ctx.adapterName}`);
  const resumedInit = typeof resume?.extra?.knn_top1_init === 'number' ? (resume.extra.knn_top1_init as number) : null;
  if (resumedInit !== null) trainer.knnInit = resumedInit;
  // Ctrl-C (SIGINT) / SIGTERM: finish the step in flight, write the checkpoint, say how to resume,
  // exit 130 / 143. Under `npm run` a terminal's Ctrl-C reaches this process directly and may be
  // forwarded once more: a repeat within a second is that echo; a later one stops at once.
  let stopSignal: 'SIGINT' | 'SIGTERM' | null = null;
  let stopAtMs = 0;
  const onSignal = (sig: 'SIGINT' | 'SIGTERM') => {
    if (stopSignal) {
      if (performance.now() - stopAtMs < 1000) return;
      console.error(`[train] ${sig} again: exiting without a checkpoint`);
      process.exit(EXIT_SIGNAL[sig]);
    }
    stopSignal = sig;
    stopAtMs = performance.now();
    if (tty) process.stderr.write('\n');
    console.error(`[train] ${sig}: finishing the current step and writing the checkpoint (${sig} again after a second to exit at once)`);
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    return await trainLoop();
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }

  async function trainLoop(): Promise<number> {
    await runner.begin();
    if (resumedInit === null && trainer.knnInit !== null) say(`[train] kNN top-1 at initialisation: ${trainer.knnInit.toFixed(2)}%`);
    const t0 = performance.now();
    const firstStep = trainer.currentStep;
    const stopAt = (f['stop-at-step'] as number | undefined) ?? Infinity;
    while (!trainer.done && trainer.currentStep < stopAt && !stopSignal) {
      const r = await runner.step();
      if (r.outcome === 'halted') break;
      if (tty) {
        const s = trainer.currentStep;
        const done = (s - firstStep) / Math.max(1, config.steps - firstStep);
        const el = (performance.now() - t0) / 1000;
        const eta = done > 0 ? (el / done) * (1 - done) : 0;
        const bar = '█'.repeat(Math.round(done * 24)).padEnd(24, '·');
        const m = latest as StepMetrics | null;
        process.stderr.write(`\r${bar} ${s}/${config.steps} ETA ${eta.toFixed(0)}s ${fmt(m?.images_per_s, 1)} img/s loss ${fmt(m?.loss)} used ${m?.used_clusters ?? '–'} H(mean w) ${fmt(m?.target_marginal_entropy)}   `);
      }
    }
    await trainer.flush();
    if (tty) process.stderr.write('\n');
    if (runner.halt) {
      const h = runner.halt;
      flushLines();
      await saveNonFinite(trainer);
      const kept = lastCheckpointStep === null ? 'no earlier checkpoint was written' : `the last finite checkpoint ${modelPath} (step ${lastCheckpointStep}) is kept; continue from it with --resume ${modelPath} --out ${outDir} and a smaller --lr or more --warmup-steps`;
      throw new TrainingFailed(`train: stopped, ${h.metric} became ${h.value} at step ${h.step} (a non-finite metric). The state at step ${trainer.currentStep} is in ${nonFinitePath}; ${kept}.`);
    }
    if (!trainer.done) {
      await saveCheckpoint(trainer);
      const resumeCmd = `npm run cli -- train ${resumeArgs(argv, modelPath)}`;
      if (stopSignal) {
        console.error(`[train] stopped by ${stopSignal} at step ${trainer.currentStep} of ${config.steps}; wrote ${modelPath}. Resume with:\n  ${resumeCmd}`);
        return EXIT_SIGNAL[stopSignal];
      }
      console.error(`[train] stopped at step ${trainer.currentStep} of ${config.steps}; continue with --resume ${modelPath} --out ${outDir}:\n  ${resumeCmd}`);
      return 0;
    }
    flushLines();
    if (f['save-logits']) {
      const { teacherLogits, B, K } = await trainer.latestBatch();
      writeAtomic(join(outDir, 'logits.npy'), encodeNpy(teacherLogits, [B, K]));
    }
    // Raw pixels on the same bank and queries (cached per dataset and evaluation set: `compare` computes them once).
    const pixels = await pixelBaselines(ctx, data, config);
    const totals = runner.totals();
    const final = runner.lastKnn!;
    const m = latest as StepMetrics | null;
    const summaryJson = {
      method: method.id,
      knn_top1: final.top1,
      knn_top1_init: trainer.knnInit,
      knn: final.all,
      linear_top1: final.linear ?? null,
      linear_top1_init: trainer.linearInit,
      ...pixels,
      used_clusters: m?.used_clusters ?? null,
      largest_cluster_fraction: m?.largest_cluster_fraction ?? null,
      target_marginal_entropy: m?.target_marginal_entropy ?? null,
      loss: m?.loss ?? null,
      alignment: m?.alignment ?? null,
      uniformity: m?.uniformity ?? null,
      effective_rank: m?.effective_rank ?? null,
      prototypes: trainer.model.prototypes,
      steps: trainer.currentStep,
      wall_s: totals.wall_s,
      images_per_s: totals.images_per_s,
      views_per_s: totals.views_per_s,
      dataset: data.name,
      adapter: ctx.adapterName,
      config,
    };
    writeAtomic(join(outDir, 'summary.json'), JSON.stringify(summaryJson, null, 2) + '\n');
    if (json) console.log(JSON.stringify(summaryJson));
    else
      console.log(
        `[train] done: ${trainer.currentStep} steps in ${totals.wall_s.toFixed(1)} s (${summaryJson.images_per_s.toFixed(1)} images/s, ${summaryJson.views_per_s.toFixed(1)} views/s); kNN top-1 ${fmt(trainer.knnInit ?? undefined, 2)}% → ${final.top1.toFixed(2)}%; used clusters ${m?.used_clusters ?? '–'} of ${config.prototypes}; wrote ${outDir}/{metrics.jsonl,summary.json,model.safetensors${f['save-logits'] ? ',logits.npy' : ''}}`,
      );
    return 0;
  }
}

/** The same command line with --resume pointing at the checkpoint (and without --stop-at-step), shell-quoted. */
export function resumeArgs(argv: string[], checkpoint: string): string {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    const name = tok.startsWith('--') ? tok.slice(2).split('=')[0]! : '';
    if (name === 'resume' || name === 'stop-at-step') {
      if (!tok.includes('=')) i++;
      continue;
    }
    out.push(tok);
  }
  out.push('--resume', checkpoint);
  return out.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
