// One MIRA forward/backward on two views, recorded into the caller's encoder (no readback):
//   zero grads; W = v/‖v‖ (student head, shared with the teacher)
//   student: q⁽¹⁾, q⁽²⁾ = head(projector(encoder(view)))      BN in training mode
//   teacher: ℓ⁽¹⁾, ℓ⁽²⁾ with the EMA encoder + projector         BN in training mode
//   targets: w⁽ᵛ⁾ = MIRA(ℓ⁽ᵛ⁾; τ_t, β) | Sinkhorn(ℓ⁽ᵛ⁾; ε) | softmax(ℓ⁽ᵛ⁾/τ_t)
//   loss:    ½[CE(w⁽¹⁾, q⁽²⁾) + CE(w⁽²⁾, q⁽¹⁾)], gradients into q⁽¹⁾, q⁽²⁾
//   backward of both student views, accumulating into the flat gradient buffer.
// Used by the trainer (with the optimizer and EMA after it) and by `cli step` (the parity
// harness: exactly these gradients are written out).
import type { GpuContext } from '../gpu/context.ts';
import type { GemmVariant } from '../gpu/gemm.ts';
import type { PassTimer } from '../gpu/kernel.ts';
import { createTensor, type Tensor } from '../gpu/tensor.ts';
import type { ModelConfig } from '../nn/config.ts';
import type { ParamStore } from '../nn/param-store.ts';
import { HeadLayers, HeadRun } from '../nn/projector.ts';
import { PassList } from '../gpu/pass.ts';
import { EncoderLayers, EncoderRun, Scratch } from '../nn/resnet18.ts';
import type { WeightNormNormalizePass } from '../nn/weightnorm.ts';
import { MiraPlan, MiraSolver } from './assignment.ts';
import { CrossEntropyKernels, swappedLossCrops, type CrossEntropyPlan } from './loss.ts';
import { SinkhornPlan, SinkhornSolver } from './sinkhorn.ts';
import { Softmax, SoftmaxBound } from './softmax.ts';
import type { Method } from './train-config.ts';

export interface StepHyper {
  beta: number;
  tauT: number;
  tauS: number;
  iters: number;
  eps: number;
}

/** Pipelines for one configuration and batch size, shared by every graph built on them. */
export class StepLayers {
  private constructor(
    readonly ctx: GpuContext,
    readonly config: ModelConfig,
    readonly batch: number,
    readonly encoder: EncoderLayers,
    readonly head: HeadLayers,
    readonly targets: MiraSolver | SinkhornSolver | Softmax,
    readonly method: Method,
    readonly loss: CrossEntropyKernels,
  ) {}

  static async create(ctx: GpuContext, config: ModelConfig, batch: number, method: Method, variant?: GemmVariant): Promise<StepLayers> {
    const K = config.prototypes;
    const [encoder, head, targets, loss] = await Promise.all([
      EncoderLayers.create(ctx, config, batch, variant),
      HeadLayers.create(ctx, config, batch, variant),
      method === 'mira' ? MiraSolver.create(ctx, { B: batch, K }) : method === 'swav' ? SinkhornSolver.create(ctx, { B: batch, K }) : Softmax.create(ctx, { B: batch, K }),
      CrossEntropyKernels.create(ctx, { B: batch, K }),
    ]);
    return new StepLayers(ctx, config, batch, encoder, head, targets, method, loss);
  }
}

type TargetPlan = MiraPlan | SinkhornPlan | SoftmaxBound;

export class StepGraph {
  readonly normalize: WeightNormNormalizePass;
  readonly student: { encoder: EncoderRun; head: HeadRun }[];
  readonly teacher: { encoder: EncoderRun; head: HeadRun }[];
  readonly targets: [Tensor, Tensor];
  readonly studentGrads: [Tensor, Tensor];
  readonly loss: Tensor;
  private readonly targetPlans: TargetPlan[];
  private readonly lossPlan: CrossEntropyPlan;
  private readonly backward = new PassList();
  private hyper: StepHyper | null = null;

