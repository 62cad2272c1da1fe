// Collapse metrics of any B×K probability matrix p (rows on the simplex), optionally against a
// second matrix w (KL(p‖w), e.g. the student's probabilities against the targets):
//   mean entropy       mean_i H(p_i),              H(q) = −Σ_k q_k log q_k (0·log 0 = 0)
//   marginal entropy   H(mean_i p_i)
//   MI                 marginal entropy − mean entropy
//   KL(p‖w)            mean_i Σ_k p_ik (log p_ik − log max(w_ik, eps))   (terms with p = 0 skipped)
//   histogram          counts of argmax_k p_ik (ties: lowest k), used clusters (count > 0),
//                      largest-cluster fraction (max count / B)
// Every float reduction runs in a fixed order (block partials, then one workgroup), so the
// result is deterministic; the histogram uses u32 atomics, which are exact in any order.
//
// Entry points:
//   metric_rows    one workgroup per RB rows: row entropy / KL / argmax (TPR threads per row),
//                  per-block column sums colsum[blk][k] and stats[blk] = (Σ H, Σ KL).
//   metric_reduce  one workgroup: out = [mean_entropy, marginal_entropy, mi, kl,
//                  used_clusters, largest_fraction, largest_count, B].
struct Params {
  B: u32,
  K: u32,
  has_w: u32,
  eps: f32,
}

const RB: u32 = 8u;
const WG: u32 = 128u;
const TPR: u32 = 16u;

@group(0) @binding(0) var<storage, read> p: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> colsum: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;
@group(0) @binding(4) var<storage, read_write> hist: array<atomic<u32>>;
@group(0) @binding(5) var<uniform> P: Params;

var<workgroup> sh: array<f32, WG>;
var<workgroup> skl: array<f32, WG>;
var<workgroup> sbest: array<f32, WG>;
var<workgroup> sidx: array<u32, WG>;

@compute @workgroup_size(WG)
fn metric_rows(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let lid = lid3.x;
  let B = P.B;
  let K = P.K;
  let blk = wid.x;
  let r0 = blk * RB;
  let rl = lid / TPR;
  let has_w = P.has_w != 0u;
  var h = 0.0;
  var kl = 0.0;
  var best = -3.0e38;
  var idx = 0xffffffffu;
  if (r0 + rl < B) {
    let base = (r0 + rl) * K;
    for (var j = lid % TPR; j < K; j += TPR) {
      let x = p[base + j];
      if (x > 0.0) {
        let lx = log(x);
        h -= x * lx;
        if (has_w) { kl += x * (lx - log(max(w[base + j], P.eps))); }
      }
      // Columns ascend within a thread: strict > keeps the lowest index on ties.
      if (x > best || idx == 0xffffffffu) { best = x; idx = j; }
    }
  }
  sh[lid] = h;
  skl[lid] = kl;
  sbest[lid] = best;
  sidx[lid] = idx;
  workgroupBarrier();
  if (lid % TPR == 0u && r0 + rl < B) {
    var b = sbest[lid];
    var bi = sidx[lid];
    for (var t = 1u; t < TPR; t++) {
      let ot = sidx[lid + t];
      if (ot != 0xffffffffu && (sbest[lid + t] > b || (sbest[lid + t] == b && ot < bi))) { b = sbest[lid + t]; bi = ot; }
      sh[lid] += sh[lid + t];
      skl[lid] += skl[lid + t];
    }
    atomicAdd(&hist[bi], 1u);
  }
  workgroupBarrier();
  if (lid == 0u) {
    let nr = min(RB, B - r0);
    var hs = 0.0;
    var ks = 0.0;
    for (var r = 0u; r < nr; r++) { hs += sh[r * TPR]; ks += skl[r * TPR]; }
    stats[blk * 2u] = hs;
    stats[blk * 2u + 1u] = ks;
  }
  let nr = min(RB, B - r0);
  for (var j = lid; j < K; j += WG) {
    var c = 0.0;
    for (var r = 0u; r < nr; r++) { c += p[(r0 + r) * K + j]; }
    colsum[blk * K + j] = c;
  }
}

// ---------------------------------------------------------------- metric_reduce
@group(0) @binding(0) var<storage, read> z_colsum: array<f32>;
@group(0) @binding(1) var<storage, read> z_stats: array<f32>;
@group(0) @binding(2) var<storage, read> z_hist: array<u32>;
@group(0) @binding(3) var<storage, read_write> z_out: array<f32>;
@group(0) @binding(4) var<uniform> Z: Params;

var<workgroup> r_hm: array<f32, WG>;
var<workgroup> r_h: array<f32, WG>;
var<workgroup> r_kl: array<f32, WG>;
var<workgroup> r_used: array<u32, WG>;
var<workgroup> r_max: array<u32, WG>;

@compute @workgroup_size(WG)
fn metric_reduce(@builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  let B = Z.B;
  let K = Z.K;
  let nb = (B + RB - 1u) / RB;
  let inv_b = 1.0 / f32(B);
  var hm = 0.0;
  var used = 0u;
  var mx = 0u;
  for (var j = lid; j < K; j += WG) {
    var c = 0.0;
    for (var b = 0u; b < nb; b++) { c += z_colsum[b * K + j]; }
    let m = c * inv_b;
    if (m > 0.0) { hm -= m * log(m); }
    let n = z_hist[j];
    if (n > 0u) { used += 1u; }
    mx = max(mx, n);
  }
  var h = 0.0;
  var kl = 0.0;
  for (var b = lid; b < nb; b += WG) {
    h += z_stats[b * 2u];
    kl += z_stats[b * 2u + 1u];
  }
  r_hm[lid] = hm;
  r_h[lid] = h;
  r_kl[lid] = kl;
  r_used[lid] = used;
  r_max[lid] = mx;
  workgroupBarrier();
  if (lid == 0u) {
    for (var t = 1u; t < WG; t++) {
      hm += r_hm[t];
      h += r_h[t];
      kl += r_kl[t];
      used += r_used[t];
      mx = max(mx, r_max[t]);
    }
    let meanH = h * inv_b;
    z_out[0] = meanH;
    z_out[1] = hm;
    z_out[2] = hm - meanH;
    z_out[3] = kl * inv_b;
    z_out[4] = f32(used);
    z_out[5] = f32(mx) * inv_b;
    z_out[6] = f32(mx);
    z_out[7] = f32(B);
  }
}
