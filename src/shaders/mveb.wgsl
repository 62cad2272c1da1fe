// The MVEB objective's own kernels (host: src/mira/mveb.ts; float64 twin: src/ref/mveb.ts). The
// Gram matrices come from the GEMM core (mveb_gram.wgsl), the Cholesky solve from cholesky.wgsl.
// B rows per view, D features, Stein chunks of N rows (CHUNKS = B/N per view), SYSTEMS = 2·CHUNKS
// systems (view 1's chunks first), each padded to NP rows (a multiple of 32).
//
//   mveb_normalize  z⁽ᵛ⁾ = p⁽ᵛ⁾/max(‖p⁽ᵛ⁾‖, EPS), t⁽ᵛ⁾ = q⁽ᵛ⁾/max(‖q⁽ᵛ⁾‖, EPS) row-wise, the
//                   student norms saved for the backward. 4B rows, 64 threads × 4 rows per group.
//                   Bindings: p1, p2, q1, q2, z (2B×D), t (2B×D), norm (2B).
//   mveb_select     τ_s = max(TAU_MIN, the ⌊N²/2⌋-th largest of 1 − A_s over the N×N real entries,
//                   diagonal included): an exact radix select over order-preserving u32 keys,
//                   four 8-bit passes (most significant first) counting, into a 256-bin
//                   workgroup histogram (integer atomics: exact), the keys that share the prefix
//                   found so far; one thread walks the bins from the top to the digit where the
//                   count reaches the number still wanted. Each thread adds runs of equal bins
//                   with one atomic (the first passes see few distinct digits). One workgroup
//                   per system; also zeroes the system's floored-pivot counter.
//                   Bindings: gram, tau (SYSTEMS), floored (SYSTEMS u32).
//   mveb_kernel     per row i of system s: K_ij = exp(A_ij/τ_s), M_ij = K_ij + η·δ_ij written over
//                   A (padding: the identity), r_i = Σ_j K_ij (fixed-order tree), and the right-hand
//                   side Ψ_i = (r_i/τ_s)·z_i (padding rows 0). Grid (NP, SYSTEMS), 64 threads.
//                   Bindings: gram (→ M), tau, z, rhs (SYSTEMS × NP × D), params.
//   (cholesky.wgsl then overwrites rhs with X = M⁻¹Ψ, so S = −X.)
//   mveb_rows       per row i of view v: at_i = ⟨z_i, t⁽ᵛ'⁾_i⟩, su_i = ⟨S_i, z_i⟩;
//                   ∂L/∂z_i = (−t⁽ᵛ'⁾_i + λS_i)/(2B), so ⟨z_i, ∂L/∂z_i⟩ = (−at_i + λ·su_i)/(2B), and
//                   ∂L/∂p_i = (∂L/∂z_i − z_i⟨z_i, ∂L/∂z_i⟩)/‖p_i‖ (∂L/∂z_i/EPS where ‖p_i‖ < EPS),
//                   assigned; at_i and su_i go to partials [2B | 2B]. 2B rows, 64 threads × 4 rows;
//                   one barrier, then every thread sums its row's 64 partials in the same order.
//                   Bindings: z, t, rhs (X), norm, grad1, grad2, partials, params.
//   mveb_finish     one workgroup: align = Σ at/(2B), unif = −Σ su/(2B), L = −align − λ·unif;
//                   stats = [mean τ over the systems, align, unif, floored pivots].
//                   Bindings: partials, tau, floored, loss, stats, params.
// Every sum is in a fixed order: deterministic. Storage buffers are read_write (see
// elementwise.wgsl).

override B: u32;
override D: u32;
override N: u32;
override NP: u32;
override CHUNKS: u32;
override SYSTEMS: u32 = 2u * CHUNKS;
override TAU_MIN: f32 = 0.1;
override EPS: f32 = 1e-12;

struct Params {
  lambda: f32,
  eta: f32,
  pad0: f32,
  pad1: f32,
}

// ---------------------------------------------------------------------------------------------
// Normalisation.

var<workgroup> red: array<f32, 256>;
var<workgroup> red2: array<vec2<f32>, 256>;

@group(0) @binding(0) var<storage, read_write> nz_p1: array<f32>;
@group(0) @binding(1) var<storage, read_write> nz_p2: array<f32>;
@group(0) @binding(2) var<storage, read_write> nz_q1: array<f32>;
@group(0) @binding(3) var<storage, read_write> nz_q2: array<f32>;
@group(0) @binding(4) var<storage, read_write> nz_z: array<f32>;
@group(0) @binding(5) var<storage, read_write> nz_t: array<f32>;
@group(0) @binding(6) var<storage, read_write> nz_norm: array<f32>;

