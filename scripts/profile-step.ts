// Per-kernel GPU time of one training step (timestamp queries), grouped by kernel family:
//   npx vite-node scripts/profile-step.ts -- [--width 0.0625] [--batch 32] [--prototypes 32] [--proj-hidden 64] [--proj-out 32] [--top 25] [--steps 3] [--by-dispatch]
// (issue 15's CPU line: --width 0.125 --batch 32 --prototypes 3000 --proj-hidden 2048 --proj-out 256)
import { nodeGpu } from '../src/gpu/node.ts';
import { Profiler } from '../src/gpu/profiler.ts';
import { Trainer } from '../src/train/trainer.ts';
import { defaultTrainConfig } from '../src/train/config.ts';
import { loadDataset } from '../src/data/node-fs.ts';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const { ctx } = await nodeGpu();
if (!Profiler.available(ctx)) throw new Error(`${ctx.adapterName} has no timestamp-query`);
const data = await loadDataset('bundled');
const config = defaultTrainConfig({ width: arg('width', 1 / 16), batch: arg('batch', 32), steps: 100, prototypes: arg('prototypes', 32), projHidden: arg('proj-hidden', 64), projOut: arg('proj-out', 32) });
const trainer = await Trainer.create(ctx, data, config);
await trainer.step();
await trainer.flush();
// Several profiled steps; each dispatch's fastest run counts, so a busy moment on a shared machine does not.
const prof = new Profiler(ctx, 2048);
const steps = arg('steps', 3);
let timings: { label: string; ms: number; start: number; end: number }[] = [];
let wall = Infinity;
let last: typeof timings = [];
for (let r = 0; r < steps; r++) {
  const t0 = performance.now();
  await trainer.step(prof);
  await trainer.flush();
  wall = Math.min(wall, performance.now() - t0);
  const enc = ctx.device.createCommandEncoder();
  prof.resolve(enc);
  ctx.device.queue.submit([enc.finish()]);
  const run = await prof.read();
  timings = r === 0 ? run : timings.map((t, i) => (run[i]!.ms < t.ms ? run[i]! : t));
  last = run;
}
const groups = new Map<string, { ms: number; n: number }>();
const exact = process.argv.includes('--by-dispatch');
for (const t of timings) {
  const key = exact ? t.label : t.label.replace(/\[\d+\]/g, '').replace(/(student|teacher)\d/, '$1').replace(/layer\d\.\d\./, 'layerN.').replace(/\d+/g, '#');
  const g = groups.get(key) ?? { ms: 0, n: 0 };
  g.ms += t.ms;
  g.n++;
  groups.set(key, g);
}
const total = timings.reduce((s, t) => s + t.ms, 0);
// GPU time between one dispatch's end and the next one's begin: the driver's per-dispatch overhead.
const gaps = last.slice(1).reduce((s, t, i) => s + Math.max(0, t.start - last[i]!.end), 0);
console.log(`${ctx.adapterName}: one step, width ${config.width}, batch ${config.batch}: ${timings.length} dispatches, GPU ${total.toFixed(1)} ms in dispatches (fastest of each; the last step: ${last.reduce((s, t) => s + t.ms, 0).toFixed(1)} ms, ${(last.at(-1)!.end - last[0]!.start).toFixed(1)} ms first begin to last end) + ${gaps.toFixed(1)} ms between them, wall ${wall.toFixed(1)} ms`);
for (const [k, g] of [...groups].sort((a, b) => b[1].ms - a[1].ms).slice(0, arg('top', 25))) console.log(`${g.ms.toFixed(1).padStart(9)} ms ${String(g.n).padStart(4)}×  ${k}`);
process.exit(0);
