// Per-kernel GPU time of one training step (timestamp queries), grouped by kernel family:
//   npx vite-node scripts/profile-step.ts -- [--width 0.0625] [--batch 32]
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
const config = defaultTrainConfig({ width: arg('width', 1 / 16), batch: arg('batch', 32), steps: 100, prototypes: 32, projHidden: 64, projOut: 32 });
const trainer = await Trainer.create(ctx, data, config);
await trainer.step();
await trainer.flush();
const prof = new Profiler(ctx, 2048);
const t0 = performance.now();
await trainer.step(prof);
await trainer.flush();
const wall = performance.now() - t0;
const enc = ctx.device.createCommandEncoder();
prof.resolve(enc);
ctx.device.queue.submit([enc.finish()]);
const timings = await prof.read();
const groups = new Map<string, { ms: number; n: number }>();
for (const t of timings) {
  const key = t.label.replace(/\[\d+\]/g, '').replace(/(student|teacher)\d/, '$1').replace(/layer\d\.\d\./, 'layerN.').replace(/\d+/g, '#');
  const g = groups.get(key) ?? { ms: 0, n: 0 };
  g.ms += t.ms;
  g.n++;
  groups.set(key, g);
}
const total = timings.reduce((s, t) => s + t.ms, 0);
console.log(`${ctx.adapterName}: one step, width ${config.width}, batch ${config.batch}: ${timings.length} dispatches, GPU ${total.toFixed(1)} ms, wall ${wall.toFixed(1)} ms`);
for (const [k, g] of [...groups].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25)) console.log(`${g.ms.toFixed(1).padStart(9)} ms ${String(g.n).padStart(4)}×  ${k}`);
process.exit(0);
