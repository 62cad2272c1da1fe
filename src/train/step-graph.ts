// One training step's forward/backward on two views, recorded into the caller's encoder (no
// readback), for any registered method (docs/ARCHITECTURE.md, "The life of a training step"):
//   zero grads; W = v/‖v‖ (student head, shared with the teacher; pseudo-label methods)
//   teacher: its outputs of both views with the EMA encoder + projector (+ head), if the
//            method uses a teacher                                    BN in training mode
//   objective: the method's targets from the teacher's outputs       (recordTargets)
//   student: outputs of both views: logits q = head(projector(encoder(view))) for pseudo-label
//            methods, the projection z = projector(encoder(view)) for embedding objectives
//   objective: the method's loss and ∂L/∂outputs                     (recordLoss)
//   backward of both student views, accumulating into the flat gradient buffer.
// The graph composes the layers and the method's objective; it never asks which method it runs.
// Used by the trainer (with the optimizer and EMA after it) and by `cli step` (the parity
// harness: exactly these gradients are written out).
// Precision (the `precision` row; src/gpu/f16.ts resolvePrecision): with f16 the encoders store
// activations in f16 and read f16 copies of the conv weights (src/nn/f16-weights.ts), refreshed
// from the f32 masters by one cast per network at the start of every step's recording, so after
// initialisation, a checkpoint load, every optimizer step and every EMA update alike.
import type { GpuContext } from '../gpu/context.ts';
import type { GemmVariant } from '../gpu/gemm.ts';
import type { PassTimer } from '../gpu/kernel.ts';
import { createTensor, type Tensor } from '../gpu/tensor.ts';
import { headCount, type ModelConfig } from '../nn/config.ts';
import type { ParamStore } from '../nn/param-store.ts';
import { HeadLayers, HeadRun } from '../nn/projector.ts';
import { EncoderLayers, EncoderRun, Scratch } from '../nn/resnet18.ts';
import { PassList, type Pass } from '../gpu/pass.ts';
import { TRAINING_PASSES } from '../nn/batchnorm.ts';
import { resolvePrecision, type PrecisionSetting } from '../gpu/f16.ts';
import { encoderConvWeightNames, F16WeightLayout, type F16Weights } from '../nn/f16-weights.ts';
import { ParamLayout } from '../nn/param-store.ts';
import type { WeightNormNormalizePass } from '../nn/weightnorm.ts';
import { RepresentationHealth, type RepresentationHealthPlan } from '../mira/representation.ts';
import type { MethodDef, MethodObjective, MethodRunState, ObjectivePlan, StepValues } from '../methods/types.ts';

/** Pipelines for one configuration, batch size and method, shared by every graph built on them. */
export class StepLayers {
  private constructor(
    readonly ctx: GpuContext,
    readonly config: ModelConfig,
    readonly batch: number,
    readonly method: MethodDef,
    readonly encoder: EncoderLayers,
    readonly head: HeadLayers,
    readonly objective: MethodObjective,
    readonly health: RepresentationHealth,
    /** The f16 weight copies' layout and cast (precision f16), else null. */
    readonly weightsF16: F16WeightLayout | null = null,
  ) {}

  /** `fuseBnRelu`: each block's bn1 + ReLU applied in conv2's loads (src/nn/resnet18.ts defaultFuseBnRelu when undefined). */
  static async create(ctx: GpuContext, config: ModelConfig, batch: number, method: MethodDef, trainConfig: Readonly<Record<string, unknown>>, variant?: GemmVariant, fuseBnRelu?: boolean): Promise<StepLayers> {
    const hasHead = config.prototypes > 0;
    const precision = resolvePrecision(ctx, (trainConfig.precision as PrecisionSetting | undefined) ?? 'f32');
    if ((method.kind === 'pseudo-label') !== hasHead) throw new Error(`${method.label} is ${method.kind === 'pseudo-label' ? 'a pseudo-label method: it needs prototypes (K ≥ 2)' : 'an embedding objective: its model has no prototype head (K = 0)'}; this model has K = ${config.prototypes}`);
    const [encoder, head, objective, health, weightsF16] = await Promise.all([
      // Training passes only: evaluation's pipelines are compiled when an evaluation first needs them (a shorter start).
      EncoderLayers.create(ctx, config, batch, variant, TRAINING_PASSES, { precision, fuseBnRelu }),
      HeadLayers.create(ctx, config, batch, variant, TRAINING_PASSES),
      method.createObjective(ctx, { B: batch, K: config.prototypes, heads: headCount(config), D: config.projOut, config: trainConfig }),
      RepresentationHealth.create(ctx, { B: batch, D: config.projOut }),
      precision === 'f16' ? F16WeightLayout.create(ctx, new ParamLayout(config), encoderConvWeightNames(config)) : null,
    ]);
    return new StepLayers(ctx, config, batch, method, encoder, head, objective, health, weightsF16);
  }
}

