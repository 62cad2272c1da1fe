// MVEB — Multi-View Entropy Bottleneck (Wen et al., TPAMI 2024): maximise the agreement of each
// view's normalised embedding z with the EMA teacher's embedding of the other view, and the
// differential entropy of the embedding distribution, estimated by its Stein score:
//   L = −½[mean ⟨z⁽¹⁾, t⁽²⁾⟩ + mean ⟨z⁽²⁾, t⁽¹⁾⟩] − λ · ½[Ĥ(Z⁽¹⁾) + Ĥ(Z⁽²⁾)],
//   Ĥ(Z) = −mean_i ⟨sg(S_i), z_i⟩,  S = −(K + ηI)⁻¹ Ψ,  K = exp(ZZᵀ/τ)  (a Cholesky solve).
// An embedding objective with an EMA teacher and no prototypes. Kernel src/mira/mveb.ts
// (src/shaders/mveb.wgsl, mveb_gram.wgsl, cholesky.wgsl), float64 reference src/ref/mveb.ts,
// tests test/mveb.test.ts. Small-run defaults: the recipe's projector 512 → 128, SGD at
// 0.6·B/256 with 10 % warm-up and an EMA from 0.99 to 1 (the official code starts at 0.996 on
// ImageNet's long runs; 300-step runs need a teacher that moves), λ = η = 0.01 (the paper's).
import { EMA_START } from './pseudo-label.ts';
import { defineMethod } from './types.ts';

const ENTROPY_WEIGHT = { key: 'entropyWeight', short: 'ew', label: 'Entropy weight λ', group: 'method', kind: 'number', min: 0, max: 10, default: 0.01, step: 0.005, help: 'MVEB’s weight of the embedding entropy (0.01); 0 leaves only the agreement term, which collapses.' } as const;
const STEIN_ETA = { key: 'steinEta', short: 'se', label: 'Stein η', group: 'method', kind: 'number', min: 0, max: 10, exclusiveMin: true, default: 0.01, step: 0.005, help: 'MVEB’s ridge η of the Stein score solve (K + ηI)⁻¹Ψ (0.01, absolute).' } as const;
const STEIN_CHUNK = { key: 'steinChunk', short: 'sc', label: 'Stein chunk', group: 'method', kind: 'int', min: 0, max: 1024, default: 0, step: 1, help: 'Estimate the Stein score on sub-batches of this many rows (the official code: 128 per GPU); 0: the whole batch.' } as const;

export const mveb = defineMethod({
  id: 'mveb',
  label: 'MVEB',
  color: '#f59e0b',
  kind: 'embedding',
  summary: 'MVEB: agreement with the EMA teacher plus the embeddings’ entropy, by a Stein score estimate',
  explanation:
    'Each view’s embedding is pulled towards the teacher’s embedding of the other view (agreement), while an entropy term estimated from the batch (a Stein score: a kernel over the embeddings and one linear solve) pushes the embeddings to fill the sphere.',
  formula: String.raw`\begin{aligned} \mathcal{L} &= -\tfrac12\Big[\frac{1}{B}\sum_i \langle z^{(1)}_i, t^{(2)}_i\rangle + \frac{1}{B}\sum_i \langle z^{(2)}_i, t^{(1)}_i\rangle\Big] - \lambda\,\tfrac12\big[\hat H(Z^{(1)}) + \hat H(Z^{(2)})\big] \\ \hat H(Z) &= -\frac{1}{B}\sum_i \langle \mathrm{sg}(S_i), z_i\rangle, \quad S = -(K + \eta I)^{-1}\Psi, \quad K = \exp(Z Z^\top/\tau), \quad \Psi_i = \frac{1}{\tau}\Big(\sum_j K_{ij}\Big) z_i \end{aligned}`,
  watch: 'With the entropy weight at 0 only agreement is left, and the embeddings shrink onto a few directions: watch the effective rank fall.',
  params: [EMA_START, ENTROPY_WEIGHT, STEIN_ETA, STEIN_CHUNK],
  viewsPerImage: 2,
  usesTeacher: true,
  reference: 'src/ref/mveb.ts',
  metrics: [
    { key: 'mveb_tau', help: 'the Stein kernel’s bandwidth τ (mean over chunks and views)', source: { gpu: 'mveb', index: 0 }, reduce: 'mean' },
    { key: 'mveb_align', help: 'the agreement term: mean ⟨z, t⟩ over both views', source: { gpu: 'mveb', index: 1 }, reduce: 'mean' },
    { key: 'mveb_unif', help: 'the entropy estimate Ĥ, mean of both views', source: { gpu: 'mveb', index: 2 }, reduce: 'mean' },
    { key: 'mveb_pivots_floored', help: 'Cholesky pivots floored at η (a badly conditioned kernel; 0 normally)', source: { gpu: 'mveb', index: 3 }, reduce: 'mean' },
  ],
  panels: [
    {
      kind: 'lines',
      id: 'mveb-terms',
      title: 'MVEB terms',
      subtitle: 'agreement with the teacher and the Stein entropy estimate (left); kernel bandwidth τ (right)',
      series: [
        { key: 'mveb_align', label: 'agreement', color: '#2fcf8f' },
        { key: 'mveb_unif', label: 'entropy Ĥ', color: '#c084fc' },
        { key: 'mveb_tau', label: 'τ', color: '#f5a524', dashed: true, axis: 'right' },
      ],
    },
  ],
  async createObjective(ctx, shape) {
    // Kernels load on demand: the page's main bundle imports this module for its metadata only.
    const [{ MvebObjective, MvebPlan }, { createTensor }] = await Promise.all([import('../mira/mveb.ts'), import('../gpu/tensor.ts')]);
    // The chunk is a shape: the pipelines are specialised for it.
    const objective = await MvebObjective.create(ctx, { B: shape.B, D: shape.D, steinChunk: (shape.config.steinChunk as number) || shape.B });
    return {
      bind(io, label) {
        if (!io.teacher) throw new Error(`${label}: MVEB needs the EMA teacher's projections`);
        const stats = createTensor(ctx, [MvebPlan.statNames.length], 'f32', `${label}.stats`);
        const pair = (t: readonly (typeof stats)[]) => [t[0]!, t[1]!] as [typeof stats, typeof stats];
        const plan = objective.bind({ student: pair(io.student), teacher: pair(io.teacher), grads: pair(io.grads), loss: io.loss, stats }, label);
        return {
          targets: null,
          metricSources: { mveb: stats },
          setStep: (v) => plan.setParams({ entropyWeight: v.config.entropyWeight as number, steinEta: v.config.steinEta as number }),
          recordTargets: () => undefined,
          recordLoss: (encoder, timer) => plan.record(encoder, timer),
          recordMetrics: () => undefined,
        };
      },
    };
  },
});
