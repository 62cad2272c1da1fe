// The fixed-point explorer: one frozen batch of teacher logits (or a synthetic toy batch),
// MIRA's fixed point and Sinkhorn-Knopp stepped one iteration per click on the GPU, side by
// side: residuals on a log axis, objective terms, v, and the assignment matrices.
import { useId } from 'react';
import { Bar, CartesianGrid, ComposedChart, Line, LineChart, ReferenceLine, Tooltip, XAxis, YAxis } from 'recharts';
import { AXIS, CHART_MARGIN, ChartCard, GRID, TOOLTIP, tickFmt } from './ChartCard.tsx';
import { fmt, METHOD_COLORS } from './format.ts';
import { Heatmap } from './Heatmap.tsx';
import { useApp } from './store.ts';
import type { ExplorerState, IterationSummary } from '../worker/protocol.ts';

const chartStyle = { width: '100%', height: 210 };
/** Residuals at or below this are drawn at it (log axis). */
const FLOOR = 1e-12;

function logSafe(x: number): number | null {
  if (!Number.isFinite(x)) return null;
  return Math.max(x, FLOOR);
}

function residualRows(st: ExplorerState) {
  const n = Math.max(st.mira.trace.length, st.sinkhorn.trace.length);
  const rows: Record<string, number | null>[] = [];
  for (let i = 0; i < n; i++) {
    const m: IterationSummary | undefined = st.mira.trace[i];
    const s: IterationSummary | undefined = st.sinkhorn.trace[i];
    rows.push({
      iter: i + 1,
      mira_dw: m ? logSafe(m.delta_w) : null,
      mira_res: m ? logSafe(m.residual) : null,
      sk_dw: s ? logSafe(s.delta_w) : null,
      sk_res: s ? logSafe(s.residual) : null,
    });
  }
  return rows;
}

function Slider({ label, value, min, max, step, onChange, help }: { label: string; value: number; min: number; max: number; step: number; onChange: (v: number) => void; help: string }) {
  const id = useId();
  return (
    <div className="slider">
      <label htmlFor={id}>
        {label} <strong className="slider-value">{fmt(value, 3)}</strong>
      </label>
      <input id={id} type="range" min={min} max={max} step={step} value={value} onChange={(e) => onChange(Number(e.target.value))} aria-label={label} />
      <p className="help">{help}</p>
    </div>
  );
}

function NumberBox({ label, value, min, max, onChange }: { label: string; value: number; min: number; max: number; onChange: (v: number) => void }) {
  const id = useId();
  return (
    <span className="numbox">
      <label htmlFor={id}>{label}</label>
      <input id={id} type="number" className="num-input" min={min} max={max} value={value} onChange={(e) => Number.isFinite(Number(e.target.value)) && onChange(Math.min(max, Math.max(min, Number(e.target.value))))} />
    </span>
  );
}