fn input_at(which: u32, i: u32) -> f32 {
  switch which {
    case 0u: { return nz_p1[i]; }
    case 1u: { return nz_p2[i]; }
    case 2u: { return nz_q1[i]; }
    default: { return nz_q2[i]; }
  }
}

@compute @workgroup_size(64, 4)
fn mveb_normalize(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row = (wg.y * nwg.x + wg.x) * 4u + lid.y;
  let ok = row < 4u * B;
  let which = row / B;
  let src = (row - which * B) * D;
  var s = 0.0;
  if (ok) {
    for (var d = lid.x; d < D; d += 64u) {
      let v = input_at(which, src + d);
      s += v * v;
    }
  }
  red[li] = s;
  workgroupBarrier();
  if (ok) {
    var total = 0.0;
    for (var j = 0u; j < 64u; j++) { total += red[lid.y * 64u + j]; }
    let n = sqrt(total);
    let inv = 1.0 / max(n, EPS);
    // Rows 0..2B−1 are the students (view 1, view 2), 2B..4B−1 the teachers.
    let dst = (row % (2u * B)) * D;
    for (var d = lid.x; d < D; d += 64u) {
      let y = input_at(which, src + d) * inv;
      if (which < 2u) { nz_z[dst + d] = y; } else { nz_t[dst + d] = y; }
    }
    if (lid.x == 0u && which < 2u) { nz_norm[row] = n; }
  }
}

// ---------------------------------------------------------------------------------------------
// τ by exact selection.

@group(0) @binding(0) var<storage, read_write> sl_gram: array<f32>;
@group(0) @binding(1) var<storage, read_write> sl_tau: array<f32>;
@group(0) @binding(2) var<storage, read_write> sl_floored: array<u32>;

// Two histograms, alternating between passes, so one is cleared while the other is filled.
var<workgroup> hist: array<array<atomic<u32>, 256>, 2>;
var<workgroup> walk: vec2<u32>;

// Order-preserving map f32 → u32: a > b as floats ⇔ key(a) > key(b) as integers.
fn key_of(x: f32) -> u32 {
  let u = bitcast<u32>(x);
  return select(u | 0x80000000u, ~u, (u >> 31u) == 1u);
}

fn value_of(k: u32) -> f32 {
  return bitcast<f32>(select(~k, k & 0x7fffffffu, (k >> 31u) == 1u));
}

@compute @workgroup_size(256)
fn mveb_select(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let sys = wg.x;
  let base = sys * NP * NP;
  let count = N * N;
  atomicStore(&hist[0][lid], 0u);
  atomicStore(&hist[1][lid], 0u);
  workgroupBarrier();
  var prefix = 0u;
  var mask = 0u;
  var need = count / 2u;
  for (var round = 0u; round < 4u; round++) {
    let shift = 24u - 8u * round;
    let h = round & 1u;
    var run_bin = 0u;
    var run = 0u;
    for (var e = lid; e < count; e += 256u) {
      let i = e / N;
      let key = key_of(1.0 - sl_gram[base + i * NP + (e - i * N)]);
      if ((key & mask) == prefix) {
        let bin = (key >> shift) & 255u;
        if (bin != run_bin && run > 0u) {
          atomicAdd(&hist[h][run_bin], run);
          run = 0u;
        }
        run_bin = bin;
        run++;
      }
    }
    if (run > 0u) { atomicAdd(&hist[h][run_bin], run); }
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
      walk = vec2<u32>(d, need - above);
    }
    let w = workgroupUniformLoad(&walk);
    prefix |= w.x << shift;
    mask |= 255u << shift;
    need = w.y;
  }
  if (lid == 0u) {
    sl_tau[sys] = max(TAU_MIN, value_of(prefix));
    sl_floored[sys] = 0u;
  }
}

// ---------------------------------------------------------------------------------------------
// K + ηI, row sums and Ψ.

@group(0) @binding(0) var<storage, read_write> kr_m: array<f32>;
@group(0) @binding(1) var<storage, read_write> kr_tau: array<f32>;
@group(0) @binding(2) var<storage, read_write> kr_z: array<f32>;
@group(0) @binding(3) var<storage, read_write> kr_rhs: array<f32>;
@group(0) @binding(4) var<uniform> kr_params: Params;

