// Whole training steps (augmentation of two views, student and teacher forward, MIRA targets,
// loss, both backwards, optimizer, EMA) per second, for several widths, on a synthetic dataset
// of CIFAR-shaped images. FLOPs count the convolutions: 3 passes (forward, input and weight
// gradient) for the two student views and 1 for the two teacher views; bytes and dispatches count the networks' passes.
import type { BenchResult, BenchSuite } from '../src/bench/types.ts';
import { Trainer } from '../src/train/trainer.ts';
import { defaultTrainConfig } from '../src/train/config.ts';
import { encoderSpec, encoderMacsPerImage } from '../src/nn/architecture.ts';
import { syntheticSplits } from './synthetic-data.ts';

export const suite: BenchSuite = {
  name: 'train-step',
  async run(ctx, { quick, filter, precision = 'f32' }) {
    const widths = quick ? [1 / 16] : [1 / 8, 1 / 4, 1 / 2, 1];
    const batch = quick ? 16 : 32;
    const out: BenchResult[] = [];
    for (const width of widths) {
      // Each width (in the precision asked for) with each block's bn1 + ReLU stored by its own pass and applied in conv2's loads, side by side: steps
      // per second, and the dispatches and bytes of the networks' passes (src/nn/resnet18.ts defaultFuseBnRelu).
      for (const fuseBnRelu of [false, true]) {
        const name = `train step width ${width} batch ${batch}${precision === 'f32' ? '' : ` ${precision}`}${fuseBnRelu ? ' bn1 fused' : ''}`;
        if (filter && !name.includes(filter)) continue;
        const config = defaultTrainConfig({ width, batch, steps: 1000, prototypes: quick ? 64 : 3000, projHidden: quick ? 128 : 2048, projOut: quick ? 64 : 256, logEvery: 1000, precision });
        const trainer = await Trainer.create(ctx, syntheticSplits(batch * 4), config, { fuseBnRelu });
        await trainer.step();
        await trainer.flush();
        const reps = quick ? 2 : 5;
        const t0 = performance.now();
        for (let i = 0; i < reps; i++) await trainer.step();
        await trainer.flush();
        const ms = (performance.now() - t0) / reps;
        const macs = encoderMacsPerImage(encoderSpec({ width, inChannels: 3, imageSize: 32, stemPadding: 1 }));
        const cost = trainer.graph.networkCost;
        out.push({ suite: 'train-step', name, ms, images: 2 * batch, flops: 2 * macs * batch * (2 * 3 + 2), bytes: cost.bytes, extra: { width, batch, K: config.prototypes, precision, bn1: fuseBnRelu ? 'fused into conv2' : 'own pass', dispatches: cost.dispatches } });
        trainer.destroy();
      }
    }
    return out;
  },
};
