// Each registered method's float64 reference (src/ref), keyed by method id, of its own kind: the
// targets a pseudo-label method makes from teacher logits at given step values
// (TARGET_REFERENCES), the hard-label cross-entropy of a method that trains on one label per
// image (HARD_LABEL_REFERENCES: SeLa, src/ref/sela-labels.ts), or the loss and gradients an
// embedding objective computes from the projections (EMBEDDING_REFERENCES). src/ref is a leaf that
// production code never imports, so the pairing of a method with its reference lives here, on
// the test side; test/method-registry.test.ts requires an entry for every registered method and
// compares it with the method's GPU objective.
import { miraSolve, naiveTargets } from '../../src/ref/assignment.ts';
import { crossEntropy } from '../../src/ref/loss.ts';
import { selaCrossEntropy } from '../../src/ref/sela-labels.ts';
import { sinkhornSwav } from '../../src/ref/sinkhorn.ts';
import { mioObjective } from '../../src/ref/mio.ts';
import { mvebReference } from '../../src/ref/mveb.ts';

export interface TargetStepValues {
  tauT: number;
  beta: number;
  iters: number;
  eps: number;
}

export type TargetReference = (logits: Float64Array, B: number, K: number, v: TargetStepValues) => Float64Array;

export const TARGET_REFERENCES: Record<string, TargetReference> = {
  mira: (logits, B, K, v) => miraSolve(logits, B, K, { tau: v.tauT, beta: v.beta, iters: v.iters }).w,
  swav: (logits, B, K, v) => sinkhornSwav(logits, B, K, { eps: v.eps, iters: v.iters }).targets,
  naive: (logits, B, K, v) => naiveTargets(logits, B, K, v.tauT),
};

/** Loss and ∂L/∂q of one view's student logits q (B×K) against given labels (B, one head). */
export type HardLabelReference = (q: Float64Array, labels: Uint32Array, B: number, K: number, tauS: number) => { loss: number; grad: Float64Array };

export const HARD_LABEL_REFERENCES: Record<string, HardLabelReference> = {
  sela: (q, labels, B, K, tauS) => selaCrossEntropy(q, labels, B, K, 1, tauS),
};

/** The swapped cross-entropy of the targets of both views (float64). */
export function swappedLossReference(w: [Float64Array, Float64Array], q: [Float64Array, Float64Array], B: number, K: number, tauS: number): { loss: number; grads: [Float64Array, Float64Array] } {
  const a = crossEntropy(w[1], q[0], B, K, tauS);
  const b = crossEntropy(w[0], q[1], B, K, tauS);
  return { loss: 0.5 * (a.loss + b.loss), grads: [a.grad.map((g) => 0.5 * g), b.grad.map((g) => 0.5 * g)] };
}

export type EmbeddingReference = (student: [Float64Array, Float64Array], teacher: [Float64Array, Float64Array], B: number, D: number, config: Readonly<Record<string, number>>) => { loss: number; grads: [Float64Array, Float64Array] };

export const EMBEDDING_REFERENCES: Record<string, EmbeddingReference> = {
  mio: (p, _t, B, D, c) => mioObjective(p[0], p[1], B, D, { tauPos: c.tauPos!, tauNeg: c.tauNeg!, l2Weight: c.l2Weight!, negWeight: (c as Readonly<Record<string, unknown>>).mioNegatives === 'off' ? 0 : 1 }),
  mveb: (p, t, B, D, c) => {
    const r = mvebReference(p, t, B, D, { entropyWeight: c.entropyWeight!, steinEta: c.steinEta!, steinChunk: c.steinChunk || B });
    return { loss: r.loss, grads: r.gradP };
  },
};
