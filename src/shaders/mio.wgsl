// MIO objective (src/mira/mio.ts; float64 reference src/ref/mio.ts), the kernels around the two
// GEMMs on the core (S = Z Zᵀ and ∂L/∂Z = W Z):
//
//   mio_normalize  per pair index i < B: z_i = p⁽¹⁾_i/max(‖p⁽¹⁾_i‖, EPS) into Z row i and
//                  z_{i+B} = p⁽²⁾_i/max(‖p⁽²⁾_i‖, EPS) into Z row i+B; the unclamped norms;
//                  l2row[i] = Σ_d (z_i − z_{i+B})²  (formed from z, not from S: no cancellation)
//   mio_pairs      per row a < 2B of S (a' = a ± B): the row of the pair-weight matrix W, over S in place,
//                    W_ab = c_neg·σ(s_ab/τ₋)                 b ∉ {a, a'}
//                    W_aa' = −c_pos·σ(−s_aa'/τ₊) − c_l2
//                    W_aa = c_l2
//                  (c_pos = 1/(Bτ₊), c_neg = ν/(2B(B−1)τ₋), c_l2 = 2μ/(BD), so ∂L/∂Z = W Z; ν = 1, or 0
//                  with the negatives off), and
//                  the row's partial sums: softplus(−s_aa'/τ₊), Σ_b softplus(s_ab/τ₋),
//                  σ(s_aa'/τ₊), Σ_b σ(s_ab/τ₋)  → rowstat[4a … 4a+3]
//   mio_reduce     one workgroup: the loss and the stats from rowstat and l2row, summed in a fixed
//                  order (WGSL has no float atomics; every run gives the same bits)
//   mio_backward   per row a: ∂L/∂p_a = (dz_a − z_a (z_a·dz_a)) / ‖p_a‖ (dz_a/EPS where
//                  ‖p_a‖ < EPS, as F.normalize's clamp), assigned into grad1 (a < B) or grad2
//
// Workgroups are TX lanes along a row × TY rows; a lane strides over its row by TX and stores its
// partial; after one barrier every lane of the row reads the row total as the same fixed-order
// sum of the TX partials (as l2norm.wgsl). softplus and σ are the stable forms:
//   softplus(x) = max(x, 0) + log1p(e^(−|x|)),  σ(x) = 1/(1+e^(−x)) or e^x/(1+e^x) by sign.
// Storage buffers are read_write where a kernel may bind one buffer twice (see elementwise.wgsl).

override B: u32;
override D: u32;
override TX: u32 = 64u;
override TY: u32 = 4u;
override EPS: f32 = 1e-12;

struct Params {
  inv_tau_pos: f32,
  inv_tau_neg: f32,
  c_pos: f32,   // 1/(Bτ₊)
  c_neg: f32,   // ν/(2B(B−1)τ₋); ν = 0 switches the negatives off
  c_l2: f32,    // 2μ/(BD)
  w_pos: f32,   // 1/(2B): mean over the positive pairs
  w_neg: f32,   // ν/(2B(2B−2)): the negative term's weighted mean over the negative pairs
  w_l2: f32,    // μ/(BD)
  w_neg_stat: f32, // 1/(2B(2B−2)): the mean negative pair probability, reported whatever ν
}

// Four slots of 256 partials (one per thread of a workgroup): slot k at red[256k …].
var<workgroup> red: array<f32, 1024>;

fn row_total(slot: u32, ty: u32) -> f32 {
  var t = 0.0;
  for (var k = 0u; k < TX; k++) { t += red[slot * 256u + ty * TX + k]; }
  return t;
}

// log(1 + e) for e in [0, 1], accurate where e is tiny (Goldberg's trick: no log1p in WGSL).
fn log1p_small(e: f32) -> f32 {
  let u = 1.0 + e;
  if (u == 1.0) { return e; }
  return log(u) * (e / (u - 1.0));
}

