// Downsampled metric histories, for the dashboard's charts and the checkpoints' stored
// history: hours of training stay light. A history holds at most `max` points; each point is the mean of `stride` consecutive records (the step is the bucket's
// last). When it overflows, neighbouring points are merged pairwise and the stride doubles, so
// the whole run stays visible at an even resolution. Records still filling a bucket are shown
// as one provisional last point. Pure functions on plain data (no React, no zustand).

export type Point = { step: number } & Record<string, number>;

export interface History<P extends Point = Point> {
  /** Completed buckets, oldest first; each is the mean of `stride` records. */
  points: P[];
  /** The bucket being filled: points with how many records each stands for. */
  partial: { point: P; weight: number }[];
  /** Records per completed bucket. */
  stride: number;
  max: number;
  /** Records seen in all. */
  count: number;
}

export const DEFAULT_MAX_POINTS = 500;

export function emptyHistory<P extends Point = Point>(max = DEFAULT_MAX_POINTS): History<P> {
  if (!(max >= 2)) throw new RangeError(`a history needs room for at least 2 points, got ${max}`);
  return { points: [], partial: [], stride: 1, max, count: 0 };
}

/**
 * The weighted mean of every numeric field (NaN stays NaN, so a NaN is never hidden); step =
 * the last point's. Weights default to 1.
 */
export function mergePoints<P extends Point>(items: readonly P[], weights?: readonly number[]): P {
  if (items.length === 1) return items[0]!;
  const keys = new Set<string>();
  for (const it of items) for (const k of Object.keys(it)) keys.add(k);
  const out: Record<string, number> = {};
  for (const k of keys) {
    if (k === 'step') continue;
    let sum = 0;
    let n = 0;
    items.forEach((it, i) => {
      const v = it[k];
      if (typeof v !== 'number') return;
      const w = weights?.[i] ?? 1;
      sum += v * w;
      n += w;
    });
    if (n > 0) out[k] = sum / n;
  }
  out.step = items[items.length - 1]!.step;
  return out as P;
}

function mergePartial<P extends Point>(partial: readonly { point: P; weight: number }[]): P {
  return mergePoints(
    partial.map((e) => e.point),
    partial.map((e) => e.weight),
  );
}

/** Appends records (a new history; the input is not modified). */
export function appendHistory<P extends Point>(h: History<P>, records: readonly P[]): History<P> {
  if (records.length === 0) return h;
  let points = h.points.slice();
  let partial = h.partial.slice();
  let filled = partial.reduce((n, e) => n + e.weight, 0);
  let stride = h.stride;
  for (const r of records) {
    partial.push({ point: r, weight: 1 });
    filled++;
    if (filled >= stride) {
      points.push(mergePartial(partial));
      partial = [];
      filled = 0;
      if (points.length > h.max) {
        const merged: P[] = [];
        for (let i = 0; i + 1 < points.length; i += 2) merged.push(mergePoints([points[i]!, points[i + 1]!]));
        // An odd point out starts the next bucket (which now needs twice as many records).
        if (points.length % 2 === 1) {
          partial = [{ point: points[points.length - 1]!, weight: stride }];
          filled = stride;
        }
        points = merged;
        stride *= 2;
      }
    }
  }
  return { points, partial, stride, max: h.max, count: h.count + records.length };
}

/** What a chart draws: the completed points, then the provisional bucket. */
export function historyPoints<P extends Point>(h: History<P>): P[] {
  return h.partial.length ? [...h.points, mergePartial(h.partial)] : h.points;
}
