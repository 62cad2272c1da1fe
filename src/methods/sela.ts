// SeLa (Asano, Rupprecht, Vedaldi, ICLR 2020, "Self-labelling via simultaneous clustering and
// representation learning"): one hard label per training image, re-optimised from time to time
// over the WHOLE dataset by Sinkhorn-Knopp on p^λ with equal class sizes, and plain
// cross-entropy of one augmented view against those labels — equipartition enforced over the
// dataset, where MIRA's targets are per batch and free in their sizes.
//
// Head: the same weight-normalised prototype head as MIRA (cosine logits / τₛ). It keeps the
// comparison with the other methods to the objective alone, reuses the step graph's head, its
// freeze schedule and the LogitEmbedder the labeller fills its bank from, and bounded logits
// keep p^λ (λ = 10) well conditioned; SeLa's own code uses a plain linear head.
// Multiple heads (--sela-heads H, SeLa's CIFAR recipe uses 10): H such heads on the projector's
// output, each with its own label vector (labels.npy is N×H), the loss the heads' cross-entropies
// averaged, every label optimisation relabelling every head. Head 0 keeps the single head's
// checkpoint names (head.weight_v, head.weight_g), further heads are heads.1.weight_v … (as an
// nn.ModuleList names them; docs/ARCHITECTURE.md, "The checkpoint format"). Label metrics are
// head 0's; sela_nmi_heads and sela_changed_heads average over the heads.
//
// Rows here; the GPU objective and the run state (labels, gather, relabelling, labels.npy) in
// sela-objective.ts, loaded on demand. Reference: src/ref/sela-labels.ts (labels and the
// hard-label cross-entropy). See docs/ARCHITECTURE.md, "Methods are plug-ins".
import { FREEZE_HEAD_STEPS, PROTOTYPES, TAU_S } from './pseudo-label.ts';
import { defineMethod, type MetricRow, type PanelSpec } from './types.ts';

export const SELA_LAMBDA = { key: 'selaLambda', short: 'sl', label: 'SeLa λ', group: 'method', kind: 'number', min: 0, max: 1000, exclusiveMin: true, default: 10, step: 1, help: 'SeLa: P = p^λ before the whole-dataset Sinkhorn-Knopp (10); larger follows the network more closely.' } as const;
export const RELABEL_EVERY = { key: 'relabelEvery', short: 're', label: 'Relabel every', group: 'method', kind: 'int', min: 0, max: Infinity, default: 0, step: 1, help: 'SeLa: re-optimise the labels every N steps after the warm-up; 0 = spread --relabel-count optimisations over the run.' } as const;
export const RELABEL_COUNT = { key: 'relabelCount', short: 'rc', label: 'Relabel count', group: 'method', kind: 'int', min: 1, max: 100000, default: 40, step: 1, help: 'SeLa: label optimisations spread evenly over the run, the first after the warm-up (40), when --relabel-every is 0.' } as const;
export const SELA_HEADS = { key: 'selaHeads', short: 'sh', label: 'SeLa heads', group: 'method', kind: 'int', min: 1, max: 64, default: 1, step: 1, help: 'SeLa: prototype heads, each with its own labels re-optimised at every label optimisation, losses averaged (SeLa’s CIFAR recipe: 10).' } as const;

const STAT = { entropy: 0, marginal_entropy: 1, mi: 2, used_clusters: 4, largest_cluster_fraction: 5 } as const;

