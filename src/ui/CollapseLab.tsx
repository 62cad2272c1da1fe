// The collapse lab: every registered method (MIRA, Sinkhorn-Knopp, naive self-labelling, MVEB, MIO, …)
// from the same seed, a few steps each, interleaved; their used clusters, marginal entropies and mutual information
// side by side (the embedding objectives have no clusters: "—"), and every method's effective rank. Naive collapses one of two ways: to one cluster when the teacher is sharper than the
// student (τₜ < τₛ), or, at the default temperatures, to the same near-uniform target for every
// image, which only the mutual information shows.
import { useId, useState } from 'react';
import { CartesianGrid, Line, LineChart, ReferenceLine, Tooltip, XAxis, YAxis } from 'recharts';
import { METHOD_IDS, methodById, type MethodId } from '../methods/registry.ts';
import { AXIS, CHART_MARGIN, ChartCard, GRID, TOOLTIP, tickFmt } from './ChartCard.tsx';
import { fmt, fmtWidth, METHOD_COLORS, METHOD_LABELS } from './format.ts';
import { PRESETS } from './presets.ts';
import { useApp } from './store.ts';
import type { LabPoint } from '../worker/protocol.ts';

/** The lab trains every registered method (src/worker/lab.ts), in the registry's order. */
const METHODS = METHOD_IDS;
const chartStyle = { width: '100%', height: 230 };

function merged(series: Record<string, LabPoint[]>, key: keyof LabPoint) {
  const byStep = new Map<number, Record<string, number>>();
  for (const m of METHODS) {
    for (const p of series[m] ?? []) {
      const row = byStep.get(p.step) ?? { step: p.step };
      const v = p[key];
      if (v !== null) row[m] = v;
      byStep.set(p.step, row);
    }
  }
  return [...byStep.values()].sort((a, b) => a.step! - b.step!);
}

const legend = METHODS.map((m) => ({ label: METHOD_LABELS[m], color: METHOD_COLORS[m] }));

/** A cluster statistic, or "—" for a method without clusters. */
const clusterFmt = (x: number | null) => (x === null ? '—' : fmt(x));

/** One metric of every method's run against the step, one line each. */
function MethodsChart({ title, subtitle, series, field, integer, reference, zero = true }: {
  title: string;
  subtitle: string;
  series: Record<string, LabPoint[]>;
  field: keyof LabPoint;
  integer?: boolean;
  reference?: { y: number; label: string; position: 'insideTopRight' | 'insideBottomRight' };
  zero?: boolean;
}) {
  const data = merged(series, field);
  return (
    <ChartCard title={title} subtitle={subtitle} points={data.length} legend={legend}>
      <LineChart data={data} margin={CHART_MARGIN} style={chartStyle} responsive>
        <CartesianGrid {...GRID} />
        <XAxis dataKey="step" type="number" domain={['dataMin', 'dataMax']} allowDecimals={false} {...AXIS} />
        {integer ? <YAxis {...AXIS} width={40} allowDecimals={false} domain={[0, 'auto']} /> : <YAxis {...AXIS} width={40} tickFormatter={tickFmt} domain={reference || !zero ? ['auto', 'auto'] : [0, 'auto']} />}
        {reference && (
          <ReferenceLine y={reference.y} ifOverflow="extendDomain" stroke="var(--muted)" strokeDasharray="3 3" label={{ value: reference.label, fill: 'var(--muted)', fontSize: 11, position: reference.position }} />
        )}
        <Tooltip {...TOOLTIP} labelFormatter={(v) => `step ${v}`} />
        {METHODS.map((m) => (
          <Line key={m} dataKey={m} name={METHOD_LABELS[m]} stroke={METHOD_COLORS[m]} strokeWidth={2.5} dot={data.length < 40} isAnimationActive={false} connectNulls />
        ))}
      </LineChart>
    </ChartCard>
  );
}

