// Weighted kNN classification (InstDisc / DINO / solo-learn protocol), host: src/mira/knn.ts.
//
//   knn_normalize  y_r = x_(base+r) / max(‖x_(base+r)‖, EPS) for r < info.rows     (F.normalize)
//                  64 threads per row × 4 rows per workgroup, one barrier, fixed-order sum.
//                  Bindings: x (N×DIM), y (rows×DIM), info.
//   (the cosine similarities S = Q̂ · B̂ᵀ of a chunk of queries come from the shared GEMM core)
//   knn_select     one workgroup (256 threads) per query row of the chunk:
//     1. radix select of the KMAX largest similarities of the row, ordered by
//        (similarity desc, bank index asc): floats map to order-preserving u32 keys; four
//        passes of 8 bits (most significant first) count the keys that share the prefix found
//        so far in a 256-bin workgroup histogram (integer atomics: exact), and one thread walks
//        the bins from the top to find the digit where the running count reaches the number
//        still wanted. After four passes the threshold key t (the KMAX-th largest) is exact,
//        with `need` elements equal to t still to take.
//     2. gather: every key > t (strided over the row, slots from an atomic counter); the keys
//        equal to t are taken all at once when exactly `need` of them exist (the usual case),
//        else in bank-index order: each thread counts the ties in its contiguous range of the
//        row, an exclusive scan gives each range its first tie rank, and ranks < need are kept.
//        The selected set is therefore unique; only its order in workgroup memory varies.
//     3. sort: each selected entry's rank = the number of entries before it in (key desc,
//        index asc) order (O(KMAX²/256) per thread), then every entry moves to its rank. The
//        bank index is replaced by its label on the way.
//     4. votes, for every (k, T) pair: w_r = exp((s_r − s_0) / T) for ranks r < k (the same
//        weights as exp(s_r / T) up to the common factor exp(−s_0 / T), which cannot change
//        the prediction but keeps T → 0 finite); class c's vote = Σ_{r<k, label_r = c} w_r,
//        summed in rank order by the thread that owns c (classes strided over the threads);
//        prediction = argmax, ties to the lower class. One thread writes the prediction and
//        counts a correct one with an integer atomic (exact, order-free).
//     Labels ≥ CLASSES never vote; every such bank label met in a top-k and every such query
//     label is counted in counts[NPAIRS], which the host turns into an error.
//   Bindings: sims (CHUNK×N_BANK), bank labels, query labels, pairs, info, preds
//   (NPAIRS×N_QUERY u32), counts (NPAIRS + 1 u32, cleared by the host before the first chunk).
//   Everything is integer or in a fixed order: the predictions are deterministic.

override DIM: u32;
override EPS: f32 = 1e-12;
override N_BANK: u32;
override N_QUERY: u32;
override KMAX: u32;
override NPAIRS: u32;
override CLASSES: u32;

// Rows [base, base + rows) of the input this dispatch handles (one 256-byte slot per chunk).
struct Info {
  base: u32,
  rows: u32,
  pad0: u32,
  pad1: u32,
}

// ---------------------------------------------------------------------------------------------
// Row normalisation.

const NT: u32 = 64u;   // threads per row
const NR: u32 = 4u;    // rows per workgroup

var<workgroup> nr_part: array<f32, 256>;

@group(0) @binding(0) var<storage, read> nr_x: array<f32>;
@group(0) @binding(1) var<storage, read_write> nr_y: array<f32>;
@group(0) @binding(2) var<uniform> nr_info: Info;

@compute @workgroup_size(64, 4)
fn knn_normalize(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let r = (wg.y * nwg.x + wg.x) * NR + lid.y;
  let ok = r < nr_info.rows;
  let src = (nr_info.base + r) * DIM;
  let dst = r * DIM;
  var s = 0.0;
  if (ok) {
    for (var d = lid.x; d < DIM; d += NT) {
      let v = nr_x[src + d];
      s += v * v;
    }
  }
  nr_part[li] = s;
  workgroupBarrier();
  if (ok) {
    var t = 0.0;
    for (var j = 0u; j < NT; j++) { t += nr_part[lid.y * NT + j]; }
    let inv = 1.0 / max(sqrt(t), EPS);
    for (var d = lid.x; d < DIM; d += NT) { nr_y[dst + d] = nr_x[src + d] * inv; }
  }
}

