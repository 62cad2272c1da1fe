// Node's start-up to the first finished step on the page's tiny preset (issue 15, "starting in seconds"), broken
// down the way the page's worker reports it (src/worker/session.ts): the dataset, the device, the trainer's build
// (its pipelines), the first step, and then the random-init kNN / linear-probe baseline and the raw-pixel baselines
// that the page measures after the first step. Prints one `[start-time-node] {…}` JSON line for docs/results-cpu.md.
//   nice -n 10 npx vite-node --script scripts/start-time.ts -- [--preset tiny] [--dataset bundled]
import { nodeGpu } from '../src/gpu/node.ts';
import { compileStats } from '../src/gpu/kernel.ts';
import { loadDataset } from '../src/data/node-fs.ts';
import { Trainer } from '../src/train/trainer.ts';
import { TrainingRun } from '../src/train/run-driver.ts';
import { pixelBaselines } from '../src/train/baselines.ts';
import { PRESETS, type PresetName } from '../src/ui/presets.ts';

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : def;
};
const presetName = arg('preset', 'tiny') as PresetName;
const preset = PRESETS[presetName];
if (!preset) throw new Error(`--preset ${presetName}: not a preset; one of ${Object.keys(PRESETS).join(', ')}`);
const t0 = performance.now();
const since = (t: number) => Math.round(performance.now() - t);
const phases: Record<string, number> = {};
let t = performance.now();
const data = await loadDataset(arg('dataset', 'bundled'));
phases.dataset_ms = since(t);
t = performance.now();
const { ctx } = await nodeGpu();
phases.device_ms = since(t);
t = performance.now();
const trainer = await Trainer.create(ctx, data, { ...preset.config });
const run = new TrainingRun(trainer, {});
phases.build_ms = since(t);
const afterBuild = { ...compileStats(ctx) };
t = performance.now();
await run.begin({ defer: true });
await run.step();
await trainer.flush();
phases.first_step_ms = since(t);
const toFirstStep = since(t0);
t = performance.now();
const init = await run.evaluateInit();
phases.init_baseline_ms = since(t);
t = performance.now();
await pixelBaselines(ctx, data, trainer.config);
phases.pixel_baselines_ms = since(t);
const st = compileStats(ctx);
const families = Object.entries(st.byFamily).sort((a, b) => b[1].ms - a[1].ms).map(([f, v]) => `${f} ${v.pipelines}×/${Math.round(v.ms)}ms`);
console.log(`[start-time-node] ${JSON.stringify({ adapter: ctx.adapterName, preset: presetName, to_first_step_ms: toFirstStep, ...phases, knn_init: init?.top1 ?? null, build: { pipelines: afterBuild.pipelines, modules: afterBuild.modules, requests: afterBuild.requests }, total: { pipelines: st.pipelines, modules: st.modules, requests: st.requests, pipeline_ms_summed: Math.round(st.pipelineMs), module_ms_summed: Math.round(st.moduleMs) }, families })}`);
