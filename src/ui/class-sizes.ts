// The data of SeLa's class-size panel (src/methods/sela.ts declares it; Dashboard.tsx draws it):
// the K class sizes after the latest label optimisation, sorted largest first and bucketed to at
// most 128 bars, against the equal size N/K and the 1.5·N/K bound the issue holds SeLa to.
// Pure, so a unit test checks what the chart shows (test/sela-panel.test.ts).

export interface ClassSizes {
  step: number;
  /** Sizes, largest first. */
  sorted: number[];
  /** Images labelled (Σ sizes). */
  N: number;
}

export interface ClassSizeView {
  /** Bars: rank (1-based, the first of its bucket) and the bucket's mean size. */
  bars: { rank: number; size: number }[];
  /** N/K, and the 1.5·N/K bound. */
  mean: number;
  bound: number;
  largest: number;
  smallest: number;
  /** largest / (N/K): 1 is a perfect equipartition. */
  largestOverMean: number;
  /** Classes over the 1.5·N/K bound, and classes left empty. */
  over: number;
  empty: number;
}

export function classSizesFromEvent(step: number, sizes: ArrayLike<number>, N: number): ClassSizes {
  return { step, sorted: Array.from(sizes).sort((a, b) => b - a), N };
}

export function classSizeView(c: ClassSizes, maxBars = 128): ClassSizeView {
  const K = c.sorted.length;
  const mean = c.N / K;
  const per = Math.max(1, Math.ceil(K / maxBars));
  const bars: { rank: number; size: number }[] = [];
  for (let i = 0; i < K; i += per) {
    const chunk = c.sorted.slice(i, i + per);
    bars.push({ rank: i + 1, size: chunk.reduce((a, b) => a + b, 0) / chunk.length });
  }
  const largest = c.sorted[0] ?? 0;
  const smallest = c.sorted[K - 1] ?? 0;
  return { bars, mean, bound: 1.5 * mean, largest, smallest, largestOverMean: largest / mean, over: c.sorted.filter((s) => s > 1.5 * mean).length, empty: c.sorted.filter((s) => s === 0).length };
}
