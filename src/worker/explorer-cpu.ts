// The explorer's CPU side: the float64 references (src/ref/assignment.ts, sinkhorn.ts), stepped alongside the GPU
// so "Verify on CPU" compares the targets at the same iteration count, and the synthetic toy
// batches (src/ref/synthetic.ts).
import { miraInit, miraStep, miraTargets } from '../ref/assignment.ts';
import type { ScalingState } from '../ref/scaling.ts';
import { sinkhornInit, sinkhornStep, sinkhornTargets } from '../ref/sinkhorn.ts';
import { makeClusteredLogits } from '../ref/synthetic.ts';
import type { ExplorerParams } from './explorer.ts';

/** MIRA (v⁽⁰⁾, then fixed-point steps) and Sinkhorn-Knopp in float64, advanced to the GPU's count. */
export class CpuFollower {
  private readonly mira: ScalingState;
  private readonly sinkhorn: ScalingState;

  constructor(logits: Float32Array, B: number, K: number, params: ExplorerParams) {
    this.mira = miraInit(logits, B, K, { tau: params.tau, beta: params.beta });
    this.sinkhorn = sinkhornInit(logits, B, K, { eps: params.eps });
  }

  get iters(): number {
    return this.mira.iter;
  }

  advanceTo(iters: number): void {
    while (this.mira.iter < iters) miraStep(this.mira);
    while (this.sinkhorn.iter < iters) sinkhornStep(this.sinkhorn);
  }

  async targets(): Promise<{ mira: Float64Array; sinkhorn: Float64Array }> {
    return { mira: miraTargets(this.mira), sinkhorn: sinkhornTargets(this.sinkhorn) };
  }
}

/**
 * A toy batch shaped like a teacher's logits: cosines between B embeddings drawn around 10 true
 * clusters (sizes ∝ (1 − imbalance)^c) and K random unit prototypes.
 */
export function makeSyntheticLogits(B: number, K: number, imbalance: number, seed: number): Float32Array {
  return makeClusteredLogits(B, K, seed, { imbalance, clusters: Math.min(10, K) });
}
