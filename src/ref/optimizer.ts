// Float64 references of the optimizers and the EMA teacher update, over flat parameter arrays
// holding many tensors (the GPU kernels in src/shaders/optimizer.wgsl are checked against these).
// They update their arguments in place, as torch.optim does.
//
// Each tensor is a range [offset, offset + length) with flags:
//   decay   weight decay applies (MIRA / moco-v3: parameters with more than one dimension)
//   trust   the LARS trust ratio applies (the same set: BN parameters and biases excluded)
//   frozen  no update at all this step (PyTorch skips parameters whose grad is None: MIRA freezes
//           the prototype head for the first epoch that way)
//
// SGD (PyTorch, dampening 0, no Nesterov):  d = s·g + wd·p [decay];  m ← μ·m + d;  p ← p − lr·m
//   (torch initialises m to the first d; with m starting at zero, μ·0 + d is the same.)
// LARS 'mira' — the official MIRA code (moco-v3's LARS), for trust tensors:
//   u = s·g + wd·p [decay];  q = η‖p‖/‖u‖ if ‖p‖ > 0 and ‖u‖ > 0, else 1;  d = q·u;  then as SGD.
//   other tensors: d = s·g + wd·p [decay].
// LARS 'solo' — solo-learn (Lightning-bolts), for trust tensors with ‖p‖ ≠ 0 and ‖s·g‖ ≠ 0:
//   q = η‖p‖/(‖s·g‖ + wd·‖p‖ + eps) [decay: wd, else 0], clipped to min(q/lr, 1) with `clip`;
//   d = q·(s·g + wd·p [decay]);  otherwise d = s·g (no weight decay at all).
// EMA: t ← m·t + (1 − m)·s (as mp.data * m + p.data * (1 − m)).

import type { LarsVariant, OptimizerStepParams } from '../nn/optimizer.ts';

export interface RefParamTensor {
  offset: number;
  length: number;
  decay: boolean;
  trust: boolean;
  frozen?: boolean;
}

export type { LarsVariant };

/** What LARS did to one tensor (for the tests and the UI's trust-ratio display). */
export interface RefTrust {
  /** Trust ratio q (1 where not applied). */
  q: number;
  applied: boolean;
  paramNorm: number;
  /** ‖s·g‖ */
  gradNorm: number;
  /** ‖s·g + wd·p‖ (wd where decay applies) */
  updateNorm: number;
}

function checkTensors(what: string, size: number, tensors: readonly RefParamTensor[]): void {
  for (const t of tensors) {
    if (!(Number.isInteger(t.offset) && Number.isInteger(t.length) && t.offset >= 0 && t.length > 0 && t.offset + t.length <= size)) {
      throw new Error(`${what}: tensor [${t.offset}, ${t.offset + t.length}) is not inside the flat buffer of ${size}`);
    }
  }
}

function checkArrays(what: string, p: Float64Array, g: Float64Array, m: Float64Array): void {
  if (g.length !== p.length || m.length !== p.length) throw new Error(`${what}: params ${p.length}, grads ${g.length} and momentum ${m.length} must have one length`);
}

function momentumStep(p: Float64Array, m: Float64Array, t: RefParamTensor, d: (i: number) => number, o: OptimizerStepParams): void {
  for (let i = t.offset; i < t.offset + t.length; i++) {
    const di = d(i);
    m[i] = o.momentum * m[i]! + di;
    p[i] = p[i]! - o.lr * m[i]!;
  }
}

/** One SGD step with momentum (PyTorch semantics) over every non-frozen tensor. */
export function sgdStep(p: Float64Array, g: Float64Array, m: Float64Array, tensors: readonly RefParamTensor[], o: OptimizerStepParams): void {
  checkArrays('sgdStep', p, g, m);
  checkTensors('sgdStep', p.length, tensors);
  const s = o.gradScale ?? 1;
  for (const t of tensors) {
    if (t.frozen) continue;
    const wd = t.decay ? o.weightDecay : 0;
    momentumStep(p, m, t, (i) => s * g[i]! + wd * p[i]!, o);
  }
}

/** One LARS step; returns what the trust ratio was per tensor. */
export function larsStep(
  p: Float64Array,
  g: Float64Array,
  m: Float64Array,
  tensors: readonly RefParamTensor[],
  o: OptimizerStepParams,
  variant: LarsVariant = 'mira',
): RefTrust[] {
  checkArrays('larsStep', p, g, m);
  checkTensors('larsStep', p.length, tensors);
  const s = o.gradScale ?? 1;
  const eta = o.eta ?? 0.001;
  const eps = o.eps ?? 1e-8;
  const out: RefTrust[] = [];
  for (const t of tensors) {
    const wd = t.decay ? o.weightDecay : 0;
    let pp = 0;
    let gg = 0;
    let uu = 0;
    for (let i = t.offset; i < t.offset + t.length; i++) {
      const gi = s * g[i]!;
      const ui = gi + wd * p[i]!;
      pp += p[i]! * p[i]!;
      gg += gi * gi;
      uu += ui * ui;
    }
    const paramNorm = Math.sqrt(pp);
    const gradNorm = Math.sqrt(gg);
    const updateNorm = Math.sqrt(uu);
    let q = 1;
    let applied = false;
    let a = 1; // d = a·(s·g) + b·p
    let b = wd;
    if (variant === 'mira') {
      if (t.trust) {
        if (paramNorm > 0 && updateNorm > 0) q = (eta * paramNorm) / updateNorm;
        a = q;
        b = q * wd;
        applied = true;
      }
    } else {
      b = 0;
      if (t.trust && paramNorm !== 0 && gradNorm !== 0) {
        q = (eta * paramNorm) / (gradNorm + paramNorm * wd + eps);
        if (o.clip) q = Math.min(q / o.lr, 1);
        a = q;
        b = q * wd;
        applied = true;
      }
    }
    out.push({ q, applied, paramNorm, gradNorm, updateNorm });
    if (t.frozen) continue;
    momentumStep(p, m, t, (i) => a * s * g[i]! + b * p[i]!, o);
  }
  return out;
}

/** The EMA teacher update t ← m·t + (1 − m)·s, in place on `teacher`. */
export function emaUpdate(teacher: Float64Array, student: Float64Array, m: number): void {
  if (teacher.length !== student.length) throw new Error(`emaUpdate: teacher ${teacher.length} and student ${student.length} differ`);
  for (let i = 0; i < teacher.length; i++) teacher[i] = teacher[i]! * m + student[i]! * (1 - m);
}