export const SELA_METRICS: readonly MetricRow[] = [
  { key: 'student_entropy', help: 'mean_i H(p_i) of the student’s probabilities softmax(q/τₛ) (nats)', source: { gpu: 'student', index: STAT.entropy }, reduce: 'mean' },
  { key: 'student_marginal_entropy', help: 'H(mean_i p_i) of the student’s probabilities (nats)', source: { gpu: 'student', index: STAT.marginal_entropy }, reduce: 'mean' },
  { key: 'student_mi', help: 'marginal entropy − entropy of the student’s probabilities (nats)', source: { gpu: 'student', index: STAT.mi }, reduce: 'mean' },
  { key: 'used_clusters', help: 'clusters that are the student’s argmax for at least one image of the batch', source: { gpu: 'student', index: STAT.used_clusters }, reduce: 'mean' },
  { key: 'largest_cluster_fraction', help: 'share of the batch in the student’s largest argmax cluster', source: { gpu: 'student', index: STAT.largest_cluster_fraction }, reduce: 'mean' },
  { key: 'sela_nmi', help: 'NMI of the labels against the true classes, after each label optimisation', source: 'host', reduce: 'last' },
  { key: 'sela_purity', help: 'purity of the labels against the true classes, after each label optimisation', source: 'host', reduce: 'last' },
  { key: 'sela_changed', help: 'fraction of images whose label changed at the last optimisation', source: 'host', reduce: 'last' },
  { key: 'sela_iters', help: 'Sinkhorn-Knopp iterations of the last label optimisation', source: 'host', reduce: 'last' },
  { key: 'sela_marginal_error', help: 'Σ_k |col_k − 1/K| of the scaled assignment the labels came from', source: 'host', reduce: 'last' },
  { key: 'sela_largest_over_mean', help: 'largest class / (N/K) after the last label optimisation (1 = equal sizes)', source: 'host', reduce: 'last' },
  { key: 'sela_nmi_heads', help: 'label NMI against the true classes averaged over the heads (= sela_nmi with one head)', source: 'host', reduce: 'last' },
  { key: 'sela_changed_heads', help: 'fraction of labels that changed at the last optimisation, averaged over the heads', source: 'host', reduce: 'last' },
  { key: 'sela_relabel_s', help: 'wall time of the last label optimisation, bank fill included (s)', source: 'host', reduce: 'last' },
];

export const SELA_PANELS: readonly PanelSpec[] = [
  {
    kind: 'lines',
    id: 'sela-labels',
    title: 'SeLa labels',
    subtitle: 'at each label optimisation: NMI with the true classes and the fraction of labels that changed',
    series: [
      { key: 'sela_nmi', label: 'label NMI', color: '#2fcf8f' },
      { key: 'sela_changed', label: 'label churn', color: '#ff7a7a', dashed: true },
    ],
    zero: true,
  },
  { kind: 'class-sizes', id: 'sela-class-sizes', title: 'SeLa class sizes' },
  { kind: 'lines', id: 'sela-equipartition', title: 'Class sizes', subtitle: 'largest class / (N/K) after each optimisation (1 = equal)', series: [{ key: 'sela_largest_over_mean', label: 'largest / mean', color: '#f5a524' }], zero: true },
  { kind: 'lines', id: 'entropy', title: 'Student entropy', subtitle: 'mean_i H(p_i) and H(mean_i p_i), nats', series: [{ key: 'student_entropy', label: 'entropy', color: '#5b9cff' }, { key: 'student_marginal_entropy', label: 'marginal entropy', color: '#2fcf8f' }], zero: true, reference: 'logK' },
];

export const sela = defineMethod({
  id: 'sela',
  label: 'SeLa',
  color: '#facc15',
  kind: 'pseudo-label',
  summary: 'SeLa: one hard label per image, equal class sizes over the whole dataset by Sinkhorn-Knopp',
  explanation:
    'Every training image keeps one label. From time to time the network labels the whole dataset and Sinkhorn-Knopp on p^λ forces the classes to equal sizes over all N images; between those optimisations the network learns the labels by plain cross-entropy on one view. Unlike MIRA’s per-batch targets, whose cluster sizes are free, SeLa fixes the sizes.',
  formula: String.raw`\begin{aligned} y_n &= \arg\max_k Q_{nk}, \quad Q = \mathrm{diag}(r)\, P \,\mathrm{diag}(c), \quad P_{nk} = \mathrm{softmax}(\ell_n)_k^{\lambda}, \quad \sum_n Q_{nk} = \frac{N}{K} \text{ over all } N \text{ images} \\ \mathcal{L} &= -\frac{1}{B}\sum_i \log \mathrm{softmax}(q_i/\tau_s)_{y_i} \end{aligned}`,
  watch: 'Watch the label NMI rise and the churn fall.',
  params: [PROTOTYPES, TAU_S, FREEZE_HEAD_STEPS, SELA_LAMBDA, RELABEL_EVERY, RELABEL_COUNT, SELA_HEADS],
  viewsPerImage: 1,
  usesTeacher: false,
  reference: 'src/ref/sela-labels.ts',
  metrics: SELA_METRICS,
  panels: SELA_PANELS,
  runFiles: ['labels.npy'],
  modelHeads: (config) => (config.selaHeads as number | undefined) ?? 1,
  // The collapse lab runs every method side by side for a few hundred steps: 4 whole-dataset relabellings keep SeLa's share of it small.
  recommended: { relabelCount: 4 },
  async createObjective(ctx, shape) {
    const { selaObjective } = await import('./sela-objective.ts');
    return selaObjective(ctx, shape);
  },
  async createRunState(env) {
    const { selaRunState } = await import('./sela-objective.ts');
    return selaRunState(env);
  },
});
