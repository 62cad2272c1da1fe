// The CIFAR ResNet-18 as data: every convolution and batch norm with its shapes and PyTorch
// name, in forward order. The GPU model, the checkpoint mapping and the benchmarks all walk
// this one list, so a name or a shape is decided in exactly one place.
import { stageChannels, type ModelConfig } from './config.ts';
import { convOutSize } from './conv2d-shape.ts';

export interface ConvSpec {
  /** PyTorch module path under `encoder.`, e.g. "layer2.0.downsample.0". */
  name: string;
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: number;
  padding: number;
  /** Input spatial size (square). */
  inSize: number;
  outSize: number;
}

export interface BlockSpec {
  /** "layer1.0" … "layer4.1" */
  name: string;
  conv1: ConvSpec;
  bn1: string;
  conv2: ConvSpec;
  /** Zero-initialised gamma (the last BN of the block). */
  bn2: string;
  downsample: { conv: ConvSpec; bn: string } | null;
}

export interface EncoderSpec {
  stem: ConvSpec;
  stemBn: string;
  blocks: BlockSpec[];
  featureDim: number;
  /** Spatial size of the last stage, pooled to 1×1. */
  finalSize: number;
}

function conv(name: string, inChannels: number, outChannels: number, kernel: number, stride: number, padding: number, inSize: number): ConvSpec {
  const outSize = convOutSize(inSize, kernel, stride, padding);
  return { name, inChannels, outChannels, kernel, stride, padding, inSize, outSize };
}

export function encoderSpec(c: Pick<ModelConfig, 'width' | 'inChannels' | 'imageSize' | 'stemPadding'>): EncoderSpec {
  const ch = stageChannels(c.width);
  const stem = conv('conv1', c.inChannels, ch[0], 3, 1, c.stemPadding, c.imageSize);
  const blocks: BlockSpec[] = [];
  let size = stem.outSize;
  let inC = ch[0];
  for (let layer = 1; layer <= 4; layer++) {
    const outC = ch[layer - 1]!;
    for (let b = 0; b < 2; b++) {
      const stride = layer > 1 && b === 0 ? 2 : 1;
      const name = `layer${layer}.${b}`;
      const conv1 = conv(`${name}.conv1`, inC, outC, 3, stride, 1, size);
      const conv2 = conv(`${name}.conv2`, outC, outC, 3, 1, 1, conv1.outSize);
      const downsample = stride !== 1 || inC !== outC ? { conv: conv(`${name}.downsample.0`, inC, outC, 1, stride, 0, size), bn: `${name}.downsample.1` } : null;
      blocks.push({ name, conv1, bn1: `${name}.bn1`, conv2, bn2: `${name}.bn2`, downsample });
      size = conv1.outSize;
      inC = outC;
    }
  }
  return { stem, stemBn: 'bn1', blocks, featureDim: inC, finalSize: size };
}

/** Every convolution in forward order (for benches and FLOP counts). */
export function allConvs(e: EncoderSpec): ConvSpec[] {
  const out = [e.stem];
  for (const b of e.blocks) {
    out.push(b.conv1, b.conv2);
    if (b.downsample) out.push(b.downsample.conv);
  }
  return out;
}

/** Multiply-accumulates of one encoder forward for one image. */
export function encoderMacsPerImage(e: EncoderSpec): number {
  return allConvs(e).reduce((s, v) => s + v.outSize * v.outSize * v.kernel * v.kernel * v.inChannels * v.outChannels, 0);
}