@compute @workgroup_size(64)
fn mveb_kernel(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = wg.x;
  let sys = wg.y;
  let base = (sys * NP + i) * NP;
  let tau = kr_tau[sys];
  let real = i < N;
  var part = 0.0;
  for (var j = lid; j < NP; j += 64u) {
    var m = select(0.0, 1.0, i == j);
    if (real && j < N) {
      let e = exp(kr_m[base + j] / tau);
      part += e;
      m = select(e, e + kr_params.eta, i == j);
    }
    kr_m[base + j] = m;
  }
  red[lid] = part;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let scale = red[0] / tau;
  let v = sys / CHUNKS;
  let zrow = v * B + (sys - v * CHUNKS) * N + i;
  let out = (sys * NP + i) * D;
  for (var d = lid; d < D; d += 64u) {
    var psi = 0.0;
    if (real) { psi = scale * kr_z[zrow * D + d]; }
    kr_rhs[out + d] = psi;
  }
}

// ---------------------------------------------------------------------------------------------
// Gradients through the normalisation, per-row terms.

@group(0) @binding(0) var<storage, read_write> rw_z: array<f32>;
@group(0) @binding(1) var<storage, read_write> rw_t: array<f32>;
@group(0) @binding(2) var<storage, read_write> rw_x: array<f32>;
@group(0) @binding(3) var<storage, read_write> rw_norm: array<f32>;
@group(0) @binding(4) var<storage, read_write> rw_g1: array<f32>;
@group(0) @binding(5) var<storage, read_write> rw_g2: array<f32>;
@group(0) @binding(6) var<storage, read_write> rw_part: array<f32>;
@group(0) @binding(7) var<uniform> rw_params: Params;

@compute @workgroup_size(64, 4)
fn mveb_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row = (wg.y * nwg.x + wg.x) * 4u + lid.y;
  let ok = row < 2u * B;
  let v = select(0u, 1u, row >= B);
  let b = row - v * B;
  let zo = row * D;
  let to = ((1u - v) * B + b) * D;
  let c = b / N;
  let so = ((v * CHUNKS + c) * NP + (b - c * N)) * D;
  var at = 0.0;
  var su = 0.0;
  if (ok) {
    for (var d = lid.x; d < D; d += 64u) {
      let z = rw_z[zo + d];
      at += z * rw_t[to + d];
      su -= rw_x[so + d] * z;
    }
  }
  red2[li] = vec2<f32>(at, su);
  workgroupBarrier();
  if (ok) {
    var tot = vec2<f32>(0.0);
    for (var j = 0u; j < 64u; j++) { tot += red2[lid.y * 64u + j]; }
    let lambda = rw_params.lambda;
    let inv2b = 1.0 / f32(2u * B);
    let n = rw_norm[row];
    let clamped = n < EPS;
    let inv = 1.0 / max(n, EPS);
    let zg = select((lambda * tot.y - tot.x) * inv2b, 0.0, clamped);
    for (var d = lid.x; d < D; d += 64u) {
      let g = (-rw_t[to + d] - lambda * rw_x[so + d]) * inv2b;
      let dp = (g - rw_z[zo + d] * zg) * inv;
      if (v == 0u) { rw_g1[b * D + d] = dp; } else { rw_g2[b * D + d] = dp; }
    }
    if (lid.x == 0u) {
      rw_part[row] = tot.x;
      rw_part[2u * B + row] = tot.y;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Loss and statistics.

@group(0) @binding(0) var<storage, read_write> fn_part: array<f32>;
@group(0) @binding(1) var<storage, read_write> fn_tau: array<f32>;
@group(0) @binding(2) var<storage, read_write> fn_floored: array<u32>;
@group(0) @binding(3) var<storage, read_write> fn_loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> fn_stats: array<f32>;
@group(0) @binding(5) var<uniform> fn_params: Params;

@compute @workgroup_size(256)
fn mveb_finish(@builtin(local_invocation_index) lid: u32) {
  var acc = vec2<f32>(0.0);
  for (var i = lid; i < 2u * B; i += 256u) { acc += vec2<f32>(fn_part[i], fn_part[2u * B + i]); }
  red2[lid] = acc;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s) { red2[lid] += red2[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let inv2b = 1.0 / f32(2u * B);
    let align = red2[0].x * inv2b;
    let unif = -red2[0].y * inv2b;
    var tau = 0.0;
    var floored = 0u;
    for (var s = 0u; s < SYSTEMS; s++) {
      tau += fn_tau[s];
      floored += fn_floored[s];
    }
    fn_loss[0] = -align - fn_params.lambda * unif;
    fn_stats[0] = tau / f32(SYSTEMS);
    fn_stats[1] = align;
    fn_stats[2] = unif;
    fn_stats[3] = f32(floored);
  }
}
