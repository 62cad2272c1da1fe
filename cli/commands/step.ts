// `npm run cli -- step --checkpoint model.safetensors --view1 a.npy --view2 b.npy
//   [--method mira|swav|naive|…any registered method] [--beta 0.7] [--tau-s 0.1] [--tau-t 0.225] [--iters 30] [--eps 0.05]
//   --grads grads.safetensors [--json]`
// `npm run cli -- step --method sela --labels y.npy --checkpoint … --view1 a.npy --grads …`: a
//   one-view method takes --view1 only; SeLa's loss is the cross-entropy on the given labels
//   (one per image of view1, uint32, checked against K).
//
// The parity harness: one MIRA forward and backward on exactly these two uint8 batches (no
// augmentation; normalised with the checkpoint's mean/std), teacher = the checkpoint's ema.*
// weights with the student's head, BN in training mode as in training. Prints one JSON line
// with the loss and the target statistics, and writes the gradient of every trainable student
// parameter under its checkpoint name, in PyTorch's layout. Every flag and --grads' writability are
// checked before any file is read or the GPU is touched; the gradients are written atomically.
// Exit code 2 for bad input, 1 for a failure (README, "Exit codes").
import { readFileSync } from 'node:fs';
import { nodeGpu } from '../../src/gpu/node.ts';
import { readF32, uploadTensor, type Tensor } from '../../src/gpu/tensor.ts';
import { submitChecked } from '../../src/gpu/kernel.ts';
import { parseNpy } from '../../src/io/npy.ts';
import { checkImageBatch, normalizeImages } from '../../src/data/image-batch.ts';
import { decodeCheckpoint, encodeGradients, type TensorMap } from '../../src/nn/checkpoint.ts';
import { ParamLayout, ParamStore } from '../../src/nn/param-store.ts';
import { headCount } from '../../src/nn/config.ts';
import { AssignmentMetrics } from '../../src/mira/metrics.ts';
import { StepGraph, StepLayers } from '../../src/train/step-graph.ts';
import { defaultTrainConfig, PARAM_TABLE, trainConfigProblems } from '../../src/train/config.ts';
import { METHOD_IDS, methodById } from '../../src/methods/registry.ts';
import { checkSelaLabelTable } from '../../src/mira/sela-labeller.ts';
import { createTensor } from '../../src/gpu/tensor.ts';
import type { MethodRunState } from '../../src/methods/types.ts';
import { checkBeta, checkIters, checkPositive } from '../../src/mira/validate.ts';
import { CliError, parseFlags, usage, type FlagSpec } from '../args.ts';
import { configFlags, givenConfig } from '../config-flags.ts';
import { checkWritableFile, npyInput, writeAtomic } from '../files.ts';

export const summary = 'one forward/backward of any method on two given batches; writes every parameter gradient (parity harness)';

const FLAGS: Record<string, FlagSpec> = {
  checkpoint: { kind: 'string', required: true, help: 'model.safetensors (student, ema.* teacher, mira.config)' },
  view1: { kind: 'string', required: true, help: 'first view, uint8 N×H×W×C .npy' },
  view2: { kind: 'string', help: 'second view, uint8 N×H×W×C .npy (methods with two views per image)' },
  labels: { kind: 'string', help: 'sela: the label of each image of view1 (and head), uint32 [N] or [N, H] .npy for a checkpoint with H prototype heads' },
  method: { kind: 'string', choices: METHOD_IDS, default: 'mira', help: 'the method whose loss and gradients are computed' },
  beta: { kind: 'number', default: 0.7, help: 'MIRA β ∈ (0, 1)' },
  'tau-s': { kind: 'number', default: 0.1, help: 'student temperature τ_s' },
  'tau-t': { kind: 'number', default: 0.225, help: 'teacher temperature τ_t' },
  iters: { kind: 'int', default: 30, min: 1, help: 'MIRA fixed-point (or Sinkhorn) iterations' },
  eps: { kind: 'number', default: 0.05, help: 'Sinkhorn ε (swav)' },
  grads: { kind: 'string', required: true, help: 'where to write the gradients (safetensors)' },
  json: { kind: 'boolean', help: 'print one JSON line (always JSON; kept for the contract)' },
  precision: { kind: 'string', choices: ['f32', 'f16', 'auto'], default: 'f32', help: 'encoder activations and conv weights in f32, or f16 storage with f32 sums (needs shader-f16); auto: f16 on a GPU that offers it' },
};
/** The other methods' own rows (MVEB's --entropy-weight, MIO's --tau-pos, …) from the parameter table. */
const METHOD_ROWS = PARAM_TABLE.filter((r) => r.group === 'method' && !(r.key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase()) in FLAGS) && r.key !== 'emaStart' && r.key !== 'freezeHeadSteps');
Object.assign(FLAGS, configFlags(METHOD_ROWS));