interface NetworkRun {
  encoder: EncoderRun;
  head: HeadRun;
}

export class StepGraph {
  readonly normalize: WeightNormNormalizePass | null;
  readonly student: NetworkRun[];
  readonly teacher: NetworkRun[];
  readonly studentGrads: Tensor[];
  readonly loss: Tensor;
  readonly objective: ObjectivePlan;
  /** Alignment, uniformity and effective rank of the student's projections (every method). */
  readonly healthOut: Tensor;
  private readonly healthPlan: RepresentationHealthPlan;
  private readonly healthCopy: { from: Tensor; to: Tensor } | null;
  private readonly backward = new PassList();
  /** The casts that refresh the f16 weight copies (precision f16), recorded first in every step. */
  private readonly castsF16: Pass[] = [];
  private stepped = false;

  constructor(
    readonly layers: StepLayers,
    readonly store: ParamStore,
    readonly views: readonly Tensor[],
    readonly scratch: Scratch,
    state: MethodRunState | null = null,
  ) {
    const { ctx, batch: B, config, method } = layers;
    // Pseudo-label methods: logits of every prototype head side by side (B×(H·K); H = 1 but for SeLa).
    const width = method.kind === 'pseudo-label' ? config.prototypes * headCount(config) : config.projOut;
    this.normalize = layers.head.bindNormalize(store.params);
    // One f16 copy per network (student, teacher), shared by its views.
    const copies = new Map<GPUBuffer, F16Weights>();
    const copyOf = (weights: typeof store.student, label: string): F16Weights | null => {
      if (!layers.weightsF16) return null;
      let c = copies.get(weights.params.buffer);
      if (!c) {
        layers.weightsF16.checkLayout(store.layout);
        copies.set(weights.params.buffer, (c = layers.weightsF16.copyOf(weights.params, `${label}.weights_f16`)));
        this.castsF16.push(c.cast);
      }
      return c;
    };
    const run = (weights: typeof store.student, x: Tensor, label: string): NetworkRun => {
      const encoder = new EncoderRun(ctx, layers.encoder, weights, x, 'train', `${label}.encoder`, copyOf(weights, label.replace(/\d+$/, '')));
      const head = new HeadRun(ctx, layers.head, weights, encoder.features, this.normalize, 'train', `${label}.head`);
      return { encoder, head };
    };
    this.student = views.map((v, i) => run(store.student, v, `student${i + 1}`));
    this.teacher = method.usesTeacher ? views.map((v, i) => run(store.teacherWeights, v, `teacher${i + 1}`)) : [];
    if (views.length !== method.viewsPerImage) throw new Error(`${method.label} takes ${method.viewsPerImage} view(s) of each image; the step graph was given ${views.length}`);
    this.studentGrads = views.map((_, i) => createTensor(ctx, [B, width], 'f32', `doutputs${i + 1}`));
    this.loss = createTensor(ctx, [1], 'f32', 'loss');
    const output = (r: NetworkRun) => (method.kind === 'pseudo-label' ? r.head.logits! : r.head.projection);
    const outputs = (r: NetworkRun[]) => r.map(output);
    this.objective = layers.objective.bind({ student: outputs(this.student), teacher: this.teacher.length ? outputs(this.teacher) : null, grads: this.studentGrads, loss: this.loss, state }, method.id);
    this.healthOut = createTensor(ctx, [3], 'f32', 'health');
    const z = this.student.map((r) => r.head.projection);
    // A one-view method (SeLa) has no second view: health reads a copy of view 1 (its bindings may
    // not alias one buffer), so alignment is 1 by construction and uniformity and rank are view 1's.
    this.healthCopy = z[1] ? null : { from: z[0]!, to: createTensor(ctx, [...z[0]!.shape], 'f32', 'health.view1_copy') };
    this.healthPlan = layers.health.bind({ z: [z[0]!, z[1] ?? this.healthCopy!.to], out: this.healthOut }, 'health');
    // Both student views' backwards share activation-gradient scratch and accumulate into grads.
    this.student.forEach((s, i) => {
      const dFeat = scratch.get('d.features', [...s.encoder.features.shape]);
      this.backward.push(s.head.bindBackward(this.studentGrads[i]!, dFeat, store.grads, scratch));
      this.backward.push(s.encoder.bindBackward(dFeat, store.grads, scratch));
    });
  }

