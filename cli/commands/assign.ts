// `npm run cli -- assign --method mira|sinkhorn|naive --in logits.npy --out targets.npy
//   [--tau 0.225] [--beta 0.7] [--iters N] [--eps 0.05] [--trace trace.json] [--backend gpu|cpu]`
//
// Pseudo-labels a B×K logit matrix (float32 or float64 .npy) and writes the targets (float32
// B×K .npy). gpu: the WGSL kernels (src/mira); cpu: the float64 references (src/ref/assignment.ts, sinkhorn.ts).
// Defaults follow the official code (docs/ARCHITECTURE.md, the algorithm): τ_t 0.225, β 0.7, 30 MIRA iterations, ε 0.05; Sinkhorn-Knopp
// defaults to SwAV's 3 iterations. --trace writes a JSON array, one record per iteration
// (iter, v, residual, delta_w, objective, marginal_entropy, mean_entropy, mi, marginal_error).
// Every input problem (unreadable or truncated file, wrong dtype, not 2-D, K < 2, NaN/Inf —
// named by row and column — β ∉ (0, 1), τ ≤ 0, ε ≤ 0) is reported before the GPU is touched.
// --out and --trace are checked for writability before the solve and written atomically; exit
// code 2 for bad input, 1 for a failure (README, "Exit codes").
// The summary line's "solve" time is the one submit that holds the whole solve, to its
// completion; on CPU emulators it includes the driver's first-use shader compilation.
//
// `--method sela --in logits.npy --out labels.npy [--sela-lambda 10]`: SeLa's label optimisation
// over N×K logits (p = softmax(ℓ), P = p^λ, Sinkhorn-Knopp to SeLa's tolerance 0.1 checked every
// 10 iterations, y = argmax) → uint32 labels (N) .npy; gpu: src/mira/sela-labeller.ts (the bank
// chunked under the device's binding limit), cpu: the float64 reference (src/ref/sela-labels.ts).
import { readFileSync } from 'node:fs';
import { encodeNpy } from '../../src/io/npy.ts';
import { InputError, logitsFromNpy, toFloat32, type LogitMatrix } from '../../src/mira/input.ts';
import { checkAssignOptions, type AssignMethod, type AssignOptions } from '../../src/mira/run.ts';
import { ParamError } from '../../src/mira/validate.ts';
import { ShapeError } from '../../src/gpu/errors.ts';
import { CliError, parseFlags, usage, type FlagSpec } from '../args.ts';
import { checkWritableFile, writeAtomic } from '../files.ts';
import type { IterationRecord } from '../../src/mira/iteration-record.ts';

export const summary = 'pseudo-label B×K logits (.npy) by MIRA, Sinkhorn-Knopp or the naive softmax; hard SeLa labels over N×K';

const FLAGS: Record<string, FlagSpec> = {
  method: { kind: 'string', choices: ['mira', 'sinkhorn', 'naive', 'sela'], default: 'mira', help: 'assignment method (sela: hard labels over the whole N×K bank)' },
  in: { kind: 'string', required: true, help: 'B×K logits, float32 or float64 .npy' },
  out: { kind: 'string', required: true, help: 'where to write the targets, float32 B×K .npy (sela: uint32 labels, N)' },
  'sela-lambda': { kind: 'number', default: 10, help: 'SeLa: P = p^λ, λ > 0 (sela)' },
  tau: { kind: 'number', default: 0.225, help: 'teacher temperature τ_t > 0 (mira, naive)' },
  beta: { kind: 'number', default: 0.7, help: 'β ∈ (0, 1), weight of the mutual information (mira)' },
  iters: { kind: 'int', help: 'iterations (default 30 for mira, 3 for sinkhorn as in SwAV)' },
  eps: { kind: 'number', default: 0.05, help: 'entropic regularisation ε > 0 (sinkhorn)' },
  trace: { kind: 'string', help: 'write one JSON record per iteration to this file' },
  backend: { kind: 'string', choices: ['gpu', 'cpu'], default: 'gpu', help: 'gpu: WGSL kernels; cpu: the float64 reference' },
  json: { kind: 'boolean', help: 'print the summary as one JSON line' },
};

const SYNOPSIS = '--method mira|sinkhorn|naive|sela --in logits.npy --out targets.npy [flags]';

export type TraceRecord = IterationRecord;

interface Outcome {
  targets: Float32Array;
  trace: TraceRecord[];
  iters: number;
  ms: number;
  adapter: string;
  usedClusters: number;
  marginalEntropy: number;
}

