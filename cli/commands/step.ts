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
// parameter under its checkpoint name, in PyTorch's layout.
import { readFileSync, writeFileSync } from 'node:fs';
import { nodeGpu } from '../../src/gpu/node.ts';
import { readF32, uploadTensor, type Tensor } from '../../src/gpu/tensor.ts';
import { submitChecked } from '../../src/gpu/kernel.ts';
import { parseNpy } from '../../src/io/npy.ts';
import { checkImageBatch, normalizeImages } from '../../src/data/image-batch.ts';
import { decodeCheckpoint, encodeGradients, type TensorMap } from '../../src/nn/checkpoint.ts';
import { ParamLayout, ParamStore } from '../../src/nn/param-store.ts';
import { AssignmentMetrics } from '../../src/mira/metrics.ts';
import { StepGraph, StepLayers } from '../../src/train/step-graph.ts';
import { defaultTrainConfig } from '../../src/train/config.ts';
import { METHOD_IDS, methodById } from '../../src/methods/registry.ts';
import { checkSelaLabelTable } from '../../src/mira/sela-labeller.ts';
import { createTensor } from '../../src/gpu/tensor.ts';
import type { MethodRunState } from '../../src/methods/types.ts';
import { checkBeta, checkPositive } from '../../src/mira/validate.ts';
import { CliError, parseFlags, usage, type FlagSpec } from '../args.ts';

export const summary = 'one MIRA forward/backward on two given batches; writes every parameter gradient (parity harness)';

const FLAGS: Record<string, FlagSpec> = {
  checkpoint: { kind: 'string', required: true, help: 'model.safetensors (student, ema.* teacher, mira.config)' },
  view1: { kind: 'string', required: true, help: 'first view, uint8 N×H×W×C .npy' },
  view2: { kind: 'string', help: 'second view, uint8 N×H×W×C .npy (methods with two views per image)' },
  labels: { kind: 'string', help: 'sela: the label of each image of view1, uint32 [N] or [N, 1] .npy' },
  method: { kind: 'string', choices: METHOD_IDS, default: 'mira', help: 'the method whose loss and gradients are computed' },
  beta: { kind: 'number', default: 0.7, help: 'MIRA β ∈ (0, 1)' },
  'tau-s': { kind: 'number', default: 0.1, help: 'student temperature τ_s' },
  'tau-t': { kind: 'number', default: 0.225, help: 'teacher temperature τ_t' },
  iters: { kind: 'int', default: 30, min: 1, help: 'MIRA fixed-point (or Sinkhorn) iterations' },
  eps: { kind: 'number', default: 0.05, help: 'Sinkhorn ε (swav)' },
  grads: { kind: 'string', required: true, help: 'where to write the gradients (safetensors)' },
  json: { kind: 'boolean', help: 'print one JSON line (always JSON; kept for the contract)' },
};

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
  const state = decodeCheckpoint(readFile(f.checkpoint as string, 'checkpoint'), f.checkpoint as string);
  const { config } = state;
  const viewFlags = method.viewsPerImage === 1 ? (['view1'] as const) : (['view1', 'view2'] as const);
  if (method.viewsPerImage === 2 && !f.view2) throw new CliError(`step: --method ${method.id} takes two views of each image; give --view2`);
  if (method.viewsPerImage === 1 && f.view2) throw new CliError(`step: --method ${method.id} takes one view of each image; drop --view2`);
  const views = viewFlags.map((k) => {
    const path = f[k] as string;
    const arr = parseNpy(readFile(path, k), path);
    const [n] = checkImageBatch(arr.shape, arr.dtype, config, path);
    return { n, x: normalizeImages(arr.data as Uint8Array, config.inChannels, config.mean, config.std) };
  });
  if (views[1] && views[0]!.n !== views[1].n) throw new CliError(`step: --view1 has ${views[0]!.n} images but --view2 has ${views[1]!.n}; the two views must be the same images`);
  const B = views[0]!.n;
  if (B < 2) throw new CliError('step: BN in training mode needs at least 2 images per view');
  const teacherNote = state.teacher ? 'ema' : 'student (checkpoint has no ema.* tensors)';

  const needsLabels = method.runFiles?.includes('labels.npy') ?? false;
  if (needsLabels && !f.labels) throw new CliError(`step: --method ${method.id} trains on given labels; give --labels y.npy (a uint32 label of each image of --view1)`);
  if (!needsLabels && f.labels) throw new CliError(`step: --labels is for methods that train on labels (sela), not ${method.id}`);
  const labels = needsLabels ? checkSelaLabelTable(parseNpy(readFile(f.labels as string, 'labels'), f.labels as string), f.labels as string, { N: B, K: config.prototypes }) : null;

  const { ctx } = await nodeGpu();
  const store = new ParamStore(ctx, new ParamLayout(config));
  store.upload(state);
  const S = config.imageSize;
  const x: Tensor[] = views.map((v, i) => uploadTensor(ctx, v.x, [B, S, S, config.inChannels], `view${i + 1}`));
  let runState: MethodRunState | null = null;
  if (labels) {
    const batchLabels = createTensor(ctx, [B, 1], 'u32', 'batch_labels');
    ctx.device.queue.writeBuffer(batchLabels.buffer, batchLabels.byteOffset, labels as Uint32Array<ArrayBuffer>);
    runState = { tensors: { batchLabels }, destroy: () => batchLabels.buffer.destroy() };
  }
  const [layers, metrics] = await Promise.all([StepLayers.create(ctx, config, B, method), AssignmentMetrics.create(ctx, { B, K: config.prototypes })]);
  const graph = await StepGraph.build(layers, store, x, runState);
  graph.setStep({ config: { ...defaultTrainConfig(), tauS: hyper.tauS, tauT: hyper.tauT, iters: hyper.iters, eps: hyper.eps }, lr: 0, beta: hyper.beta, ema: 1 });
  const t0 = performance.now();
  const w = graph.targets;
  if (!w && !labels) throw new CliError(`step: ${method.id} makes no targets`);
  const targetStats = w ? metrics.bind(w, undefined, 'target_metrics') : null;
  await submitChecked(ctx, 'step', (enc) => {
    graph.record(enc);
    targetStats?.record(enc);
  });
  const loss = (await readF32(ctx, graph.loss))[0]!;
  const ms = performance.now() - t0;
  const grads: TensorMap = new Map();
  for (const name of store.layout.trainable.keys()) grads.set(name, await readF32(ctx, store.grads.get(name)));
  writeFileSync(f.grads as string, encodeGradients(config, grads, { 'mira.step': JSON.stringify({ method: method.id, ...hyper, batch: B, loss }) }));
  const m = targetStats ? await targetStats.read() : null;
  console.log(
    JSON.stringify({
      loss,
      method: method.id,
      batch: B,
      prototypes: config.prototypes,
      teacher: teacherNote,
      ...(m ? { target_entropy: m.mean_entropy, target_marginal_entropy: m.marginal_entropy, target_mi: m.mi, used_clusters: m.used_clusters, largest_cluster_fraction: m.largest_cluster_fraction } : { labels: f.labels }),
      grads: f.grads,
      tensors: grads.size,
      adapter: ctx.adapterName,
      ms: Math.round(ms),
    }),
  );
  return 0;
}
