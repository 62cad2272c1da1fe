// Dispatches and bytes of one training step's network passes (StepGraph.networkCost), the convolutions' batch norms
// stored by their own passes or fused (src/nn/resnet18.ts fuseBnRelu), on both GEMM cores — the GPUs' ('tiled') counted
// here too, as the step is only planned, not run (issue 15, fused convolutions: "fewer dispatches and bytes per step").
//   npx vite-node scripts/step-cost.ts -- [--width 0.125] [--batch 32] [--prototypes 3000] [--proj-hidden 2048] [--proj-out 256]
import { nodeGpu } from '../src/gpu/node.ts';
import { Trainer } from '../src/train/trainer.ts';
import { defaultTrainConfig } from '../src/train/config.ts';
import { syntheticSplits } from '../bench/synthetic-data.ts';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const { ctx } = await nodeGpu();
const batch = arg('batch', 32);
const config = defaultTrainConfig({ width: arg('width', 1 / 8), batch, steps: 100, prototypes: arg('prototypes', 3000), projHidden: arg('proj-hidden', 2048), projOut: arg('proj-out', 256) });
console.log(`width ${config.width}, batch ${batch}, K ${config.prototypes}, projector ${config.projHidden}→${config.projOut}: the networks' passes of one step (both views, teacher and student)`);
console.log('core    batch norms           dispatches   MB moved (at least)');
for (const variant of ['direct', 'tiled'] as const) {
  let base = 0;
  for (const fuseBnRelu of [false, true]) {
    const trainer = await Trainer.create(ctx, syntheticSplits(batch * 2), config, { variant, fuseBnRelu });
    const { dispatches, bytes } = trainer.graph.networkCost;
    if (!fuseBnRelu) base = bytes;
    const ratio = fuseBnRelu ? ` (${((bytes / base) * 100).toFixed(1)} %)` : '';
    console.log(`${variant.padEnd(7)} ${(fuseBnRelu ? 'fused' : 'own passes').padEnd(21)} ${String(dispatches).padStart(10)}   ${(bytes / 1e6).toFixed(1)}${ratio}`);
    trainer.destroy();
  }
}