export function Explorer() {
  const ex = useApp((s) => s.explorer);
  const trained = useApp((s) => s.train.step > 0);
  const gpuReady = useApp((s) => s.gpu.status === 'ready');
  const load = useApp((s) => s.explorerLoad);
  const setP = useApp((s) => s.explorerSet);
  const setSyn = useApp((s) => s.explorerSynthetic);
  const step = useApp((s) => s.explorerStep);
  const converge = useApp((s) => s.explorerConverge);
  const reset = useApp((s) => s.explorerReset);
  const verify = useApp((s) => s.explorerVerify);
  const st = ex.state;
  const rows = st ? residualRows(st) : [];
  const lastM = st?.mira.trace.at(-1);
  const lastS = st?.sinkhorn.trace.at(-1);
  const objective = st
    ? st.mira.trace.map((m, i) => ({ iter: i + 1, mira: m.objective, kl: m.objective + st.beta * m.mi, mi: m.mi, sk: st.sinkhorn.trace[i]?.objective ?? null }))
    : [];
  const order = st ? rowOrder(st.mira.targets, st.B, st.K) : undefined;
  const vBars = st
    ? st.mira.v.map((v, k) => {
        let mean = 0;
        for (let i = 0; i < st.B; i++) mean += st.mira.targets[i * st.K + k]!;
        return { k, v, w: mean / st.B };
      })
    : [];

  return (
    <div className="explorer" data-testid="explorer">
      <section className="card explorer-controls" aria-label="Explorer controls">
        <h2>Fixed-point explorer</h2>
        <p className="muted small explorer-intro">
          MIRA's targets minimise mean KL(w‖p) − β·Î(W) through the fixed point v ← [mean<sub>i</sub> k<sub>i</sub> / Σ<sub>j</sub> k<sub>ij</sub> v<sub>j</sub>
          <sup>−a</sup>]<sup>1−β</sup>; Sinkhorn-Knopp forces equal cluster sizes instead. Both run on the GPU, one iteration per click.
        </p>
        <div className="source-row">
          <button type="button" className="button button-small" disabled={!gpuReady || !trained} onClick={() => load('batch')} title={trained ? 'The teacher logits of the latest training step' : 'Train at least one step first'} data-testid="explorer-freeze">
            Freeze current batch
          </button>
          <button type="button" className="button button-small" disabled={!gpuReady} onClick={() => load('synthetic')} data-testid="explorer-synthetic">
            Synthetic batch
          </button>
        </div>
        <div className="synthetic-row">
          <NumberBox label="B" value={ex.synthetic.B} min={2} max={1024} onChange={(B) => setSyn({ B })} />
          <NumberBox label="K" value={ex.synthetic.K} min={2} max={512} onChange={(K) => setSyn({ K })} />
          <NumberBox label="seed" value={ex.synthetic.seed} min={0} max={1e6} onChange={(seed) => setSyn({ seed })} />
        </div>
        <Slider label="imbalance" value={ex.synthetic.imbalance} min={0} max={0.95} step={0.05} onChange={(imbalance) => setSyn({ imbalance })} help="Synthetic batch: 0 gives 10 equal true clusters, near 1 a few dominate." />
        <Slider label="β" value={ex.beta} min={0.05} max={0.95} step={0.01} onChange={(beta) => setP({ beta })} help="Weight of the mutual information: higher spreads the targets." />
        <Slider label="τ" value={ex.tau} min={0.02} max={1} step={0.005} onChange={(tau) => setP({ tau })} help="Teacher temperature: lower sharpens p." />
        <Slider label="ε (Sinkhorn)" value={ex.eps} min={0.01} max={0.5} step={0.005} onChange={(eps) => setP({ eps })} help="Sinkhorn-Knopp's regularisation (SwAV: 0.05)." />
        <div className="row-buttons" role="group" aria-label="Iteration">
          <button type="button" className="button button-primary button-compact" disabled={!st} onClick={step} aria-label="Step iteration" title="One more iteration (i)" data-testid="explorer-step">
            Step iteration
          </button>
          <button type="button" className="button button-compact" disabled={!st} onClick={converge} aria-label="Run to convergence">
            Run to convergence
          </button>
          <button type="button" className="button button-compact" disabled={!st} onClick={reset} aria-label="Reset">
            Reset
          </button>
        </div>
        <label className="check">
          <input type="checkbox" checked={ex.verify} onChange={(e) => verify(e.target.checked)} data-testid="explorer-verify" /> Verify on CPU (float64 reference)
        </label>
        {ex.verify && st?.cpu?.error && (
          <p className="inline-error" role="alert">
            The CPU check could not run: {st.cpu.error}
          </p>
        )}
        {ex.verify && st?.cpu && !st.cpu.error && (
          <p className="verify" data-testid="explorer-cpu-diff" data-mira={st.cpu.miraMaxDiff} data-sinkhorn={st.cpu.sinkhornMaxDiff}>
            max |GPU − CPU| of the targets after {st.cpu.iters} iterations: MIRA <strong className={st.cpu.miraMaxDiff < 1e-5 ? 'ok' : 'bad'}>{st.cpu.miraMaxDiff.toExponential(2)}</strong>, Sinkhorn-Knopp{' '}
            <strong className={st.cpu.sinkhornMaxDiff < 1e-5 ? 'ok' : 'bad'}>{st.cpu.sinkhornMaxDiff.toExponential(2)}</strong>
          </p>
        )}
        {ex.error && (
          <p className="inline-error" role="alert">
            {ex.error}
          </p>
        )}
      </section>

      <div className="explorer-main">
        {!st ? (
          <div className="card empty-state">
            <p>Freeze the current training batch or make a synthetic one, then step the iteration.</p>
          </div>
        ) : (
          <>
            <div className="explorer-head" data-testid="explorer-state" data-iters={st.iters}>
              <span className="iter-count">
                iteration <strong>{st.iters}</strong>
              </span>
              <span className="muted">{st.label}</span>
              <span className="muted">
                τ {fmt(st.tau)} · β {fmt(st.beta)} · ε {fmt(st.eps)}
              </span>
              {st.converged && <span className="verdict verdict-pass">converged</span>}
              {ex.busy && <span className="muted small">working…</span>}
            </div>
            <div className="chart-grid chart-grid-2">
              <ChartCard
                title="Residual"
                subtitle="log scale; solid: max |Δw| between iterations (judges convergence); dashed: v's relative change"
                points={rows.length}
                legend={[
                  { label: 'MIRA', color: METHOD_COLORS.mira },
                  { label: 'Sinkhorn-Knopp', color: METHOD_COLORS.swav },
                  { label: 'v residual', color: 'var(--muted)', dashed: true },
                ]}
              >
                <LineChart data={rows} margin={CHART_MARGIN} style={chartStyle} responsive>
                  <CartesianGrid {...GRID} />
                  <XAxis dataKey="iter" type="number" domain={[1, 'dataMax']} allowDecimals={false} {...AXIS} />
                  <YAxis scale="log" domain={[FLOOR, 'auto']} allowDataOverflow {...AXIS} width={48} tickFormatter={(v: number) => v.toExponential(0)} />
                  <Tooltip {...TOOLTIP} labelFormatter={(v) => `iteration ${v}`} />
                  <ReferenceLine y={1e-6} stroke="var(--muted)" strokeDasharray="2 4" />
                  <Line dataKey="mira_dw" name="MIRA max |Δw|" stroke={METHOD_COLORS.mira} strokeWidth={2} dot={rows.length < 30} isAnimationActive={false} connectNulls />
                  <Line dataKey="sk_dw" name="Sinkhorn max |Δw|" stroke={METHOD_COLORS.swav} strokeWidth={2} dot={rows.length < 30} isAnimationActive={false} connectNulls />
                  <Line dataKey="mira_res" name="MIRA v residual" stroke={METHOD_COLORS.mira} strokeDasharray="5 4" strokeWidth={1.5} dot={false} isAnimationActive={false} connectNulls />
                  <Line dataKey="sk_res" name="Sinkhorn v residual" stroke={METHOD_COLORS.swav} strokeDasharray="5 4" strokeWidth={1.5} dot={false} isAnimationActive={false} connectNulls />
                </LineChart>
              </ChartCard>
              <ChartCard
                title="Objective"
                subtitle="MIRA: mean KL(w‖p) − β·Î(W) and its terms; Sinkhorn-Knopp: KL(q‖softmax(ℓ/ε))"
                points={objective.length}
                legend={[
                  { label: 'MIRA objective', color: METHOD_COLORS.mira },
                  { label: 'KL(w‖p)', color: 'var(--text)', dashed: true },
                  { label: 'Î(W)', color: '#2fcf8f', dashed: true },
                  { label: 'Sinkhorn', color: METHOD_COLORS.swav },
                ]}
              >
                <LineChart data={objective} margin={CHART_MARGIN} style={chartStyle} responsive>
                  <CartesianGrid {...GRID} />
                  <XAxis dataKey="iter" type="number" domain={[1, 'dataMax']} allowDecimals={false} {...AXIS} />
                  <YAxis {...AXIS} width={48} tickFormatter={tickFmt} domain={['auto', 'auto']} />
                  <Tooltip {...TOOLTIP} labelFormatter={(v) => `iteration ${v}`} />
                  <Line dataKey="mira" name="MIRA objective" stroke={METHOD_COLORS.mira} strokeWidth={2} dot={false} isAnimationActive={false} />
                  <Line dataKey="kl" name="KL(w‖p)" stroke="var(--text)" strokeDasharray="5 4" strokeWidth={1.5} dot={false} isAnimationActive={false} />
                  <Line dataKey="mi" name="Î(W)" stroke="#2fcf8f" strokeDasharray="5 4" strokeWidth={1.5} dot={false} isAnimationActive={false} />
                  <Line dataKey="sk" name="Sinkhorn objective" stroke={METHOD_COLORS.swav} strokeWidth={2} dot={false} isAnimationActive={false} connectNulls />
                </LineChart>
              </ChartCard>
            </div>
            <div className="heatmaps">
              <figure className="chart-card">
                <figcaption className="chart-head">
                  <h3>MIRA targets w</h3>
                  <span className="muted small">
                    {st.B} images (rows, grouped by cluster) × {st.K} clusters
                  </span>
                </figcaption>
                <Heatmap data={st.mira.targets} rows={st.B} cols={st.K} color={METHOD_COLORS.mira} order={order} label="MIRA assignment matrix" testid="heatmap-mira" />
              </figure>
              <figure className="chart-card">
                <figcaption className="chart-head">
                  <h3>Sinkhorn-Knopp targets q</h3>
                  <span className="muted small">equal cluster sizes imposed</span>
                </figcaption>
                <Heatmap data={st.sinkhorn.targets} rows={st.B} cols={st.K} color={METHOD_COLORS.swav} order={order} label="Sinkhorn-Knopp assignment matrix" testid="heatmap-sinkhorn" />
              </figure>
            </div>
            <div className="explorer-bottom">
              <ChartCard
                title="v after each iteration"
                subtitle="MIRA's column scale v (bars) and the targets' marginal mean_i w_i (line) meet at the fixed point"
                points={vBars.length}
                legend={[
                  { label: 'v', color: METHOD_COLORS.mira },
                  { label: 'mean w', color: 'var(--text)', dashed: true },
                ]}
              >
                <ComposedChart data={vBars} margin={CHART_MARGIN} style={{ width: '100%', height: 190 }} responsive barCategoryGap={1}>
                  <CartesianGrid {...GRID} />
                  <XAxis dataKey="k" {...AXIS} interval="preserveStartEnd" />
                  <YAxis {...AXIS} width={48} tickFormatter={tickFmt} domain={[0, 'auto']} />
                  <Tooltip {...TOOLTIP} labelFormatter={(v) => `cluster ${v}`} />
                  <Bar dataKey="v" name="v" fill={METHOD_COLORS.mira} fillOpacity={0.75} isAnimationActive={false} />
                  <Line dataKey="w" name="mean w" stroke="var(--text)" strokeDasharray="4 3" dot={false} isAnimationActive={false} />
                </ComposedChart>
              </ChartCard>
              <TermsTable mira={lastM} sinkhorn={lastS} beta={st.beta} iters={st.iters} />
            </div>
          </>
        )}
      </div>
    </div>
  );
}

