// The per-iteration diagnostics of the row/column scaling solvers (MIRA's fixed point and SwAV's
// Sinkhorn-Knopp): written by the GPU solvers (src/mira/scaling.ts) and by the float64
// reference (src/ref), shown by the explorer and written by `assign --trace` as JSON.

/** One iteration's diagnostics: the `--trace` JSON record (keep these names). */
export interface IterationRecord {
  /** 1-based iteration number. */
  iter: number;
  /**
   * MIRA: v = exp(g), the official code's v (→ mean_i w_i at convergence). Sinkhorn: exp(u),
   * SwAV's prototype scaling (the GPU's convention); it overflows to Infinity for near one-hot
   * rows at small ε (u ~ spread/ε), as SwAV's own does. Every other field stays finite.
   */
  v: number[];
  /**
   * ‖v⁽ⁿ⁾ − v⁽ⁿ⁻¹⁾‖₁ / ‖v⁽ⁿ⁻¹⁾‖₁ of the reported v (MIRA's v⁽⁰⁾ precedes iteration 1; Sinkhorn's
   * u⁽⁰⁾ = 0); saturates at Number.MAX_VALUE beyond float64's range (Sinkhorn's first step on
   * near one-hot rows).
   */
  residual: number;
  /** max_ij |w⁽ⁿ⁾_ij − w⁽ⁿ⁻¹⁾_ij|: the change of the targets, the convergence measure to watch. */
  delta_w: number;
  /** MIRA: mean_i KL(w_i‖p_i) − β·mi, p = softmax(ℓ/τ). Sinkhorn: mean_i KL(q_i‖softmax(ℓ_i/ε)). */
  objective: number;
  /** H(mean_i w_i) */
  marginal_entropy: number;
  /** mean_i H(w_i) */
  mean_entropy: number;
  /** marginal_entropy − mean_entropy */
  mi: number;
  /** ‖mean_i w_i − 1/K‖₁: Sinkhorn's constraint violation (MIRA's is informative, not a constraint). */
  marginal_error: number;
}
