// The fixed-point explorer, on the GPU in the engine worker: one frozen logit matrix (the
// latest batch's teacher logits, or a synthetic toy batch), solved side by side by MIRA's fixed
// point (MiraSolver) and by Sinkhorn-Knopp (SinkhornSolver), one iteration per click. Every
// iteration is traced (residual, max |Δw|, objective, entropies) and the targets are read back
// for the heatmap. New τ/β/ε re-solve from scratch to the same iteration count in one submit.
// With "verify on CPU", the float64 references (src/ref/assignment.ts, sinkhorn.ts) follow at the same count.
import type { GpuContext } from '../gpu/context.ts';
import { submitChecked } from '../gpu/kernel.ts';
import { createTensor, readF32, writeTensor, type Tensor } from '../gpu/tensor.ts';
import { MiraSolver, type GpuIterationRecord, type MiraPlan } from '../mira/assignment.ts';
import { SinkhornSolver, type SinkhornPlan } from '../mira/sinkhorn.ts';
import { CpuFollower } from './explorer-cpu.ts';
import type { ExplorerSource, ExplorerState, IterationSummary } from './protocol.ts';

/** Both solvers below this max |Δw| count as converged. */
export const CONVERGED_DELTA_W = 1e-6;
/** "Run to convergence" stops here at the latest. */
export const MAX_ITERS = 1000;
/** Iterations per submit (one trace readback per chunk). */
const CHUNK = 25;

export interface ExplorerParams {
  tau: number;
  beta: number;
  eps: number;
}

/** The record without its K-vector v (the page gets v only for the latest iteration). */
function summary(r: GpuIterationRecord): IterationSummary {
  const { v: _v, ...rest } = r;
  return rest;
}

interface Bound {
  B: number;
  K: number;
  logits: Tensor;
  wMira: Tensor;
  wSk: Tensor;
  mira: MiraPlan;
  sk: SinkhornPlan;
}

export class Explorer {
  private bound: Bound | null = null;
  private solvers = new Map<string, Promise<[MiraSolver, SinkhornSolver]>>();
  private host: Float32Array | null = null;
  private source: ExplorerSource = { kind: 'batch' };
  private label = '';
  private params: ExplorerParams = { tau: 0.225, beta: 0.7, eps: 0.05 };
  private iters = 0;
  private traceM: IterationSummary[] = [];
  private traceS: IterationSummary[] = [];
  private vM: number[] = [];
  private vS: number[] = [];
  private wM: Float32Array = new Float32Array(0);
  private wS: Float32Array = new Float32Array(0);
  private ms = 0;
  private verify = false;
  private cpu: CpuFollower | null = null;
  private cpuResult: ExplorerState['cpu'] = null;

  constructor(readonly ctx: GpuContext) {}

  get loaded(): boolean {
    return this.bound !== null;
  }

  private solversFor(B: number, K: number): Promise<[MiraSolver, SinkhornSolver]> {
    const key = `${B}x${K}`;
    let s = this.solvers.get(key);
    if (!s) {
      s = Promise.all([MiraSolver.create(this.ctx, { B, K }), SinkhornSolver.create(this.ctx, { B, K })]);
      this.solvers.set(key, s);
      s.catch(() => this.solvers.delete(key));
    }
    return s;
  }

  /** Freezes a B×K logit matrix and solves it to iteration 0 (v⁽⁰⁾ and the plain softmax targets). */
  async load(logits: Float32Array, B: number, K: number, source: ExplorerSource, label: string, params: ExplorerParams): Promise<void> {
    if (logits.length !== B * K) throw new RangeError(`explorer: ${logits.length} logits for a ${B}×${K} batch`);
    const [ms, ss] = await this.solversFor(B, K);
    let b = this.bound;
    if (!b || b.B !== B || b.K !== K) {
      this.destroy();
      const L = createTensor(this.ctx, [B, K], 'f32', 'explorer.logits');
      const wMira = createTensor(this.ctx, [B, K], 'f32', 'explorer.w_mira');
      const wSk = createTensor(this.ctx, [B, K], 'f32', 'explorer.w_sinkhorn');
      b = { B, K, logits: L, wMira, wSk, mira: ms.bind(L, wMira, 'explorer.mira'), sk: ss.bind(L, wSk, 'explorer.sinkhorn') };
      this.bound = b;
      await Promise.all([b.mira.prepareTrace(2 * CHUNK), b.sk.prepareTrace(2 * CHUNK)]);
    }
    writeTensor(this.ctx, b.logits, logits);
    this.host = logits.slice();
    this.source = source;
    this.label = label;
    this.cpu = null;
    await this.setParams(params, 0);
  }

  /** New τ/β/ε; re-solves from scratch to `iters` (default: the current count). */
  async setParams(p: ExplorerParams, iters = this.iters): Promise<void> {
    const b = this.need();
    b.mira.setParams({ tau: p.tau, beta: p.beta });
    b.sk.setParams({ eps: p.eps });
    this.params = { ...p };
    this.iters = 0;
    this.traceM = [];
    this.traceS = [];
    this.cpu = null;
    const t0 = performance.now();
    await submitChecked(this.ctx, 'explorer.init', (enc) => {
      b.mira.recordInit(enc);
      b.mira.recordTargets(enc);
      b.sk.plan.recordReset(enc);
      b.sk.recordTargets(enc);
    });
    await this.advance(Math.min(iters, MAX_ITERS));
    this.ms = performance.now() - t0;
  }

