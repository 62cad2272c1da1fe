// The live charts of a training run: loss, schedules and kNN accuracy against the random-init
// baseline for every method, then the panels the run's method declares (src/methods/*: for the
// pseudo-label family, entropies / marginal entropies / mutual information of student, teacher and
// targets, the KL terms, cluster usage and the latest targets' sorted cluster marginal). Every run
// also shows the core panels below (representation health: alignment, uniformity, effective rank,
// which the step graph computes for every method — src/train/metric-layout.ts HEALTH_METRICS).
import { Bar, BarChart, CartesianGrid, Line, LineChart, ReferenceLine, Tooltip, XAxis, YAxis } from 'recharts';
import { AXIS, CHART_MARGIN, ChartCard, GRID, TOOLTIP, tickFmt } from './ChartCard.tsx';
import { fmt, ROLE_COLORS, SERIES_COLORS } from './format.ts';
import { methodById } from '../methods/registry.ts';
import type { PanelSpec } from '../methods/types.ts';
import { useApp } from './store.ts';
import type { Point } from '../worker/history.ts';
import { classSizeView, type ClassSizes } from './class-sizes.ts';

const H = 180;

/** Panels every run shows before its method's, declared as data like the methods' (src/methods/types.ts PanelSpec). */
export const CORE_PANELS: readonly PanelSpec[] = [
  {
    kind: 'lines',
    id: 'health',
    title: 'Representation health',
    subtitle: 'alignment (mean cosine of the two views) and uniformity (lower: spread over the sphere), left; effective rank of the batch’s embeddings (falls under dimensional collapse), right',
    series: [
      { key: 'alignment', label: 'alignment', color: '#2fcf8f' },
      { key: 'uniformity', label: 'uniformity', color: '#f5a524' },
      { key: 'effective_rank', label: 'effective rank', color: '#a78bfa', axis: 'right', dashed: true },
    ],
  },
];
const chartStyle = { width: '100%', height: H };

function StepAxis() {
  return <XAxis dataKey="step" type="number" domain={['dataMin', 'dataMax']} allowDecimals={false} {...AXIS} tickFormatter={(v: number) => String(v)} />;
}

function lines(keys: { key: string; name: string; color: string; dashed?: boolean; yAxisId?: string }[]) {
  return keys.map((k) => (
    <Line
      key={k.key}
      type="monotone"
      dataKey={k.key}
      name={k.name}
      stroke={k.color}
      strokeWidth={2}
      strokeDasharray={k.dashed ? '5 4' : undefined}
      dot={false}
      isAnimationActive={false}
      yAxisId={k.yAxisId ?? 'left'}
      connectNulls
    />
  ));
}

/** A panel a method declares: its series against the step (src/methods/types.ts PanelSpec). */
function PanelChart({ panel, data, K, warn }: { panel: Extract<PanelSpec, { kind: 'lines' }>; data: Point[]; K: number; warn: boolean }) {
  const logK = Math.log(K);
  const right = panel.series.some((x) => x.axis === 'right');
  const subtitle = panel.id === 'clusters' ? panel.subtitle.replace('of K', `of K = ${K}`) : panel.subtitle;
  return (
    <ChartCard title={panel.title} subtitle={subtitle} points={data.length} warn={warn} legend={panel.series.map((x) => ({ label: x.label, color: x.color, dashed: x.dashed }))}>
      <LineChart data={data} margin={CHART_MARGIN} style={chartStyle} responsive>
        <CartesianGrid {...GRID} />
        <StepAxis />
        {panel.integer ? (
          <YAxis yAxisId="left" {...AXIS} width={44} allowDecimals={false} domain={[0, 'auto']} />
        ) : (
          <YAxis yAxisId="left" {...AXIS} width={44} tickFormatter={tickFmt} domain={panel.zero ? [0, 'auto'] : ['auto', 'auto']} />
        )}
        {right && <YAxis yAxisId="right" orientation="right" {...AXIS} width={36} tickFormatter={tickFmt} domain={panel.rightDomain ? [...panel.rightDomain] : ['auto', 'auto']} />}
        <Tooltip {...TOOLTIP} labelFormatter={(v) => `step ${v}`} />
        {panel.reference === 'logK' && <ReferenceLine yAxisId="left" y={logK} ifOverflow="extendDomain" stroke="var(--muted)" strokeDasharray="3 3" label={{ value: `log K = ${fmt(logK)}`, fill: 'var(--muted)', fontSize: 11, position: 'insideBottomRight' }} />}
        {lines(panel.series.map((x) => ({ key: x.key, name: x.label, color: x.color, dashed: x.dashed, yAxisId: x.axis ?? 'left' })))}
      </LineChart>
    </ChartCard>
  );
}

