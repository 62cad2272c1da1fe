// Every tensor of the MIRA model — student encoder, projector, prototype head, and the EMA
// teacher — with its checkpoint name (PyTorch's), its shape in OUR layout and in PyTorch's,
// its optimizer flags, and its initialisation. Walks the architecture spec, so names and shapes
// are decided once. Layouts (ours → PyTorch): conv HWIO → OIHW; linear [in][out] → [out][in];
// BN and bias vectors as is; the head's v is K×D in both.
import { encoderSpec, type ConvSpec } from './architecture.ts';
import { featureDim, headCount, type ModelConfig } from './config.ts';

export type ParamKind = 'conv' | 'linear' | 'bias' | 'bn_weight' | 'bn_bias' | 'running_mean' | 'running_var' | 'num_batches_tracked' | 'prototypes' | 'weight_g';

export interface ParamSpec {
  /** Checkpoint key without the `ema.` prefix, e.g. "encoder.layer1.0.conv1.weight". */
  name: string;
  kind: ParamKind;
  /** Shape in our layout. */
  shape: number[];
  /** Shape PyTorch stores ([] for num_batches_tracked). */
  torchShape: number[];
  /** Updated by the optimizer. */
  trainable: boolean;
  /** Weight decay applies (parameters with more than one dimension). */
  decay: boolean;
  /** LARS trust-ratio scaling applies (not BN parameters, not biases). */
  lars: boolean;
  /** Part of the EMA teacher (encoder and projector; the head is shared). */
  inTeacher: boolean;
  /** Frozen for the first steps of training (the prototype head). */
  head: boolean;
  /** For a bias: its layer's fan-in (nn.Linear draws the bias from ±1/√fan_in). */
  fanIn?: number;
}

function convParams(prefix: string, c: ConvSpec): ParamSpec[] {
  const k = c.kernel;
  return [
    {
      name: `${prefix}.${c.name}.weight`,
      kind: 'conv',
      shape: [k, k, c.inChannels, c.outChannels],
      torchShape: [c.outChannels, c.inChannels, k, k],
      trainable: true,
      decay: true,
      lars: true,
      inTeacher: true,
      head: false,
    },
  ];
}

function bnParams(prefix: string, name: string, channels: number): ParamSpec[] {
  const base = { inTeacher: true, head: false, decay: false, lars: false } as const;
  return [
    { ...base, name: `${prefix}.${name}.weight`, kind: 'bn_weight', shape: [channels], torchShape: [channels], trainable: true },
    { ...base, name: `${prefix}.${name}.bias`, kind: 'bn_bias', shape: [channels], torchShape: [channels], trainable: true },
    { ...base, name: `${prefix}.${name}.running_mean`, kind: 'running_mean', shape: [channels], torchShape: [channels], trainable: false },
    { ...base, name: `${prefix}.${name}.running_var`, kind: 'running_var', shape: [channels], torchShape: [channels], trainable: false },
    { ...base, name: `${prefix}.${name}.num_batches_tracked`, kind: 'num_batches_tracked', shape: [1], torchShape: [], trainable: false },
  ];
}

function linearParams(name: string, inF: number, outF: number, bias: boolean): ParamSpec[] {
  const base = { inTeacher: true, head: false } as const;
  const out: ParamSpec[] = [{ ...base, name: `${name}.weight`, kind: 'linear', shape: [inF, outF], torchShape: [outF, inF], trainable: true, decay: true, lars: true }];
  if (bias) out.push({ ...base, name: `${name}.bias`, kind: 'bias', shape: [outF], torchShape: [outF], trainable: true, decay: false, lars: false, fanIn: inF });
  return out;
}