  constructor(
    readonly layers: StepLayers,
    readonly store: ParamStore,
    readonly views: [Tensor, Tensor],
    readonly scratch: Scratch,
  ) {
    const { ctx, batch: B, config } = layers;
    const K = config.prototypes;
    this.normalize = layers.head.bindNormalize(store.params);
    const run = (weights: typeof store.student, x: Tensor, label: string) => {
      const encoder = new EncoderRun(ctx, layers.encoder, weights, x, 'train', `${label}.encoder`);
      const head = new HeadRun(ctx, layers.head, weights, encoder.features, this.normalize, 'train', `${label}.head`);
      return { encoder, head };
    };
    this.student = views.map((v, i) => run(store.student, v, `student${i + 1}`));
    this.teacher = views.map((v, i) => run(store.teacherWeights, v, `teacher${i + 1}`));
    this.targets = [createTensor(ctx, [B, K], 'f32', 'targets1'), createTensor(ctx, [B, K], 'f32', 'targets2')];
    this.targetPlans = this.teacher.map((t, i) => {
      const solver = layers.targets;
      if (solver instanceof MiraSolver) return solver.bind(t.head.logits, this.targets[i]!, `mira${i + 1}`);
      if (solver instanceof SinkhornSolver) return solver.bind(t.head.logits, this.targets[i]!, `sinkhorn${i + 1}`);
      return solver.bind(t.head.logits, this.targets[i]!, `naive${i + 1}`);
    });
    this.studentGrads = [createTensor(ctx, [B, K], 'f32', 'dlogits1'), createTensor(ctx, [B, K], 'f32', 'dlogits2')];
    this.loss = createTensor(ctx, [1], 'f32', 'loss');
    this.lossPlan = layers.loss.bind(swappedLossCrops(this.targets, [this.student[0]!.head.logits, this.student[1]!.head.logits], this.studentGrads), this.loss);
    // Both student views' backwards share activation-gradient scratch and accumulate into grads.
    this.student.forEach((s, i) => {
      const dFeat = scratch.get('d.features', [...s.encoder.features.shape]);
      this.backward.push(s.head.bindBackward(this.studentGrads[i]!, dFeat, store.grads, scratch));
      this.backward.push(s.encoder.bindBackward(dFeat, store.grads, scratch));
    });
  }

  static async build(layers: StepLayers, store: ParamStore, views: [Tensor, Tensor]): Promise<StepGraph> {
    return new StepGraph(layers, store, views, new Scratch(layers.ctx, 'grad_scratch'));
  }

  /** Step hyper-parameters (uniform writes, effective from the next submit; no recompilation). */
  setHyper(h: StepHyper): void {
    for (const p of this.targetPlans) {
      if (p instanceof MiraPlan) p.setParams({ tau: h.tauT, beta: h.beta });
      else if (p instanceof SinkhornPlan) p.setParams({ eps: h.eps });
      else p.setTemperature(h.tauT);
    }
    this.lossPlan.setTemperature(h.tauS);
    this.hyper = { ...h };
  }

  /** Teacher forward and targets only (no gradients). */
  recordTargets(encoder: GPUCommandEncoder, timer?: PassTimer): void {
    if (!this.hyper) throw new Error('StepGraph: call setHyper before recording');
    this.normalize.record(encoder, timer);
    for (const t of this.teacher) {
      t.encoder.forward.record(encoder, timer);
      t.head.forward.record(encoder, timer);
    }
    for (const p of this.targetPlans) {
      if (p instanceof SoftmaxBound) p.record(encoder, timer);
      else p.record(encoder, { iters: this.hyper.iters }, timer);
    }
  }

  /** The whole forward/backward: after it, `store.grads` holds this step's gradients. */
  record(encoder: GPUCommandEncoder, timer?: PassTimer): void {
    encoder.clearBuffer(this.store.grads.buffer);
    this.recordTargets(encoder, timer);
    for (const s of this.student) {
      s.encoder.forward.record(encoder, timer);
      s.head.forward.record(encoder, timer);
    }
    this.lossPlan.record(encoder, timer);
    this.backward.record(encoder, timer);
  }

  /** Teacher logits of view 1 (for the explorer and metrics). */
  get teacherLogits(): Tensor {
    return this.teacher[0]!.head.logits;
  }
  get studentLogits(): Tensor {
    return this.student[0]!.head.logits;
  }
}
