// SeLa's GPU objective and run state (src/methods/sela.ts has its rows, metrics and panels; this
// file is loaded on demand so the page's main bundle carries no kernels):
//   objective  one view, no teacher: loss = 1/H Σ_h mean_i CE(one-hot(y_ih), softmax(q_ih/τₛ))
//              against the batch's labels (src/mira/sela-loss.ts; q is B×(H·K), the heads side
//              by side), ∂L/∂q into the student's logits, and head 0's collapse metrics
//              (src/mira/metrics.ts) as its metric source;
//   run state  the label of every training image (N×H u32, balanced random at the start or
//              labels.npy of a resumed run), gathered for each step's indices on the GPU
//              (src/shaders/sela_gather.wgsl), re-optimised over the whole dataset on schedule
//              with the network in evaluation mode (src/mira/sela-labeller.ts), every head
//              relabelled (heads share a forward pass while their banks fit SELA_BANKS_BYTES),
//              saved as labels.npy.
import gatherCode from '../shaders/sela_gather.wgsl?raw';
import type { GpuContext } from '../gpu/context.ts';
import { createKernel } from '../gpu/kernel.ts';
import { createTensor, writeTensor } from '../gpu/tensor.ts';
import { normalizeImages } from '../data/image-batch.ts';
import type { Dataset } from '../data/dataset.ts';
import { encodeNpy, parseNpy } from '../io/npy.ts';
import { AssignmentMetrics } from '../mira/metrics.ts';
import { SelaLossKernels } from '../mira/sela-loss.ts';
import { balancedRandomLabels, checkSelaLabelTable, SelaLabeller, type SelaOptimiseResult } from '../mira/sela-labeller.ts';
import { Softmax } from '../mira/softmax.ts';
import { LogitEmbedder } from '../nn/embedder.ts';
import type { MethodObjective, MethodRunState, ObjectiveIO, ObjectivePlan, ObjectiveShape, RunNetwork, RunStateEnv, StepValues } from './types.ts';

/**
 * Bank bytes the heads' label optimisation may hold at once: heads whose banks together fit
 * share one evaluation pass over the dataset (one bank each); otherwise one bank is refilled per
 * head (a forward pass per head). One bank is always allowed (its own limit: planSelaBank).
 */
export const SELA_BANKS_BYTES = 512 * 2 ** 20;

/** Steps (1-based counts of steps done) after which the labels are re-optimised. */
export function relabelSteps(c: { steps: number; warmupSteps: number; relabelEvery: number; relabelCount: number }): number[] {
  const warm = Math.min(c.warmupSteps, c.steps);
  const out = new Set<number>();
  if (c.relabelEvery > 0) {
    for (let s = Math.max(1, warm); s <= c.steps; s += c.relabelEvery) out.add(s);
  } else {
    const span = c.steps - warm;
    for (let j = 0; j < c.relabelCount; j++) out.add(Math.max(1, warm + Math.round((j * span) / c.relabelCount)));
  }
  return [...out].filter((s) => s <= c.steps).sort((a, b) => a - b);
}

export async function selaObjective(ctx: GpuContext, shape: ObjectiveShape): Promise<MethodObjective> {
  const { B, K } = shape;
  const H = shape.heads ?? 1;
  const [loss, softmax, metrics] = await Promise.all([SelaLossKernels.create(ctx, { B, K, H }), Softmax.create(ctx, { B, K }), AssignmentMetrics.create(ctx, { B, K })]);
  return {
    bind(io: ObjectiveIO, label: string): ObjectivePlan {
      if (io.student.length !== 1 || io.grads.length !== 1) throw new Error(`${label}: SeLa trains on one view of each image; got ${io.student.length}`);
      const labels = io.state?.tensors.batchLabels;
      if (!labels) throw new Error(`${label}: SeLa needs its run state (the labels of the batch); the trainer creates it with createRunState`);
      const out = createTensor(ctx, [2], 'f32', `${label}.sela_loss`);
      const lossPlan = loss.bind({ logits: io.student[0]!, labels, grad: io.grads[0]!, out }, `${label}.sela_loss`);
      const pStudent = createTensor(ctx, [B, K], 'f32', 'p_student');
      // The collapse metrics are head 0's: with H > 1 its K columns of each row are copied out first (logged steps only).
      const head0 = H > 1 ? createTensor(ctx, [B, K], 'f32', 'sela.head0_logits') : io.student[0]!;
      const prob = softmax.bind(head0, pStudent, 'softmax_student');
      const stats = metrics.bind(pStudent, undefined, 'metrics_student');
      return {
        targets: null,
        metricSources: { student: stats.out, sela: out },
        setStep(v: StepValues) {
          lossPlan.setTemperature(v.config.tauS as number);
          prob.setTemperature(v.config.tauS as number);
        },
        recordTargets() {},
        recordLoss(encoder, timer) {
          lossPlan.record(encoder, timer);
          encoder.copyBufferToBuffer(out.buffer, out.byteOffset, io.loss.buffer, io.loss.byteOffset, 4);
        },
        recordMetrics(encoder) {
          if (H > 1) {
            const q = io.student[0]!;
            for (let i = 0; i < B; i++) encoder.copyBufferToBuffer(q.buffer, q.byteOffset + i * H * K * 4, head0.buffer, head0.byteOffset + i * K * 4, K * 4);
          }
          prob.record(encoder);
          stats.record(encoder);
        },
      };
    },
  };
}

/** Head h's labels out of an N×H table (row-major, as labels.npy). */
export function headColumn(table: Uint32Array, H: number, h: number): Uint32Array {
  if (H === 1) return table;
  const out = new Uint32Array(table.length / H);
  for (let i = 0; i < out.length; i++) out[i] = table[i * H + h]!;
  return out;
}

