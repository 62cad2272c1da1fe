// MIRA — Mutual Information Regularized Assignment (Lee et al., NeurIPS 2022): the targets solve
//   min_W mean_i KL(w_i‖p_i) − β·Î(W),  Î = H(mean w) − mean H(w_i),  p = softmax(ℓ/τₜ),
// by the log-domain fixed point of src/mira/assignment.ts (kernel src/shaders/mira.wgsl, float64
// reference src/ref/assignment.ts, tests test/mira-assignment.test.ts). β follows a cosine from
// β start to β end over the run. A pseudo-label method: the loss is the family's.
import { ITERS, PSEUDO_LABEL_METRICS, PSEUDO_LABEL_PANELS, PSEUDO_LABEL_PARAMS } from './pseudo-label.ts';
import { defineMethod } from './types.ts';

export const BETA_START = { key: 'betaStart', short: 'b0', label: 'β start', group: 'method', kind: 'number', min: 0, max: 1, exclusiveMin: true, exclusiveMax: true, default: 0.75, step: 0.01, help: 'MIRA’s weight of the mutual-information term at step 0 (0.75); higher spreads targets more.' } as const;
export const BETA_END = { key: 'betaEnd', short: 'b1', label: 'β end', group: 'method', kind: 'number', min: 0, max: 1, exclusiveMin: true, exclusiveMax: true, default: 2 / 3, step: 0.01, help: 'MIRA’s β at the last step, reached on a cosine (2/3).' } as const;

export const mira = defineMethod({
  id: 'mira',
  label: 'MIRA',
  color: '#c084fc',
  kind: 'pseudo-label',
  summary: 'MIRA: targets by a fixed point that trades fidelity to the teacher for mutual information',
  explanation:
    'Each target row stays close to the teacher’s prediction (the KL term) while the batch’s targets keep high mutual information with the images (weight β): every image gets a confident label and the labels spread over the clusters, without forcing equal cluster sizes.',
  formula: String.raw`\begin{aligned} w &= \arg\min_{W}\ \frac{1}{B}\sum_i \mathrm{KL}(w_i \,\|\, p_i) - \beta\Big[H(\bar w) - \frac{1}{B}\sum_i H(w_i)\Big], \quad p_i = \mathrm{softmax}(\ell_i/\tau_t) \\ \mathcal{L} &= \tfrac12\big[\mathrm{CE}(w^{(1)}, q^{(2)}) + \mathrm{CE}(w^{(2)}, q^{(1)})\big], \quad \mathrm{CE}(w, q) = -\frac{1}{B}\sum_i \sum_k w_{ik} \log \mathrm{softmax}(q_i/\tau_s)_k \end{aligned}`,
  watch: 'Watch the targets’ mutual information stay high while naive self-labelling’s falls.',
  params: [...PSEUDO_LABEL_PARAMS, BETA_START, BETA_END, ITERS],
  viewsPerImage: 2,
  usesTeacher: true,
  reference: 'src/ref/assignment.ts',
  metrics: PSEUDO_LABEL_METRICS,
  recommended: { iters: 30 },
  panels: PSEUDO_LABEL_PANELS,
  async createObjective(ctx, shape) {
    // Kernels load on demand: the page's main bundle imports this module for its metadata only.
    const [{ MiraSolver }, { iteratedTargets, pseudoLabelObjective }] = await Promise.all([import('../mira/assignment.ts'), import('./pseudo-label-objective.ts')]);
    const solver = await MiraSolver.create(ctx, { B: shape.B, K: shape.K });
    return pseudoLabelObjective(ctx, shape, iteratedTargets(solver, (v) => ({ tau: v.config.tauT as number, beta: v.beta })));
  },
});