/** At most 128 bars: for large K, consecutive ranks are averaged (labelled by their first rank). */
function bucketBars(sorted: number[]): { rank: number; p: number }[] {
  const per = Math.max(1, Math.ceil(sorted.length / 128));
  const out: { rank: number; p: number }[] = [];
  for (let i = 0; i < sorted.length; i += per) {
    const chunk = sorted.slice(i, i + per);
    out.push({ rank: i + 1, p: chunk.reduce((a, b) => a + b, 0) / chunk.length });
  }
  return out;
}

export function Dashboard() {
  const data = useApp((s) => s.series);
  const knn = useApp((s) => s.knn);
  const knnInit = useApp((s) => s.knnInit);
  const pixels = useApp((s) => s.pixelBaselines);
  const hasLinear = knn.some((p) => p.linear !== undefined);
  const marginal = useApp((s) => s.marginal);
  const classSizes = useApp((s) => s.classSizes);
  const warnings = useApp((s) => s.warnings);
  const K = useApp((s) => s.train.config?.prototypes ?? s.config.prototypes);
  const method = methodById(useApp((s) => s.train.config?.method ?? s.config.method));
  const warned = (what: string | undefined) => !!what && warnings.some((w) => w.what === what);
  const knnData = knnInit !== null ? [{ step: 0, top1: knnInit }, ...knn] : knn;

  return (
    <div className="chart-grid" data-testid="dashboard">
      <ChartCard title="Loss" subtitle={`${method.label}: ${method.kind === 'pseudo-label' ? 'swapped prediction ½[CE(w⁽¹⁾, q⁽²⁾) + CE(w⁽²⁾, q⁽¹⁾)]' : 'the objective'}`} points={data.length}>
        <LineChart data={data} margin={CHART_MARGIN} style={chartStyle} responsive>
          <CartesianGrid {...GRID} />
          <StepAxis />
          <YAxis yAxisId="left" {...AXIS} width={44} tickFormatter={tickFmt} domain={['auto', 'auto']} />
          <Tooltip {...TOOLTIP} labelFormatter={(v) => `step ${v}`} />
          {lines([{ key: 'loss', name: 'loss', color: SERIES_COLORS.loss }])}
        </LineChart>
      </ChartCard>

      <ChartCard
        title="Schedules"
        subtitle="learning rate (left); β and teacher EMA momentum (right)"
        points={data.length}
        legend={[
          { label: 'lr', color: SERIES_COLORS.lr },
          { label: 'β', color: SERIES_COLORS.beta },
          { label: 'EMA', color: SERIES_COLORS.ema, dashed: true },
        ]}
      >
        <LineChart data={data} margin={CHART_MARGIN} style={chartStyle} responsive>
          <CartesianGrid {...GRID} />
          <StepAxis />
          <YAxis yAxisId="left" {...AXIS} width={44} tickFormatter={tickFmt} domain={[0, 'auto']} />
          <YAxis yAxisId="right" orientation="right" {...AXIS} width={36} tickFormatter={tickFmt} domain={[0.5, 1]} />
          <Tooltip {...TOOLTIP} labelFormatter={(v) => `step ${v}`} />
          {lines([
            { key: 'lr', name: 'lr', color: SERIES_COLORS.lr },
            { key: 'beta', name: 'β', color: SERIES_COLORS.beta, yAxisId: 'right' },
            { key: 'ema_momentum', name: 'EMA', color: SERIES_COLORS.ema, yAxisId: 'right', dashed: true },
          ])}
        </LineChart>
      </ChartCard>

      <ChartCard
        title="kNN accuracy"
        subtitle={<>20-NN top-1 on held-out images (%){hasLinear ? ' and the online linear probe’s' : ''}; dashed: at random init{knnInit !== null ? ` (${fmt(knnInit)} %)` : ''}{pixels ? `, raw pixels (kNN ${fmt(pixels.knn)} %, linear ${fmt(pixels.linear)} %)` : ''}</>}
        points={knnData.length}
        legend={[{ label: 'kNN top-1', color: SERIES_COLORS.knn }, ...(hasLinear ? [{ label: 'linear probe', color: SERIES_COLORS.lr }] : []), { label: 'random init', color: SERIES_COLORS.baseline, dashed: true }, ...(pixels ? [{ label: 'raw pixels kNN', color: SERIES_COLORS.ema, dashed: true }] : [])]}
      >
        <LineChart data={knnData} margin={CHART_MARGIN} style={chartStyle} responsive>
          <CartesianGrid {...GRID} />
          <XAxis dataKey="step" type="number" domain={[0, 'dataMax']} allowDecimals={false} {...AXIS} />
          <YAxis yAxisId="left" {...AXIS} width={44} tickFormatter={tickFmt} domain={[0, 100]} />
          <Tooltip {...TOOLTIP} labelFormatter={(v) => `step ${v}`} />
          {knnInit !== null && <ReferenceLine yAxisId="left" y={knnInit} stroke={SERIES_COLORS.baseline} strokeDasharray="5 4" />}
          {pixels && <ReferenceLine yAxisId="left" y={pixels.knn} stroke={SERIES_COLORS.ema} strokeDasharray="2 4" />}
          {hasLinear && <Line yAxisId="left" type="monotone" dataKey="linear" name="linear %" stroke={SERIES_COLORS.lr} strokeWidth={2} dot={{ r: 3, fill: SERIES_COLORS.lr }} isAnimationActive={false} connectNulls />}
          <Line yAxisId="left" type="monotone" dataKey="top1" name="top-1 %" stroke={SERIES_COLORS.knn} strokeWidth={2} dot={{ r: 3, fill: SERIES_COLORS.knn }} isAnimationActive={false} />
        </LineChart>
      </ChartCard>

      {[...CORE_PANELS, ...method.panels].map((p) =>
        p.kind === 'lines' ? (
          <PanelChart key={p.id} panel={p} data={data} K={K} warn={warned(p.warnOn)} />
        ) : p.kind === 'class-sizes' ? (
          <ClassSizeChart key={p.id} title={p.title} sizes={classSizes} />
        ) : (
          <MarginalChart key={p.id} title={p.title} marginal={marginal} K={K} warn={warned(p.warnOn)} />
        ),
      )}
    </div>
  );
}