/** The student's tensors in PyTorch state_dict order. */
export function modelParams(config: ModelConfig): ParamSpec[] {
  const enc = encoderSpec(config);
  const list: ParamSpec[] = [...convParams('encoder', enc.stem), ...bnParams('encoder', enc.stemBn, enc.stem.outChannels)];
  for (const b of enc.blocks) {
    list.push(...convParams('encoder', b.conv1), ...bnParams('encoder', b.bn1, b.conv1.outChannels));
    list.push(...convParams('encoder', b.conv2), ...bnParams('encoder', b.bn2, b.conv2.outChannels));
    if (b.downsample) list.push(...convParams('encoder', b.downsample.conv), ...bnParams('encoder', b.downsample.bn, b.downsample.conv.outChannels));
  }
  const D = featureDim(config.width);
  const H = config.projHidden;
  list.push(...linearParams('projector.0', D, H, false), ...bnParams('projector', '1', H));
  list.push(...linearParams('projector.3', H, H, false), ...bnParams('projector', '4', H));
  list.push(...linearParams('projector.6', H, config.projOut, true));
  const K = config.prototypes;
  // Embedding objectives train the projector's output directly: no prototype head.
  if (K === 0) return list;
  // Head 0 keeps the single head's names (older checkpoints load); SeLa's further heads are
  // heads.1 … heads.{H−1}, as an nn.ModuleList would name them.
  for (const prefix of headPrefixes(config)) {
    list.push({ name: `${prefix}.weight_g`, kind: 'weight_g', shape: [K, 1], torchShape: [K, 1], trainable: false, decay: false, lars: false, inTeacher: false, head: true });
    list.push({ name: `${prefix}.weight_v`, kind: 'prototypes', shape: [K, config.projOut], torchShape: [K, config.projOut], trainable: true, decay: true, lars: true, inTeacher: false, head: true });
  }
  return list;
}

/** The checkpoint prefix of each prototype head: `head`, then `heads.1` … `heads.{H−1}`. */
export function headPrefixes(config: Pick<ModelConfig, 'heads' | 'prototypes'>): string[] {
  if (config.prototypes === 0) return [];
  return Array.from({ length: headCount(config) }, (_, h) => (h === 0 ? 'head' : `heads.${h}`));
}

/** Counter-based, seedable uniform generator (splitmix-style hash of seed and index). */
export function hashUniform(seed: number, stream: number, index: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(stream + 0x632be5ab, 0xc2b2ae35) ^ Math.imul(index + 1, 0x27d4eb2f);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return ((h >>> 0) + 0.5) / 4294967296;
}

function stringHash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/**
 * The training initialisation, as the official code gets it from torchvision's ResNet with
 * zero_init_residual: convs kaiming-normal (fan_out, ReLU gain); the replaced CIFAR stem keeps
 * nn.Conv2d's default uniform(±1/√fan_in); BN γ = 1 (0 for each block's last BN), β = 0,
 * running stats 0/1; linear layers nn.Linear's default uniform(±1/√fan_in) for weight and bias;
 * head v likewise, g = 1. One seed; each tensor draws from its own stream (its name), so adding
 * a tensor does not change the others.
 */
export function initialValues(p: ParamSpec, seed: number): Float32Array {
  const n = p.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const stream = stringHash(p.name);
  const u = (i: number) => hashUniform(seed, stream, i);
  switch (p.kind) {
    case 'conv': {
      const [k, , cin, cout] = p.shape as [number, number, number, number];
      if (p.name === 'encoder.conv1.weight') {
        const bound = 1 / Math.sqrt(cin * k * k);
        for (let i = 0; i < n; i++) out[i] = (2 * u(i) - 1) * bound;
      } else {
        const std = Math.sqrt(2 / (cout * k * k));
        for (let i = 0; i < n; i++) out[i] = std * Math.sqrt(-2 * Math.log(u(2 * i))) * Math.cos(2 * Math.PI * u(2 * i + 1));
      }
      return out;
    }
    case 'linear':
    case 'prototypes': {
      const fanIn = p.kind === 'linear' ? p.shape[0]! : p.shape[1]!;
      const bound = 1 / Math.sqrt(fanIn);
      for (let i = 0; i < n; i++) out[i] = (2 * u(i) - 1) * bound;
      return out;
    }
    case 'bias': {
      // nn.Linear's bias bound uses the layer's fan_in; projector.6's input is proj_hidden.
      const bound = 1 / Math.sqrt(p.fanIn ?? 1);
      for (let i = 0; i < n; i++) out[i] = (2 * u(i) - 1) * bound;
      return out;
    }
    case 'bn_weight':
      return out.fill(/\.bn2\.weight$/.test(p.name) ? 0 : 1);
    case 'running_var':
    case 'weight_g':
      return out.fill(1);
    default:
      return out;
  }
}
