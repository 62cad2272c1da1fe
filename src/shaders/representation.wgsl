// Representation-health metrics of one batch (src/mira/representation.ts; float64 reference
// src/ref/representation.ts): alignment, uniformity and effective rank of two views' embeddings.
//
//   rh_normalize  per row i < B: z⁽¹⁾_i = p⁽¹⁾_i/max(‖p⁽¹⁾_i‖, EPS) into Z (view 1, B×D), and
//                 cos[i] = ⟨z⁽¹⁾_i, z⁽²⁾_i⟩ (view 2 is not stored)
//   (GEMM core)   G = Z Zᵀ (B×B)
//   rh_uniform    per row i: urow[i] = Σ_{j≠i} exp(−2·max(G_ii + G_jj − 2G_ij, 0))
//   rh_jacobi     ONE workgroup of 256 threads: the singular values of Z by one-sided (Hestenes)
//                 Jacobi, then alignment, uniformity and effective rank into out[0..2].
//
// One-sided Jacobi: the NV = min(B, D) vectors of the smaller side (Z's columns when D ≤ B, its
// rows when B < D), each of length LEN = max(B, D), are copied into `work` and rotated in pairs
// until mutually orthogonal; their norms are then the singular values. Each rotation is the
// Jacobi rotation of the smaller Gram (ZᵀZ or ZZᵀ) in the (p, q) plane, computed from fresh dot
// products of the vectors rather than from the Gram, so the small singular values keep float32's
// accuracy relative to σ_max instead of its square root (a rank-1 batch gives an effective rank of
// 1 to ~1e-5, where eigenvalues of a float32 Gram would leave σ ≈ 1e-3·σ_max of noise per direction).
// Pairs are scheduled round-robin (the circle method: NV−1 rounds, or NV for odd NV with a
// padding vector, of disjoint pairs), TPP threads per pair striding over the vector; a sweep is all
// rounds. Convergence test: a pair is rotated only when |γ| > TOL·√(αβ) (α = ‖v_p‖², β = ‖v_q‖²,
// γ = ⟨v_p, v_q⟩); the sweeps stop after the first sweep that rotated no pair, or after MAX_SWEEPS
// (a fixed cap; one-sided Jacobi converges quadratically, typically in 6–10 sweeps). Sums are in
// fixed order and there is one workgroup: every run gives the same bits.
//
// Storage buffers are read_write where a kernel may bind one buffer twice (see elementwise.wgsl).

override B: u32;
override D: u32;
override TX: u32 = 64u;
override TY: u32 = 4u;
override EPS: f32 = 1e-12;
// One-sided Jacobi (rh_jacobi): vectors, their length, padded count (even), threads per pair.
override NV: u32 = 1u;
override LEN: u32 = 1u;
override NE: u32 = 2u;
override TPP: u32 = 1u;
override COLS: bool = true;
override MAX_SWEEPS: u32 = 20u;
override TOL: f32 = 1e-6;

// rh_jacobi's tree; rh_normalize and rh_uniform sum their rows with row_sum (workgroup_sum.wgsl,
// prepended by the host: without a barrier on CPU emulators, where TX = 1).
var<workgroup> jac_red: array<f32, 768>;

fn row_index(wg: vec3<u32>, nwg: vec3<u32>, ly: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * TY + ly;
}

// ---------------------------------------------------------------- rh_normalize
@group(0) @binding(0) var<storage, read_write> n_p1: array<f32>;
@group(0) @binding(1) var<storage, read_write> n_p2: array<f32>;
@group(0) @binding(2) var<storage, read_write> n_z: array<f32>;
@group(0) @binding(3) var<storage, read_write> n_cos: array<f32>;

@compute @workgroup_size(TX, TY)
fn rh_normalize(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = row_index(wg, nwg, lid.y);
  let ok = i < B;
  var s1 = 0.0;
  var s2 = 0.0;
  var s12 = 0.0;
  if (ok) {
    for (var d = lid.x; d < D; d += TX) {
      let a = n_p1[i * D + d];
      let b = n_p2[i * D + d];
      s1 = fma(a, a, s1);
      s2 = fma(b, b, s2);
      s12 = fma(a, b, s12);
    }
  }
  let t1 = row_sum(s1, li, lid.y);
  let t2 = row_sum(s2, li, lid.y);
  let t12 = row_sum(s12, li, lid.y);
  if (ok) {
    let inv1 = 1.0 / max(sqrt(t1), EPS);
    let inv2 = 1.0 / max(sqrt(t2), EPS);
    for (var d = lid.x; d < D; d += TX) { n_z[i * D + d] = n_p1[i * D + d] * inv1; }
    if (lid.x == 0u) { n_cos[i] = t12 * inv1 * inv2; }
  }
}

// ---------------------------------------------------------------- rh_uniform
@group(0) @binding(0) var<storage, read_write> u_g: array<f32>;
@group(0) @binding(1) var<storage, read_write> u_row: array<f32>;

@compute @workgroup_size(TX, TY)
fn rh_uniform(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = row_index(wg, nwg, lid.y);
  let ok = i < B;
  var s = 0.0;
  if (ok) {
    let gii = u_g[i * B + i];
    for (var j = lid.x; j < B; j += TX) {
      if (j != i) { s += exp(-2.0 * max(gii + u_g[j * B + j] - 2.0 * u_g[i * B + j], 0.0)); }
    }
  }
  let total = row_sum(s, li, lid.y);
  if (ok && lid.x == 0u) { u_row[i] = total; }
}

