// The projector and the prototype head on the GPU, after the encoder's pooled features:
//   p0 = feat·W0           q0 = relu(bn1d(p0))        (projector.0, projector.1)
//   p1 = q0·W3             q1 = relu(bn1d(p1))        (projector.3, projector.4)
//   z  = q1·W6 + b6        zn = z / ‖z‖               (projector.6, L2 normalisation)
//   logits = zn · Wᵀ,  W = v / ‖v‖ row-wise            (head, weight-normalised, g = 1)
// With H heads (SeLa's multi-head recipe) the heads' v are packed into one [H·K, D] matrix
// (FlatTensors.prototypeHeads), so one GEMM gives logits [B][H·K] — head h's logits of image i
// are row i's columns h·K … (h+1)·K − 1 — and one backward gives every head's dv.
// The head's W is normalised once per step (HeadLayers.bindNormalize) and shared by the
// student's and the teacher's runs (MIRA's teacher uses the student's prototypes).
// With K = 0 (embedding objectives) there is no head: the run stops at z, the projection, and
// its backward starts from ∂L/∂z.
// Backward assigns activation gradients and accumulates (+=) parameter gradients.
import type { GpuContext } from '../gpu/context.ts';
import type { GemmVariant } from '../gpu/gemm.ts';
import { PassList } from '../gpu/pass.ts';
import { createTensor, type Tensor } from '../gpu/tensor.ts';
import { BatchNorm, type BatchNormForwardPass, type BatchNormPasses } from './batchnorm.ts';
import { featureDim, headCount, type ModelConfig } from './config.ts';
import { L2Norm, type L2NormForwardPass } from './l2norm.ts';
import { Linear } from './linear.ts';
import type { FlatTensors, NetworkWeights } from './param-store.ts';
import type { BnMode, Scratch } from './resnet18.ts';
import { WeightNormLinear, type WeightNormNormalizePass } from './weightnorm.ts';

export class HeadLayers {
  private constructor(
    readonly config: ModelConfig,
    readonly batch: number,
    readonly lin0: Linear,
    readonly bn1: BatchNorm,
    readonly lin3: Linear,
    readonly bn4: BatchNorm,
    readonly lin6: Linear,
    /** The L2 normalisation and prototype head; null when K = 0. */
    readonly prototypes: { l2: L2Norm; head: WeightNormLinear } | null,
  ) {}

  /** `passes`: which batch-norm pipelines to compile (all by default), as for EncoderLayers. */
  static async create(ctx: GpuContext, config: ModelConfig, batch: number, variant?: GemmVariant, passes?: BatchNormPasses): Promise<HeadLayers> {
    const D = featureDim(config.width);
    const H = config.projHidden;
    const P = config.projOut;
    const K = config.prototypes;
    const [lin0, bn1, lin3, bn4, lin6, l2, head] = await Promise.all([
      Linear.create(ctx, { batch, inFeatures: D, outFeatures: H, bias: false }, { label: 'projector.0', variant }),
      BatchNorm.create(ctx, { batch, channels: H }, { label: 'projector.1', relu: true, passes }),
      Linear.create(ctx, { batch, inFeatures: H, outFeatures: H, bias: false }, { label: 'projector.3', variant }),
      BatchNorm.create(ctx, { batch, channels: H }, { label: 'projector.4', relu: true, passes }),
      Linear.create(ctx, { batch, inFeatures: H, outFeatures: P, bias: true }, { label: 'projector.6', variant }),
      K > 0 ? L2Norm.create(ctx, { rows: batch, dim: P }, { label: 'projector.l2norm' }) : null,
      K > 0 ? WeightNormLinear.create(ctx, { batch, dim: P, prototypes: K * headCount(config) }, { label: 'head', variant }) : null,
    ]);
    return new HeadLayers(config, batch, lin0, bn1, lin3, bn4, lin6, l2 && head ? { l2, head } : null);
  }

  /** W = v/‖v‖ for this step, from the student's v; null without a head. */
  bindNormalize(params: FlatTensors): WeightNormNormalizePass | null {
    return this.prototypes ? this.prototypes.head.bindNormalize(params.prototypeHeads(headCount(this.config))) : null;
  }
}

export class HeadRun {
  readonly forward = new PassList();
  /** z: the projector's output before normalisation (B×P). */
  readonly projection: Tensor;
  /** z/‖z‖ and the logits over the prototypes, B×(H·K) (null when K = 0). */
  readonly embedding: Tensor | null;
  readonly logits: Tensor | null;
  private readonly acts: { p0: Tensor; q0: Tensor; p1: Tensor; q1: Tensor; bn1: BatchNormForwardPass; bn4: BatchNormForwardPass; l2: L2NormForwardPass | null };

