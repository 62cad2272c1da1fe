// SwAV's Sinkhorn-Knopp (Caron et al., NeurIPS 2020): the targets are the teacher's logits
// scaled to equal cluster sizes over the batch, Q = exp(ℓ/ε) alternately normalised over
// prototypes and samples `iters` times (3 in SwAV), in the log domain (src/mira/sinkhorn.ts,
// kernel src/shaders/mira.wgsl with a = 1, reference src/ref/sinkhorn.ts, test
// test/mira-sinkhorn.test.ts). `assign --method sinkhorn` is the CLI's spelling of this solver.
import { ITERS, PSEUDO_LABEL_METRICS, PSEUDO_LABEL_PANELS, PSEUDO_LABEL_PARAMS } from './pseudo-label.ts';
import { defineMethod } from './types.ts';

export const EPS = { key: 'eps', short: 'e', label: 'Sinkhorn ε', group: 'method', kind: 'number', min: 0, max: 1, exclusiveMin: true, default: 0.05, step: 0.005, help: 'Entropic regularisation of Sinkhorn-Knopp (SwAV: 0.05).' } as const;

export const swav = defineMethod({
  id: 'swav',
  label: 'Sinkhorn-Knopp (SwAV)',
  color: '#fb7185',
  kind: 'pseudo-label',
  summary: 'SwAV: targets scaled by Sinkhorn-Knopp to equal cluster sizes over the batch',
  explanation:
    'Sinkhorn-Knopp rescales the teacher’s predictions until every cluster receives the same share of the batch (equipartition), which rules out collapse by construction but also forces equal sizes on data whose classes are not equal.',
  formula: String.raw`\begin{aligned} w_{ik} &= \frac{\exp(\ell_{ik}/\varepsilon + u_k)}{\sum_j \exp(\ell_{ij}/\varepsilon + u_j)}, \quad u \text{ from Sinkhorn-Knopp so that } \sum_i w_{ik} \approx \frac{B}{K} \\ \mathcal{L} &= \tfrac12\big[\mathrm{CE}(w^{(1)}, q^{(2)}) + \mathrm{CE}(w^{(2)}, q^{(1)})\big], \quad \mathrm{CE}(w, q) = -\frac{1}{B}\sum_i \sum_k w_{ik} \log \mathrm{softmax}(q_i/\tau_s)_k \end{aligned}`,
  watch: 'Watch the used clusters stay at K and the marginal stay flat.',
  params: [...PSEUDO_LABEL_PARAMS, EPS, ITERS],
  viewsPerImage: 2,
  usesTeacher: true,
  reference: 'src/ref/sinkhorn.ts',
  metrics: PSEUDO_LABEL_METRICS,
  recommended: { iters: 3 },
  panels: PSEUDO_LABEL_PANELS,
  async createObjective(ctx, shape) {
    // Kernels load on demand: the page's main bundle imports this module for its metadata only.
    const [{ SinkhornSolver }, { iteratedTargets, pseudoLabelObjective }] = await Promise.all([import('../mira/sinkhorn.ts'), import('./pseudo-label-objective.ts')]);
    const solver = await SinkhornSolver.create(ctx, { B: shape.B, K: shape.K });
    return pseudoLabelObjective(ctx, shape, iteratedTargets(solver, (v) => ({ eps: v.config.eps as number })));
  },
});
