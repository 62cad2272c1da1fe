// Weighted kNN evaluation on the GPU: the standard protocol of self-supervised learning
// (Wu et al. 2018 "InstDisc", DINO's eval_knn, solo-learn's WeightedKNNClassifier).
//
//   bank features N_bank×D and query features N_q×D are L2-normalised (x / max(‖x‖, 1e-12));
//   the queries go through in chunks of `queryChunk` rows so memory stays bounded:
//     knn_normalize   the chunk's query rows → Q̂ (chunk×D)            (src/shaders/knn.wgsl)
//     GEMM            S = Q̂ · B̂ᵀ (chunk×N_bank), the shared core with transB
//     knn_select      per query: the max(ks) most similar bank entries by (similarity desc,
//                     bank index asc), by a 4-pass 8-bit radix select over order-preserving
//                     integer keys, then sorted by rank; for each (k, T):
//                     w_r = exp(s_r / T) (computed as exp((s_r − s_0)/T), the same up to a common
//                     factor, finite for any T), vote_c = Σ_{r<k, label_r=c} w_r in rank order,
//                     prediction = argmax_c (ties → lower class); correct predictions counted.
//   top-1 (percent) = 100 · correct / N_q for every (k, T), keyed `k20_t0.07`.
// Every step is integer arithmetic or a fixed-order float sum: the predictions are
// deterministic, and src/ref/knn.ts computes the same in float64.
//
// Use: `KnnEvaluator.create(ctx, shape)` once per shape (compiles and allocates), then either
// `evaluate(...)` (checks, one submit, waits), or `bind(...)` once, `record(encoder)` inside the
// caller's own encoder (the correct-counts are copied to a MAP_READ buffer), submit, and
// `await read()`. Bank and query subsets come from `chooseEvalIndices`.
import knnWgsl from '../shaders/knn.wgsl?raw';
import type { GpuContext } from '../gpu/context.ts';
import { GpuKernelError, ShapeError, assertShape, isPositiveInt } from '../gpu/errors.ts';
import { Gemm, defaultGemmVariant, gemmFlops, type GemmVariant } from '../gpu/gemm.ts';
import type { Pass } from '../gpu/pass.ts';
import { createKernel, submitChecked, type BoundKernel, type Kernel, type PassTimer } from '../gpu/kernel.ts';
import { createBuffer, createTensor, readTensor, type Tensor } from '../gpu/tensor.ts';
import { pcg } from '../data/rng.ts';

/** k, T and the result keys, as in the literature (DINO: k = 20, T = 0.07; InstDisc: k = 200, T = 0.1). */
export const KNN_DEFAULTS = { ks: [20, 200], temperatures: [0.07, 0.1] } as const;

/** The workgroup sorts at most 4 entries per thread × 256 threads. */
export const KNN_MAX_K = 1024;

export interface KnnShape {
  bankSize: number;
  querySize: number;
  dim: number;
  classes: number;
  ks: readonly number[];
  temperatures: readonly number[];
  /** Queries per similarity chunk (default: ≤ 1024 rows and ≤ 32 MiB of similarities). */
  queryChunk?: number;
  /** GEMM variant (default: tiled on GPUs, direct on CPU emulators). */
  gemmVariant?: GemmVariant;
  label?: string;
}

export interface KnnResult {
  /** Top-1 accuracy in percent, per (k, T), keyed `k${k}_t${T}`, e.g. "k20_t0.07". */
  top1: Record<string, number>;
  /** The headline: k = 20, T = 0.07 (the first pair when those are not evaluated). */
  top1_k20: number;
  /** Which key the headline is. */
  headline: string;
  /** Correct predictions per key. */
  correct: Record<string, number>;
  queries: number;
}

/** The result key of one (k, T) pair: `k20_t0.07`. */
export function knnKey(k: number, t: number): string {
  return `k${k}_t${t}`;
}

const DEFAULT_CHUNK_BYTES = 32 * 1024 * 1024;
const INFO_STRIDE = 256; // uniform-buffer offset alignment
const NORM_ROWS = 4; // rows per knn_normalize workgroup

function grid(ctx: GpuContext, groups: number): [number, number, number] {
  const max = ctx.limits.maxComputeWorkgroupsPerDimension;
  const x = Math.min(Math.max(1, groups), max);
  return [x, Math.ceil(groups / x), 1];
}

