// Number and time formatting for the dashboard, and the colours every chart shares.
import { METHODS, type MethodId } from '../methods/registry.ts';

/** Roles keep their colour on every chart: student, teacher, targets. */
export const ROLE_COLORS = {
  student: '#5b9cff',
  teacher: '#f5a524',
  targets: '#2fcf8f',
} as const;

/** Methods keep theirs (declared by each method module). */
export const METHOD_COLORS = Object.fromEntries(METHODS.map((m) => [m.id, m.color])) as Record<MethodId, string>;

export const METHOD_LABELS = Object.fromEntries(METHODS.map((m) => [m.id, m.label])) as Record<MethodId, string>;

export const SERIES_COLORS = {
  loss: '#7aa2ff',
  lr: '#38bdf8',
  beta: '#c084fc',
  ema: '#f5a524',
  knn: '#2fcf8f',
  baseline: '#94a3b8',
} as const;

/** 3 significant digits, switching to exponent notation for very small or large values. */
export function fmt(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined) return '–';
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '−∞';
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return x.toExponential(digits - 1);
  return Number(x.toPrecision(digits)).toString();
}

export function fmtInt(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  return Math.round(x).toLocaleString('en-US');
}

/** "1 h 02 min", "3 min 05 s", "42 s". */
export function fmtDuration(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return '–';
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  if (h > 0) return `${h} h ${String(m).padStart(2, '0')} min`;
  if (m > 0) return `${m} min ${String(sec).padStart(2, '0')} s`;
  return `${sec} s`;
}

export function fmtBytes(n: number): string {
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(0)} KiB`;
  return `${n} B`;
}

/** "1/16" for widths below 1. */
export function fmtWidth(w: number): string {
  return w >= 1 ? String(w) : `1/${Math.round(1 / w)}`;
}