// ---------------------------------------------------------------------------------------------
// Top-k selection and weighted votes.

const WG: u32 = 256u;
// Entries of the selection each thread sorts: KMAX ≤ 4 · 256 (the host checks).
const PER_THREAD: u32 = 4u;

struct Pair {
  k: u32,
  t: f32,
}

@group(0) @binding(0) var<storage, read> tk_sims: array<f32>;
@group(0) @binding(1) var<storage, read> tk_bank_labels: array<u32>;
@group(0) @binding(2) var<storage, read> tk_query_labels: array<u32>;
@group(0) @binding(3) var<storage, read> tk_pairs: array<Pair>;
@group(0) @binding(4) var<uniform> tk_info: Info;
@group(0) @binding(5) var<storage, read_write> tk_preds: array<u32>;
@group(0) @binding(6) var<storage, read_write> tk_counts: array<atomic<u32>>;

// Two histograms, alternating between passes, so one is cleared while the other is filled.
var<workgroup> hist: array<array<atomic<u32>, 256>, 2>;
// (digit, still wanted, count in that digit's bin, -) from the thread that walks the bins.
var<workgroup> walk: vec4<u32>;
var<workgroup> n_sel: atomic<u32>;
var<workgroup> sel_key: array<u32, KMAX>;
// The bank index of each selected entry; its label once sorted.
var<workgroup> sel_idx: array<u32, KMAX>;
var<workgroup> sel_w: array<f32, KMAX>;
var<workgroup> scan: array<u32, 256>;
var<workgroup> best_v: array<f32, 256>;
var<workgroup> best_c: array<u32, 256>;

// Order-preserving map f32 → u32: a > b as floats ⇔ key(a) > key(b) as integers (−0 < +0).
fn key_of(x: f32) -> u32 {
  let u = bitcast<u32>(x);
  return select(u | 0x80000000u, ~u, (u >> 31u) == 1u);
}

fn value_of(k: u32) -> f32 {
  return bitcast<f32>(select(~k, k & 0x7fffffffu, (k >> 31u) == 1u));
}