/** Reads and checks the logits file; every failure is a CliError naming the file. */
export function readLogits(path: string): LogitMatrix {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'it is a directory' : err.code === 'EACCES' ? 'permission denied' : err.message;
    throw new CliError(`assign: cannot read --in ${path}: ${why}`);
  }
  try {
    return logitsFromNpy(bytes, path);
  } catch (e) {
    if (e instanceof InputError || e instanceof ShapeError || e instanceof ParamError) throw new CliError(`assign: ${e.message}`);
    throw e;
  }
}

function checked<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof ShapeError || e instanceof ParamError || e instanceof RangeError) throw new CliError(`assign: ${e.message}`);
    throw e;
  }
}

async function onGpu(m: LogitMatrix, path: string, o: AssignOptions): Promise<Outcome> {
  const data = checked(() => toFloat32(m, path));
  const { nodeGpu } = await import('../../src/gpu/node.ts');
  const { assignOnGpu } = await import('../../src/mira/run.ts');
  const { ctx, driver } = await nodeGpu();
  const r = await assignOnGpu(ctx, data, m.B, m.K, o);
  return {
    targets: r.targets,
    trace: r.trace,
    iters: r.iters,
    ms: r.ms,
    adapter: `${ctx.adapterName}${driver ? ` via ${driver}` : ''}`,
    usedClusters: r.metrics.used_clusters,
    marginalEntropy: r.metrics.marginal_entropy,
  };
}

async function onCpu(m: LogitMatrix, o: ReturnType<typeof checkAssignOptions>): Promise<Outcome> {
  const [{ miraSolve, naiveTargets }, { sinkhornSwav }, { assignmentMetrics }] = await Promise.all([
    import('../../src/ref/assignment.ts'),
    import('../../src/ref/sinkhorn.ts'),
    import('../../src/ref/metrics.ts'),
  ]);
  const logits = m.data instanceof Float64Array ? m.data : Float64Array.from(m.data);
  const { B, K } = m;
  const t0 = performance.now();
  let w: ArrayLike<number>;
  let trace: TraceRecord[] = [];
  if (o.method === 'mira') {
    const r = miraSolve(logits, B, K, { tau: o.tau, beta: o.beta, iters: o.iters, trace: o.trace });
    w = r.w;
    trace = (r.trace ?? []).map(plainRecord);
  } else if (o.method === 'sinkhorn') {
    const r = sinkhornSwav(logits, B, K, { eps: o.eps, iters: o.iters, trace: o.trace });
    w = r.q;
    trace = (r.trace ?? []).map(plainRecord);
  } else {
    w = naiveTargets(logits, B, K, { tau: o.tau });
  }
  const ms = performance.now() - t0;
  const w64 = w instanceof Float64Array ? w : Float64Array.from(w);
  const met = assignmentMetrics(w64, B, K);
  return {
    targets: Float32Array.from(w64),
    trace,
    iters: o.method === 'naive' ? 0 : o.iters,
    ms,
    adapter: 'float64 reference (CPU)',
    usedClusters: met.used_clusters,
    marginalEntropy: met.marginal_entropy,
  };
}

function plainRecord(rec: object): TraceRecord {
  const r = rec as Record<string, unknown>;
  const num = (k: string) => (typeof r[k] === 'number' ? (r[k] as number) : NaN);
  return {
    iter: num('iter'),
    v: Array.from((r.v as ArrayLike<number>) ?? []),
    residual: num('residual'),
    delta_w: num('delta_w'),
    objective: num('objective'),
    marginal_entropy: num('marginal_entropy'),
    mean_entropy: num('mean_entropy'),
    mi: num('mi'),
    marginal_error: num('marginal_error'),
  };
}

/** The trace as a JSON array with one record per line. */
export function traceJson(trace: TraceRecord[]): string {
  const finite = (x: number) => (Number.isFinite(x) ? x : null);
  const lines = trace.map((r) =>
    JSON.stringify({ ...r, residual: finite(r.residual), delta_w: finite(r.delta_w), objective: finite(r.objective), marginal_error: finite(r.marginal_error) }),
  );
  return `[\n${lines.join(',\n')}\n]\n`;
}

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(argv, FLAGS, 'assign');
  if (!f) {
    console.log(usage('assign', SYNOPSIS, FLAGS));
    return 0;
  }
  if (f.method === 'sela') return runSela(f);
  const method = f.method as AssignMethod;
  const backend = f.backend as 'gpu' | 'cpu';
  const opts = checked(() =>
    checkAssignOptions({
      method,
      tau: f.tau as number,
      beta: f.beta as number,
      eps: f.eps as number,
      iters: f.iters as number | undefined,
      trace: typeof f.trace === 'string',
    }),
  );
  if (method === 'naive' && f.trace) console.error('assign: naive targets have no iterations; the trace will be empty');
  checkWritableFile(f.out as string, 'out', 'assign');
  if (typeof f.trace === 'string') checkWritableFile(f.trace, 'trace', 'assign');
  const inPath = f.in as string;
  const m = readLogits(inPath);
  const t0 = performance.now();
  const r = backend === 'gpu' ? await onGpu(m, inPath, opts) : await onCpu(m, opts);
  writeAtomic(f.out as string, encodeNpy(r.targets, [m.B, m.K]));
  if (typeof f.trace === 'string') writeAtomic(f.trace, traceJson(r.trace));
  const total = performance.now() - t0;
  const s = {
    method,
    backend,
    adapter: r.adapter,
    B: m.B,
    K: m.K,
    iters: r.iters,
    solve_ms: +r.ms.toFixed(2),
    total_ms: +total.toFixed(1),
    used_clusters: r.usedClusters,
    marginal_entropy: +r.marginalEntropy.toFixed(6),
  };
  if (f.json) console.log(JSON.stringify(s));
  else {
    console.log(
      `assign ${method} on ${backend} (${r.adapter}): ${m.B}×${m.K}, ${r.iters} iterations, ` +
        `${r.ms.toFixed(1)} ms solve (${total.toFixed(0)} ms total), used clusters ${r.usedClusters}/${m.K}, ` +
        `marginal entropy ${r.marginalEntropy.toFixed(4)} (max ${Math.log(m.K).toFixed(4)})`,
    );
  }
  return 0;
}

