// SeLa's whole-dataset label optimisation over a bank of N rows split into chunks (one storage
// buffer each, each under the device's binding limit): Sinkhorn-Knopp on P = p^λ in the log
// domain with uniform marginals (1/K over classes, 1/N over images), then y = argmax.
//
// The bank holds, per row i, d_ik = log p_ik − max_k log p_ik = (ℓ_ik − max_k ℓ_ik)/T (≤ 0, the
// winner exactly 0) and, beside it, m_i = max_k log p_ik = −log Σ_k exp(d_ik). With g = −log r
// (the class scaling) and ρ_i = LSE_k(λ·log p_ik − g_k) (c_i = exp(−ρ_i)/N, the image scaling)
// SeLa's loop r = 1/K / (P c), c' = 1/N / (rᵀP) reads
//   rows:   ρ'_i = ρ_i − λ·m_i = LSE_k(λ·d_ik − g_k)           (first pass: c = 1/N, ρ = 0, ρ' = −λ·m_i)
//   cols:   g_k  = log K − log N + LSE_i(λ·d_ik − ρ'_i)
//   change: Σ_i |c_i/c'_i − 1| = Σ_i |exp(ρ'_new,i − ρ'_old,i) − 1|   (SeLa's convergence measure)
//   labels: y_i = argmax_k (λ·d_ik − g_k)                       (ties: lowest k)
// Precision: after the first pass g carries a common constant of order λ·|log p| (≈ 50 at
// K = 128, λ = 10), where f32 steps by 4e-6; `shift` subtracts σ = max_k g once, after the first
// pass, and every later quantity lives in that frame (g̃ = g − σ, ρ̃ = ρ + σ: labels and the change
// measure are unchanged; the second pass compares with the first pass's ρ' = −λ·m + σ).
//
// Entry points (bindings numbered per entry point, in the order the host binds them):
//   write_bank     one workgroup per RB source rows: logits → (d, m) into a chunk; the source
//                  rows are src_stride long and the bank's K columns start at src_col (one
//                  head of a multi-head model's B×(H·K) logits).
//   rows           one workgroup per RB rows of a chunk: ρ' (written over the previous one) and
//                  the block's Σ |exp(ρ'_new − ρ'_old) − 1| into chg[blk_off + blk].
//   col_partials   one workgroup per (tile of TR rows, group of kc columns) of a chunk, threads
//                  split into kc column lanes × 64/kc row lanes: part[tile_off + tile][j] =
//                  LSE over the tile's rows of λ·d_ij − ρ'_i.
//   cols           one thread per class: g_prev ← g, g ← log K − log N + LSE over all tiles of all
//                  chunks (fixed order: deterministic).
//   shift          one workgroup, after the first pass: σ = max_k g; g −= σ.
//   change_reduce  one workgroup: out[0] = Σ_blocks chg, out[1] = Σ_k |exp(g_k − g_prev,k) − 1|/K
//                  — the L1 error of the class marginals of the assignment the labels come from
//                  (diag(c) P diag(r) with r from g_prev and c from it: its column sums are
//                  exp(g − g_prev)/K).
//   labels         one workgroup per RB rows of a chunk: argmax_k (λ·d_ik − g_prev,k) (bound to
//                  a masked copy of g_prev — full classes at +1e30 — it is the balanced
//                  rounding's "best class with room" pass).
//   candidates     one workgroup per RB rows of a chunk: the row's CT = 8 best classes as
//                  log-probabilities, for the balanced rounding on the host (8 pairs per row
//                  leave the GPU, never the bank).
// Shapes travel in the params uniform (a chunk's rows differ; no recompilation per chunk).
struct Chunk {
  lambda: f32,
  log_kn: f32,       // log K − log N
  inv_t: f32,        // write_bank: p = softmax(ℓ·inv_t)
  _pad0: f32,
  rows: u32,         // rows in this chunk
  K: u32,
  tile_off: u32,     // this chunk's first tile among all tiles
  blk_off: u32,      // this chunk's first row block among all blocks
  kc: u32,           // col_partials: column lanes (a power of two ≤ 64)
  total_tiles: u32,
  total_blks: u32,
  src_col: u32,      // write_bank: first source column (head h of H: h·K)
  src_row: u32,      // write_bank: first source row
  dst_row: u32,      // write_bank: first row in the chunk
  count: u32,        // write_bank: rows to write
  src_stride: u32,   // write_bank: source row length (H·K; K for one head)
}

struct Pass {
  kind: u32,         // 0: first pass (ρ = 0), 1: second (previous ρ' = −λ·m + σ), 2: later
  _p0: u32,
  _p1: u32,
  _p2: u32,
}

