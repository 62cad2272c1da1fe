// The method arena: pick methods from the registry, one seed and a step budget; the worker trains
// them interleaved one step each per round on the same images (src/worker/arena.ts). Overlaid
// charts, one line per method in its registry colour — kNN and online linear top-1 against the
// random-init and raw-pixel baselines, the loss divided by its first value, effective rank, used
// clusters for the methods with clusters — a live results table, and exports: the table as CSV or
// Markdown, every chart as SVG or PNG. The setup is in the URL (src/ui/url-state.ts).
import { useId, useRef, type CSSProperties, type ReactNode } from 'react';
import { CartesianGrid, Line, LineChart, ReferenceLine, Tooltip, XAxis, YAxis } from 'recharts';
import { METHOD_IDS, methodById, type MethodId } from '../methods/registry.ts';
import { arenaMemory, arenaRows, byStep, normalisedLoss, standaloneSvg } from './arena.ts';
import { AXIS, CHART_MARGIN, ChartCard, GRID, TOOLTIP, slug, tickFmt } from './ChartCard.tsx';
import { fmt, fmtBytes, fmtInt, fmtWidth, METHOD_COLORS, METHOD_LABELS, SERIES_COLORS } from './format.ts';
import { useApp } from './store.ts';
import { EmbeddingMapView, mapColours, mapImageAt } from './EmbeddingMap.tsx';
import type { ArenaEval } from '../worker/protocol.ts';

const chartStyle = { width: '100%', height: 220 };

/** Saves the chart inside `figure` as a standalone SVG or a 2× PNG, through the store's download. */
async function exportChart(figure: HTMLElement | null, title: string, legend: { label: string; color: string }[], format: 'svg' | 'png', save: (name: string, mime: string, bytes: Uint8Array) => void): Promise<void> {
  const svg = figure?.querySelector('svg.recharts-surface');
  if (!svg) return;
  const box = svg.getBoundingClientRect();
  const css = getComputedStyle(document.documentElement);
  const markup = standaloneSvg(svg.outerHTML, (name) => css.getPropertyValue(name), { width: Math.round(box.width), height: Math.round(box.height), background: 'var(--surface)', title: `${title} — ${legend.map((l) => l.label).join(', ')}`, color: 'var(--text)' });
  // The titles start with "Arena": mira-playground-arena-knn-top-1.svg.
  const name = `mira-playground-${slug(title)}`;
  if (format === 'svg') {
    save(`${name}.svg`, 'image/svg+xml', new TextEncoder().encode(markup));
    return;
  }
  const url = URL.createObjectURL(new Blob([markup], { type: 'image/svg+xml' }));
  try {
    const img = new Image();
    img.src = url;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = img.width * 2;
    canvas.height = img.height * 2;
    const g = canvas.getContext('2d');
    if (!g) return;
    g.scale(2, 2);
    g.drawImage(img, 0, 0);
    const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/png'));
    if (blob) save(`${name}.png`, 'image/png', new Uint8Array(await blob.arrayBuffer()));
  } finally {
    URL.revokeObjectURL(url);
  }
}

interface Reference {
  y: number;
  label: string;
  color: string;
  dash: string;
}