export function CollapseLab() {
  const lab = useApp((s) => s.lab);
  const soft = useApp((s) => s.gpu.status === 'ready' && s.gpu.adapter.isSoftware);
  const config = useApp((s) => s.config);
  const datasetReady = useApp((s) => s.dataset.status === 'ready');
  const start = useApp((s) => s.labStart);
  const stop = useApp((s) => s.labStop);
  const [steps, setSteps] = useState(soft ? 6 : 60);
  const id = useId();
  const base = soft ? PRESETS.tiny.config : config;
  const K = base.prototypes;
  const latest = (m: MethodId) => lab.series[m]?.at(-1);
  return (
    <div className="lab" data-testid="collapse-lab">
      <section className="card lab-head">
        <div>
          <h2>Collapse lab</h2>
          <p className="muted small">
            {METHODS.length} runs from the same seed ({config.seed}) and the same images, one step each in turn: {METHODS.map((m) => methodById(m).label).join(', ')}. Width {fmtWidth(base.width)}, batch {base.batch}, K ={' '}
            {K}. At the default temperatures naive self-labelling collapses to the same near-uniform target for every image (its mutual information falls to 0); set teacher τₜ below
            student τₛ to watch it fall to one cluster instead. The embedding objectives have no clusters: compare every method on the effective rank of its embeddings.
          </p>
        </div>
        <div className="lab-actions">
          <label htmlFor={id} className="small">
            steps each
          </label>
          <input id={id} type="number" className="num-input" min={1} max={10000} value={steps} onChange={(e) => setSteps(Math.max(1, Math.min(10000, Math.round(Number(e.target.value) || 1))))} />
          {lab.running ? (
            <button type="button" className="button" onClick={stop}>
              Stop
            </button>
          ) : (
            <button type="button" className="button button-primary" disabled={!datasetReady} onClick={() => start(steps)} data-testid="lab-start">
              Run collapse lab
            </button>
          )}
        </div>
        <div className="lab-progress" data-testid="lab-status" data-running={lab.running} data-step={lab.step}>
          {lab.running || lab.step > 0 ? (
            <span className="muted small">
              {lab.detail ?? ''} {lab.steps > 0 && `· ${lab.step} / ${lab.steps}`}
            </span>
          ) : (
            <span className="muted small">The main run pauses while the lab runs.</span>
          )}
          {lab.error && (
            <span className="inline-error" role="alert">
              {lab.error}
            </span>
          )}
        </div>
      </section>
      <div className="lab-cards">
        {METHODS.map((m) => {
          const p = latest(m);
          return (
            <div key={m} className="stat" style={{ borderTopColor: METHOD_COLORS[m] }} data-testid={`lab-${m}`}>
              <h3 style={{ color: METHOD_COLORS[m] }}>{METHOD_LABELS[m]}</h3>
              {p ? (
                <dl>
                  <dt>used clusters</dt>
                  <dd data-testid={`lab-${m}-used`}>{p.used_clusters === null ? '—' : `${fmt(p.used_clusters)} / ${K}`}</dd>
                  <dt>H(mean targets)</dt>
                  <dd>
                    {clusterFmt(p.target_marginal_entropy)} {p.target_marginal_entropy !== null && <span className="muted">/ log K {fmt(Math.log(K))}</span>}
                  </dd>
                  <dt>MI of the targets</dt>
                  <dd>{clusterFmt(p.target_mi)}</dd>
                  <dt>H(mean teacher)</dt>
                  <dd>{clusterFmt(p.teacher_marginal_entropy)}</dd>
                  <dt>effective rank</dt>
                  <dd>{fmt(p.effective_rank)}</dd>
                  <dt>loss</dt>
                  <dd>{fmt(p.loss)}</dd>
                </dl>
              ) : (
                <p className="muted small">No steps yet.</p>
              )}
            </div>
          );
        })}
      </div>
      <div className="chart-grid">
        <MethodsChart
          title="Used clusters"
          subtitle="clusters the targets' argmax uses in each batch"
          series={lab.series}
          field="used_clusters"
          integer
          reference={{ y: Math.min(base.batch, K), label: `at most ${Math.min(base.batch, K)}`, position: 'insideTopRight' }}
        />
        <MethodsChart
          title="Marginal entropy of the targets"
          subtitle="H(mean_i w_i) in nats; log K means every cluster equally used"
          series={lab.series}
          field="target_marginal_entropy"
          reference={{ y: Math.log(K), label: 'log K', position: 'insideBottomRight' }}
        />
        <MethodsChart
          title="Mutual information of the targets"
          subtitle="H(mean w) − mean H(w) in nats; 0 means the targets say nothing about the image: collapse, to one cluster or to a uniform guess"
          series={lab.series}
          field="target_mi"
        />
        <MethodsChart
          title="Effective rank of the embeddings"
          subtitle="exp of the entropy of the batch's normalised singular values, every method; it falls when the embeddings collapse onto fewer dimensions"
          series={lab.series}
          field="effective_rank"
          zero={false}
        />
      </div>
    </div>
  );
}
