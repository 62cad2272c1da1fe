// Blocked Cholesky factorisation and solve of SYSTEMS independent SPD systems M X = R in one
// pass over the block columns (host: src/mira/mveb.ts, which solves (K + ηI) X = Ψ with it).
//   M: SYSTEMS × NP × NP row-major, NP a multiple of the block BS = 32; rows/columns past the
//      real size ROWS are padding that the host fills with the identity (so they solve to 0).
//   R: SYSTEMS × NP × D right-hand sides (D columns), overwritten by Y = L⁻¹R, then X = L⁻ᵀY.
//
//   chol_factor_forward  one dispatch per block column k = 0 … NBLK−1 (left-looking), grid
//     ((NBLK − k) + SLICES, SYSTEMS), 256 threads. Every workgroup first forms the updated
//     diagonal block  D = M_kk − Σ_{j<k} L_kj L_kjᵀ  and factors it in workgroup memory (each one
//     redundantly, so that no workgroup waits for another inside the dispatch); then
//       panel workgroup i = k + x (x < NBLK − k):  X = M_ik − Σ_{j<k} L_ij L_kjᵀ, L_ik = X L_kk⁻ᵀ,
//         written over M_ik; workgroup i = k writes L_kk to DIAG (not over M_kk, which the
//         others of this dispatch still read) and counts floored pivots;
//       RHS workgroup s (32 columns of R):  Y_k = L_kk⁻¹ (R_k − Σ_{j<k} L_kj Y_j), over R_k.
//   chol_backward  one dispatch per block row k = NBLK−1 … 0, grid (SLICES, SYSTEMS):
//       X_k = L_kk⁻ᵀ (Y_k − Σ_{j>k} L_jkᵀ X_j), over R_k.
// The products stage 8 columns (rows) of L at a time in workgroup memory; each thread owns a
// 1×4 strip of the 32×32 block. The triangular solves of a 32×32 block run one row (panel) or
// one column (RHS) per thread, sequentially: no barriers. Everything is in a fixed order, so the
// result is deterministic, and every workgroup of a dispatch computes bit-identical L_kk.
//
// Pivot floor: in exact arithmetic every pivot of K + ηI is ≥ η (a Schur complement of a matrix
// ⪰ ηI is ⪰ ηI). A pivot below FLOOR (params.eta) or NaN is rounding error when K is nearly
// singular (an almost collapsed batch): what is left of that column is noise. The pivot is set
// to FLOOR and the column below it to 0 (the noise is dropped instead of divided by a tiny
// pivot, which would grow without bound through the following columns and the solves), and it
// is counted in FLOORED[system] (zeroed by the host's earlier kernel). The factorisation always
// completes; it is then the exact factor of K + ηI plus a perturbation of the size of its noise.
// Storage buffers are read_write (see elementwise.wgsl).

const BS: u32 = 32u;
const KC: u32 = 8u;

override NP: u32;
override ROWS: u32;
override D: u32;
override NBLK: u32 = NP / BS;
override SLICES: u32;

struct Step {
  k: u32,
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

struct Params {
  lambda: f32,
  eta: f32,
  pad0: f32,
  pad1: f32,
}

@group(0) @binding(0) var<storage, read_write> cf_m: array<f32>;
@group(0) @binding(1) var<storage, read_write> cf_diag: array<f32>;
@group(0) @binding(2) var<storage, read_write> cf_rhs: array<f32>;
@group(0) @binding(3) var<storage, read_write> cf_floored: array<atomic<u32>>;
@group(0) @binding(4) var<uniform> cf_params: Params;
@group(0) @binding(5) var<uniform> cf_step: Step;

var<workgroup> dblk: array<f32, 1024>;
var<workgroup> xblk: array<f32, 1024>;
var<workgroup> st_a: array<f32, 256>;
var<workgroup> st_b: array<f32, 256>;
var<workgroup> lcol: array<f32, 32>;
// 1 where the diagonal block's pivot j was floored (its column below the pivot is set to 0).
var<workgroup> lost: array<u32, 32>;

fn rhs_at(base: u32, row: u32, col: u32) -> f32 {
  if (col < D) { return cf_rhs[base + row * D + col]; }
  return 0.0;
}

@compute @workgroup_size(256)
fn chol_factor_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let k = cf_step.k;
  let sys = wg.y;
  let panels = NBLK - k;
  let is_panel = wg.x < panels;
  let i = k + wg.x;
  let slice = wg.x - panels;
  let mb = sys * NP * NP;
  let rb = sys * NP * D;
  let r = t >> 3u;
  let c0 = (t & 7u) * 4u;
  let kr = k * BS;
  let ir = i * BS;
  let sc = slice * BS;

  var dacc: array<f32, 4>;
  var xacc: array<f32, 4>;
  for (var q = 0u; q < 4u; q++) {
    dacc[q] = cf_m[mb + (kr + r) * NP + kr + c0 + q];
    if (is_panel) {
      xacc[q] = cf_m[mb + (ir + r) * NP + kr + c0 + q];
    } else {
      xacc[q] = rhs_at(rb, kr + r, sc + c0 + q);
    }
  }
  // Left-looking update with the block columns before k, KC columns of L at a time.
  for (var p0 = 0u; p0 < kr; p0 += KC) {
    st_a[t] = cf_m[mb + (kr + (t >> 3u)) * NP + p0 + (t & 7u)];          // L_k[row][p]: [row·8 + p]
    if (is_panel) {
      st_b[t] = cf_m[mb + (ir + (t >> 3u)) * NP + p0 + (t & 7u)];        // L_i[row][p]: [row·8 + p]
    } else {
      st_b[t] = rhs_at(rb, p0 + (t >> 5u), sc + (t & 31u));              // Y[p][col]:   [p·32 + col]
    }
    workgroupBarrier();
    for (var q = 0u; q < KC; q++) {
      let lr = st_a[r * KC + q];
      let xr = st_b[r * KC + q];
      for (var cc = 0u; cc < 4u; cc++) {
        let lc = st_a[(c0 + cc) * KC + q];
        dacc[cc] -= lr * lc;
        if (is_panel) {
          xacc[cc] -= xr * lc;
        } else {
          xacc[cc] -= lr * st_b[q * BS + c0 + cc];
        }
      }
    }
    workgroupBarrier();
  }
  for (var q = 0u; q < 4u; q++) {
    dblk[r * BS + c0 + q] = dacc[q];
    xblk[r * BS + c0 + q] = xacc[q];
  }
  workgroupBarrier();

