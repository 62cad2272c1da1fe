// A titled chart card and the shared recharts styling (axes, grid, tooltip) of the playground.
// Every chart card says how many points it draws (data-points), which the browser tests read.
import type { CSSProperties, ReactNode } from 'react';
import { fmt } from './format.ts';

export function slug(title: string): string {
  return title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

export function ChartCard({
  title,
  subtitle,
  points,
  children,
  legend,
  className,
  warn,
  actions,
}: {
  title: string;
  subtitle?: ReactNode;
  points: number;
  children: ReactNode;
  legend?: { label: string; color: string; dashed?: boolean }[];
  className?: string;
  warn?: boolean;
  /** Buttons in the card's head (the arena's SVG / PNG export). */
  actions?: ReactNode;
}) {
  const id = `chart-${slug(title)}`;
  return (
    <figure className={`chart-card ${warn ? 'chart-warn' : ''} ${className ?? ''}`} data-testid={id} data-points={points} aria-labelledby={`${id}-title`}>
      <figcaption className="chart-head">
        <h3 id={`${id}-title`}>{title}</h3>
        {legend && (
          <ul className="legend">
            {legend.map((l) => (
              <li key={l.label}>
                <span className={`swatch ${l.dashed ? 'swatch-dashed' : ''}`} style={{ '--c': l.color } as CSSProperties} aria-hidden="true" />
                {l.label}
              </li>
            ))}
          </ul>
        )}
        {actions && <span className="chart-actions">{actions}</span>}
      </figcaption>
      {subtitle && <p className="chart-sub">{subtitle}</p>}
      <div className="chart-body">{points > 0 ? children : <div className="chart-empty">No data yet</div>}</div>
    </figure>
  );
}

export const AXIS = {
  stroke: 'var(--muted)',
  tick: { fill: 'var(--muted)', fontSize: 11 },
  tickLine: false,
  axisLine: { stroke: 'var(--border)' },
} as const;

export const GRID = { stroke: 'var(--border)', strokeDasharray: '2 4', vertical: false } as const;

export const TOOLTIP = {
  contentStyle: { background: 'var(--surface-2)', border: '1px solid var(--border)', borderRadius: 8, fontSize: 12, color: 'var(--text)' },
  labelStyle: { color: 'var(--muted)' },
  itemStyle: { padding: 0 },
  isAnimationActive: false,
  formatter: (v: unknown) => (typeof v === 'number' ? fmt(v, 4) : String(v)),
} as const;

export const CHART_MARGIN = { top: 6, right: 12, bottom: 0, left: 0 };

/** Tick formatter for numeric axes. */
export const tickFmt = (v: number) => fmt(v, 3);