  /** `count` more iterations of both solvers. */
  async step(count = 1): Promise<void> {
    const t0 = performance.now();
    await this.advance(Math.min(count, MAX_ITERS - this.iters));
    this.ms = performance.now() - t0;
  }

  /** n iterations in submits of at most CHUNK (the trace ring holds 2·CHUNK records), then the outputs. */
  private async advance(n: number): Promise<void> {
    const b = this.need();
    let lastM: GpuIterationRecord | undefined;
    let lastS: GpuIterationRecord | undefined;
    for (let done = 0; done < n; ) {
      const c = Math.min(CHUNK, n - done);
      const first = this.iters === 0;
      await submitChecked(this.ctx, 'explorer.iterate', (enc) => {
        for (let i = 0; i < c; i++) b.mira.recordIteration(enc, true);
        b.mira.recordTargets(enc);
        for (let i = 0; i < c; i++) b.sk.recordIteration(enc, first && i === 0, true);
        b.sk.recordTargets(enc);
      });
      const tm = (await b.mira.readTrace()).slice(-c);
      const ts = (await b.sk.readTrace()).slice(-c);
      this.traceM.push(...tm.map(summary));
      this.traceS.push(...ts.map(summary));
      lastM = tm.at(-1);
      lastS = ts.at(-1);
      this.iters += c;
      done += c;
    }
    await this.readOutputs(lastM, lastS);
    await this.followCpu();
  }

  /** Steps until both solvers' max |Δw| is below CONVERGED_DELTA_W (or MAX_ITERS); `progress` after each chunk. */
  async converge(progress: () => void, cancelled: () => boolean): Promise<void> {
    while (!this.converged && this.iters < MAX_ITERS && !cancelled()) {
      await this.step(Math.min(this.iters < 50 ? 5 : CHUNK, MAX_ITERS - this.iters));
      progress();
    }
  }

  /** Back to iteration 0 with the same logits and parameters. */
  reset(): Promise<void> {
    return this.setParams(this.params, 0);
  }

  async setVerify(on: boolean): Promise<void> {
    this.verify = on;
    if (!on) {
      this.cpu = null;
      this.cpuResult = null;
    } else await this.followCpu();
  }

  get converged(): boolean {
    const m = this.traceM.at(-1);
    const s = this.traceS.at(-1);
    return !!m && !!s && m.delta_w < CONVERGED_DELTA_W && s.delta_w < CONVERGED_DELTA_W;
  }

  state(): ExplorerState {
    const b = this.need();
    return {
      source: this.source,
      label: this.label,
      B: b.B,
      K: b.K,
      tau: this.params.tau,
      beta: this.params.beta,
      eps: this.params.eps,
      iters: this.iters,
      mira: { trace: this.traceM.slice(), v: this.vM, targets: this.wM.slice() },
      sinkhorn: { trace: this.traceS.slice(), v: this.vS, targets: this.wS.slice() },
      converged: this.converged,
      cpu: this.cpuResult,
      ms: this.ms,
    };
  }

  private async readOutputs(lastM: GpuIterationRecord | undefined, lastS: GpuIterationRecord | undefined): Promise<void> {
    const b = this.need();
    const [wM, wS] = await Promise.all([readF32(this.ctx, b.wMira), readF32(this.ctx, b.wSk)]);
    this.wM = wM;
    this.wS = wS;
    this.vM = lastM ? lastM.v : Array.from(await readF32(this.ctx, b.mira.v));
    this.vS = lastS ? lastS.v : new Array<number>(b.K).fill(1);
  }

  /** Brings the float64 reference to the GPU's iteration count and compares the targets. */
  private async followCpu(): Promise<void> {
    if (!this.verify || !this.host || !this.bound) return;
    const t0 = performance.now();
    const { B, K } = this.bound;
    try {
      if (!this.cpu || this.cpu.iters > this.iters) this.cpu = new CpuFollower(this.host, B, K, this.params);
      this.cpu.advanceTo(this.iters);
      const { mira, sinkhorn } = await this.cpu.targets();
      this.cpuResult = { iters: this.iters, miraMaxDiff: maxAbsDiff(mira, this.wM), sinkhornMaxDiff: maxAbsDiff(sinkhorn, this.wS), ms: performance.now() - t0, error: null };
    } catch (e) {
      this.cpuResult = { iters: this.iters, miraMaxDiff: NaN, sinkhornMaxDiff: NaN, ms: performance.now() - t0, error: (e as Error).message };
    }
  }

  private need(): Bound {
    if (!this.bound) throw new Error('the explorer has no batch yet: freeze the current batch or make a synthetic one');
    return this.bound;
  }

  destroy(): void {
    const b = this.bound;
    if (!b) return;
    b.mira.destroy();
    b.sk.destroy();
    for (const t of [b.logits, b.wMira, b.wSk]) t.buffer.destroy();
    this.bound = null;
  }
}

/** max |a − b| (Infinity when either holds a NaN). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}