/** Rows grouped by their MIRA argmax (then by confidence), so clusters show as blocks; both heatmaps share it. */
function rowOrder(w: Float32Array, B: number, K: number): number[] {
  const best = new Int32Array(B);
  const conf = new Float32Array(B);
  for (let i = 0; i < B; i++) {
    let b = 0;
    for (let k = 1; k < K; k++) if (w[i * K + k]! > w[i * K + b]!) b = k;
    best[i] = b;
    conf[i] = w[i * K + b]!;
  }
  return Array.from({ length: B }, (_, i) => i).sort((a, b) => best[a]! - best[b]! || conf[b]! - conf[a]!);
}

function TermsTable({ mira, sinkhorn, beta, iters }: { mira: IterationSummary | undefined; sinkhorn: IterationSummary | undefined; beta: number; iters: number }) {
  const rows: [string, (r: IterationSummary, b: number) => number, number][] = [
    ['max |Δw|', (r) => r.delta_w, 3],
    ['v residual', (r) => r.residual, 3],
    ['objective', (r) => r.objective, 5],
    ['KL(w‖p)', (r, b) => r.objective + b * r.mi, 5],
    ['Î(W)', (r) => r.mi, 4],
    ['H(mean w)', (r) => r.marginal_entropy, 4],
    ['mean H(w_i)', (r) => r.mean_entropy, 4],
    ['‖mean w − 1/K‖₁', (r) => r.marginal_error, 3],
  ];
  return (
    <figure className="chart-card terms" data-testid="objective-terms">
      <figcaption className="chart-head">
        <h3>Objective terms</h3>
        <span className="muted small">after iteration {iters}</span>
      </figcaption>
      <table className="results terms-table">
        <thead>
          <tr>
            <th />
            <th className="num" style={{ color: METHOD_COLORS.mira }}>
              MIRA
            </th>
            <th className="num" style={{ color: METHOD_COLORS.swav }}>
              Sinkhorn-Knopp
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map(([label, f, digits]) => (
            <tr key={label}>
              <td>{label}</td>
              <td className="num">{mira ? fmt(f(mira, beta), digits) : '–'}</td>
              <td className="num">{sinkhorn ? fmt(f(sinkhorn, 0), digits) : '–'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