  // Factor the diagonal block (right-looking, in workgroup memory), with the pivot floor.
  let floor_ = cf_params.eta;
  var floored = 0u;
  for (var j = 0u; j < BS; j++) {
    if (t < BS) {
      var d = dblk[j * BS + j];
      let low = kr + j < ROWS && !(d >= floor_);
      if (low) {
        d = floor_;
        floored++;
      }
      let s = sqrt(d);
      if (t >= j) { lcol[t] = select(select(dblk[t * BS + j] / s, 0.0, low), s, t == j); }
      if (t == 0u) { lost[j] = select(0u, 1u, low); }
    }
    workgroupBarrier();
    for (var cc = 0u; cc < 4u; cc++) {
      let c = c0 + cc;
      if (c == j && r >= j) {
        dblk[r * BS + j] = lcol[r];
      } else if (c > j && c <= r) {
        dblk[r * BS + c] -= lcol[r] * lcol[c];
      }
    }
    workgroupBarrier();
  }

  if (is_panel && i == k) {
    let db = (sys * NBLK + k) * BS * BS;
    for (var e = t; e < BS * BS; e += 256u) {
      let row = e / BS;
      let col = e - row * BS;
      cf_diag[db + e] = select(0.0, dblk[e], col <= row);
    }
    if (t == 0u && floored > 0u) { atomicAdd(&cf_floored[sys], floored); }
  } else if (is_panel) {
    // Row t of L_ik = X L_kk⁻ᵀ: forward substitution along the row.
    if (t < BS) {
      for (var j = 0u; j < BS; j++) {
        var v = xblk[t * BS + j];
        for (var l = 0u; l < j; l++) { v -= xblk[t * BS + l] * dblk[j * BS + l]; }
        v = select(v / dblk[j * BS + j], 0.0, lost[j] == 1u);
        xblk[t * BS + j] = v;
        cf_m[mb + (ir + t) * NP + kr + j] = v;
      }
    }
  } else {
    // Column t of Y_k = L_kk⁻¹ R_k: forward substitution down the column.
    if (t < BS) {
      let col = sc + t;
      for (var j = 0u; j < BS; j++) {
        var v = xblk[j * BS + t];
        for (var l = 0u; l < j; l++) { v -= dblk[j * BS + l] * xblk[l * BS + t]; }
        v /= dblk[j * BS + j];
        xblk[j * BS + t] = v;
        if (col < D) { cf_rhs[rb + (kr + j) * D + col] = v; }
      }
    }
  }
}

@group(0) @binding(0) var<storage, read_write> cb_m: array<f32>;
@group(0) @binding(1) var<storage, read_write> cb_diag: array<f32>;
@group(0) @binding(2) var<storage, read_write> cb_rhs: array<f32>;
@group(0) @binding(3) var<uniform> cb_step: Step;

fn rhs_b(base: u32, row: u32, col: u32) -> f32 {
  if (col < D) { return cb_rhs[base + row * D + col]; }
  return 0.0;
}

@compute @workgroup_size(256)
fn chol_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let k = cb_step.k;
  let sys = wg.y;
  let sc = wg.x * BS;
  let mb = sys * NP * NP;
  let rb = sys * NP * D;
  let r = t >> 3u;
  let c0 = (t & 7u) * 4u;
  let kr = k * BS;

  var racc: array<f32, 4>;
  for (var q = 0u; q < 4u; q++) { racc[q] = rhs_b(rb, kr + r, sc + c0 + q); }
  for (var p0 = kr + BS; p0 < NP; p0 += KC) {
    st_a[t] = cb_m[mb + (p0 + (t >> 5u)) * NP + kr + (t & 31u)];   // L[p][k-block col]: [p·32 + col]
    st_b[t] = rhs_b(rb, p0 + (t >> 5u), sc + (t & 31u));            // X[p][col]:         [p·32 + col]
    workgroupBarrier();
    for (var q = 0u; q < KC; q++) {
      let l = st_a[q * BS + r];
      for (var cc = 0u; cc < 4u; cc++) { racc[cc] -= l * st_b[q * BS + c0 + cc]; }
    }
    workgroupBarrier();
  }
  let db = (sys * NBLK + k) * BS * BS;
  for (var q = 0u; q < 4u; q++) {
    xblk[r * BS + c0 + q] = racc[q];
    dblk[t + 256u * q] = cb_diag[db + t + 256u * q];
  }
  workgroupBarrier();
  // Column t of X_k = L_kk⁻ᵀ Y': backward substitution up the column.
  if (t < BS) {
    let col = sc + t;
    for (var jj = 0u; jj < BS; jj++) {
      let j = BS - 1u - jj;
      var v = xblk[j * BS + t];
      for (var l = j + 1u; l < BS; l++) { v -= dblk[l * BS + j] * xblk[l * BS + t]; }
      v /= dblk[j * BS + j];
      xblk[j * BS + t] = v;
      if (col < D) { cb_rhs[rb + (kr + j) * D + col] = v; }
    }
  }
}
