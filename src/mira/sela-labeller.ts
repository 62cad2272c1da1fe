// SeLa's whole-dataset label optimisation on the GPU (src/shaders/sela_labeller.wgsl): the
// network's log-probabilities for all N training images (no augmentation, evaluation mode) go
// into a bank, then Sinkhorn-Knopp on P = p^λ with uniform marginals (1/K per class, 1/N per
// image) runs in the log domain over the whole bank until SeLa's tolerance, and every image
// gets y_i = argmax_k of its scaled row. Also the balanced random initial labels.
//
// Memory: the bank is N×K f32 (N = 60 000, K = 3000: 720 MB) and no single WebGPU buffer may
// be that large — a binding is at most `maxStorageBufferBindingSize` (128 MiB by default, what
// a page gets unless it asks for more; Chrome grants up to 2–4 GiB on desktop GPUs) and a buffer
// at most `maxBufferSize` (256 MiB by default). So the bank is split by rows into chunks, each
// its own buffer under min(both limits, an optional `maxChunkBytes`), and every pass streams
// through the chunks: one dispatch per chunk, all recorded into one command buffer per check.
// At the defaults 60 000×3000 is 6 chunks of ≤ 128 MiB (≈ 720 MB in all, plus 0.5 MB of row
// state and 3 MB of column partials). Chunks also keep each dispatch under
// `maxComputeWorkgroupsPerDimension` row blocks. The bank is f32: f16 (`shader-f16`) would
// halve it, but its 11-bit mantissa moves λ·log p by up to ≈ 0.04 at λ = 10, |log p| ≈ 8 —
// far more than the gaps the labels are decided by — so it is not offered.
//
// The balanced rounding (rounding: 'balanced', what training uses) never reads the bank back
// either: a candidates pass leaves 8 (score, class) pairs per row (3.8 MB at N = 60 000) and
// the rows whose candidates are all full get a masked argmax pass (N u32) per round. So the
// limit of a page is the bank itself: N·K·4 bytes of GPU memory in chunks of ≤ the binding
// limit (60 000 × 3000: 720 MB in 6 buffers of ≤ 128 MiB), plus N·76 bytes of row state.
//
// Per optimisation the labeller reports the SK iterations used, the final change measure
// (SeLa's Σ_i |c_i/c'_i − 1|) and marginal error (Σ_k |col_k − 1/K|), and — on the host, from
// the labels read back (N u32) — the class-size histogram (largest class / (N/K)), the fraction
// of labels that changed, and, given the true classes, NMI and purity (cluster-quality.ts).
// The float64 reference is src/ref/sela-labels.ts (selaLabels, over SeLa's official loop).
import code from '../shaders/sela_labeller.wgsl?raw';
import type { GpuContext } from '../gpu/context.ts';
import { GpuKernelError, ShapeError } from '../gpu/errors.ts';
import { createKernel, type BoundKernel, type Kernel, type PassTimer } from '../gpu/kernel.ts';
import { createBuffer, createTensor, readF32, readTensor, writeTensor, type Tensor } from '../gpu/tensor.ts';
import { pcg, randBase, randWord } from '../data/rng.ts';
import { nmi, purity } from './cluster-quality.ts';
import { headCount } from '../nn/config.ts';
import type { LogitEmbedder } from '../nn/embedder.ts';
import { SELA_DEFAULTS } from './sinkhorn.ts';
import { checkIters, checkPositive, ParamError } from './validate.ts';

/** Rows per row block (RB), rows per column-partial tile (TR): as in sela_labeller.wgsl. */
const RB = 8;
const TR = 256;
const PARAM_BYTES = 64;
/** Candidate classes per row of the balanced rounding (CT in sela_labeller.wgsl). */
export const CANDIDATES = 8;
const NONE = 0xffffffff;

// ------------------------------------------------------------------------------------------
// Balanced random initial labels

/**
 * SeLa's initial labels for one head: a seeded random permutation π of the N images (the
 * counter-based hash of src/data/rng.ts, so Node and the page agree) and y_{π(j)} = j mod K —
 * every class gets ⌊N/K⌋ or ⌈N/K⌉ images (the first N mod K classes one more). Heads differ
 * through their own stream.
 */
