// Clustering quality against labels the method never saw (the cluster gallery, run summaries).
// CPU, float64; the inputs are small (one cluster id and one class per evaluated image).
//
//   contingency n_kc = #{i : assignment_i = k, label_i = c}, a K×C table (row-major, k·C + c)
//   purity      (1/N) Σ_k max_c n_kc — each cluster votes for its majority class; 1 = every
//               cluster is pure. Rises with K (K = N gives 1), so read it beside NMI.
//   nmi         normalised mutual information with the arithmetic mean, as scikit-learn's
//               normalized_mutual_info_score default (average_method='arithmetic'):
//                 NMI = I(U; V) / ((H(U) + H(V)) / 2),   natural logarithms (the base cancels),
//                 I = Σ_kc (n_kc/N) log(N·n_kc / (n_k·n_c)),  H(U) = −Σ_k (n_k/N) log(n_k/N).
//               scikit-learn's limit cases: both labelings a single group (zero entropy each) →
//               1; I = 0 → 0. Symmetric, invariant to permuting cluster ids or class ids, in [0, 1].
//               Only the groups that occur count: empty clusters change nothing. Clamped to
//               1 against rounding (identical labelings give exactly 1).
// K and C may be left out: then they are one more than the largest id present.

export type LabelArray = Int32Array | Uint32Array | ArrayLike<number>;

/** K or C when not given: one more than the largest id (at least 1). */
function groups(xs: LabelArray, n: number | undefined): number {
  if (n !== undefined) return n;
  let m = 0;
  for (let i = 0; i < xs.length; i++) m = Math.max(m, Math.floor(xs[i]!) + 1);
  return Number.isFinite(m) ? Math.max(1, m) : 1;
}

function checkIds(xs: LabelArray, n: number, what: string): void {
  for (let i = 0; i < xs.length; i++) {
    const v = xs[i]!;
    if (!(Number.isInteger(v) && v >= 0 && v < n)) throw new RangeError(`${what}[${i}] = ${v} is not in [0, ${n})`);
  }
}

/** The K×C table of counts n_kc (row-major: index k·C + c). */
export function contingency(assignments: LabelArray, labels: LabelArray, K?: number, C?: number): Uint32Array {
  K = groups(assignments, K);
  C = groups(labels, C);
  if (!(Number.isInteger(K) && K >= 1)) throw new RangeError(`contingency: K must be an integer ≥ 1, got ${K}`);
  if (!(Number.isInteger(C) && C >= 1)) throw new RangeError(`contingency: C must be an integer ≥ 1, got ${C}`);
  if (assignments.length !== labels.length) {
    throw new RangeError(`contingency: ${assignments.length} assignments but ${labels.length} labels`);
  }
  if (assignments.length === 0) throw new RangeError('contingency: no samples');
  checkIds(assignments, K, 'assignments');
  checkIds(labels, C, 'labels');
  const table = new Uint32Array(K * C);
  for (let i = 0; i < assignments.length; i++) table[assignments[i]! * C + labels[i]!]!++;
  return table;
}

/** Fraction of samples whose cluster's majority class is their class, in [0, 1]. */
export function purity(assignments: LabelArray, labels: LabelArray, K?: number, C?: number): number {
  K = groups(assignments, K);
  C = groups(labels, C);
  const t = contingency(assignments, labels, K, C);
  let sum = 0;
  for (let k = 0; k < K; k++) {
    let m = 0;
    for (let c = 0; c < C; c++) m = Math.max(m, t[k * C + c]!);
    sum += m;
  }
  return sum / assignments.length;
}

/** Mutual information (nats) of a contingency table. */
export function mutualInformation(table: ArrayLike<number>, K: number, C: number): number {
  const { rows, cols, n } = margins(table, K, C);
  let mi = 0;
  for (let k = 0; k < K; k++) {
    for (let c = 0; c < C; c++) {
      const nkc = table[k * C + c]!;
      // The ratio of integers is exact, so independent cells give log(1) = 0 exactly.
      if (nkc > 0) mi += (nkc / n) * Math.log((n * nkc) / (rows[k]! * cols[c]!));
    }
  }
  return Math.max(mi, 0);
}

/** Entropy (nats) of a vector of counts. */
export function entropyOfCounts(counts: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < counts.length; i++) n += counts[i]!;
  let h = 0;
  for (let i = 0; i < counts.length; i++) {
    const x = counts[i]!;
    if (x > 0) h -= (x / n) * Math.log(x / n);
  }
  return Math.max(h, 0);
}

function margins(table: ArrayLike<number>, K: number, C: number) {
  if (table.length !== K * C) throw new RangeError(`contingency table has ${table.length} cells, expected ${K}×${C}`);
  const rows = new Float64Array(K);
  const cols = new Float64Array(C);
  let n = 0;
  for (let k = 0; k < K; k++) {
    for (let c = 0; c < C; c++) {
      const x = table[k * C + c]!;
      rows[k] = rows[k]! + x;
      cols[c] = cols[c]! + x;
      n += x;
    }
  }
  return { rows, cols, n };
}

/** Normalised mutual information, arithmetic normalisation (scikit-learn's default), in [0, 1]. */
export function nmi(assignments: LabelArray, labels: LabelArray, K?: number, C?: number): number {
  K = groups(assignments, K);
  C = groups(labels, C);
  const t = contingency(assignments, labels, K, C);
  const { rows, cols } = margins(t, K, C);
  const usedK = rows.filter((x) => x > 0).length;
  const usedC = cols.filter((x) => x > 0).length;
  if (usedK === 1 && usedC === 1) return 1;
  const mi = mutualInformation(t, K, C);
  if (mi === 0) return 0;
  const norm = (entropyOfCounts(rows) + entropyOfCounts(cols)) / 2;
  return Math.min(1, mi / Math.max(norm, Number.EPSILON));
}
