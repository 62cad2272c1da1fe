// A focused convolution measurement: chosen layers, widths, batches and GEMM variants (the conv2d
// suite's quick mode runs only width 1/8, batch 32 and the adapter's own variant), each case run
// `--repeat` times and the fastest run kept — on a shared machine the minimum is the run least
// disturbed by other work. Prints GFLOP/s per pass and each gradient pass's ratio to the forward
// (vs_fwd, the issue-15 goal ≥ 0.5), with the split-K count and thread layout per pass.
//   npx vite-node bench/conv2d-passes.ts -- [--width 1/8,1/4] [--batch 32] [--variant direct,tiled]
//                                           [--layers ^conv1$,downsample] [--passes forward,weightGrad] [--repeat 3] [--lanes 8] [--compare]
// --compare: each layer also with the weight-gradient plan before K-lanes (wgradLanes 1, the plain reduce), the plans
// alternating run by run; the forward's time (the same kernels in both) is the fastest of all runs.
// --layers: regular expressions matched against the layer names (the default: ^conv1$, the stem, and downsample, the 1×1 projections).
import { nodeGpu } from '../src/gpu/node.ts';
import type { BenchResult } from '../src/bench/types.ts';
import type { Conv2dOptions, Conv2dPass, Conv2dVariant } from '../src/nn/conv2d.ts';
import { benchLayer, distinctLayers } from './conv2d.bench.ts';

interface Args {
  widths: number[];
  batches: number[];
  variants: Conv2dVariant[];
  layers: string[];
  passes: Conv2dPass[];
  repeat: number;
  /** Force the weight gradient's K-lanes (Conv2dOptions.wgradLanes). */
  lanes?: number;
  /** Each layer also with the plan before K-lanes (wgradLanes 1, the plain reduce), the two runs alternating. */
  compare: boolean;
}

const USAGE = 'usage: npx vite-node bench/conv2d-passes.ts -- [--width 1/8,1/4] [--batch 32] [--variant direct,tiled] [--layers ^conv1$,downsample] [--passes forward,weightGrad] [--repeat 3] [--lanes 8] [--compare]';

function parseWidth(v: string): number {
  const m = /^1\/(\d+)$/.exec(v);
  const w = m ? 1 / Number(m[1]) : Number(v);
  if (!Number.isFinite(w) || w <= 0 || w > 1) throw new Error(`--width: "${v}" is not a width multiplier like 1, 1/2 or 0.125`);
  return w;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { widths: [1 / 8], batches: [32], variants: ['direct', 'tiled'], layers: ['^conv1$', 'downsample'], passes: ['forward', 'inputGrad', 'weightGrad'], repeat: 3, compare: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') continue;
    if (a === '--compare') {
      args.compare = true;
      continue;
    }
    const v = argv[++i];
    if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
    const list = v.split(',');
    if (a === '--width') args.widths = list.map(parseWidth);
    else if (a === '--batch') args.batches = list.map((b) => positive('--batch', b));
    else if (a === '--variant') {
      for (const x of list) if (x !== 'direct' && x !== 'tiled' && x !== 'naive') throw new Error(`--variant: "${x}" is not one of direct, tiled, naive`);
      args.variants = list as Conv2dVariant[];
    } else if (a === '--layers') args.layers = list;
    else if (a === '--passes') {
      for (const x of list) if (x !== 'forward' && x !== 'inputGrad' && x !== 'weightGrad') throw new Error(`--passes: "${x}" is not one of forward, inputGrad, weightGrad`);
      args.passes = list as Conv2dPass[];
    } else if (a === '--repeat') args.repeat = positive('--repeat', v);
    else if (a === '--lanes') args.lanes = positive('--lanes', v);
    else throw new Error(`unknown argument "${a}"\n${USAGE}`);
  }
  return args;
}

function positive(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: "${v}" is not a positive integer`);
  return n;
}

const args = parseArgs(process.argv.slice(2));
const { ctx, driver } = await nodeGpu();
console.error(`adapter: ${ctx.adapterName}${driver ? ` via ${driver}` : ''}`);
const rows: string[] = ['| variant | width | batch | layer | plan | pass | splits | threads | lanes | ms (min of runs) | GFLOP/s | vs_fwd |', '|---|---|---:|---|---|---|---:|---|---|---:|---:|---:|'];
// The plans timed per layer: the chosen one (or --lanes), and with --compare the plan before K-lanes.
const plans: { name: string; options: Conv2dOptions }[] = [{ name: args.lanes ? `lanes ${args.lanes}` : 'chosen', options: args.lanes ? { wgradLanes: args.lanes } : {} }];
if (args.compare) plans.unshift({ name: 'before', options: { wgradLanes: 1, wgradReduceLanes: 1 } });
for (const variant of args.variants) {
  for (const width of args.widths) {
    for (const batch of args.batches) {
      for (const c of distinctLayers(width).filter((l) => args.layers.some((re) => new RegExp(re).test(l.name)))) {
        // The forward always runs: the ratios need it. The plans alternate run by run (ABBA…), so a
        // busy moment of the machine falls on both; the forward (the same in every plan) is the fastest of all.
        const best = plans.map(() => new Map<Conv2dPass, BenchResult>());
        for (let r = 0; r < args.repeat; r++) {
          // Every other round in the opposite order, so neither plan always runs first.
          const order = [...plans.keys()];
          if (r % 2 === 1) order.reverse();
          for (const i of order) {
            const plan = plans[i]!;
            for (const res of await benchLayer(ctx, c, batch, width, variant, true, undefined, plan.options)) {
              const pass = res.extra!.pass as Conv2dPass;
              const prev = best[i]!.get(pass);
              if (!prev || res.ms < prev.ms) best[i]!.set(pass, res);
            }
          }
        }
        const fwdMs = Math.min(...best.map((b) => b.get('forward')!.ms));
        for (const [i, plan] of plans.entries()) {
          for (const pass of args.passes) {
            if (i > 0 && pass === 'forward') continue;
            const res = pass === 'forward' ? { ...best[i]!.get(pass)!, ms: fwdMs } : best[i]!.get(pass)!;
            const e = res.extra!;
            rows.push(
              `| ${variant} | ${e.width} | ${batch} | ${c.name} ${c.inChannels}→${c.outChannels} ${c.kernel}x${c.kernel} s${c.stride} @${c.inSize} | ${pass === 'forward' ? '' : plan.name} | ${pass} | ${e.splits} | ${e.threads ?? '-'} | ${e.lanes ?? 1}${e.reduce_lanes ? `, reduce ${e.reduce_lanes}` : ''} | ${res.ms.toFixed(3)} | ${(res.flops! / res.ms / 1e6).toFixed(2)} | ${pass === 'forward' ? '' : (fwdMs / res.ms).toFixed(2)} |`,
            );
            console.error(rows.at(-1));
          }
        }
      }
    }
  }
}
console.log(rows.join('\n'));
ctx.device.destroy();