export function balancedRandomLabels(N: number, K: number, seed: number, head = 0): Uint32Array {
  checkLabelShape(N, K, 'SeLa initial labels');
  if (!Number.isInteger(head) || head < 0) throw new ParamError(`SeLa initial labels: head must be an integer ≥ 0, got ${head}`);
  const perm = new Uint32Array(N);
  for (let i = 0; i < N; i++) perm[i] = i;
  // Its own stream: step = the head, sample/view words no other user of rng.ts draws.
  const base = randBase(seed, head, 0xfffffffe, pcg(0x5e1a));
  for (let i = N - 1; i > 0; i--) {
    const j = Math.floor((randWord(base, i) / 4294967296) * (i + 1));
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
  const y = new Uint32Array(N);
  for (let j = 0; j < N; j++) y[perm[j]!] = j % K;
  return y;
}

/** N ≥ 1 images, 2 ≤ K ≤ N classes (SeLa needs at least one image per class). */
export function checkLabelShape(N: number, K: number, what: string): void {
  if (!Number.isInteger(N) || N < 1) throw new ShapeError(`${what}: the number of images N must be an integer ≥ 1, got ${N}`);
  if (!Number.isInteger(K) || K < 2) throw new ShapeError(`${what}: the number of classes K must be an integer ≥ 2, got ${K}`);
  if (K > N) throw new ShapeError(`${what}: K = ${K} classes for N = ${N} images; equal class sizes need K ≤ N (lower the number of prototypes)`);
}

// ------------------------------------------------------------------------------------------
// The chunked bank

export interface SelaBankPlan {
  N: number;
  K: number;
  /** Rows per chunk (the last may hold fewer). */
  rowsPerChunk: number;
  chunks: { row0: number; rows: number }[];
  /** Bytes one chunk may hold, and which limit set it. */
  limitBytes: number;
  limitName: string;
  /** N×K×4. */
  bankBytes: number;
}

/** Splits N rows of K f32 into chunks under the device's limits (and `maxChunkBytes` if smaller). */
export function planSelaBank(limits: Pick<GPUSupportedLimits, 'maxStorageBufferBindingSize' | 'maxBufferSize' | 'maxComputeWorkgroupsPerDimension'>, N: number, K: number, maxChunkBytes?: number): SelaBankPlan {
  checkLabelShape(N, K, 'SeLa bank');
  const cands: [number, string][] = [
    [limits.maxStorageBufferBindingSize, 'maxStorageBufferBindingSize'],
    [limits.maxBufferSize, 'maxBufferSize'],
  ];
  if (maxChunkBytes !== undefined) {
    if (!(Number.isInteger(maxChunkBytes) && maxChunkBytes > 0)) throw new ParamError(`SeLa bank: maxChunkBytes must be a positive integer, got ${maxChunkBytes}`);
    cands.push([maxChunkBytes, 'maxChunkBytes']);
  }
  const [limitBytes, limitName] = cands.reduce((a, b) => (b[0] < a[0] ? b : a));
  const byBytes = Math.floor(limitBytes / (K * 4));
  if (byBytes < 1) throw new ShapeError(`SeLa bank: one row of K = ${K} f32 (${K * 4} bytes) is over ${limitName} = ${limitBytes} bytes`);
  // Row blocks (RB rows) and tiles per dispatch must stay under the workgroup-count limit.
  const rowsPerChunk = Math.min(byBytes, limits.maxComputeWorkgroupsPerDimension * RB);
  const chunks: { row0: number; rows: number }[] = [];
  for (let row0 = 0; row0 < N; row0 += rowsPerChunk) chunks.push({ row0, rows: Math.min(rowsPerChunk, N - row0) });
  return { N, K, rowsPerChunk, chunks, limitBytes, limitName, bankBytes: N * K * 4 };
}

interface Chunk {
  row0: number;
  rows: number;
  bank: Tensor;
  rowm: Tensor;
  rho: Tensor;
  labels: Tensor;
  /** The balanced rounding's candidates: CANDIDATES best classes per row (score, class). */
  candS: Tensor;
  candK: Tensor;
  bCand: BoundKernel;
  /** The labels kernel against the masked class scaling (the best class with room). */
  bRoom: BoundKernel;
  params: GPUBuffer;
  tileOff: number;
  blkOff: number;
  tiles: number;
  blocks: number;
  bRows: [BoundKernel, BoundKernel, BoundKernel];
  bCols: BoundKernel;
  bLabels: BoundKernel;
}

export interface SelaLabellerOptions {
  /** Cap on one chunk's bytes below the device limits (tests use a small one to force many chunks). */
  maxChunkBytes?: number;
  label?: string;
}

export interface SelaOptimiseOptions {
  /** P = p^λ (default 10). */
  lambda?: number;
  /** SeLa's tolerance on Σ_i |c_i/c'_i − 1| (default 0.1), checked every `checkEvery` iterations (default 10). */
  tol?: number;
  checkEvery?: number;
  maxIters?: number;
  /** The labels before this optimisation, for the fraction that changed. */
  previous?: ArrayLike<number>;
  /** The true classes (never used by the method), for NMI and purity. */
  truth?: ArrayLike<number>;
  /**
   * How the scaled assignment becomes labels: 'argmax' per row (SeLa's code, the default), or
   * 'balanced' — a class-size-respecting rounding (`balancedRounding`) that gives no class more
   * than ⌈N/K⌉ images. The argmax of an assignment whose columns are balanced can still be very
   * uneven (rows of p^λ near flat at initialisation: largest class ≈ 4–11 × N/K measured).
   * 'balanced' keeps the bank on the GPU: 8 candidates per row (N×64 bytes) and, for rows whose
   * candidates all filled up, a few masked argmax passes (N u32 each) come back to the host.
   */
  rounding?: 'argmax' | 'balanced';
}

export interface SelaOptimiseResult {
  labels: Uint32Array;
  /** Sinkhorn-Knopp iterations (each a class then an image scaling). */
  iters: number;
  /** The last measured Σ_i |c_i/c'_i − 1|, and whether it fell below the tolerance. */
  change: number;
  converged: boolean;
  /** Σ_k |col_k − 1/K| of the scaled assignment the labels come from. */
  marginalError: number;
  /** [iteration, change] at every check. */
  checks: [number, number][];
  histogram: Uint32Array;
  /** The largest class's size / (N/K); 1 is a perfect equipartition. */
  largestOverMean: number;
  smallestClass: number;
  /** Fraction of images whose label differs from `previous` (NaN without it). */
  changedFraction: number;
  /** Against `truth` (NaN without it). */
  nmi: number;
  purity: number;
  /** Wall time of the Sinkhorn-Knopp and labelling (not the bank fill), ms. */
  ms: number;
  /** Balanced rounding: rows whose 8 candidates were all full, and the masked argmax rounds they took (0, 0 for argmax). */
  rounding: { leftover: number; rounds: number };
}

export class SelaLabeller {
  readonly plan: SelaBankPlan;
  private readonly chunks: Chunk[];
  private readonly g: Tensor;
  private readonly gPrev: Tensor;
  private readonly sigma: Tensor;
  private readonly part: Tensor;
  private readonly chg: Tensor;
  private readonly out: Tensor;
  private readonly gMasked: Tensor;
  private readonly passKinds: GPUBuffer[];
  private readonly bColsGlobal: BoundKernel;
  private readonly bShift: BoundKernel;
  private readonly bReduce: BoundKernel;
  private readonly writeParams: GPUBuffer[] = [];
  private writeBinds = new WeakMap<Tensor, Map<string, BoundKernel>>();
  private lambda = SELA_DEFAULTS.lambda as number;
  private invT = 1;
  private filled: Uint8Array;

  private constructor(
    readonly ctx: GpuContext,
    plan: SelaBankPlan,
    private readonly kernels: Record<'write' | 'rows' | 'colPartials' | 'cols' | 'shift' | 'reduce' | 'labels' | 'candidates', Kernel>,
    readonly label: string,
  ) {
    this.plan = plan;
    const { K } = plan;
    const U = GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST;
    this.g = createTensor(ctx, [K], 'f32', `${label}.g`);
    this.gPrev = createTensor(ctx, [K], 'f32', `${label}.g_prev`);
    this.sigma = createTensor(ctx, [1], 'f32', `${label}.sigma`);
    this.out = createTensor(ctx, [2], 'f32', `${label}.out`);
    this.gMasked = createTensor(ctx, [K], 'f32', `${label}.g_masked`);
    this.passKinds = [0, 1, 2].map((k) => {
      const b = createBuffer(ctx, 16, U, `${label}.pass${k}`);
      ctx.device.queue.writeBuffer(b, 0, new Uint32Array([k, 0, 0, 0]));
      return b;
    });
    let tileOff = 0;
    let blkOff = 0;
    const layout = plan.chunks.map((c) => {
      const tiles = Math.ceil(c.rows / TR);
      const blocks = Math.ceil(c.rows / RB);
      const l = { ...c, tiles, blocks, tileOff, blkOff };
      tileOff += tiles;
      blkOff += blocks;
      return l;
    });
    this.part = createTensor(ctx, [tileOff, K], 'f32', `${label}.col_partials`);
    this.chg = createTensor(ctx, [blkOff], 'f32', `${label}.change_partials`);
    this.chunks = layout.map((c, n) => {
      const name = `${label}.chunk${n}`;
      const bank = createTensor(ctx, [c.rows, K], 'f32', `${name}.bank`);
      const rowm = createTensor(ctx, [c.rows], 'f32', `${name}.row_max`);
      const rho = createTensor(ctx, [c.rows], 'f32', `${name}.rho`);
      const labels = createTensor(ctx, [c.rows], 'u32', `${name}.labels`);
      const params = createBuffer(ctx, PARAM_BYTES, U, `${name}.params`);
      const bRows = this.passKinds.map((pk, k) => kernels.rows.bind([bank, rowm, rho, this.g, this.sigma, this.chg, params, pk], `${name}.rows${k}`)) as [BoundKernel, BoundKernel, BoundKernel];
      const bCols = kernels.colPartials.bind([bank, rho, this.part, params], `${name}.col_partials`);
      const bLabels = kernels.labels.bind([bank, this.gPrev, labels, params], `${name}.labels`);
      const candS = createTensor(ctx, [c.rows, CANDIDATES], 'f32', `${name}.cand_s`);
      const candK = createTensor(ctx, [c.rows, CANDIDATES], 'u32', `${name}.cand_k`);
      const bCand = kernels.candidates.bind([bank, this.gPrev, candS, candK, params], `${name}.candidates`);
      const bRoom = kernels.labels.bind([bank, this.gMasked, labels, params], `${name}.room_labels`);
      return { ...c, bank, rowm, rho, labels, params, bRows, bCols, bLabels, candS, candK, bCand, bRoom };
    });
    const p0 = this.chunks[0]!.params;
    this.bColsGlobal = kernels.cols.bind([this.part, this.g, this.gPrev, p0], `${label}.cols`);
    this.bShift = kernels.shift.bind([this.g, this.sigma, p0], `${label}.shift`);
    this.bReduce = kernels.reduce.bind([this.chg, this.g, this.gPrev, this.out, p0], `${label}.change_reduce`);
    this.filled = new Uint8Array(plan.chunks.length);
    this.writeChunkParams();
  }

  /** Compiles the kernels and allocates the bank for N images × K classes. */
  static async create(ctx: GpuContext, shape: { N: number; K: number }, opts: SelaLabellerOptions = {}): Promise<SelaLabeller> {
    const plan = planSelaBank(ctx.limits, shape.N, shape.K, opts.maxChunkBytes);
    const k = (entryPoint: string) => createKernel(ctx, { label: `sela_labeller.${entryPoint}`, code, entryPoint });
    const [write, rows, colPartials, cols, shift, reduce, labels, candidates] = await Promise.all(['write_bank', 'rows', 'col_partials', 'cols', 'shift', 'change_reduce', 'labels', 'candidates'].map(k));
    return new SelaLabeller(ctx, plan, { write: write!, rows: rows!, colPartials: colPartials!, cols: cols!, shift: shift!, reduce: reduce!, labels: labels!, candidates: candidates! }, opts.label ?? 'sela_labeller');
  }

  get N(): number {
    return this.plan.N;
  }
  get K(): number {
    return this.plan.K;
  }
  get chunkCount(): number {
    return this.chunks.length;
  }

  /** The per-chunk uniform (λ, shapes, offsets); write fields zero. */
  private chunkWords(c: { rows: number; tileOff: number; blkOff: number }, write?: { srcRow: number; dstRow: number; count: number; srcCol: number; srcStride: number }): ArrayBuffer {
    const { N, K } = this.plan;
    const buf = new ArrayBuffer(PARAM_BYTES);
    new Float32Array(buf, 0, 4).set([this.lambda, Math.log(K) - Math.log(N), this.invT, 0]);
    const kc = Math.min(64, 2 ** Math.ceil(Math.log2(K)));
    const totalTiles = this.chunks ? this.chunks.reduce((s, x) => s + x.tiles, 0) : 0;
    const totalBlks = this.chunks ? this.chunks.reduce((s, x) => s + x.blocks, 0) : 0;
    new Uint32Array(buf, 16, 12).set([c.rows, K, c.tileOff, c.blkOff, kc, totalTiles, totalBlks, write?.srcCol ?? 0, write?.srcRow ?? 0, write?.dstRow ?? 0, write?.count ?? 0, write?.srcStride ?? K]);
    return buf;
  }

  private writeChunkParams(): void {
    for (const c of this.chunks) this.ctx.device.queue.writeBuffer(c.params, 0, this.chunkWords(c));
  }

  /** p = softmax(ℓ/T) for the logits written next (default T = 1; the training objective's τ_s keeps them consistent). */
  setTemperature(T: number): void {
    checkPositive(T, 'the temperature T', this.label);
    this.invT = 1 / T;
  }

  /**
   * Records writing `count` rows of `logits` (a B×K f32 tensor, from row `srcRow`) into bank rows
   * `row`…, as log-probabilities; a range crossing a chunk boundary becomes one dispatch per
   * chunk. Uniforms come from a pool reset by `beginWrites()` (call it before each encoder).
   * With `head = {index: h, of: H}` the logits are B×(H·K) (H heads side by side, SeLa's
   * multi-head model) and head h's K columns are written.
   */
  recordWrite(encoder: GPUCommandEncoder, logits: Tensor, row: number, count: number, srcRow = 0, head: { index: number; of: number } = { index: 0, of: 1 }): void {
    const { N, K } = this.plan;
    if (!(Number.isInteger(head.of) && head.of >= 1 && Number.isInteger(head.index) && head.index >= 0 && head.index < head.of)) throw new ShapeError(`${this.label}: head ${head.index} of ${head.of} is not a head`);
    const stride = K * head.of;
    if (logits.dtype !== 'f32' || logits.numel % stride !== 0 || logits.numel / stride < srcRow + count) throw new ShapeError(`${this.label}: logits ${logits} should hold at least ${srcRow + count} rows of H×K = ${head.of}×${K} f32`);
    if (!(Number.isInteger(row) && row >= 0 && count >= 1 && row + count <= N)) throw new ShapeError(`${this.label}: rows ${row}…${row + count - 1} are outside the bank's N = ${N}`);
    for (const c of this.chunks) {
      const a = Math.max(row, c.row0);
      const b = Math.min(row + count, c.row0 + c.rows);
      if (a >= b) continue;
      const slot = this.writeSlot++;
      if (slot >= this.writeParams.length) this.writeParams.push(createBuffer(this.ctx, PARAM_BYTES, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, `${this.label}.write${slot}`));
      const params = this.writeParams[slot]!;
      this.ctx.device.queue.writeBuffer(params, 0, this.chunkWords(c, { srcRow: srcRow + (a - row), dstRow: a - c.row0, count: b - a, srcCol: head.index * K, srcStride: stride }));
      // Bind groups are cached per source tensor, pool slot and chunk (a training run writes from one tensor).
      let perSource = this.writeBinds.get(logits);
      if (!perSource) this.writeBinds.set(logits, (perSource = new Map()));
      const key = `${slot}:${this.chunks.indexOf(c)}`;
      let bound = perSource.get(key);
      if (!bound) perSource.set(key, (bound = this.kernels.write.bind([logits, c.bank, c.rowm, params], `${this.label}.write`)));
      bound.record(encoder, [Math.ceil((b - a) / RB)]);
      this.filled[this.chunks.indexOf(c)] = 1;
    }
  }

  private writeSlot = 0;
  /** Starts a new encoder's writes: the uniform pool is reused from its first slot. */
  beginWrites(): void {
    this.writeSlot = 0;
  }

  /** Uploads host logits (N×K, or `rows` of them from `row`) in pieces of at most `pieceRows` rows. */
  async uploadLogits(logits: Float32Array, row = 0, pieceRows = 16384): Promise<void> {
    const { K } = this.plan;
    const n = logits.length / K;
    if (!Number.isInteger(n) || n < 1) throw new ShapeError(`${this.label}: ${logits.length} logits are not whole rows of K = ${K}`);
    // A piece is one staging binding: under the bank's chunk limit too.
    const piece = Math.min(pieceRows, n, this.plan.rowsPerChunk);
    const staging = createTensor(this.ctx, [piece, K], 'f32', `${this.label}.staging`);
    for (let s = 0; s < n; s += piece) {
      const m = Math.min(piece, n - s);
      const host = m === piece ? logits.subarray(s * K, (s + m) * K) : (() => {
        const t = new Float32Array(piece * K);
        t.set(logits.subarray(s * K, (s + m) * K));
        return t;
      })();
      writeTensor(this.ctx, staging, host);
      this.beginWrites();
      const enc = this.ctx.device.createCommandEncoder({ label: `${this.label}.upload` });
      this.recordWrite(enc, staging, row + s, m);
      // queue.writeBuffer is ordered with submits: the next piece's staging data and uniforms
      // land after this submit has run.
      this.ctx.device.queue.submit([enc.finish()]);
    }
    await this.ctx.device.queue.onSubmittedWorkDone();
    staging.buffer.destroy();
  }

  /**
   * Fills the whole bank from the network in evaluation mode (no augmentation): `images` are the
   * N normalised NHWC training images, in dataset order; p = softmax(logits/T) (setTemperature).
   * A multi-head network fills head `head`'s logits (fillHeadsFromNetwork fills several banks at once).
   */
  async fillFromNetwork(embedder: LogitEmbedder, images: Float32Array, count = this.plan.N, head = 0): Promise<void> {
    await SelaLabeller.fillHeadsFromNetwork(embedder, images, count, [{ labeller: this, head }]);
  }

  /**
   * One evaluation pass of the network over the N images fills the bank of each `{labeller,
   * head}` with that head's log-probabilities (SeLa's H heads share the forward; each has its bank).
   */
  static async fillHeadsFromNetwork(embedder: LogitEmbedder, images: Float32Array, count: number, banks: readonly { labeller: SelaLabeller; head: number }[]): Promise<void> {
    const H = headCount(embedder.config);
    for (const { labeller: l, head } of banks) {
      if (count !== l.plan.N) throw new ShapeError(`${l.label}: ${count} images for a bank of N = ${l.plan.N}`);
      if (embedder.config.prototypes !== l.plan.K) throw new ShapeError(`${l.label}: the network has K = ${embedder.config.prototypes} prototypes, the bank K = ${l.plan.K}`);
      if (!(Number.isInteger(head) && head >= 0 && head < H)) throw new ShapeError(`${l.label}: head ${head} of a network with ${H} head(s)`);
    }
    await embedder.forEachBatch(images, count, (enc, logits, start, n) => {
      for (const { labeller: l, head } of banks) {
        l.beginWrites();
        l.recordWrite(enc, logits, start, n, 0, { index: head, of: H });
      }
    });
  }

  /**
   * Sinkhorn-Knopp over the whole bank to SeLa's tolerance, then the labels (read back) and
   * their statistics. Every row must have been written since the bank was created.
   */
  async optimise(o: SelaOptimiseOptions = {}): Promise<SelaOptimiseResult> {
    const lambda = o.lambda ?? SELA_DEFAULTS.lambda;
    const tol = o.tol ?? SELA_DEFAULTS.tol;
    const every = o.checkEvery ?? SELA_DEFAULTS.checkEvery;
    const maxIters = o.maxIters ?? SELA_DEFAULTS.maxIters;
    checkPositive(lambda, 'λ (--sela-lambda)', 'SeLa');
    checkPositive(tol, 'the tolerance', 'SeLa');
    checkIters(every, 'SeLa (checkEvery)', 1);
    checkIters(maxIters, 'SeLa (maxIters)', 1);
    const { N, K } = this.plan;
    if (o.previous && o.previous.length !== N) throw new ShapeError(`${this.label}: ${o.previous.length} previous labels for N = ${N} images`);
    if (o.truth && o.truth.length !== N) throw new ShapeError(`${this.label}: ${o.truth.length} true classes for N = ${N} images`);
    const empty = this.filled.indexOf(0);
    if (empty >= 0) throw new GpuKernelError(this.label, `bank chunk ${empty} (rows ${this.chunks[empty]!.row0}…) was never written; fill all N = ${N} rows first`);
    const t0 = performance.now();
    this.lambda = lambda;
    this.writeChunkParams();
    const { device } = this.ctx;
    const checks: [number, number][] = [];
    let passes = 0;
    let change = Infinity;
    let marginalError = NaN;
    // Pass p computes the change of iteration p − 1; check at iterations that are multiples of
    // `every` (and at maxIters), as the reference does; the labels use g_prev = iteration p − 1.
    while (true) {
      const next = Math.min(passes === 0 ? every + 1 : passes + every, maxIters + 1);
      device.pushErrorScope('validation');
      const enc = device.createCommandEncoder({ label: `${this.label}.iterate` });
      for (; passes < next; passes++) this.recordPass(enc, passes);
      this.bReduce.record(enc, [1]);
      device.queue.submit([enc.finish()]);
      const data = await readF32(this.ctx, this.out);
      const err = await device.popErrorScope();
      if (err) throw new GpuKernelError(`${this.label}.iterate`, `validation error: ${err.message}`);
      change = data[0]!;
      marginalError = data[1]!;
      checks.push([passes - 1, change]);
      if (!Number.isFinite(change)) throw new GpuKernelError(this.label, `the change measure is ${change} after ${passes - 1} iterations (non-finite logits?)`);
      if (change < tol || passes - 1 >= maxIters) break;
    }
    const iters = passes - 1;
    const enc = device.createCommandEncoder({ label: `${this.label}.labels` });
    for (const c of this.chunks) c.bLabels.record(enc, [c.blocks]);
    device.queue.submit([enc.finish()]);
    const labels = new Uint32Array(N);
    for (const c of this.chunks) labels.set((await readTensor(this.ctx, c.labels)) as Uint32Array, c.row0);
    const rounding = { leftover: 0, rounds: 0 };
    if (o.rounding === 'balanced') labels.set(await this.balancedLabels(rounding));
    const ms = performance.now() - t0;
    return { labels, iters, change, converged: change < tol, marginalError, checks, ms, rounding, ...labelStats(labels, K, o.previous, o.truth) };
  }

  /**
   * The balanced rounding of the scaled assignment the last `optimise` reached, with the bank
   * kept on the GPU: the candidates kernel leaves each row's 8 best classes (N×8 score/class
   * pairs, 3.8 MB at N = 60 000), the host takes them greedily (`roundBalanced`), and rows
   * whose candidates are all full get their best class with room from the labels kernel against
   * g_prev with the full classes masked out (a pass over the bank and N labels read back per round).
   */
  private async balancedLabels(info: { leftover: number; rounds: number }): Promise<Uint32Array> {
    const { N, K } = this.plan;
    const { device } = this.ctx;
    const enc = device.createCommandEncoder({ label: `${this.label}.candidates` });
    for (const c of this.chunks) c.bCand.record(enc, [c.blocks]);
    device.queue.submit([enc.finish()]);
    const candS = new Float32Array(N * CANDIDATES);
    const candK = new Uint32Array(N * CANDIDATES);
    for (const c of this.chunks) {
      candS.set(await readF32(this.ctx, c.candS), c.row0 * CANDIDATES);
      candK.set((await readTensor(this.ctx, c.candK)) as Uint32Array, c.row0 * CANDIDATES);
    }
    const gPrev = await readF32(this.ctx, this.gPrev);
    return roundBalanced(candS, candK, N, K, async (full) => {
      writeTensor(this.ctx, this.gMasked, gPrev.map((g, k) => (full[k] ? 1e30 : g)));
      const e = device.createCommandEncoder({ label: `${this.label}.room_labels` });
      for (const c of this.chunks) c.bRoom.record(e, [c.blocks]);
      device.queue.submit([e.finish()]);
      const best = new Uint32Array(N);
      for (const c of this.chunks) best.set((await readTensor(this.ctx, c.labels)) as Uint32Array, c.row0);
      return best;
    }, info);
  }

  /**
   * Records pass p of the iteration (p = 0 the first, from c = 1/N; p ≥ 2 a steady-state pass,
   * what a benchmark repeats): rows and column partials of every chunk, then the class scaling.
   * `optimise` drives it; on its own it needs a filled bank and a previous pass 0.
   */
  recordPass(enc: GPUCommandEncoder, p: number, timer?: PassTimer): void {
    const kind = p === 0 ? 0 : p === 1 ? 1 : 2;
    const kc = Math.min(64, 2 ** Math.ceil(Math.log2(this.plan.K)));
    for (const c of this.chunks) {
      c.bRows[kind].record(enc, [c.blocks], timer);
      c.bCols.record(enc, [c.tiles, Math.ceil(this.plan.K / kc)], timer);
    }
    this.bColsGlobal.record(enc, [Math.ceil(this.plan.K / 64)], timer);
    if (p === 0) this.bShift.record(enc, [1], timer);
  }

  /**
   * The scores λ·d_ik − g_prev,k of the last optimisation, N×K on the host — the whole bank read
   * back, for tests and small banks only (the training path never calls it).
   */
  async readScores(): Promise<Float32Array> {
    const { N, K } = this.plan;
    const scores = new Float32Array(N * K);
    for (const c of this.chunks) scores.set(await readF32(this.ctx, c.bank), c.row0 * K);
    const gPrev = await readF32(this.ctx, this.gPrev);
    for (let i = 0; i < N * K; i++) scores[i] = this.lambda * scores[i]! - gPrev[i % K]!;
    return scores;
  }

  /** Bytes of GPU memory held: the bank and its per-row and per-class state. */
  get bytes(): number {
    const { N, K } = this.plan;
    return N * K * 4 + N * 12 + N * CANDIDATES * 8 + this.part.byteLength + this.chg.byteLength + 4 * K * 3;
  }

  destroy(): void {
    for (const c of this.chunks) {
      for (const t of [c.bank, c.rowm, c.rho, c.labels, c.candS, c.candK]) t.buffer.destroy();
      c.params.destroy();
    }
    for (const t of [this.g, this.gPrev, this.gMasked, this.sigma, this.part, this.chg, this.out]) t.buffer.destroy();
    for (const b of [...this.passKinds, ...this.writeParams]) b.destroy();
  }
}

/** Class sizes, churn against `previous`, and NMI/purity against `truth`. */
export function labelStats(labels: ArrayLike<number>, K: number, previous?: ArrayLike<number>, truth?: ArrayLike<number>): Pick<SelaOptimiseResult, 'histogram' | 'largestOverMean' | 'smallestClass' | 'changedFraction' | 'nmi' | 'purity'> {
  const N = labels.length;
  const histogram = new Uint32Array(K);
  for (let i = 0; i < N; i++) histogram[labels[i]!]!++;
  let largest = 0;
  let smallest = Infinity;
  for (const c of histogram) {
    largest = Math.max(largest, c);
    smallest = Math.min(smallest, c);
  }
  let changed = 0;
  if (previous) for (let i = 0; i < N; i++) changed += labels[i] !== previous[i] ? 1 : 0;
  return {
    histogram,
    largestOverMean: largest / (N / K),
    smallestClass: smallest,
    changedFraction: previous ? changed / N : NaN,
    nmi: truth ? nmi(labels, truth) : NaN,
    purity: truth ? purity(labels, truth) : NaN,
  };
}

// ------------------------------------------------------------------------------------------
// The label table as a file (labels.npy beside a checkpoint, `step --labels y.npy`)

/**
 * A class-size-respecting rounding of a scaled assignment (log-domain scores N×K, e.g.
 * λ·log p_ik − g_k), the float64 reference of the GPU path (SelaLabeller with rounding
 * 'balanced'): each row's scores become log-probabilities over the classes, its CANDIDATES best
 * classes (ties: lowest k) go to `roundBalanced`, and a row left without a class gets its best
 * class with room (ties: lowest k).
 */
export async function balancedRounding(scores: ArrayLike<number>, N: number, K: number): Promise<Uint32Array> {
  const T = CANDIDATES;
  const candS = new Float64Array(N * T).fill(-Infinity);
  const candK = new Uint32Array(N * T).fill(NONE);
  const row = new Float64Array(K);
  for (let i = 0; i < N; i++) {
    let mx = -Infinity;
    for (let k = 0; k < K; k++) mx = Math.max(mx, (row[k] = scores[i * K + k]!));
    let sum = 0;
    for (let k = 0; k < K; k++) sum += Math.exp(row[k]! - mx);
    const lse = mx + Math.log(sum);
    // The T best by insertion (descending; an equal score keeps the lower k first).
    const top: number[] = [];
    for (let k = 0; k < K; k++) {
      if (top.length === T && !(row[k]! > row[top[T - 1]!]!)) continue;
      let t = Math.min(top.length, T - 1);
      while (t > 0 && row[k]! > row[top[t - 1]!]!) t--;
      top.splice(t, 0, k);
      if (top.length > T) top.pop();
    }
    top.forEach((k, t) => {
      candS[i * T + t] = row[k]! - lse;
      candK[i * T + t] = k;
    });
  }
  return roundBalanced(candS, candK, N, K, (full) => {
    const best = new Uint32Array(N);
    for (let i = 0; i < N; i++) {
      let b = -1;
      for (let k = 0; k < K; k++) if (!full[k] && (b < 0 || scores[i * K + k]! > scores[i * K + b]!)) b = k;
      best[i] = b;
    }
    return best;
  });
}

/**
 * The greedy core of the balanced rounding, shared by the GPU path and the float64 reference.
 * `candS`/`candK` hold each row's CANDIDATES best classes (log-probability, class; class NONE =
 * empty slot). Candidates are taken in order of confidence (score descending, then index) while
 * their class holds fewer than ⌈N/K⌉ images; the rows left over go, in rounds, to the best class
 * that still had room when the round began (`bestWithRoom(full)`, over every row), in row order
 * while that class has room, the rest to the next round. No class ends over ⌈N/K⌉; a row keeps
 * its argmax unless that class was full.
 */
export async function roundBalanced(candS: ArrayLike<number>, candK: Uint32Array, N: number, K: number, bestWithRoom: (full: Uint8Array) => ArrayLike<number> | Promise<ArrayLike<number>>, info?: { leftover: number; rounds: number }): Promise<Uint32Array> {
  const T = CANDIDATES;
  if (candK.length !== N * T || candS.length !== N * T) throw new ShapeError(`SeLa balanced rounding: ${candK.length} candidates for N = ${N} rows × ${T}`);
  const cap = Math.ceil(N / K);
  const order: number[] = [];
  for (let j = 0; j < N * T; j++) if (candK[j] !== NONE) order.push(j);
  order.sort((a, b) => candS[b]! - candS[a]! || a - b);
  const size = new Uint32Array(K);
  const out = new Uint32Array(N).fill(NONE);
  for (const j of order) {
    const i = Math.floor(j / T);
    const k = candK[j]!;
    if (out[i] !== NONE || size[k]! >= cap) continue;
    out[i] = k;
    size[k]!++;
  }
  let pending: number[] = [];
  for (let i = 0; i < N; i++) if (out[i] === NONE) pending.push(i);
  if (info) info.leftover = pending.length;
  while (pending.length) {
    if (info) info.rounds++;
    const full = Uint8Array.from(size, (c) => (c >= cap ? 1 : 0));
    const best = await bestWithRoom(full);
    const next: number[] = [];
    for (const i of pending) {
      const k = best[i]!;
      if (!(k >= 0 && k < K) || full[k]) throw new GpuKernelError('SeLa balanced rounding', `row ${i}'s best class with room is ${k}, a full class or none`);
      if (size[k]! < cap) {
        out[i] = k;
        size[k]!++;
      } else next.push(i);
    }
    pending = next;
  }
  return out;
}

/**
 * Checks a label table read from `file` (an .npy already parsed: shape and integer data) against
 * what the run expects — N images (rows, in dataset order) × H heads, every label a class in
 * [0, K) — and returns it as N×H u32. A 1-D array is accepted for H = 1. Errors name the file,
 * what was expected and the first offending entry.
 */
export function checkSelaLabelTable(arr: { dtype: string; shape: number[]; data: ArrayLike<number | bigint> }, file: string, want: { N: number; K: number; H?: number }): Uint32Array {
  const H = want.H ?? 1;
  const { N, K } = want;
  if (!['uint32', 'int32', 'int64', 'uint8'].includes(arr.dtype)) throw new ShapeError(`${file}: labels must be integers (uint32, as SeLa writes them), got ${arr.dtype}`);
  const shapeOk = (arr.shape.length === 2 && arr.shape[1] === H) || (arr.shape.length === 1 && H === 1);
  if (!shapeOk) throw new ShapeError(`${file}: labels of shape [${arr.shape.join(', ')}]; expected ${H === 1 ? `[${N}] or [${N}, 1]` : `[${N}, ${H}]`} (N images × H = ${H} head${H === 1 ? '' : 's'})`);
  if (arr.shape[0] !== N) throw new ShapeError(`${file}: ${arr.shape[0]} rows of labels for N = ${N} training images; the labels must come from a run on the same dataset`);
  const out = new Uint32Array(N * H);
  for (let i = 0; i < N * H; i++) {
    const v = Number(arr.data[i]!);
    if (!(Number.isInteger(v) && v >= 0 && v < K)) throw new ParamError(`${file}: label of image ${Math.floor(i / H)}${H > 1 ? `, head ${i % H}` : ''} is ${v}, not a class in [0, ${K}) (K = ${K} prototypes)`);
    out[i] = v;
  }
  return out;
}
