// Naive self-labelling: the targets are the teacher's own probabilities softmax(ℓ/τₜ)
// (src/mira/softmax.ts, reference src/ref/assignment.ts `naiveTargets`). Nothing stops the collapse:
// with a teacher sharper than the student every image falls into one cluster; at the default
// temperatures every image gets the same near-uniform target. The classroom's counter-example.
import { PSEUDO_LABEL_METRICS, PSEUDO_LABEL_PANELS, PSEUDO_LABEL_PARAMS } from './pseudo-label.ts';
import { defineMethod } from './types.ts';

export const naive = defineMethod({
  id: 'naive',
  label: 'naive self-labelling',
  color: '#94a3b8',
  kind: 'pseudo-label',
  summary: 'naive self-labelling: targets = the teacher’s own softmax (collapses)',
  explanation:
    'The student learns the teacher’s own predictions, and nothing asks the labels to differ between images: the easiest solution is one cluster for everything (with a sharp teacher) or the same vague target for every image.',
  formula: String.raw`\begin{aligned} w_i &= \mathrm{softmax}(\ell_i/\tau_t) \\ \mathcal{L} &= \tfrac12\big[\mathrm{CE}(w^{(1)}, q^{(2)}) + \mathrm{CE}(w^{(2)}, q^{(1)})\big], \quad \mathrm{CE}(w, q) = -\frac{1}{B}\sum_i \sum_k w_{ik} \log \mathrm{softmax}(q_i/\tau_s)_k \end{aligned}`,
  watch: 'Watch the used clusters or the targets’ mutual information fall to nothing.',
  params: PSEUDO_LABEL_PARAMS,
  viewsPerImage: 2,
  usesTeacher: true,
  reference: 'src/ref/assignment.ts',
  metrics: PSEUDO_LABEL_METRICS,
  panels: PSEUDO_LABEL_PANELS,
  async createObjective(ctx, shape) {
    // Kernels load on demand: the page's main bundle imports this module for its metadata only.
    const [{ Softmax }, { pseudoLabelObjective }] = await Promise.all([import('../mira/softmax.ts'), import('./pseudo-label-objective.ts')]);
    const softmax = await Softmax.create(ctx, { B: shape.B, K: shape.K });
    return pseudoLabelObjective(ctx, shape, {
      bind(logits, targets, label) {
        const plan = softmax.bind(logits, targets, label);
        return {
          setStep: (v) => plan.setTemperature(v.config.tauT as number),
          record: (encoder, timer) => plan.record(encoder, timer),
        };
      },
    });
  },
});