/** One value of every arena method against the step, one line each, with export buttons. */
function ArenaChart({ title, subtitle, methods, data, reference = [], percent, integer }: { title: string; subtitle: ReactNode; methods: readonly MethodId[]; data: Record<string, number>[]; reference?: Reference[]; percent?: boolean; integer?: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  const save = useApp((s) => s.arenaSave);
  const legend = [...methods.map((m) => ({ label: METHOD_LABELS[m], color: METHOD_COLORS[m] })), ...reference.map((r) => ({ label: r.label, color: r.color, dashed: true }))];
  const actions = (
    <>
      {(['svg', 'png'] as const).map((f) => (
        <button key={f} type="button" className="button button-small" disabled={!data.length} onClick={() => void exportChart(ref.current, title, legend, f, save)} aria-label={`${title} as ${f.toUpperCase()}`}>
          {f.toUpperCase()}
        </button>
      ))}
    </>
  );
  return (
    <div ref={ref}>
      <ChartCard title={title} subtitle={subtitle} points={data.length} legend={legend} actions={actions}>
        <LineChart data={data} margin={CHART_MARGIN} style={chartStyle} responsive>
          <CartesianGrid {...GRID} />
          <XAxis dataKey="step" type="number" domain={['dataMin', 'dataMax']} allowDecimals={false} {...AXIS} />
          {integer ? <YAxis {...AXIS} width={40} allowDecimals={false} domain={[0, 'auto']} /> : <YAxis {...AXIS} width={44} tickFormatter={tickFmt} domain={percent ? [0, 100] : ['auto', 'auto']} />}
          {reference.map((r) => (
            <ReferenceLine key={r.label} y={r.y} ifOverflow="extendDomain" stroke={r.color} strokeDasharray={r.dash} />
          ))}
          <Tooltip {...TOOLTIP} labelFormatter={(v) => `step ${v}`} />
          {methods.map((m) => (
            <Line key={m} type="monotone" dataKey={m} name={METHOD_LABELS[m]} stroke={METHOD_COLORS[m]} strokeWidth={2.2} dot={data.length < 30} isAnimationActive={false} connectNulls />
          ))}
        </LineChart>
      </ChartCard>
    </div>
  );
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

export function Arena() {
  const arena = useApp((s) => s.arena);
  const config = useApp((s) => s.config);
  const dataset = useApp((s) => s.dataset);
  const soft = useApp((s) => s.gpu.status === 'ready' && s.gpu.adapter.isSoftware);
  const toggle = useApp((s) => s.arenaToggle);
  const setSteps = useApp((s) => s.arenaSetSteps);
  const setParam = useApp((s) => s.setParam);
  const start = useApp((s) => s.arenaStart);
  const pause = useApp((s) => s.arenaPause);
  const resume = useApp((s) => s.arenaResume);
  const stop = useApp((s) => s.arenaStop);
  const exportTable = useApp((s) => s.arenaExportTable);
  const stepsId = useId();
  const seedId = useId();

  const memory = dataset.info ? arenaMemory(config, dataset.info, arena.selected, soft) : null;
  const methods = arena.methods;
  const rows = arenaRows(arena);
  const withInit = (pick: (e: ArenaEval) => number | null) =>
    byStep(methods, Object.fromEntries(methods.map((m) => [m, [...(arena.init[m] ? [{ ...arena.init[m]!, step: 0 }] : []), ...(arena.evals[m] ?? [])]])), (e) => pick(e));
  const knnData = withInit((e) => e.knn);
  const linearData = withInit((e) => e.linear);
  const inits = methods.map((m) => arena.init[m]).filter((e): e is ArenaEval => !!e);
  const knnInit = mean(inits.map((e) => e.knn));
  const linearInit = mean(inits.flatMap((e) => (e.linear === null ? [] : [e.linear])));
  const baselines = (init: number | null, pixels: number | undefined): Reference[] => [
    ...(init !== null ? [{ y: init, label: 'random init', color: SERIES_COLORS.baseline, dash: '5 4' }] : []),
    ...(pixels !== undefined ? [{ y: pixels, label: 'raw pixels', color: SERIES_COLORS.ema, dash: '2 4' }] : []),
  ];
  const clustered = methods.filter((m) => methodById(m).kind === 'pseudo-label');
  const minDone = methods.length ? Math.min(...methods.map((m) => arena.done[m] ?? 0)) : 0;

  return (
    <div className="lab arena" data-testid="arena">
      <section className="card lab-head">
        <div>
          <h2>Method arena</h2>
          <p className="muted small">
            The methods you tick train from the same seed on the same images and augmentation, one step of each per round, so every curve advances together; kNN and the online
            linear probe are evaluated every {config.knnEvery > 0 ? `${fmtInt(config.knnEvery)} steps` : 'run'} and at the end. The shared settings are the panel’s (width {fmtWidth(config.width)}, batch{' '}
            {config.batch}, K = {config.prototypes}), each method with its recommended values. The main run pauses meanwhile.
          </p>
          <fieldset className="arena-methods" disabled={arena.running}>
            <legend className="small muted">methods</legend>
            {METHOD_IDS.map((m) => (
              <label key={m} className="arena-method" style={{ borderColor: arena.selected.includes(m) ? METHOD_COLORS[m] : undefined }}>
                <input type="checkbox" checked={arena.selected.includes(m)} onChange={() => toggle(m)} data-testid={`arena-pick-${m}`} />
                <span className="swatch" style={{ '--c': METHOD_COLORS[m] } as CSSProperties} aria-hidden="true" />
                {METHOD_LABELS[m]}
                <span className="muted small">{methodById(m).kind === 'pseudo-label' ? 'clusters' : 'embedding'}</span>
              </label>
            ))}
          </fieldset>
        </div>
        <div className="lab-actions arena-actions">
          <label htmlFor={seedId} className="small">
            seed
          </label>
          <input id={seedId} type="number" className="num-input" min={0} value={config.seed} disabled={arena.running} onChange={(e) => setParam('seed', Math.max(0, Math.round(Number(e.target.value) || 0)))} />
          <label htmlFor={stepsId} className="small">
            steps each
          </label>
          <input id={stepsId} type="number" className="num-input" min={1} value={arena.steps} disabled={arena.running} onChange={(e) => setSteps(Number(e.target.value))} />
          {arena.running ? (
            <>
              {arena.paused ? (
                <button type="button" className="button" onClick={resume}>
                  Resume
                </button>
              ) : (
                <button type="button" className="button" onClick={pause}>
                  Pause
                </button>
              )}
              <button type="button" className="button" onClick={stop}>
                Stop
              </button>
            </>
          ) : (
            <button type="button" className="button button-primary" disabled={dataset.status !== 'ready' || !arena.selected.length} onClick={start} data-testid="arena-start">
              Run the arena
            </button>
          )}
        </div>
        {memory && (
          <p className={`small ${memory.fits ? 'muted' : 'inline-error'}`} data-testid="arena-memory" data-fits={memory.fits}>
            GPU memory, estimated: {fmtBytes(memory.total)} for {arena.selected.length} method{arena.selected.length === 1 ? '' : 's'} (one model each
            {arena.selected.length ? `, about ${fmtBytes(memory.total / arena.selected.length)} per method` : ''}).{' '}
            {memory.fits
              ? ''
              : `That is more than the ${fmtBytes(memory.budget)} this arena assumes a tab may use on ${soft ? 'an emulated GPU' : 'this GPU'}: tick fewer methods, or lower the width or the batch in the panel. It may still fit; if it does not, the arena stops at the build and says how many methods fit.`}
          </p>
        )}
        <div className="lab-progress" data-testid="arena-status" data-running={arena.running} data-paused={arena.paused} data-step={minDone}>
          {arena.running || methods.length ? (
            <span className="muted small">
              {arena.detail ?? ''} {arena.runSteps > 0 && `· ${minDone} / ${arena.runSteps} steps each`}
            </span>
          ) : (
            <span className="muted small">Tick two or more methods and run them side by side.</span>
          )}
          {arena.error && (
            <span className="inline-error" role="alert" data-testid="arena-error">
              {arena.error}
            </span>
          )}
        </div>
      </section>

      <section className="card">
        <div className="card-head">
          <h2>Results</h2>
          <div className="actions">
            <button type="button" className="button button-small" disabled={!rows.length} onClick={() => exportTable('csv')}>
              Table CSV
            </button>
            <button type="button" className="button button-small" disabled={!rows.length} onClick={() => exportTable('md')}>
              Table Markdown
            </button>
          </div>
        </div>
        <table className="results arena-table" data-testid="arena-table" data-rows={rows.filter((r) => r.step > 0).length}>
          <thead>
            <tr>
              <th>method</th>
              <th className="num">step</th>
              <th className="num">kNN top-1</th>
              <th className="num">linear top-1</th>
              <th className="num">effective rank</th>
              <th className="num">used clusters</th>
              <th className="num">alignment</th>
              <th className="num">uniformity</th>
              <th className="num">images/s</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.method} data-testid={`arena-row-${r.method}`}>
                <td>
                  <span className="swatch" style={{ '--c': METHOD_COLORS[r.method], display: 'inline-block', marginRight: 6 } as CSSProperties} aria-hidden="true" />
                  {r.label}
                </td>
                <td className="num">{fmtInt(r.step)}</td>
                <td className="num">{r.knn === null ? '–' : `${fmt(r.knn)} %`}</td>
                <td className="num">{r.linear === null ? '–' : `${fmt(r.linear)} %`}</td>
                <td className="num">{fmt(r.effectiveRank)}</td>
                <td className="num">{methodById(r.method).kind === 'pseudo-label' ? fmt(r.usedClusters) : '—'}</td>
                <td className="num">{fmt(r.alignment)}</td>
                <td className="num">{fmt(r.uniformity)}</td>
                <td className="num">{fmt(r.imagesPerS)}</td>
              </tr>
            ))}
          </tbody>
          <caption>
            {rows.length
              ? `Latest logged step of each method; kNN and linear top-1 from its latest evaluation. Raw pixels: kNN ${fmt(arena.pixels?.knn)} %, linear ${fmt(arena.pixels?.linear)} %.`
              : 'No arena run yet.'}
          </caption>
        </table>
      </section>

      <div className="chart-grid">
        <ArenaChart title="Arena kNN top-1" subtitle="20-NN top-1 (%) on the test queries at the shared cadence; dashed: random init and raw pixels" methods={methods} data={knnData} reference={baselines(knnInit, arena.pixels?.knn)} percent />
        <ArenaChart title="Arena linear top-1" subtitle="online linear probe on the detached features (%); dashed: a probe on the random-init features and on raw pixels" methods={methods} data={linearData} reference={baselines(linearInit, arena.pixels?.linear)} percent />
        <ArenaChart title="Arena loss" subtitle="each method’s loss divided by its first value, so objectives of different scales share one axis" methods={methods} data={byStep(methods, arena.series, normalisedLoss)} />
        <ArenaChart title="Arena effective rank" subtitle="exp of the entropy of the batch’s normalised singular values; it falls under dimensional collapse" methods={methods} data={byStep(methods, arena.series, (p) => p.effective_rank)} />
        {clustered.length > 0 && (
          <ArenaChart title="Arena used clusters" subtitle={`clusters the targets’ argmax uses in each batch (of K = ${config.prototypes}); methods with clusters only`} methods={clustered} data={byStep(clustered, arena.series, (p) => p.used_clusters)} integer />
        )}
      </div>

      {arena.maps.length > 0 && (
        <section className="card" data-testid="arena-maps">
          <div className="card-head">
            <h2>Embedding maps</h2>
          </div>
          <p className="muted small">Each method’s test images by PCA of their encoder features at the end of the run, coloured by true class (hover a point for its image): the same images, side by side.</p>
          <div className="arena-maps">
            {arena.maps.map((r) => {
              const c = mapColours(r, 'class');
              return (
                <figure key={r.method} className="arena-map" data-testid={`arena-map-${r.method}`}>
                  <figcaption>
                    <strong style={{ color: METHOD_COLORS[r.method as MethodId] }}>{METHOD_LABELS[r.method as MethodId]}</strong>, step {r.step}
                    {r.explained && ` · axes ${fmt(r.explained[0] * 100, 3)} % + ${fmt(r.explained[1] * 100, 3)} % of the variance`}
                    {r.purity !== null && r.nmi !== null && ` · clusters: purity ${fmt(r.purity * 100, 3)} %, NMI ${fmt(r.nmi, 3)}`}
                  </figcaption>
                  <EmbeddingMapView points={r.points} colors={c.colors} legend={c.legend} imageAt={mapImageAt(r)} width={300} height={240} label={`Embedding map of ${METHOD_LABELS[r.method as MethodId]}`} />
                </figure>
              );
            })}
          </div>
        </section>
      )}
    </div>
  );
}