fn softplus(x: f32) -> f32 {
  return max(x, 0.0) + log1p_small(exp(-abs(x)));
}

fn sigmoid(x: f32) -> f32 {
  let e = exp(-abs(x));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}

fn row_index(wg: vec3<u32>, nwg: vec3<u32>, ly: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * TY + ly;
}

// ---------------------------------------------------------------- mio_normalize
@group(0) @binding(0) var<storage, read_write> n_p1: array<f32>;
@group(0) @binding(1) var<storage, read_write> n_p2: array<f32>;
@group(0) @binding(2) var<storage, read_write> n_z: array<f32>;
@group(0) @binding(3) var<storage, read_write> n_norm: array<f32>;
@group(0) @binding(4) var<storage, read_write> n_l2row: array<f32>;

@compute @workgroup_size(TX, TY)
fn mio_normalize(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = row_index(wg, nwg, lid.y);
  let ok = i < B;
  var s1 = 0.0;
  var s2 = 0.0;
  if (ok) {
    for (var d = lid.x; d < D; d += TX) {
      let a = n_p1[i * D + d];
      let b = n_p2[i * D + d];
      s1 = fma(a, a, s1);
      s2 = fma(b, b, s2);
    }
  }
  red[li] = s1;
  red[256u + li] = s2;
  workgroupBarrier();
  let n1 = sqrt(row_total(0u, lid.y));
  let n2 = sqrt(row_total(1u, lid.y));
  let inv1 = 1.0 / max(n1, EPS);
  let inv2 = 1.0 / max(n2, EPS);
  var diff = 0.0;
  if (ok) {
    for (var d = lid.x; d < D; d += TX) {
      let z1 = n_p1[i * D + d] * inv1;
      let z2 = n_p2[i * D + d] * inv2;
      n_z[i * D + d] = z1;
      n_z[(i + B) * D + d] = z2;
      diff = fma(z1 - z2, z1 - z2, diff);
    }
  }
  red[512u + li] = diff;
  workgroupBarrier();
  if (ok && lid.x == 0u) {
    n_norm[i] = n1;
    n_norm[i + B] = n2;
    n_l2row[i] = row_total(2u, lid.y);
  }
}

// ---------------------------------------------------------------- mio_pairs
// S in, W out in place: each element is read and then written by the same thread.
@group(0) @binding(0) var<storage, read_write> q_sw: array<f32>;
@group(0) @binding(1) var<storage, read_write> q_rowstat: array<f32>;
@group(0) @binding(2) var<uniform> q_params: Params;

@compute @workgroup_size(TX, TY)
fn mio_pairs(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let P = q_params;
  let N2 = 2u * B;
  let a = row_index(wg, nwg, lid.y);
  let ok = a < N2;
  let ap = select(a + B, a - B, a >= B);
  var pos_sp = 0.0;
  var neg_sp = 0.0;
  var pos_pr = 0.0;
  var neg_pr = 0.0;
  if (ok) {
    for (var b = lid.x; b < N2; b += TX) {
      let s = q_sw[a * N2 + b];
      var w = 0.0;
      if (b == a) {
        w = P.c_l2;
      } else if (b == ap) {
        let x = s * P.inv_tau_pos;
        pos_sp = softplus(-x);
        pos_pr = sigmoid(x);
        w = -P.c_pos * sigmoid(-x) - P.c_l2;
      } else {
        let x = s * P.inv_tau_neg;
        let sg = sigmoid(x);
        neg_sp += softplus(x);
        neg_pr += sg;
        w = P.c_neg * sg;
      }
      q_sw[a * N2 + b] = w;
    }
  }
  red[li] = pos_sp;
  red[256u + li] = neg_sp;
  red[512u + li] = pos_pr;
  red[768u + li] = neg_pr;
  workgroupBarrier();
  if (ok && lid.x == 0u) {
    q_rowstat[4u * a] = row_total(0u, lid.y);
    q_rowstat[4u * a + 1u] = row_total(1u, lid.y);
    q_rowstat[4u * a + 2u] = row_total(2u, lid.y);
    q_rowstat[4u * a + 3u] = row_total(3u, lid.y);
  }
}