/** SeLa's tolerance, check interval and iteration cap (both backends). */
const SELA_CLI = { tol: 0.1, checkEvery: 10, maxIters: 1000 } as const;

async function runSela(f: Record<string, string | number | boolean | undefined>): Promise<number> {
  const lambda = f['sela-lambda'] as number;
  if (!(lambda > 0)) throw new CliError(`assign: --sela-lambda must be > 0 (P = p^λ sharpens the predictions; SeLa uses 10), got ${lambda}`);
  if (f.trace) throw new CliError('assign: --trace is not available for --method sela (it reports its iterations, change and class sizes instead)');
  const backend = f.backend as 'gpu' | 'cpu';
  const inPath = f.in as string;
  const m = readLogits(inPath);
  const { B: N, K } = m;
  if (K > N) throw new CliError(`assign: --in ${inPath} holds N = ${N} rows of K = ${K} logits; SeLa's equal class sizes need at least as many rows (images) as columns (classes)`);
  const t0 = performance.now();
  let labels: Uint32Array;
  let iters: number;
  let change: number;
  let adapter: string;
  let chunks = 1;
  if (backend === 'gpu') {
    const data = checked(() => toFloat32(m, inPath));
    const { nodeGpu } = await import('../../src/gpu/node.ts');
    const { SelaLabeller } = await import('../../src/mira/sela-labeller.ts');
    const { ctx, driver } = await nodeGpu();
    let labeller: Awaited<ReturnType<typeof SelaLabeller.create>>;
    try {
      labeller = await SelaLabeller.create(ctx, { N, K });
    } catch (e) {
      if (e instanceof ShapeError || e instanceof ParamError) throw new CliError(`assign: --in ${inPath}: ${e.message}`);
      throw e;
    }
    await labeller.uploadLogits(data);
    const r = await labeller.optimise({ lambda, ...SELA_CLI });
    labeller.destroy();
    ({ labels, iters, change } = r);
    chunks = labeller.chunkCount;
    adapter = `${ctx.adapterName}${driver ? ` via ${driver}` : ''}`;
  } else {
    const { selaLabels } = await import('../../src/ref/sela-labels.ts');
    const r = selaLabels(m.data, N, K, { lambda, ...SELA_CLI });
    labels = Uint32Array.from(r.labels);
    ({ iters, change } = r);
    adapter = 'float64 reference (CPU)';
  }
  const ms = performance.now() - t0;
  writeAtomic(f.out as string, encodeNpy(labels, [N]));
  const { labelStats } = await import('../../src/mira/sela-labeller.ts');
  const st = labelStats(labels, K);
  const s = { method: 'sela', backend, adapter, N, K, lambda, iters, change, chunks, ms: +ms.toFixed(1), largest_over_mean: +st.largestOverMean.toFixed(4), smallest_class: st.smallestClass };
  if (f.json) console.log(JSON.stringify(s));
  else {
    console.log(
      `assign sela on ${backend} (${adapter}): ${N}×${K}, λ ${lambda}, ${iters} iterations (change ${change.toExponential(2)}${change < SELA_CLI.tol ? '' : `, NOT below SeLa's ${SELA_CLI.tol}`}), ` +
        `${ms.toFixed(0)} ms; class sizes ${st.smallestClass}…${(st.largestOverMean * (N / K)).toFixed(0)} (largest ${st.largestOverMean.toFixed(3)}×N/K) → ${f.out} (uint32 ${N})`,
    );
  }
  return 0;
}
