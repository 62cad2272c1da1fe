// Figure 2 of the MIRA paper, on this engine: for a B×K batch of clustered random cosine
// logits (src/ref/synthetic.ts), the residual per iteration of MIRA's fixed point and of
// Sinkhorn-Knopp, both on the GPU, and the distance of MIRA's GPU targets to the float64
// optimum (miraOptimum in src/ref/assignment.ts) after each iteration.
//
//   npx vite-node scripts/figure2.ts [-- --json out.json] [--B 512] [--K 3000] [--iters 30]
//        [--tau 0.225] [--beta 0.7] [--eps 0.05] [--seed 1]
//
// Columns: MIRA's residual ‖v⁽ⁿ⁾ − v⁽ⁿ⁻¹⁾‖₁/‖v⁽ⁿ⁻¹⁾‖₁ and max|Δw| between successive targets
// (the GPU trace, one `step()` per iteration), max|w⁽ⁿ⁾ − w*| and the objective gap
// F(w⁽ⁿ⁾) − F(w*) against the float64 optimum (miraOptimum, iterated to max|Δw| < 1e-14);
// Sinkhorn-Knopp's residual (of its prototype scaling exp(u)), marginal error
// ‖mean_i q_i − 1/K‖₁ and max|q⁽ⁿ⁾ − q*| against its own float64 limit (SwAV's iteration run
// --sk-ref-iters times, default 300, about a minute on a CPU; 0 skips it; ε = 0.05).
import { writeFileSync } from 'node:fs';
import { nodeGpu } from '../src/gpu/node.ts';
import { createTensor, readF32, uploadTensor } from '../src/gpu/tensor.ts';
import { MiraSolver } from '../src/mira/assignment.ts';
import { SinkhornSolver } from '../src/mira/sinkhorn.ts';
import { miraObjective, miraOptimum } from '../src/ref/assignment.ts';
import { sinkhornSwav } from '../src/ref/sinkhorn.ts';
import { makeClusteredLogits } from '../src/ref/synthetic.ts';

interface Args {
  B: number;
  K: number;
  iters: number;
  tau: number;
  beta: number;
  eps: number;
  seed: number;
  skRefIters: number;
  json?: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { B: 512, K: 3000, iters: 30, tau: 0.225, beta: 0.7, eps: 0.05, seed: 1, skRefIters: 300 };
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === '--') continue;
    if (tok === '--help' || tok === '-h') {
      console.log('usage: npx vite-node scripts/figure2.ts [-- --json out.json] [--B 512] [--K 3000] [--iters 30] [--tau 0.225] [--beta 0.7] [--eps 0.05] [--seed 1] [--sk-ref-iters 300]');
      process.exit(0);
    }
    const name = tok.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const value = argv[++i];
    if (value === undefined) throw new Error(`${tok} needs a value`);
    if (name === 'json') a.json = value;
    else if (name in a) {
      const n = Number(value);
      if (!Number.isFinite(n)) throw new Error(`${tok} must be a number, got ${value}`);
      (a as unknown as Record<string, number>)[name] = n;
    } else throw new Error(`unknown flag ${tok}`);
  }
  return a;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

const fmt = (x: number) => (Number.isFinite(x) ? x.toExponential(2) : String(x));

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const { B, K, iters, tau, beta, eps, seed } = args;
  const { ctx, driver } = await nodeGpu();
  console.log(`figure 2: ${B}×${K} clustered cosine logits (seed ${seed}), τ ${tau}, β ${beta}, ε ${eps}, ${iters} iterations`);
  console.log(`adapter: ${ctx.adapterName}${driver ? ` via ${driver}` : ''}`);

  const logits64 = Float64Array.from(makeClusteredLogits(B, K, seed));
  const logits = Float32Array.from(logits64);
  const t0 = performance.now();
  const opt = miraOptimum(logits64, B, K, { tau, beta });
  const wStar = opt.w;
  const F = (w: ArrayLike<number>) => miraObjective(logits64, B, K, w, { tau, beta });
  const fStar = F(wStar);
  console.log(`MIRA float64 optimum: ${opt.iters} iterations (last max|Δw| ${opt.deltaW.toExponential(1)}) in ${((performance.now() - t0) / 1000).toFixed(1)} s, F(w*) = ${fStar.toFixed(9)}`);
  const t1 = performance.now();
  const qStar = args.skRefIters > 0 ? sinkhornSwav(logits64, B, K, { eps, iters: args.skRefIters }).q : null;
  if (qStar) console.log(`Sinkhorn-Knopp float64 limit: ${args.skRefIters} iterations in ${((performance.now() - t1) / 1000).toFixed(1)} s`);

  const L = uploadTensor(ctx, logits, [B, K], 'figure2.logits');
  const W = createTensor(ctx, [B, K], 'f32', 'figure2.targets');
  const mira = (await MiraSolver.create(ctx, { B, K })).bind(L, W, 'figure2.mira');
  mira.setParams({ tau, beta });
  const miraRows: { iter: number; residual: number; delta_w: number; dist_opt: number; objective_gap: number }[] = [];
  for (let n = 1; n <= iters; n++) {
    const r = await mira.step({ targets: true });
    const w = await readF32(ctx, W);
    miraRows.push({ iter: n, residual: r.residual, delta_w: r.delta_w, dist_opt: maxAbsDiff(w, wStar), objective_gap: F(w) - fStar });
  }

  const S = createTensor(ctx, [B, K], 'f32', 'figure2.sinkhorn_targets');
  const sk = (await SinkhornSolver.create(ctx, { B, K })).bind(L, S, 'figure2.sinkhorn');
  sk.setParams({ eps });
  const skRows: { iter: number; residual: number; delta_w: number; marginal_error: number; dist_limit: number }[] = [];
  for (let n = 1; n <= iters; n++) {
    const r = await sk.step({ targets: true });
    const q = await readF32(ctx, S);
    skRows.push({ iter: n, residual: r.residual, delta_w: r.delta_w, marginal_error: r.marginal_error, dist_limit: qStar ? maxAbsDiff(q, qStar) : NaN });
  }

  console.log('');
  console.log('iter | MIRA residual   max|Δw|  max|w−w*|  F(w)−F(w*) | SK residual  marg.err  max|q−q*|');
  for (let n = 0; n < iters; n++) {
    const m = miraRows[n]!;
    const s = skRows[n];
    console.log(
      `${String(n + 1).padStart(4)} | ${fmt(m.residual).padStart(9)}  ${fmt(m.delta_w).padStart(9)}  ${fmt(m.dist_opt).padStart(9)}  ${fmt(m.objective_gap).padStart(10)} |` +
        (s ? ` ${fmt(s.residual).padStart(9)}  ${fmt(s.marginal_error).padStart(9)}  ${fmt(s.dist_limit).padStart(9)}` : ''),
    );
  }
  if (args.json) {
    writeFileSync(args.json, JSON.stringify({ B, K, tau, beta, eps, seed, iters, sk_ref_iters: args.skRefIters, adapter: ctx.adapterName, objective_optimum: fStar, mira: miraRows, sinkhorn: skRows }, null, 1));
    console.log(`\nwrote ${args.json}`);
  }
  mira.destroy();
  sk.destroy();
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`error: ${(e as Error).message}`);
    process.exit(1);
  },
);