function readFile(path: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new CliError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(argv, FLAGS, 'step');
  if (!f) {
    console.log(usage('step', '--checkpoint model.safetensors --view1 a.npy --view2 b.npy --grads grads.safetensors [flags]', FLAGS));
    return 0;
  }
  const method = methodById(f.method as string);
  const hyper = { beta: f.beta as number, tauS: f['tau-s'] as number, tauT: f['tau-t'] as number, iters: f.iters as number, eps: f.eps as number };
  checkBeta(hyper.beta, 'step');
  checkPositive(hyper.tauS, 'τ_s', 'step');
  checkPositive(hyper.tauT, 'τ_t', 'step');
  checkPositive(hyper.eps, 'ε', 'step');
  const stepConfig = { ...defaultTrainConfig({ method: method.id as never }), ...givenConfig(f, METHOD_ROWS), tauS: hyper.tauS, tauT: hyper.tauT, iters: hyper.iters, eps: hyper.eps, precision: f.precision as 'f32' | 'f16' | 'auto' };
  const problems = trainConfigProblems(stepConfig).filter((p) => METHOD_ROWS.some((r) => p.startsWith(`--${r.key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} `)));
  if (problems.length) throw new CliError(`step: ${problems.join('; ')}`);
  checkIters(hyper.iters, 'step', 1);
  checkWritableFile(f.grads as string, 'grads', 'step');
  const state = decodeCheckpoint(readFile(f.checkpoint as string, 'checkpoint'), f.checkpoint as string);
  const { config } = state;
  const hasHead = config.prototypes > 0;
  if (method.kind === 'embedding' && hasHead) throw new CliError(`step: ${f.checkpoint} has a prototype head (K = ${config.prototypes}), so it is a checkpoint of a pseudo-label method; --method ${method.id} is an embedding objective and needs a checkpoint without head.* tensors (prototypes 0, as train --method ${method.id} writes)`);
  if (method.kind === 'pseudo-label' && !hasHead) throw new CliError(`step: ${f.checkpoint} has no prototype head (prototypes 0: an embedding objective's checkpoint); --method ${method.id} needs prototypes`);
  const viewFlags = method.viewsPerImage === 1 ? (['view1'] as const) : (['view1', 'view2'] as const);
  if (method.viewsPerImage === 2 && !f.view2) throw new CliError(`step: --method ${method.id} takes two views of each image; give --view2`);
  if (method.viewsPerImage === 1 && f.view2) throw new CliError(`step: --method ${method.id} takes one view of each image; drop --view2`);
  const views = viewFlags.map((k) => {
    const path = f[k] as string;
    const arr = npyInput(() => parseNpy(readFile(path, k), path), 'step');
    const [n] = checkImageBatch(arr.shape, arr.dtype, config, path);
    return { n, x: normalizeImages(arr.data as Uint8Array, config.inChannels, config.mean, config.std) };
  });
  if (views[1] && views[0]!.n !== views[1].n) throw new CliError(`step: --view1 has ${views[0]!.n} images but --view2 has ${views[1]!.n}; the two views must be the same images`);
  const B = views[0]!.n;
  if (B < 2) throw new CliError(`step: --view1 ${f.view1} holds ${B} image; BN in training mode needs at least 2 images per view${method.id === 'mio' ? ' (and MIO has no negative pairs in a batch of 1)' : ''}`);
  const teacherNote = state.teacher ? 'ema' : 'student (checkpoint has no ema.* tensors)';

  const needsLabels = method.runFiles?.includes('labels.npy') ?? false;
  if (needsLabels && !f.labels) throw new CliError(`step: --method ${method.id} trains on given labels; give --labels y.npy (a uint32 label of each image of --view1: [N], or [N, H] for a checkpoint with H prototype heads)`);
  if (!needsLabels && f.labels) throw new CliError(`step: --labels is for methods that train on labels (sela), not ${method.id}`);
  const labels = needsLabels ? checkSelaLabelTable(parseNpy(readFile(f.labels as string, 'labels'), f.labels as string), f.labels as string, { N: B, K: config.prototypes, H: headCount(config) }) : null;

  const { ctx } = await nodeGpu();
  const store = new ParamStore(ctx, new ParamLayout(config));
  store.upload(state);
  const S = config.imageSize;
  const x: Tensor[] = views.map((v, i) => uploadTensor(ctx, v.x, [B, S, S, config.inChannels], `view${i + 1}`));
  let runState: MethodRunState | null = null;
  if (labels) {
    const batchLabels = createTensor(ctx, [B, headCount(config)], 'u32', 'batch_labels');
    ctx.device.queue.writeBuffer(batchLabels.buffer, batchLabels.byteOffset, labels as Uint32Array<ArrayBuffer>);
    runState = { tensors: { batchLabels }, destroy: () => batchLabels.buffer.destroy() };
  }
  const [layers, metrics] = await Promise.all([StepLayers.create(ctx, config, B, method, stepConfig), hasHead ? AssignmentMetrics.create(ctx, { B, K: config.prototypes }) : null]);
  const graph = await StepGraph.build(layers, store, x, runState);
  graph.setStep({ config: stepConfig, lr: 0, beta: hyper.beta, ema: 1 });
  const t0 = performance.now();
  const w = graph.targets;
  const targetStats = w && metrics ? metrics.bind(w, undefined, 'target_metrics') : null;
  await submitChecked(ctx, 'step', (enc) => {
    graph.record(enc);
    graph.recordMetrics(enc);
    targetStats?.record(enc);
  });
  const loss = (await readF32(ctx, graph.loss))[0]!;
  const ms = performance.now() - t0;
  const grads: TensorMap = new Map();
  for (const name of store.layout.trainable.keys()) grads.set(name, await readF32(ctx, store.grads.get(name)));
  const own = Object.fromEntries(METHOD_ROWS.filter((r) => (method.params as readonly { key: string }[]).some((p) => p.key === r.key)).map((r) => [r.key, stepConfig[r.key as keyof typeof stepConfig]]));
  writeAtomic(f.grads as string, encodeGradients(config, grads, { 'mira.step': JSON.stringify({ method: method.id, ...hyper, ...own, batch: B, loss }) }));
  const m = targetStats ? await targetStats.read() : null;
  // The method's own GPU metrics (MVEB's τ, MIO's pair probabilities, …) as their rows name them.
  const sources = graph.metricSources;
  const methodStats: Record<string, number> = {};
  const read = new Map<string, Float32Array>();
  for (const r of method.metrics) {
    if (r.source === 'host' || r.source.gpu === 'student' || r.source.gpu === 'teacher' || r.source.gpu === 'targets') continue;
    const t = sources[r.source.gpu];
    if (!t) continue;
    if (!read.has(r.source.gpu)) read.set(r.source.gpu, await readF32(ctx, t));
    methodStats[r.key] = read.get(r.source.gpu)![r.source.index]!;
  }
  console.log(
    JSON.stringify({
      loss,
      method: method.id,
      batch: B,
      prototypes: config.prototypes,
      ...(headCount(config) > 1 ? { heads: headCount(config) } : {}),
      teacher: method.usesTeacher ? teacherNote : 'none (the method has no teacher)',
      ...(m
        ? { target_entropy: m.mean_entropy, target_marginal_entropy: m.marginal_entropy, target_mi: m.mi, used_clusters: m.used_clusters, largest_cluster_fraction: m.largest_cluster_fraction }
        : labels ? { labels: f.labels } : {}),
      ...methodStats,
      grads: f.grads,
      tensors: grads.size,
      adapter: ctx.adapterName,
      ms: Math.round(ms),
    }),
  );
  return 0;
}