/** SeLa's class sizes after the latest label optimisation, sorted, against N/K and the 1.5·N/K bound (src/ui/class-sizes.ts). */
function ClassSizeChart({ title, sizes }: { title: string; sizes: ClassSizes | null }) {
  const v = sizes ? classSizeView(sizes) : null;
  return (
    <ChartCard
      title={title}
      subtitle={
        v && sizes
          ? `after the label optimisation at step ${sizes.step}, sorted: largest ${v.largest} = ${fmt(v.largestOverMean)}×N/K, smallest ${v.smallest}${v.over ? `, ${v.over} over 1.5·N/K` : ''}; dashed: N/K and 1.5·N/K`
          : 'class sizes after the latest label optimisation, sorted; dashed: N/K and 1.5·N/K (none yet: the first comes after the warm-up)'
      }
      points={v?.bars.length ?? 0}
      warn={!!v && v.over > 0}
      className="chart-wide"
    >
      <BarChart data={v?.bars ?? []} margin={CHART_MARGIN} style={chartStyle} responsive barCategoryGap={(v?.bars.length ?? 0) > 64 ? 0 : 1}>
        <CartesianGrid {...GRID} />
        <XAxis dataKey="rank" {...AXIS} interval="preserveStartEnd" />
        <YAxis {...AXIS} width={44} tickFormatter={tickFmt} domain={[0, 'auto']} />
        <Tooltip {...TOOLTIP} labelFormatter={(r) => `rank ${r}`} />
        {v && <ReferenceLine y={v.mean} stroke="var(--text)" strokeDasharray="5 4" ifOverflow="extendDomain" label={{ value: `N/K = ${fmt(v.mean)}`, fill: 'var(--muted)', fontSize: 11, position: 'insideTopRight' }} />}
        {v && <ReferenceLine y={v.bound} stroke="var(--bad, #ff7a7a)" strokeDasharray="3 3" ifOverflow="extendDomain" label={{ value: `1.5·N/K = ${fmt(v.bound)}`, fill: 'var(--muted)', fontSize: 11, position: 'insideTopLeft' }} />}
        <Bar dataKey="size" name="images" fill={ROLE_COLORS.targets} isAnimationActive={false} />
      </BarChart>
    </ChartCard>
  );
}

function MarginalChart({ title, marginal, K, warn }: { title: string; marginal: { step: number; sorted: number[] } | null; K: number; warn: boolean }) {
  const bars = marginal ? bucketBars(marginal.sorted) : [];
  return (
      <ChartCard
        title={title}
        subtitle={marginal ? `mean targets of the batch at step ${marginal.step}, sorted; dashed: 1/K` : 'mean targets of the latest batch, sorted; dashed: 1/K'}
        points={bars.length}
        warn={warn}
        className="chart-wide"
      >
        <BarChart data={bars} margin={CHART_MARGIN} style={chartStyle} responsive barCategoryGap={bars.length > 64 ? 0 : 1}>
          <CartesianGrid {...GRID} />
          <XAxis dataKey="rank" {...AXIS} interval="preserveStartEnd" />
          <YAxis {...AXIS} width={44} tickFormatter={tickFmt} domain={[0, 'auto']} />
          <Tooltip {...TOOLTIP} labelFormatter={(v) => `rank ${v}`} />
          <ReferenceLine y={1 / K} stroke="var(--text)" strokeDasharray="5 4" label={{ value: `1/K = ${fmt(1 / K)}`, fill: 'var(--muted)', fontSize: 11, position: 'insideTopRight' }} />
          <Bar dataKey="p" name="share" fill={ROLE_COLORS.targets} isAnimationActive={false} />
        </BarChart>
      </ChartCard>
  );
}