  constructor(
    ctx: GpuContext,
    readonly layers: HeadLayers,
    readonly weights: NetworkWeights,
    readonly features: Tensor,
    readonly normalized: WeightNormNormalizePass | null,
    readonly mode: BnMode,
    readonly label: string,
  ) {
    const { batch: B, config } = layers;
    const H = config.projHidden;
    const t = (name: string, n: number) => createTensor(ctx, [B, n], 'f32', `${label}.${name}`);
    const p = (n: string) => weights.params.get(n);
    const bn = (name: string, x: Tensor, y: Tensor) => ({
      x,
      y,
      gamma: p(`projector.${name}.weight`),
      beta: p(`projector.${name}.bias`),
      runningMean: weights.stats.get(`projector.${name}.running_mean`),
      runningVar: weights.stats.get(`projector.${name}.running_var`),
    });
    const p0 = t('p0', H);
    const q0 = t('q0', H);
    const p1 = t('p1', H);
    const q1 = t('q1', H);
    const z = t('z', config.projOut);
    this.projection = z;
    const proto = layers.prototypes;
    if (!!proto !== !!normalized) throw new Error(`${label}: the normalised prototypes are needed exactly when the head exists (K = ${config.prototypes})`);
    this.embedding = proto ? t('zn', config.projOut) : null;
    this.logits = proto ? t('logits', config.prototypes * headCount(config)) : null;
    const f = this.forward;
    f.push(layers.lin0.bindForward(features, p('projector.0.weight'), p0));
    const bn1 = layers.bn1.bindForward(bn('1', p0, q0), mode);
    f.push(bn1);
    f.push(layers.lin3.bindForward(q0, p('projector.3.weight'), p1));
    const bn4 = layers.bn4.bindForward(bn('4', p1, q1), mode);
    f.push(bn4);
    f.push(layers.lin6.bindForward(q1, p('projector.6.weight'), z, p('projector.6.bias')));
    let l2: L2NormForwardPass | null = null;
    if (proto && normalized && this.embedding && this.logits) {
      l2 = proto.l2.bindForward(z, this.embedding);
      f.push(l2);
      f.push(proto.head.bindForward(this.embedding, normalized.w, this.logits));
    }
    this.acts = { p0, q0, p1, q1, bn1, bn4, l2 };
  }

  /**
   * From ∂L/∂logits (with a head) or ∂L/∂z (K = 0) into `grads` (+=, head included); writes
   * d features into `dFeatures`.
   */
  bindBackward(dOut: Tensor, dFeatures: Tensor, grads: FlatTensors, scratch: Scratch): PassList {
    const { layers } = this;
    const { config } = layers;
    const a = this.acts;
    const b = new PassList();
    const p = (n: string) => this.weights.params.get(n);
    const like = (name: string, x: Tensor) => scratch.get(name, [...x.shape]);
    let dz = dOut;
    const proto = layers.prototypes;
    if (proto && this.embedding && this.normalized && a.l2) {
      const dzn = like('d.zn', this.embedding);
      b.push(proto.head.bindBackward({ x: this.embedding, w: this.normalized.w, vnorm: this.normalized.vnorm, dlogits: dOut, dx: dzn, dv: grads.prototypeHeads(headCount(config)), dw: scratch.get('d.head.w', [config.prototypes * headCount(config), config.projOut]) }));
      dz = like('d.z', this.projection);
      b.push(proto.l2.bindBackward({ y: this.embedding, dy: dzn, norm: a.l2.norm, dx: dz }));
    }
    const dq1 = like('d.q1', a.q1);
    b.push(layers.lin6.bindBackward({ x: a.q1, weight: p('projector.6.weight'), dy: dz, dx: dq1, dweight: grads.get('projector.6.weight'), dbias: grads.get('projector.6.bias') }));
    const dp1 = like('d.p1', a.p1);
    b.push(layers.bn4.bindBackward({ x: a.p1, y: a.q1, dy: dq1, dx: dp1, gamma: p('projector.4.weight'), mean: a.bn4.mean!, invstd: a.bn4.invstd!, dgamma: grads.get('projector.4.weight'), dbeta: grads.get('projector.4.bias') }));
    const dq0 = like('d.q0', a.q0);
    b.push(layers.lin3.bindBackward({ x: a.q0, weight: p('projector.3.weight'), dy: dp1, dx: dq0, dweight: grads.get('projector.3.weight') }));
    const dp0 = like('d.p0', a.p0);
    b.push(layers.bn1.bindBackward({ x: a.p0, y: a.q0, dy: dq0, dx: dp0, gamma: p('projector.1.weight'), mean: a.bn1.mean!, invstd: a.bn1.invstd!, dgamma: grads.get('projector.1.weight'), dbeta: grads.get('projector.1.bias') }));
    b.push(layers.lin0.bindBackward({ x: this.features, weight: p('projector.0.weight'), dy: dp0, dx: dFeatures, dweight: grads.get('projector.0.weight') }));
    return b;
  }
}