/** Workgroup memory of knn_select for a given max k (see knn.wgsl). */
export function knnSelectWorkgroupBytes(kmax: number): number {
  return 2 * 256 * 4 + 16 + 4 + 3 * 4 * kmax + 3 * 256 * 4;
}

interface Binding {
  normBank: BoundKernel;
  normChunks: BoundKernel[];
  gemm: Pass;
  selects: BoundKernel[];
}

export class KnnEvaluator {
  readonly keys: string[];
  readonly headline: string;
  readonly queryChunk: number;
  readonly chunks: number;
  readonly label: string;
  /** Predictions, pair-major: [pair][query], pairs in `keys` order. Valid after a submit. */
  readonly predictions: Tensor;
  private readonly bankNorm: Tensor;
  private readonly queryNorm: Tensor;
  private readonly sims: Tensor;
  private readonly counts: Tensor;
  private readonly pairs: GPUBuffer;
  private readonly info: GPUBuffer;
  private readonly staging: GPUBuffer;
  private bound: Binding | null = null;
  private recorded = false;
  private reading = false;

  private constructor(
    readonly ctx: GpuContext,
    readonly shape: Required<Omit<KnnShape, 'queryChunk' | 'gemmVariant' | 'label'>>,
    queryChunk: number,
    label: string,
    private readonly normKernel: Kernel,
    private readonly selectKernel: Kernel,
    private readonly gemm: Gemm,
  ) {
    const { bankSize, querySize, dim, ks, temperatures } = shape;
    this.label = label;
    this.queryChunk = queryChunk;
    this.chunks = Math.ceil(querySize / queryChunk);
    this.keys = [];
    for (const k of ks) for (const t of temperatures) this.keys.push(knnKey(k, t));
    const want = knnKey(20, 0.07);
    this.headline = this.keys.includes(want) ? want : this.keys[0]!;
    const npairs = this.keys.length;
    this.bankNorm = createTensor(ctx, [bankSize, dim], 'f32', `${label}.bank_normalized`);
    this.queryNorm = createTensor(ctx, [queryChunk, dim], 'f32', `${label}.query_normalized`);
    this.sims = createTensor(ctx, [queryChunk, bankSize], 'f32', `${label}.similarities`);
    this.predictions = createTensor(ctx, [npairs, querySize], 'u32', `${label}.predictions`);
    this.counts = createTensor(ctx, [npairs + 1], 'u32', `${label}.counts`);
    // Pairs (k, T) in key order.
    this.pairs = createBuffer(ctx, 8 * npairs, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, `${label}.pairs`);
    const pv = new DataView(new ArrayBuffer(8 * npairs));
    let p = 0;
    for (const k of ks)
      for (const t of temperatures) {
        pv.setUint32(8 * p, k, true);
        pv.setFloat32(8 * p + 4, t, true);
        p++;
      }
    ctx.device.queue.writeBuffer(this.pairs, 0, pv.buffer);
    // Info slots: [0] the bank, [1 + c] query chunk c.
    this.info = createBuffer(ctx, INFO_STRIDE * (1 + this.chunks), GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, `${label}.info`);
    const info = new Uint32Array((INFO_STRIDE / 4) * (1 + this.chunks));
    info[0] = 0;
    info[1] = bankSize;
    for (let c = 0; c < this.chunks; c++) {
      const o = (INFO_STRIDE / 4) * (1 + c);
      info[o] = c * queryChunk;
      info[o + 1] = Math.min(queryChunk, querySize - c * queryChunk);
    }
    ctx.device.queue.writeBuffer(this.info, 0, info);
    this.staging = createBuffer(ctx, 4 * (npairs + 1), GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, `${label}.staging`);
  }