// ---------------------------------------------------------------- mio_reduce
@group(0) @binding(0) var<storage, read_write> r_rowstat: array<f32>;
@group(0) @binding(1) var<storage, read_write> r_l2row: array<f32>;
@group(0) @binding(2) var<storage, read_write> r_loss: array<f32>;
@group(0) @binding(3) var<storage, read_write> r_stats: array<f32>;
@group(0) @binding(4) var<uniform> r_params: Params;

// Sums the 256 partials of `buf` by a fixed tree; the total is in buf[0] after the last barrier.
fn tree(li: u32) {
  for (var h = 128u; h > 0u; h >>= 1u) {
    if (li < h) {
      red[li] += red[li + h];
      red[256u + li] += red[256u + li + h];
      red[512u + li] += red[512u + li + h];
      red[768u + li] += red[768u + li + h];
    }
    workgroupBarrier();
  }
}

@compute @workgroup_size(256)
fn mio_reduce(@builtin(local_invocation_index) li: u32) {
  let P = r_params;
  let N2 = 2u * B;
  var pos_sp = 0.0;
  var neg_sp = 0.0;
  var pos_pr = 0.0;
  var neg_pr = 0.0;
  for (var a = li; a < N2; a += 256u) {
    pos_sp += r_rowstat[4u * a];
    neg_sp += r_rowstat[4u * a + 1u];
    pos_pr += r_rowstat[4u * a + 2u];
    neg_pr += r_rowstat[4u * a + 3u];
  }
  red[li] = pos_sp;
  red[256u + li] = neg_sp;
  red[512u + li] = pos_pr;
  red[768u + li] = neg_pr;
  workgroupBarrier();
  tree(li);
  let sums = vec4<f32>(red[0], red[256], red[512], red[768]);
  workgroupBarrier();
  var l2 = 0.0;
  for (var i = li; i < B; i += 256u) { l2 += r_l2row[i]; }
  red[li] = l2;
  red[256u + li] = 0.0;
  red[512u + li] = 0.0;
  red[768u + li] = 0.0;
  workgroupBarrier();
  tree(li);
  if (li == 0u) {
    r_loss[0] = P.w_pos * sums.x + P.w_neg * sums.y + P.w_l2 * red[0];
    r_stats[0] = P.w_pos * sums.z;
    r_stats[1] = P.w_neg_stat * sums.w;
  }
}

// ---------------------------------------------------------------- mio_backward
@group(0) @binding(0) var<storage, read_write> b_z: array<f32>;
@group(0) @binding(1) var<storage, read_write> b_dz: array<f32>;
@group(0) @binding(2) var<storage, read_write> b_norm: array<f32>;
@group(0) @binding(3) var<storage, read_write> b_g1: array<f32>;
@group(0) @binding(4) var<storage, read_write> b_g2: array<f32>;

@compute @workgroup_size(TX, TY)
fn mio_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let a = row_index(wg, nwg, lid.y);
  let ok = a < 2u * B;
  var s = 0.0;
  if (ok) {
    for (var d = lid.x; d < D; d += TX) { s = fma(b_z[a * D + d], b_dz[a * D + d], s); }
  }
  red[li] = s;
  workgroupBarrier();
  if (ok) {
    let n = b_norm[a];
    let clamped = n < EPS;
    let inv = 1.0 / max(n, EPS);
    let proj = select(row_total(0u, lid.y), 0.0, clamped);
    for (var d = lid.x; d < D; d += TX) {
      let g = (b_dz[a * D + d] - b_z[a * D + d] * proj) * inv;
      if (a < B) { b_g1[a * D + d] = g; } else { b_g2[(a - B) * D + d] = g; }
    }
  }
}
