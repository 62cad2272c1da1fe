// MIO — Mutual Information Optimization (Manna et al. 2021): contrastive learning as a binary
// classification of pairs. With z = p/‖p‖ of both views stacked (2B rows) and s = zᵀz',
//   L = mean over the 2B positive pairs softplus(−s/τ₊) + mean over the 2B(2B−2) negative pairs
//       softplus(s/τ₋) + μ · mean (z⁽¹⁾ − z⁽²⁾)²,
// with no teacher and no prototypes: an embedding objective. Kernel src/mira/mio.ts
// (src/shaders/mio.wgsl), float64 reference src/ref/mio.ts, tests test/mio.test.ts.
import { defineMethod } from './types.ts';

const TAU_POS = { key: 'tauPos', short: 'tp', label: 'Positive τ₊', group: 'method', kind: 'number', min: 0, max: 10, exclusiveMin: true, default: 0.5, step: 0.05, help: 'MIO’s temperature of the positive pairs’ logits s/τ₊ (0.5).' } as const;
const TAU_NEG = { key: 'tauNeg', short: 'tn', label: 'Negative τ₋', group: 'method', kind: 'number', min: 0, max: 10, exclusiveMin: true, default: 0.5, step: 0.05, help: 'MIO’s temperature of the negative pairs’ logits s/τ₋ (0.5).' } as const;
const NEGATIVES = { key: 'mioNegatives', short: 'mn', label: 'Negatives', group: 'method', kind: 'choice', options: [{ value: 'on', label: 'on (MIO)' }, { value: 'off', label: 'off (collapse demo)' }] as const, default: 'on', help: 'MIO’s negative-pair term; off sets its weight to 0, leaving only the pull between the two views: the embeddings collapse (watch the effective rank fall).' } as const;
const L2_WEIGHT = { key: 'l2Weight', short: 'l2', label: 'L2 weight μ', group: 'method', kind: 'number', min: 0, max: 100, default: 1, step: 0.1, help: 'MIO’s weight of the squared distance between the two views’ embeddings (1).' } as const;

export const mio = defineMethod({
  id: 'mio',
  label: 'MIO',
  color: '#38bdf8',
  kind: 'embedding',
  summary: 'MIO: contrastive learning as binary classification of positive and negative pairs',
  explanation:
    'Each pair of embeddings is classified as the same image (the two views: probability σ(s/τ₊) pushed up) or two different images (σ(s/τ₋) pushed down), plus an L2 pull between the two views. The negatives spread the embeddings over the sphere; without them everything would agree by collapsing to one point.',
  formula: String.raw`\mathcal{L} = \frac{1}{2B}\sum_{a} \mathrm{softplus}\Big(-\frac{s_{aa'}}{\tau_+}\Big) + \frac{\nu}{2B(2B-2)}\sum_{a}\sum_{b \notin \{a, a'\}} \mathrm{softplus}\Big(\frac{s_{ab}}{\tau_-}\Big) + \frac{\mu}{BD}\sum_i \big\|z^{(1)}_i - z^{(2)}_i\big\|^2, \quad s_{ab} = \langle z_a, z_b\rangle`,
  watch: 'Watch the positive probability rise while the negative one falls, and the effective rank stay high.',
  params: [TAU_POS, TAU_NEG, L2_WEIGHT, NEGATIVES],
  viewsPerImage: 2,
  usesTeacher: false,
  reference: 'src/ref/mio.ts',
  metrics: [
    { key: 'mio_pos_prob', help: 'mean σ(s/τ₊) over the positive pairs', source: { gpu: 'mio', index: 0 }, reduce: 'mean' },
    { key: 'mio_neg_prob', help: 'mean σ(s/τ₋) over the negative pairs', source: { gpu: 'mio', index: 1 }, reduce: 'mean' },
  ],
  panels: [
    {
      kind: 'lines',
      id: 'mio-pairs',
      title: 'Pair probabilities',
      subtitle: 'MIO: mean σ(s/τ) of positive pairs (the two views) and negative pairs (other images)',
      series: [
        { key: 'mio_pos_prob', label: 'positive pairs', color: '#2fcf8f' },
        { key: 'mio_neg_prob', label: 'negative pairs', color: '#ff7a7a' },
      ],
      zero: true,
    },
  ],
  async createObjective(ctx, shape) {
    // Kernels load on demand: the page's main bundle imports this module for its metadata only.
    const [{ MioObjective, MioPlan }, { createTensor }] = await Promise.all([import('../mira/mio.ts'), import('../gpu/tensor.ts')]);
    const objective = await MioObjective.create(ctx, { B: shape.B, D: shape.D });
    return {
      bind(io, label) {
        const stats = createTensor(ctx, [MioPlan.statNames.length], 'f32', `${label}.stats`);
        const plan = objective.bind({ student: [io.student[0]!, io.student[1]!], grads: [io.grads[0]!, io.grads[1]!], loss: io.loss, stats }, label);
        return {
          targets: null,
          metricSources: { mio: stats },
          setStep: (v) => plan.setParams({ tauPos: v.config.tauPos as number, tauNeg: v.config.tauNeg as number, l2Weight: v.config.l2Weight as number, negWeight: v.config.mioNegatives === 'off' ? 0 : 1 }),
          recordTargets: () => undefined,
          recordLoss: (encoder, timer) => plan.record(encoder, timer),
          recordMetrics: () => undefined,
        };
      },
    };
  },
});