  static async create(ctx: GpuContext, shape: KnnShape): Promise<KnnEvaluator> {
    const label = shape.label ?? 'knn';
    const { bankSize, querySize, dim, classes, ks, temperatures } = shape;
    for (const [name, v] of Object.entries({ bankSize, querySize, dim, classes })) {
      assertShape(isPositiveInt(v), () => `${label}: ${name} must be a positive integer, got ${v}`);
    }
    assertShape(Array.isArray(ks) && ks.length > 0, () => `${label}: ks must list at least one k`);
    assertShape(Array.isArray(temperatures) && temperatures.length > 0, () => `${label}: temperatures must list at least one T`);
    for (const k of ks) {
      assertShape(isPositiveInt(k), () => `${label}: every k must be a positive integer, got ${k}`);
      assertShape(k <= bankSize, () => `${label}: k = ${k} exceeds the bank size ${bankSize}; a query cannot have more neighbours than the bank holds`);
      assertShape(k <= KNN_MAX_K, () => `${label}: k = ${k} is over the supported maximum ${KNN_MAX_K}`);
    }
    for (const t of temperatures) {
      assertShape(typeof t === 'number' && Number.isFinite(t) && t > 0, () => `${label}: every temperature must be a finite number > 0, got ${t}`);
    }
    assertShape(new Set(ks).size === ks.length, () => `${label}: ks has duplicates (${ks.join(', ')})`);
    assertShape(new Set(temperatures).size === temperatures.length, () => `${label}: temperatures have duplicates (${temperatures.join(', ')})`);
    const maxBinding = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
    const rowBytes = 4 * bankSize;
    let chunk = shape.queryChunk;
    if (chunk === undefined) {
      chunk = Math.max(1, Math.min(querySize, 1024, Math.floor(Math.min(DEFAULT_CHUNK_BYTES, maxBinding) / rowBytes)));
    } else {
      assertShape(isPositiveInt(chunk), () => `${label}: queryChunk must be a positive integer, got ${chunk}`);
      chunk = Math.min(chunk, querySize);
    }
    const maxDim = ctx.limits.maxComputeWorkgroupsPerDimension;
    assertShape(chunk <= maxDim, () => `${label}: queryChunk ${chunk} is over ${maxDim} (one workgroup per query)`);
    if (chunk * rowBytes > maxBinding) {
      throw new ShapeError(`${label}: a chunk of ${chunk} queries × ${bankSize} bank entries needs ${chunk * rowBytes} bytes of similarities, over this adapter's limit of ${maxBinding}; use a smaller queryChunk`);
    }
    for (const [what, bytes] of [
      ['bank features', 4 * bankSize * dim],
      ['query features', 4 * querySize * dim],
    ] as const) {
      if (bytes > maxBinding) throw new ShapeError(`${label}: the ${what} need ${bytes} bytes, over this adapter's binding limit of ${maxBinding}`);
    }
    const kmax = Math.max(...ks);
    const wgBytes = knnSelectWorkgroupBytes(kmax);
    const wgLimit = ctx.limits.maxComputeWorkgroupStorageSize;
    if (wgBytes > wgLimit) {
      throw new ShapeError(`${label}: k = ${kmax} needs ${wgBytes} bytes of workgroup memory, over this adapter's ${wgLimit}; use a smaller k`);
    }
    const npairs = ks.length * temperatures.length;
    const variant = shape.gemmVariant ?? defaultGemmVariant(ctx);
    const [normKernel, selectKernel, gemm] = await Promise.all([
      createKernel(ctx, { label: `${label}.normalize`, code: knnWgsl, entryPoint: 'knn_normalize', constants: { DIM: dim } }),
      createKernel(ctx, {
        label: `${label}.select`,
        code: knnWgsl,
        entryPoint: 'knn_select',
        constants: { N_BANK: bankSize, N_QUERY: querySize, KMAX: kmax, NPAIRS: npairs, CLASSES: classes },
      }),
      Gemm.create(ctx, { M: chunk, N: bankSize, K: dim, transB: true }, variant),
    ]);
    return new KnnEvaluator(ctx, { bankSize, querySize, dim, classes, ks: [...ks], temperatures: [...temperatures] }, chunk, label, normKernel, selectKernel, gemm);
  }

  /** FLOPs of the similarity GEMMs of one evaluation (2·chunk·N_bank·D per chunk, padded rows included). */
  get gemmFlops(): number {
    return this.chunks * gemmFlops({ M: this.queryChunk, N: this.shape.bankSize, K: this.shape.dim });
  }