// ---------------------------------------------------------------- rh_jacobi
@group(0) @binding(0) var<storage, read_write> j_z: array<f32>;
@group(0) @binding(1) var<storage, read_write> j_work: array<f32>;
@group(0) @binding(2) var<storage, read_write> j_sigma: array<f32>;
@group(0) @binding(3) var<storage, read_write> j_cos: array<f32>;
@group(0) @binding(4) var<storage, read_write> j_urow: array<f32>;
@group(0) @binding(5) var<storage, read_write> j_out: array<f32>;

var<workgroup> rotations: atomic<u32>;
var<workgroup> rotated: u32;

// The pair `k` of round `r` in the circle method over NE (even) indices.
fn pair_of(r: u32, k: u32) -> vec2<u32> {
  let m = NE - 1u;
  if (k == 0u) { return vec2<u32>(r, NE - 1u); }
  return vec2<u32>((r + k) % m, (r + m - k) % m);
}

// Fixed-order tree over slot 0 of jac_red (256 partials); the total is in jac_red[0] after it.
fn tree(li: u32) {
  for (var h = 128u; h > 0u; h >>= 1u) {
    if (li < h) { jac_red[li] += jac_red[li + h]; }
    workgroupBarrier();
  }
}

@compute @workgroup_size(256)
fn rh_jacobi(@builtin(local_invocation_index) li: u32) {
  // The vectors: column k of Z (COLS, D ≤ B) or row k of Z, each contiguous in work.
  for (var e = li; e < NV * LEN; e += 256u) {
    let k = e / LEN;
    let i = e % LEN;
    if (COLS) { j_work[e] = j_z[i * D + k]; } else { j_work[e] = j_z[k * D + i]; }
  }
  if (li == 0u) { atomicStore(&rotations, 0u); }
  storageBarrier();
  workgroupBarrier();
  let groups = 256u / TPP;
  let npairs = NE / 2u;
  let chunks = (npairs + groups - 1u) / groups;
  let lane = li % TPP;
  for (var sweep = 0u; sweep < MAX_SWEEPS; sweep++) {
    for (var r = 0u; r < NE - 1u; r++) {
      for (var c = 0u; c < chunks; c++) {
        let k = c * groups + li / TPP;
        let pq = pair_of(r, k % npairs);
        let valid = k < npairs && pq.x < NV && pq.y < NV;
        let bp = pq.x * LEN;
        let bq = pq.y * LEN;
        var al = 0.0;
        var be = 0.0;
        var ga = 0.0;
        if (valid) {
          for (var i = lane; i < LEN; i += TPP) {
            let x = j_work[bp + i];
            let y = j_work[bq + i];
            al = fma(x, x, al);
            be = fma(y, y, be);
            ga = fma(x, y, ga);
          }
        }
        jac_red[li] = al;
        jac_red[256u + li] = be;
        jac_red[512u + li] = ga;
        workgroupBarrier();
        if (valid) {
          let g0 = li - lane;
          var a = 0.0;
          var b = 0.0;
          var g = 0.0;
          for (var t = 0u; t < TPP; t++) {
            a += jac_red[g0 + t];
            b += jac_red[256u + g0 + t];
            g += jac_red[512u + g0 + t];
          }
          if (a > 0.0 && b > 0.0 && abs(g) > TOL * sqrt(a * b)) {
            let zeta = (b - a) / (2.0 * g);
            let sgn = select(-1.0, 1.0, zeta >= 0.0);
            let az = abs(zeta);
            let t = select(sgn / (az + sqrt(1.0 + zeta * zeta)), 0.5 / zeta, az > 1e18);
            let cs = inverseSqrt(1.0 + t * t);
            let sn = cs * t;
            for (var i = lane; i < LEN; i += TPP) {
              let x = j_work[bp + i];
              let y = j_work[bq + i];
              j_work[bp + i] = cs * x - sn * y;
              j_work[bq + i] = sn * x + cs * y;
            }
            if (lane == 0u) { atomicAdd(&rotations, 1u); }
          }
        }
        storageBarrier();
        workgroupBarrier();
      }
    }
    if (li == 0u) { rotated = atomicExchange(&rotations, 0u); }
    workgroupBarrier();
    if (workgroupUniformLoad(&rotated) == 0u) { break; }
  }
  // σ_k = ‖v_k‖.
  for (var k = li; k < NV; k += 256u) {
    var s = 0.0;
    for (var i = 0u; i < LEN; i++) {
      let x = j_work[k * LEN + i];
      s = fma(x, x, s);
    }
    j_sigma[k] = sqrt(s);
  }
  // Alignment and uniformity: fixed-order sums over the rows.
  var sc = 0.0;
  for (var i = li; i < B; i += 256u) { sc += j_cos[i]; }
  jac_red[li] = sc;
  workgroupBarrier();
  tree(li);
  let align_sum = jac_red[0];
  workgroupBarrier();
  var su = 0.0;
  for (var i = li; i < B; i += 256u) { su += j_urow[i]; }
  jac_red[li] = su;
  workgroupBarrier();
  tree(li);
  storageBarrier();
  if (li == 0u) {
    var total = 0.0;
    for (var k = 0u; k < NV; k++) { total += j_sigma[k]; }
    var h = 0.0;
    if (total > 0.0) {
      for (var k = 0u; k < NV; k++) {
        let p = j_sigma[k] / total;
        if (p > 0.0) { h -= p * log(p); }
      }
    }
    j_out[0] = align_sum / f32(B);
    j_out[1] = log(jac_red[0] / (f32(B) * f32(B - 1u)));
    j_out[2] = select(0.0, exp(h), total > 0.0);
  }
}
