// Cluster quality for the gallery: purity and NMI of the method's clusters against the labels
// it never saw (src/mira/cluster-quality.ts).
import { nmi, purity } from '../mira/cluster-quality.ts';

export function clusterQuality(pred: readonly number[], labels: readonly number[]): { purity: number; nmi: number } {
  const p = Int32Array.from(pred);
  const l = Int32Array.from(labels);
  return { purity: purity(p, l), nmi: nmi(p, l) };
}