  /** Checks shapes and dtypes (never values) and binds the inputs; before any dispatch. Call once per set of tensors. */
  bind(bankFeats: Tensor, bankLabels: Tensor, queryFeats: Tensor, queryLabels: Tensor): void {
    const { bankSize, querySize, dim } = this.shape;
    const L = this.label;
    const feats = (t: Tensor, rows: number, what: string) => {
      assertShape(t.dtype === 'f32', () => `${L}: ${what} ${t} must be f32`);
      if (t.shape.length === 2) {
        assertShape(t.shape[1] === dim, () => `${L}: ${what} ${t} have dimension ${t.shape[1]}, expected D = ${dim}`);
        assertShape(t.shape[0] === rows, () => `${L}: ${what} ${t} have ${t.shape[0]} rows, expected ${rows}`);
      }
      assertShape(t.numel === rows * dim, () => `${L}: ${what} ${t} should hold ${rows}×${dim} = ${rows * dim} values`);
    };
    const labels = (t: Tensor, n: number, what: string) => {
      assertShape(t.dtype === 'u32' || t.dtype === 'i32', () => `${L}: ${what} ${t} must be u32 (class indices)`);
      assertShape(t.numel === n, () => `${L}: ${what} ${t} should hold ${n} labels`);
    };
    feats(bankFeats, bankSize, 'bank features');
    feats(queryFeats, querySize, 'query features');
    labels(bankLabels, bankSize, 'bank labels');
    labels(queryLabels, querySize, 'query labels');
    const infoSlot = (i: number): GPUBufferBinding => ({ buffer: this.info, offset: i * INFO_STRIDE, size: 16 });
    this.bound = {
      normBank: this.normKernel.bind([bankFeats, this.bankNorm, infoSlot(0)], `${L}.normalize_bank`),
      normChunks: Array.from({ length: this.chunks }, (_, c) => this.normKernel.bind([queryFeats, this.queryNorm, infoSlot(1 + c)], `${L}.normalize_queries`)),
      gemm: this.gemm.bind(this.queryNorm, this.bankNorm, this.sims),
      selects: Array.from({ length: this.chunks }, (_, c) =>
        this.selectKernel.bind([this.sims, bankLabels, queryLabels, { buffer: this.pairs }, infoSlot(1 + c), this.predictions, this.counts], `${L}.select`),
      ),
    };
  }

  /** Records the whole evaluation into `encoder` (bound tensors) and the copy of its counts for `read()`. */
  record(encoder: GPUCommandEncoder, timer?: PassTimer): void {
    const b = this.bound;
    if (!b) throw new GpuKernelError(this.label, 'record() before bind(): bind the bank and query tensors first');
    if (this.reading) throw new GpuKernelError(this.label, 'record() while read() of the previous evaluation is pending; await it first');
    const { bankSize, querySize } = this.shape;
    encoder.clearBuffer(this.counts.buffer, this.counts.byteOffset, this.counts.byteLength);
    b.normBank.record(encoder, grid(this.ctx, Math.ceil(bankSize / NORM_ROWS)), timer);
    for (let c = 0; c < this.chunks; c++) {
      const rows = Math.min(this.queryChunk, querySize - c * this.queryChunk);
      b.normChunks[c]!.record(encoder, grid(this.ctx, Math.ceil(rows / NORM_ROWS)), timer);
      b.gemm.record(encoder, timer);
      b.selects[c]!.record(encoder, [rows, 1, 1], timer);
    }
    encoder.copyBufferToBuffer(this.counts.buffer, this.counts.byteOffset, this.staging, 0, this.counts.byteLength);
    this.recorded = true;
  }

  /** After the submit holding `record`: the accuracies. Throws when a label was ≥ classes. */
  async read(): Promise<KnnResult> {
    if (!this.recorded) throw new GpuKernelError(this.label, 'read() before record()');
    if (this.reading) throw new GpuKernelError(this.label, 'read() is already pending');
    this.reading = true;
    let counts: Uint32Array;
    try {
      await this.staging.mapAsync(GPUMapMode.READ);
      counts = new Uint32Array(this.staging.getMappedRange().slice(0));
      this.staging.unmap();
    } finally {
      this.reading = false;
    }
    this.recorded = false;
    const npairs = this.keys.length;
    if (counts[npairs]! > 0) {
      throw new ShapeError(`${this.label}: labels must be < classes (${this.shape.classes}); ${counts[npairs]} out-of-range labels were met (bank labels counted once per top-k they appear in)`);
    }
    return this.result(counts);
  }