const RB: u32 = 8u;
const WG: u32 = 128u;
const TPR: u32 = 16u;
const TR: u32 = 256u;     // rows per column-partial tile
const CW: u32 = 64u;      // threads per col_partials workgroup
const NEG: f32 = -3.0e38;

var<workgroup> sm: array<f32, WG>;
var<workgroup> ss: array<f32, WG>;
var<workgroup> sidx: array<u32, WG>;
var<workgroup> rowv: array<f32, RB>;

fn lse_push(p: vec2<f32>, x: f32) -> vec2<f32> {
  if (x > p.x) { return vec2<f32>(x, p.y * exp(p.x - x) + 1.0); }
  return vec2<f32>(p.x, p.y + exp(x - p.x));
}

fn lse_merge(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let m = max(a.x, b.x);
  return vec2<f32>(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}

// ---------------------------------------------------------------- write_bank
@group(0) @binding(0) var<storage, read> w_src: array<f32>;
@group(0) @binding(1) var<storage, read_write> w_bank: array<f32>;
@group(0) @binding(2) var<storage, read_write> w_rowm: array<f32>;
@group(0) @binding(3) var<uniform> w_p: Chunk;

@compute @workgroup_size(WG)
fn write_bank(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let lid = lid3.x;
  let K = w_p.K;
  let rl = lid / TPR;
  let r = wid.x * RB + rl;
  let valid = r < w_p.count;
  let src = (w_p.src_row + r) * w_p.src_stride + w_p.src_col;
  let dst = (w_p.dst_row + r) * K;
  var m = NEG;
  if (valid) {
    for (var j = lid % TPR; j < K; j += TPR) { m = max(m, w_src[src + j]); }
  }
  sm[lid] = m;
  workgroupBarrier();
  if (lid % TPR == 0u) {
    var x = sm[lid];
    for (var t = 1u; t < TPR; t++) { x = max(x, sm[lid + t]); }
    rowv[rl] = x;
  }
  workgroupBarrier();
  let mx = rowv[rl];
  var s = 0.0;
  if (valid) {
    for (var j = lid % TPR; j < K; j += TPR) {
      let d = (w_src[src + j] - mx) * w_p.inv_t;
      w_bank[dst + j] = d;
      s += exp(d);
    }
  }
  ss[lid] = s;
  workgroupBarrier();
  if (lid % TPR == 0u && valid) {
    var x = 0.0;
    for (var t = 0u; t < TPR; t++) { x += ss[lid + t]; }
    w_rowm[w_p.dst_row + r] = -log(x);
  }
}

// ---------------------------------------------------------------- rows
@group(0) @binding(0) var<storage, read> r_bank: array<f32>;
@group(0) @binding(1) var<storage, read> r_rowm: array<f32>;
@group(0) @binding(2) var<storage, read_write> r_rho: array<f32>;
@group(0) @binding(3) var<storage, read> r_g: array<f32>;
@group(0) @binding(4) var<storage, read> r_sigma: array<f32>;
@group(0) @binding(5) var<storage, read_write> r_chg: array<f32>;
@group(0) @binding(6) var<uniform> r_p: Chunk;
@group(0) @binding(7) var<uniform> r_pass: Pass;

@compute @workgroup_size(WG)
fn rows(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let lid = lid3.x;
  let K = r_p.K;
  let lam = r_p.lambda;
  let kind = r_pass.kind;
  let rl = lid / TPR;
  let r = wid.x * RB + rl;
  let valid = r < r_p.rows;
  var p = vec2<f32>(NEG, 0.0);
  if (valid && kind != 0u) {
    let base = r * K;
    for (var j = lid % TPR; j < K; j += TPR) { p = lse_push(p, fma(r_bank[base + j], lam, -r_g[j])); }
  }
  sm[lid] = p.x;
  ss[lid] = p.y;
  workgroupBarrier();
  if (lid % TPR == 0u) {
    var e = 0.0;
    if (valid) {
      let lm = -lam * r_rowm[r];
      if (kind == 0u) {
        r_rho[r] = lm;
      } else {
        var q = vec2<f32>(sm[lid], ss[lid]);
        for (var t = 1u; t < TPR; t++) { q = lse_merge(q, vec2<f32>(sm[lid + t], ss[lid + t])); }
        let rho = q.x + log(q.y);
        let prev = select(r_rho[r], lm + r_sigma[0], kind == 1u);
        e = abs(exp(rho - prev) - 1.0);
        r_rho[r] = rho;
      }
    }
    rowv[rl] = e;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var e = 0.0;
    for (var t = 0u; t < RB; t++) { e += rowv[t]; }
    r_chg[r_p.blk_off + wid.x] = e;
  }
}

// ---------------------------------------------------------------- col_partials
@group(0) @binding(0) var<storage, read> c_bank: array<f32>;
@group(0) @binding(1) var<storage, read> c_rho: array<f32>;
@group(0) @binding(2) var<storage, read_write> c_part: array<f32>;
@group(0) @binding(3) var<uniform> c_p: Chunk;

@compute @workgroup_size(CW)
fn col_partials(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let lid = lid3.x;
  let K = c_p.K;
  let kc = c_p.kc;
  let lanes = CW / kc;
  let c = lid % kc;
  let rlane = lid / kc;
  let j = wid.y * kc + c;
  let r0 = wid.x * TR;
  let r1 = min(r0 + TR, c_p.rows);
  let lam = c_p.lambda;
  var p = vec2<f32>(NEG, 0.0);
  if (j < K) {
    for (var r = r0 + rlane; r < r1; r += lanes) { p = lse_push(p, fma(c_bank[r * K + j], lam, -c_rho[r])); }
  }
  sm[lid] = p.x;
  ss[lid] = p.y;
  workgroupBarrier();
  if (rlane == 0u && j < K) {
    var q = p;
    for (var t = 1u; t < lanes; t++) { q = lse_merge(q, vec2<f32>(sm[t * kc + c], ss[t * kc + c])); }
    c_part[(c_p.tile_off + wid.x) * K + j] = q.x + log(q.y);
  }
}

// ---------------------------------------------------------------- cols
@group(0) @binding(0) var<storage, read> k_part: array<f32>;
@group(0) @binding(1) var<storage, read_write> k_g: array<f32>;
@group(0) @binding(2) var<storage, read_write> k_gprev: array<f32>;
@group(0) @binding(3) var<uniform> k_p: Chunk;

@compute @workgroup_size(64)
fn cols(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  let K = k_p.K;
  if (j >= K) { return; }
  var p = vec2<f32>(NEG, 0.0);
  for (var t = 0u; t < k_p.total_tiles; t++) { p = lse_push(p, k_part[t * K + j]); }
  k_gprev[j] = k_g[j];
  k_g[j] = k_p.log_kn + p.x + log(p.y);
}

// ---------------------------------------------------------------- shift
@group(0) @binding(0) var<storage, read_write> s_g: array<f32>;
@group(0) @binding(1) var<storage, read_write> s_sigma: array<f32>;
@group(0) @binding(2) var<uniform> s_p: Chunk;

@compute @workgroup_size(WG)
fn shift(@builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  let K = s_p.K;
  var m = NEG;
  for (var j = lid; j < K; j += WG) { m = max(m, s_g[j]); }
  sm[lid] = m;
  workgroupBarrier();
  if (lid == 0u) {
    var x = sm[0];
    for (var t = 1u; t < WG; t++) { x = max(x, sm[t]); }
    ss[0] = x;
    s_sigma[0] = x;
  }
  workgroupBarrier();
  let sigma = ss[0];
  for (var j = lid; j < K; j += WG) { s_g[j] = s_g[j] - sigma; }
}

// ---------------------------------------------------------------- change_reduce
@group(0) @binding(0) var<storage, read> z_chg: array<f32>;
@group(0) @binding(1) var<storage, read> z_g: array<f32>;
@group(0) @binding(2) var<storage, read> z_gprev: array<f32>;
@group(0) @binding(3) var<storage, read_write> z_out: array<f32>;
@group(0) @binding(4) var<uniform> z_p: Chunk;

@compute @workgroup_size(WG)
fn change_reduce(@builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  var e = 0.0;
  for (var b = lid; b < z_p.total_blks; b += WG) { e += z_chg[b]; }
  var me = 0.0;
  for (var j = lid; j < z_p.K; j += WG) { me += abs(exp(z_g[j] - z_gprev[j]) - 1.0); }
  sm[lid] = e;
  ss[lid] = me;
  workgroupBarrier();
  if (lid == 0u) {
    var a = 0.0;
    var b = 0.0;
    for (var t = 0u; t < WG; t++) {
      a += sm[t];
      b += ss[t];
    }
    z_out[0] = a;
    z_out[1] = b / f32(z_p.K);
  }
}

// ---------------------------------------------------------------- labels
@group(0) @binding(0) var<storage, read> l_bank: array<f32>;
@group(0) @binding(1) var<storage, read> l_g: array<f32>;
@group(0) @binding(2) var<storage, read_write> l_labels: array<u32>;
@group(0) @binding(3) var<uniform> l_p: Chunk;

@compute @workgroup_size(WG)
fn labels(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let lid = lid3.x;
  let K = l_p.K;
  let lam = l_p.lambda;
  let rl = lid / TPR;
  let r = wid.x * RB + rl;
  var best = NEG;
  var bi = 0xffffffffu;
  if (r < l_p.rows) {
    let base = r * K;
    for (var j = lid % TPR; j < K; j += TPR) {
      let x = fma(l_bank[base + j], lam, -l_g[j]);
      if (x > best || bi == 0xffffffffu) { best = x; bi = j; }
    }
  }
  sm[lid] = best;
  sidx[lid] = bi;
  workgroupBarrier();
  if (lid % TPR == 0u && r < l_p.rows) {
    var b = sm[lid];
    var i = sidx[lid];
    for (var t = 1u; t < TPR; t++) {
      let o = sidx[lid + t];
      if (o != 0xffffffffu && (sm[lid + t] > b || (sm[lid + t] == b && o < i))) { b = sm[lid + t]; i = o; }
    }
    l_labels[r] = i;
  }
}

// ---------------------------------------------------------------- candidates
// The balanced rounding's input without the bank leaving the GPU: per row, the CT best classes of
// s_ik = λ·d_ik − g_prev,k (descending, ties: lowest k) as log-probabilities over the classes,
// s_ik − LSE_k s_ik, into cand_s / cand_k [rows][CT] (slots past K: k = 0xffffffff, s = NEG).
// Each of a row's TPR threads keeps its own top CT of its strided columns (and an LSE pair);
// one thread per row merges the TPR sorted lists.
const CT: u32 = 8u;
@group(0) @binding(0) var<storage, read> t_bank: array<f32>;
@group(0) @binding(1) var<storage, read> t_g: array<f32>;
@group(0) @binding(2) var<storage, read_write> t_s: array<f32>;
@group(0) @binding(3) var<storage, read_write> t_k: array<u32>;
@group(0) @binding(4) var<uniform> t_p: Chunk;

var<workgroup> cs: array<f32, 1024>;  // WG × CT
var<workgroup> ck: array<u32, 1024>;

@compute @workgroup_size(WG)
fn candidates(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let lid = lid3.x;
  let K = t_p.K;
  let lam = t_p.lambda;
  let rl = lid / TPR;
  let r = wid.x * RB + rl;
  var ts: array<f32, 8>;
  var tk: array<u32, 8>;
  for (var t = 0u; t < CT; t++) { ts[t] = NEG; tk[t] = 0xffffffffu; }
  var p = vec2<f32>(NEG, 0.0);
  if (r < t_p.rows) {
    let base = r * K;
    for (var j = lid % TPR; j < K; j += TPR) {
      let x = fma(t_bank[base + j], lam, -t_g[j]);
      p = lse_push(p, x);
      // Columns arrive in increasing j: strictly greater keeps the lower k first among equals.
      if (tk[CT - 1u] == 0xffffffffu || x > ts[CT - 1u]) {
        var t = CT - 1u;
        while (t > 0u && (tk[t - 1u] == 0xffffffffu || x > ts[t - 1u])) {
          ts[t] = ts[t - 1u];
          tk[t] = tk[t - 1u];
          t--;
        }
        ts[t] = x;
        tk[t] = j;
      }
    }
  }
  for (var t = 0u; t < CT; t++) {
    cs[lid * CT + t] = ts[t];
    ck[lid * CT + t] = tk[t];
  }
  sm[lid] = p.x;
  ss[lid] = p.y;
  workgroupBarrier();
  if (lid % TPR == 0u && r < t_p.rows) {
    var q = vec2<f32>(sm[lid], ss[lid]);
    for (var u = 1u; u < TPR; u++) { q = lse_merge(q, vec2<f32>(sm[lid + u], ss[lid + u])); }
    let lse = q.x + log(q.y);
    var head: array<u32, 16>;
    for (var u = 0u; u < TPR; u++) { head[u] = 0u; }
    for (var t = 0u; t < CT; t++) {
      var bu = 0xffffffffu;
      var bs = NEG;
      var bk = 0xffffffffu;
      for (var u = 0u; u < TPR; u++) {
        if (head[u] >= CT) { continue; }
        let o = (lid + u) * CT + head[u];
        let k = ck[o];
        if (k == 0xffffffffu) { continue; }
        let s = cs[o];
        if (bu == 0xffffffffu || s > bs || (s == bs && k < bk)) { bu = u; bs = s; bk = k; }
      }
      let dst = r * CT + t;
      if (bu == 0xffffffffu) {
        t_s[dst] = NEG;
        t_k[dst] = 0xffffffffu;
      } else {
        t_s[dst] = bs - lse;
        t_k[dst] = bk;
        head[bu] += 1u;
      }
    }
  }
}
