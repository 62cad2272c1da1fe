// Per-step schedules of the MIRA recipe (docs/ARCHITECTURE.md, the algorithm): learning rate with linear warm-up then
// cosine decay, β from beta_start to beta_end on a cosine, and the EMA teacher momentum from
// ema_start to 1 on a cosine (as BYOL / solo-learn do). `step` counts from 0; `total` steps.

/** Cosine interpolation from `start` (t = 0) to `end` (t = total). */
export function cosineRamp(start: number, end: number, step: number, total: number): number {
  if (total <= 0) return end;
  const t = Math.min(Math.max(step / total, 0), 1);
  return end - (end - start) * (Math.cos(Math.PI * t) + 1) / 2;
}

export interface LrSchedule {
  base: number;
  warmupSteps: number;
  totalSteps: number;
  /** Floor of the cosine decay. */
  min?: number;
}

/**
 * Linear warm-up from base/warmupSteps to base over the first warmupSteps steps (PyTorch's
 * LinearWarmupCosineAnnealing starts at a small lr, never 0, so step 0 already moves), then
 * cosine from base to min over the rest.
 */
export function learningRate(s: LrSchedule, step: number): number {
  const min = s.min ?? 0;
  if (step < s.warmupSteps) return (s.base * (step + 1)) / s.warmupSteps;
  return cosineRamp(s.base, min, step - s.warmupSteps, Math.max(1, s.totalSteps - s.warmupSteps));
}

export function betaAt(betaStart: number, betaEnd: number, step: number, total: number): number {
  return cosineRamp(betaStart, betaEnd, step, total);
}

export function emaMomentumAt(emaStart: number, step: number, total: number, emaEnd = 1): number {
  return cosineRamp(emaStart, emaEnd, step, total);
}