  private result(counts: Uint32Array): KnnResult {
    const top1: Record<string, number> = {};
    const correct: Record<string, number> = {};
    const n = this.shape.querySize;
    this.keys.forEach((key, i) => {
      correct[key] = counts[i]!;
      top1[key] = (100 * counts[i]!) / n;
    });
    return { top1, top1_k20: top1[this.headline]!, headline: this.headline, correct, queries: n };
  }

  /**
   * Checks shapes, reads the labels back and checks they are < classes (before any dispatch),
   * then runs the evaluation in one submit and returns the accuracies.
   */
  async evaluate(bankFeats: Tensor, bankLabels: Tensor, queryFeats: Tensor, queryLabels: Tensor): Promise<KnnResult> {
    this.bind(bankFeats, bankLabels, queryFeats, queryLabels);
    for (const [t, what] of [
      [bankLabels, 'bank'],
      [queryLabels, 'query'],
    ] as const) {
      const v = new Uint32Array(((await readTensor(this.ctx, t)) as Uint32Array | Int32Array).buffer, 0, t.numel);
      checkLabels(v, this.shape.classes, `${this.label}: ${what} labels`);
    }
    await submitChecked(this.ctx, this.label, (enc) => this.record(enc));
    return this.read();
  }

  destroy(): void {
    for (const t of [this.bankNorm, this.queryNorm, this.sims, this.predictions, this.counts]) t.buffer.destroy();
    for (const b of [this.pairs, this.info, this.staging]) b.destroy();
    this.bound = null;
  }
}

/** Throws naming the first label that is not an integer in [0, classes). */
export function checkLabels(labels: ArrayLike<number>, classes: number, what = 'labels'): void {
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (!(Number.isInteger(l) && l >= 0 && l < classes)) {
      throw new ShapeError(`${what}: label ${l} at index ${i} is not a class index in [0, ${classes})`);
    }
  }
}

/**
 * `count` distinct indices of [0, n), ascending, chosen deterministically from `seed`.
 * With `labels` (length n) the choice is balanced by class: every class's indices are shuffled
 * (seeded), then taken round-robin over the classes in ascending order — each class gets
 * ⌊count/C⌋ or one more (the lower classes get the extras), and a class with too few members
 * gives its share to the others.
 */
export function chooseEvalIndices(n: number, count: number, seed: number, labels?: ArrayLike<number>): Uint32Array {
  if (!(Number.isInteger(n) && n >= 0)) throw new RangeError(`chooseEvalIndices: n must be an integer ≥ 0, got ${n}`);
  if (!(Number.isInteger(count) && count >= 0 && count <= n)) throw new RangeError(`chooseEvalIndices: count must be an integer in [0, ${n}], got ${count}`);
  const stream = (salt: number) => {
    const base = pcg((pcg(seed >>> 0) + salt) >>> 0);
    let i = 0;
    return () => pcg((base + i++) >>> 0);
  };
  // Fisher–Yates on a copy; j uniform in [0, i] from a 32-bit word (bias ≤ n / 2³²).
  const shuffle = (xs: number[], rand: () => number) => {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = Math.floor((rand() / 4294967296) * (i + 1));
      const t = xs[i]!;
      xs[i] = xs[j]!;
      xs[j] = t;
    }
    return xs;
  };
  let chosen: number[];
  if (!labels) {
    chosen = shuffle(Array.from({ length: n }, (_, i) => i), stream(0)).slice(0, count);
  } else {
    if (labels.length !== n) throw new RangeError(`chooseEvalIndices: ${labels.length} labels for n = ${n}`);
    checkLabels(labels, Number.MAX_SAFE_INTEGER, 'chooseEvalIndices');
    const byClass = new Map<number, number[]>();
    for (let i = 0; i < n; i++) {
      const l = labels[i]!;
      let list = byClass.get(l);
      if (!list) byClass.set(l, (list = []));
      list.push(i);
    }
    const classes = [...byClass.keys()].sort((a, b) => a - b);
    const lists = classes.map((c) => shuffle(byClass.get(c)!, stream(1 + c)));
    chosen = [];
    for (let round = 0; chosen.length < count; round++) {
      for (const list of lists) {
        if (chosen.length === count) break;
        if (round < list.length) chosen.push(list[round]!);
      }
    }
  }
  return Uint32Array.from(chosen).sort();
}
