// The worker's log of every metrics record of the current run (for the CSV / JSON exports and
// the checkpoint's history), and the checks run on each record as it arrives.
import { allMetricKeys, type StepMetrics } from '../train/metric-layout.ts';

/** The columns: every declared metric in layout order (src/train/metric-layout.ts), then any other keys in order of appearance. */
const ORDER: string[] = allMetricKeys();

/** Most records kept; beyond it the oldest half is thinned (every other record dropped). */
export const LOG_CAPACITY = 50_000;

export class MetricsLog {
  records: StepMetrics[] = [];
  /** Records were thinned to stay under LOG_CAPACITY. */
  thinned = false;

  push(m: StepMetrics): void {
    this.records.push(m);
    if (this.records.length > LOG_CAPACITY) {
      const half = Math.floor(this.records.length / 2);
      this.records = [...this.records.slice(0, half).filter((_, i) => i % 2 === 1), ...this.records.slice(half)];
      this.thinned = true;
    }
  }

  clear(): void {
    this.records = [];
    this.thinned = false;
  }

  /** Drops records after `step` (a resume from an earlier checkpoint). */
  truncateAfter(step: number): void {
    this.records = this.records.filter((r) => r.step <= step);
  }

  columns(): string[] {
    const seen = new Set<string>();
    for (const r of this.records) for (const k of Object.keys(r)) seen.add(k);
    return [...ORDER.filter((k) => seen.has(k)), ...[...seen].filter((k) => !ORDER.includes(k))];
  }

  toCsv(): string {
    const cols = this.columns();
    const lines = [cols.join(',')];
    for (const r of this.records) lines.push(cols.map((c) => (typeof r[c] === 'number' ? formatNumber(r[c]!) : '')).join(','));
    return lines.join('\n') + '\n';
  }
}

function formatNumber(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  return String(x);
}