/** Zero-pads the training images to the network's size and normalises them, in dataset order (the labelling pass sees no augmentation). */
function allTrainingImages(ds: Dataset, size: number): Float32Array {
  const { height: H, width: W, channels: C, count: N } = ds;
  const oy = Math.floor((size - H) / 2);
  const ox = Math.floor((size - W) / 2);
  const px = new Uint8Array(N * size * size * C);
  for (let n = 0; n < N; n++) {
    for (let y = 0; y < H; y++) {
      const src = (n * H + y) * W * C;
      px.set(ds.images.subarray(src, src + W * C), ((n * size + y + oy) * size + ox) * C);
    }
  }
  return normalizeImages(px, C, ds.mean, ds.std);
}

export async function selaRunState(env: RunStateEnv): Promise<MethodRunState> {
  const { ctx, config, train, indices } = env;
  const N = train.count;
  const K = config.prototypes as number;
  const H = (config.selaHeads as number | undefined) ?? 1;
  const B = config.batch as number;
  if (!(Number.isInteger(H) && H >= 1)) throw new Error(`--sela-heads must be an integer ≥ 1; got ${H}`);
  if (K > N) throw new Error(`--prototypes ${K} is more than the ${N} training images: SeLa gives every class at least one image, so K must be ≤ N`);
  const lambda = config.selaLambda as number;
  if (!(lambda > 0)) throw new Error(`--sela-lambda must be > 0; got ${lambda}`);
  let labels: Uint32Array;
  const saved = env.resumeFiles?.['labels.npy'];
  if (saved) labels = checkSelaLabelTable(parseNpy(saved, 'labels.npy'), 'labels.npy', { N, K, H });
  else {
    labels = new Uint32Array(N * H);
    for (let h = 0; h < H; h++) balancedRandomLabels(N, K, config.seed as number, h).forEach((y, i) => (labels[i * H + h] = y));
  }
  const table = createTensor(ctx, [N, H], 'u32', 'sela.labels');
  writeTensor(ctx, table, labels);
  const batchLabels = createTensor(ctx, [B, H], 'u32', 'sela.batch_labels');
  const gather = await createKernel(ctx, { label: 'sela_gather', code: gatherCode, constants: { B, H } });
  const bGather = gather.bind([table, indices, batchLabels], 'sela_gather');
  const schedule = new Set(relabelSteps({ steps: config.steps as number, warmupSteps: config.warmupSteps as number, relabelEvery: config.relabelEvery as number, relabelCount: config.relabelCount as number }));
  const truth = Uint32Array.from(train.labels);
  // Label optimisation: one bank per head while they fit SELA_BANKS_BYTES together, else one bank refilled per head.
  let labellers: SelaLabeller[] = [];
  let embedder: { net: RunNetwork; e: LogitEmbedder } | null = null;
  let images: Float32Array | null = null;
  // Head 0's class sizes after the latest label optimisation (the page's class-size histogram).
  let lastHistogram: Uint32Array | null = null;
  return {
    tensors: { labels: table, batchLabels },
    recordBeforeStep(encoder, timer) {
      bGather.record(encoder, [Math.ceil((B * H) / 64)], timer);
    },
    async afterStep(step, network) {
      if (!schedule.has(step)) return null;
      const t0 = performance.now();
      if (!embedder || embedder.net.weights !== network.weights) embedder = { net: network, e: await LogitEmbedder.create(ctx, network.model, network.weights, B) };
      if (!labellers.length) {
        const perPass = Math.max(1, Math.min(H, Math.floor(SELA_BANKS_BYTES / (N * K * 4))));
        for (let j = 0; j < perPass; j++) labellers.push(await SelaLabeller.create(ctx, { N, K }, { label: `sela.labeller${j}` }));
      }
      images ??= allTrainingImages(train, network.model.imageSize);
      const next = new Uint32Array(N * H);
      const results: SelaOptimiseResult[] = [];
      for (let h0 = 0; h0 < H; h0 += labellers.length) {
        const group = labellers.slice(0, Math.min(labellers.length, H - h0)).map((labeller, j) => ({ labeller, head: h0 + j }));
        for (const { labeller } of group) labeller.setTemperature(config.tauS as number);
        await SelaLabeller.fillHeadsFromNetwork(embedder.e, images, N, group);
        for (const { labeller, head } of group) {
          // Balanced rounding: SeLa's argmax of the scaled assignment left the largest class at 1.8–5 × N/K on the bundled sample.
          const r = await labeller.optimise({ lambda, previous: headColumn(labels, H, head), truth, rounding: 'balanced' });
          r.labels.forEach((y, i) => (next[i * H + head] = y));
          results.push(r);
        }
      }
      labels = next;
      writeTensor(ctx, table, labels);
      lastHistogram = results[0]!.histogram;
      const r = results[0]!;
      const mean = (f: (x: SelaOptimiseResult) => number) => results.reduce((s, x) => s + f(x), 0) / results.length;
      return {
        sela_nmi: r.nmi,
        sela_purity: r.purity,
        sela_changed: r.changedFraction,
        sela_iters: r.iters,
        sela_marginal_error: r.marginalError,
        sela_largest_over_mean: r.largestOverMean,
        sela_nmi_heads: mean((x) => x.nmi),
        sela_changed_heads: mean((x) => x.changedFraction),
        sela_relabel_s: (performance.now() - t0) / 1000,
      };
    },
    latestClassSizes: () => lastHistogram,
    currentLabels: () => headColumn(labels, H, 0),
    async save() {
      return { 'labels.npy': encodeNpy(labels, [N, H], 'uint32') };
    },
    destroy() {
      for (const l of labellers) l.destroy();
      labellers = [];
      table.buffer.destroy();
      batchLabels.buffer.destroy();
    },
  };
}
