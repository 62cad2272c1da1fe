// Float64 reference of weighted kNN classification (InstDisc / DINO / solo-learn), the twin of
// src/shaders/knn.wgsl + src/mira/knn.ts:
//   b̂ = b / max(‖b‖, 1e-12), q̂ likewise;  s_qj = q̂ · b̂_j  (cosine similarity)
//   neighbours of q: the k largest s_qj, ordered by (similarity desc, bank index asc)
//   w_r = exp((s_r − s_0) / T)  (= exp(s_r / T) up to the common factor exp(−s_0 / T))
//   vote_c = Σ_{r<k, label_r = c} w_r, summed in rank order;  prediction = argmax_c, ties → lower c
//   top-1 = 100 · (correct predictions) / queries, per (k, T), keyed "k20_t0.07".
// Bank labels ≥ classes never vote (the GPU path refuses them before it runs).

export const KNN_EPS = 1e-12;

/** The result key of one (k, T) pair: `k20_t0.07`. */
export function knnKey(k: number, t: number): string {
  return `k${k}_t${t}`;
}

export interface KnnRefOptions {
  dim: number;
  classes: number;
  ks: readonly number[];
  temperatures: readonly number[];
}

export interface KnnRefResult {
  /** Keys in (k, T) order: every T for the first k, then the next k. */
  keys: string[];
  /** Per key: the prediction of every query. */
  predictions: Record<string, Uint32Array>;
  top1: Record<string, number>;
  /** Per query: the max(ks) + 1 largest similarities in neighbour order (fewer when the bank is smaller). */
  topSims: Float64Array[];
  /** Per key: per query, the C votes (query-major, q·C + c). */
  votes: Record<string, Float64Array>;
}

export function l2NormalizeRowsRef(x: ArrayLike<number>, rows: number, dim: number): Float64Array {
  if (x.length !== rows * dim) throw new Error(`l2NormalizeRowsRef: ${x.length} values, expected ${rows}×${dim}`);
  const y = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += x[r * dim + d]! * x[r * dim + d]!;
    const inv = 1 / Math.max(Math.sqrt(s), KNN_EPS);
    for (let d = 0; d < dim; d++) y[r * dim + d] = x[r * dim + d]! * inv;
  }
  return y;
}

export function knnReference(
  bank: ArrayLike<number>,
  bankLabels: ArrayLike<number>,
  query: ArrayLike<number>,
  queryLabels: ArrayLike<number>,
  opts: KnnRefOptions,
): KnnRefResult {
  const { dim, classes, ks, temperatures } = opts;
  const nb = bankLabels.length;
  const nq = queryLabels.length;
  if (bank.length !== nb * dim) throw new Error(`knnReference: bank has ${bank.length} values, expected ${nb}×${dim}`);
  if (query.length !== nq * dim) throw new Error(`knnReference: queries have ${query.length} values, expected ${nq}×${dim}`);
  const kmax = Math.max(...ks);
  if (kmax > nb) throw new Error(`knnReference: k = ${kmax} exceeds the bank size ${nb}`);
  const B = l2NormalizeRowsRef(bank, nb, dim);
  const Q = l2NormalizeRowsRef(query, nq, dim);
  const keys: string[] = [];
  for (const k of ks) for (const t of temperatures) keys.push(knnKey(k, t));
  const predictions: Record<string, Uint32Array> = {};
  const votes: Record<string, Float64Array> = {};
  const correct: Record<string, number> = {};
  for (const key of keys) {
    predictions[key] = new Uint32Array(nq);
    votes[key] = new Float64Array(nq * classes);
    correct[key] = 0;
  }
  const topSims: Float64Array[] = [];
  const sims = new Float64Array(nb);
  const order = new Uint32Array(nb);
  for (let q = 0; q < nq; q++) {
    for (let j = 0; j < nb; j++) {
      let s = 0;
      for (let d = 0; d < dim; d++) s += Q[q * dim + d]! * B[j * dim + d]!;
      sims[j] = s;
      order[j] = j;
    }
    order.sort((a, b) => sims[b]! - sims[a]! || a - b);
    topSims.push(Float64Array.from(order.subarray(0, Math.min(nb, kmax + 1)), (j) => sims[j]!));
    const s0 = sims[order[0]!]!;
    for (const k of ks) {
      for (const t of temperatures) {
        const key = knnKey(k, t);
        const v = votes[key]!.subarray(q * classes, (q + 1) * classes);
        for (let r = 0; r < k; r++) {
          const j = order[r]!;
          const label = bankLabels[j]!;
          if (label < classes) v[label] = v[label]! + Math.exp((sims[j]! - s0) / t);
        }
        let best = 0;
        for (let c = 1; c < classes; c++) if (v[c]! > v[best]!) best = c;
        predictions[key]![q] = best;
        if (best === queryLabels[q]) correct[key]!++;
      }
    }
  }
  const top1: Record<string, number> = {};
  for (const key of keys) top1[key] = (100 * correct[key]!) / nq;
  return { keys, predictions, top1, topSims, votes };
}
