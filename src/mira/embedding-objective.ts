// The tensors an embedding objective's kernel host (src/mira/mveb.ts, src/mira/mio.ts) reads and
// writes, all f32 on the GPU. The method layer (src/methods/mveb.ts, mio.ts) binds the step
// graph's projections to it; see docs/ARCHITECTURE.md, "Methods are plug-ins".
import type { Tensor } from '../gpu/tensor.ts';

export interface EmbeddingObjectiveBindings {
  /** p⁽¹⁾, p⁽²⁾: B×D student projector outputs (NOT normalised). */
  student: [Tensor, Tensor];
  /** B×D EMA-teacher projector outputs (MVEB only; no gradient). */
  teacher?: [Tensor, Tensor];
  /** B×D out: ∂L/∂p⁽ᵛ⁾ (assigned, not accumulated). */
  grads: [Tensor, Tensor];
  /** [1] out: L. */
  loss: Tensor;
  /** [S] out: the method's metric scalars, in the order of `statNames`. */
  stats: Tensor;
}
