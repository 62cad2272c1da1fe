// A step-0 playground checkpoint (the training initialisation) carrying a train_config, so
// torch_mira.train can start a run from it (torch/tests/prepare_gpu_check.sh uses it for the GPU
// throughput check). Flags are `npm run cli -- train`'s model and schedule flags; an embedding
// objective (--method mveb|mio) gets prototypes 0 in the model, as the trainer's modelConfigFor.
//   npx vite-node scripts/torch-init-checkpoint.ts -- OUT.safetensors [--dataset bundled] [--channels 1]
//     [--width 0.5] [--batch 256] [--steps 1170] [--prototypes 3000] [--seed 1] [--method mira] [--knn-every 0]
import { writeFileSync } from 'node:fs';
import { CIFAR_MEAN, CIFAR_STD, defaultModelConfig, FASHION_MEAN, FASHION_STD } from '../src/nn/config.ts';
import { encodeCheckpoint, initialState } from '../src/nn/checkpoint.ts';
import { defaultTrainConfig } from '../src/train/config.ts';
import { METHODS, methodById, type MethodId } from '../src/methods/registry.ts';

const args = process.argv.slice(2).filter((a) => a !== '--');
const out = args.find((a, i) => !a.startsWith('--') && !(args[i - 1] ?? '').startsWith('--'));
const flag = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const dataset = args.includes('--dataset') ? args[args.indexOf('--dataset') + 1]! : 'bundled';
const method = (args.includes('--method') ? args[args.indexOf('--method') + 1]! : 'mira') as MethodId;
if (!METHODS.some((m) => m.id === method)) {
  console.error(`--method ${method}: not a registered method (${METHODS.map((m) => m.id).join(', ')})`);
  process.exit(2);
}
if (!out) {
  console.error('usage: npx vite-node scripts/torch-init-checkpoint.ts -- OUT.safetensors [--dataset bundled] [--channels 1] [--width 0.5] [--batch 256] [--steps 1170] [--prototypes 3000] [--seed 1] [--method mira] [--knn-every 0]');
  process.exit(2);
}
const channels = flag('channels', 1) === 3 ? 3 : 1;
const tc = defaultTrainConfig({ method, dataset, width: flag('width', 0.5), batch: flag('batch', 256), steps: flag('steps', 1170), prototypes: flag('prototypes', 3000), seed: flag('seed', 1), knnEvery: flag('knn-every', 0) });
const prototypes = methodById(method).kind === 'embedding' ? 0 : tc.prototypes;
const config = defaultModelConfig(channels, { width: tc.width, prototypes, projHidden: tc.projHidden, projOut: tc.projOut, mean: channels === 3 ? CIFAR_MEAN : FASHION_MEAN, std: channels === 3 ? CIFAR_STD : FASHION_STD });
const state = initialState(config, tc.seed);
state.method = method;
state.extra = { train_config: tc, knn_top1_init: null };
writeFileSync(out, encodeCheckpoint(state));
console.log(`wrote ${out}: step 0, ${tc.method}, width ${tc.width}, batch ${tc.batch}, K ${prototypes}, ${tc.steps} steps`);
