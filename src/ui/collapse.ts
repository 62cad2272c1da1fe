// Collapse warnings for the dashboard: the targets' used clusters at most half their peak; the
// effective number of clusters exp(H(marginal)) of the targets or the teacher halved; or the
// other collapse, where every image gets the same near-uniform target (mutual information ≈ 0
// while the marginal stays at log K, so neither count above notices it).
import type { StepMetrics } from '../train/metric-layout.ts';

export interface CollapseWarning {
  what: 'used_clusters' | 'marginal_entropy' | 'uniform';
  text: string;
}

/** The highest values seen in this run. */
export interface Peak {
  used: number;
  targetH: number;
  teacherH: number;
}

/** Collapse warnings: used clusters at most half their peak, or the effective number of clusters exp(H(marginal)) halved. */
export function collapseWarnings(latest: StepMetrics, peak: Peak, K: number): CollapseWarning[] {
  const out: CollapseWarning[] = [];
  // Only methods with targets over clusters report these metrics (src/methods/pseudo-label.ts).
  const used = latest.used_clusters;
  if (used !== undefined && peak.used >= 4 && used <= peak.used / 2) {
    out.push({ what: 'used_clusters', text: `The targets use ${Math.round(used)} of ${K} clusters, down from ${Math.round(peak.used)}: the assignment is collapsing.` });
  }
  for (const [who, h, p] of [
    ['targets', latest.target_marginal_entropy, peak.targetH],
    ['teacher', latest.teacher_marginal_entropy, peak.teacherH],
  ] as const) {
    if (h !== undefined && p > Math.log(4) && Math.exp(h) < Math.exp(p) / 2) {
      out.push({ what: 'marginal_entropy', text: `The ${who}’ marginal entropy fell to ${h.toFixed(2)} nats (≈ ${Math.exp(h).toFixed(1)} effective clusters, from ${Math.exp(p).toFixed(1)}).` });
      break;
    }
  }
  const logK = Math.log(K);
  const mi = latest.target_mi;
  if (mi !== undefined && latest.target_entropy !== undefined && mi < 0.01 * logK && latest.target_entropy > 0.9 * logK) {
    out.push({
      what: 'uniform',
      text: `Every image gets almost the same near-uniform target (mutual information ${mi.toFixed(3)} nats of log K = ${logK.toFixed(2)}): the targets carry no information, a collapse to the uniform distribution.`,
    });
  }
  return out;
}