  static async build(layers: StepLayers, store: ParamStore, views: readonly Tensor[], state: MethodRunState | null = null): Promise<StepGraph> {
    return new StepGraph(layers, store, views, new Scratch(layers.ctx, 'grad_scratch'), state);
  }

  /** This step's configuration and schedule values (uniform writes, effective from the next submit). */
  setStep(v: StepValues): void {
    this.objective.setStep(v);
    this.stepped = true;
  }

  /** Teacher forward and the method's targets only (no gradients). */
  recordTargets(encoder: GPUCommandEncoder, timer?: PassTimer): void {
    if (!this.stepped) throw new Error('StepGraph: call setStep before recording');
    for (const c of this.castsF16) c.record(encoder, timer);
    this.normalize?.record(encoder, timer);
    for (const t of this.teacher) {
      t.encoder.forward.record(encoder, timer);
      t.head.forward.record(encoder, timer);
    }
    this.objective.recordTargets(encoder, timer);
  }

  /** The whole forward/backward: after it, `store.grads` holds this step's gradients. */
  record(encoder: GPUCommandEncoder, timer?: PassTimer): void {
    encoder.clearBuffer(this.store.grads.buffer);
    this.recordTargets(encoder, timer);
    for (const s of this.student) {
      s.encoder.forward.record(encoder, timer);
      s.head.forward.record(encoder, timer);
    }
    this.objective.recordLoss(encoder, timer);
    this.backward.record(encoder, timer);
  }

  /** Dispatches and bytes (at least moved) of the networks' passes in one step: teacher and student forwards, the
   *  backward (the method's objective and the weight normalisation left out). For the benchmarks (issue 15: fusions). */
  get networkCost(): { dispatches: number; bytes: number } {
    const passes = [...this.teacher, ...this.student].flatMap((r) => [r.encoder.forward, r.head.forward]).concat(this.backward);
    return { dispatches: passes.reduce((s, p) => s + p.dispatches, 0), bytes: passes.reduce((s, p) => s + p.bytes, 0) };
  }

  /** The method's metric sources (on logged steps, after `record`). */
  recordMetrics(encoder: GPUCommandEncoder): void {
    this.objective.recordMetrics(encoder);
    if (this.healthCopy) encoder.copyBufferToBuffer(this.healthCopy.from.buffer, this.healthCopy.from.byteOffset, this.healthCopy.to.buffer, this.healthCopy.to.byteOffset, this.healthCopy.from.numel * 4);
    this.healthPlan.record(encoder);
  }

  /** Every named GPU metric source: the loss, the representation health and the method's. */
  get metricSources(): Readonly<Record<string, Tensor>> {
    return { loss: this.loss, health: this.healthOut, ...this.objective.metricSources };
  }

  /** View 1's targets (null for methods without prototypes). */
  get targets(): Tensor | null {
    return this.objective.targets;
  }

  /** Teacher logits of view 1 (for the explorer, `--save-logits`; the student's without a teacher); null without prototypes. */
  get teacherLogits(): Tensor | null {
    return (this.teacher[0] ?? this.student[0]!).head.logits;
  }
}
