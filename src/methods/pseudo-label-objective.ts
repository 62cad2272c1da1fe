// The pseudo-label family's GPU objective (src/methods/pseudo-label.ts has its rows, metrics and
// panels): the method's targets from the teacher's logits of both views, the swapped
// cross-entropy and its gradients into the student's logits (src/mira/loss.ts), and the collapse
// metrics of student, teacher and targets (src/mira/metrics.ts) as the family's metric sources.
import type { GpuContext } from '../gpu/context.ts';
import type { PassTimer } from '../gpu/kernel.ts';
import { createTensor, type Tensor } from '../gpu/tensor.ts';
import { CrossEntropyKernels, swappedLossCrops } from '../mira/loss.ts';
import { AssignmentMetrics } from '../mira/metrics.ts';
import { Softmax } from '../mira/softmax.ts';
import type { TargetSolver } from './pseudo-label.ts';
import type { MethodObjective, ObjectiveIO, ObjectivePlan, ObjectiveShape, StepValues } from './types.ts';

/** The swapped cross-entropy against the method's targets, plus the family's metrics. */
export async function pseudoLabelObjective(ctx: GpuContext, shape: ObjectiveShape, solver: TargetSolver): Promise<MethodObjective> {
  const { B, K } = shape;
  const [loss, studentSm, teacherSm, metrics] = await Promise.all([
    CrossEntropyKernels.create(ctx, { B, K }),
    Softmax.create(ctx, { B, K }),
    Softmax.create(ctx, { B, K }),
    AssignmentMetrics.create(ctx, { B, K }),
  ]);
  return {
    bind(io: ObjectiveIO, label: string): ObjectivePlan {
      if (!io.teacher) throw new Error(`${label}: pseudo-label methods need the EMA teacher's logits`);
      if (io.student.length !== 2 || io.teacher.length !== 2 || io.grads.length !== 2) throw new Error(`${label}: the swapped loss takes two views; got ${io.student.length}`);
      const teacher = io.teacher;
      const targets = [createTensor(ctx, [B, K], 'f32', 'targets1'), createTensor(ctx, [B, K], 'f32', 'targets2')] as const;
      const targetPlans = teacher.map((logits, i) => solver.bind(logits, targets[i]!, `${label}.targets${i + 1}`));
      const lossPlan = loss.bind(swappedLossCrops([targets[0], targets[1]], [io.student[0]!, io.student[1]!], [io.grads[0]!, io.grads[1]!]), io.loss);
      // Metrics of view 1: the student's and teacher's probabilities against the targets, and the targets.
      const pStudent = createTensor(ctx, [B, K], 'f32', 'p_student');
      const pTeacher = createTensor(ctx, [B, K], 'f32', 'p_teacher');
      const probs = [studentSm.bind(io.student[0]!, pStudent, 'softmax_student'), teacherSm.bind(teacher[0]!, pTeacher, 'softmax_teacher')] as const;
      const stats = [metrics.bind(pStudent, targets[0], 'metrics_student'), metrics.bind(pTeacher, targets[0], 'metrics_teacher'), metrics.bind(targets[0], undefined, 'metrics_targets')] as const;
      return {
        targets: targets[0],
        metricSources: { student: stats[0].out, teacher: stats[1].out, targets: stats[2].out },
        setStep(v: StepValues) {
          for (const p of targetPlans) p.setStep(v);
          lossPlan.setTemperature(v.config.tauS as number);
          probs[0].setTemperature(v.config.tauS as number);
          probs[1].setTemperature(v.config.tauT as number);
        },
        recordTargets(encoder, timer) {
          for (const p of targetPlans) p.record(encoder, timer);
        },
        recordLoss(encoder, timer) {
          lossPlan.record(encoder, timer);
        },
        recordMetrics(encoder) {
          for (const p of probs) p.record(encoder);
          for (const s of stats) s.record(encoder);
        },
      };
    },
  };
}

/** A fixed-point solver of the family (MIRA, Sinkhorn-Knopp): this step's parameters, then `iters` iterations. */
interface IteratedSolver<P> {
  bind(logits: Tensor, targets: Tensor, label: string): { setParams(p: P): void; record(encoder: GPUCommandEncoder, opts: { iters: number }, timer?: PassTimer): void };
}

/** The family's TargetSolver for an iterated solver: `params` maps the step's values to the solver's, `iters` comes from the config. */
export function iteratedTargets<P>(solver: IteratedSolver<P>, params: (v: StepValues) => P): TargetSolver {
  return {
    bind(logits, targets, label) {
      const plan = solver.bind(logits, targets, label);
      let iters = 0;
      return {
        setStep(v) {
          plan.setParams(params(v));
          iters = v.config.iters as number;
        },
        record: (encoder, timer) => plan.record(encoder, { iters }, timer),
      };
    },
  };
}