@compute @workgroup_size(256)
fn knn_select(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let row = wg.y * nwg.x + wg.x;
  if (row >= tk_info.rows) { return; }
  let q = tk_info.base + row;
  let base = row * N_BANK;

  // 1. Radix select.
  atomicStore(&hist[0][lid], 0u);
  atomicStore(&hist[1][lid], 0u);
  if (lid == 0u) { atomicStore(&n_sel, 0u); }
  workgroupBarrier();
  var prefix = 0u;
  var mask = 0u;
  var need = KMAX;
  var ties = 0u;
  for (var round = 0u; round < 4u; round++) {
    let shift = 24u - 8u * round;
    let h = round & 1u;
    for (var i = lid; i < N_BANK; i += WG) {
      let key = key_of(tk_sims[base + i]);
      if ((key & mask) == prefix) { atomicAdd(&hist[h][(key >> shift) & 255u], 1u); }
    }
    // The other histogram was last read before the previous round's uniform load.
    atomicStore(&hist[1u - h][lid], 0u);
    workgroupBarrier();
    if (lid == 0u) {
      var above = 0u;
      var d = 255u;
      loop {
        let c = atomicLoad(&hist[h][d]);
        if (above + c >= need || d == 0u) { break; }
        above += c;
        d -= 1u;
      }
      walk = vec4<u32>(d, need - above, atomicLoad(&hist[h][d]), 0u);
    }
    let w = workgroupUniformLoad(&walk);
    prefix |= w.x << shift;
    mask |= 255u << shift;
    need = w.y;
    ties = w.z;
  }
  let thr = prefix;
  let above = KMAX - need;

  // 2. Gather.
  let all_ties = ties == need;
  for (var i = lid; i < N_BANK; i += WG) {
    let key = key_of(tk_sims[base + i]);
    if (key > thr || (all_ties && key == thr)) {
      let slot = atomicAdd(&n_sel, 1u);
      sel_key[slot] = key;
      sel_idx[slot] = i;
    }
  }
  if (!all_ties) {
    let span = (N_BANK + WG - 1u) / WG;
    let lo = min(lid * span, N_BANK);
    let hi = min(lo + span, N_BANK);
    var c = 0u;
    for (var i = lo; i < hi; i++) {
      if (key_of(tk_sims[base + i]) == thr) { c++; }
    }
    scan[lid] = c;
    workgroupBarrier();
    if (lid == 0u) {
      var run = 0u;
      for (var t = 0u; t < WG; t++) {
        let v = scan[t];
        scan[t] = run;
        run += v;
      }
    }
    workgroupBarrier();
    var r = scan[lid];
    for (var i = lo; i < hi && r < need; i++) {
      if (key_of(tk_sims[base + i]) == thr) {
        sel_key[above + r] = thr;
        sel_idx[above + r] = i;
        r++;
      }
    }
  }
  workgroupBarrier();

  // 3. Sort by rank; indices become labels.
  var my_key: array<u32, PER_THREAD>;
  var my_idx: array<u32, PER_THREAD>;
  var my_rank: array<u32, PER_THREAD>;
  for (var m = 0u; m < PER_THREAD; m++) {
    let j = lid + m * WG;
    if (j < KMAX) {
      let key = sel_key[j];
      let idx = sel_idx[j];
      var rank = 0u;
      for (var t = 0u; t < KMAX; t++) {
        let kt = sel_key[t];
        if (kt > key || (kt == key && sel_idx[t] < idx)) { rank++; }
      }
      my_key[m] = key;
      my_idx[m] = idx;
      my_rank[m] = rank;
    }
  }
  workgroupBarrier();
  for (var m = 0u; m < PER_THREAD; m++) {
    let j = lid + m * WG;
    if (j < KMAX) {
      let label = tk_bank_labels[my_idx[m]];
      if (label >= CLASSES) { atomicAdd(&tk_counts[NPAIRS], 1u); }
      sel_key[my_rank[m]] = my_key[m];
      sel_idx[my_rank[m]] = label;
    }
  }
  let qlabel = tk_query_labels[q];
  if (lid == 0u && qlabel >= CLASSES) { atomicAdd(&tk_counts[NPAIRS], 1u); }
  workgroupBarrier();

  // 4. Votes per (k, T).
  let s0 = value_of(sel_key[0]);
  for (var p = 0u; p < NPAIRS; p++) {
    let pair = tk_pairs[p];
    for (var r = lid; r < pair.k; r += WG) { sel_w[r] = exp((value_of(sel_key[r]) - s0) / pair.t); }
    workgroupBarrier();
    var bv = -1.0;
    var bc = 0xffffffffu;
    for (var c = lid; c < CLASSES; c += WG) {
      var acc = 0.0;
      for (var r = 0u; r < pair.k; r++) {
        if (sel_idx[r] == c) { acc += sel_w[r]; }
      }
      if (acc > bv) {
        bv = acc;
        bc = c;
      }
    }
    best_v[lid] = bv;
    best_c[lid] = bc;
    workgroupBarrier();
    if (lid == 0u) {
      var v = best_v[0];
      var c = best_c[0];
      for (var t = 1u; t < min(CLASSES, WG); t++) {
        let vt = best_v[t];
        if (vt > v || (vt == v && best_c[t] < c)) {
          v = vt;
          c = best_c[t];
        }
      }
      tk_preds[p * N_QUERY + q] = c;
      if (c == qlabel) { atomicAdd(&tk_counts[p], 1u); }
    }
    workgroupBarrier();
  }
}
