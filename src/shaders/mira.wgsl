// The MIRA fixed point (docs/ARCHITECTURE.md, the algorithm) and Sinkhorn-Knopp, both as one log-domain "row/column
// scaling" iteration over a B×K logit matrix ℓ (row-major):
//
//   ρ_i = LSE_j( s·ℓ_ij − a·g_j )                       (row pass: the row's normaliser)
//   g_j ← γ·[ LSE_i( s·ℓ_ij − ρ_i ) − off ]             (column pass: the column scale)
//   log w_ij = s·ℓ_ij − a·g_j − ρ_i                      (targets, rows sum to 1)
//
// MIRA: s = 1/(τ(1−β)), a = β/(1−β), γ = 1−β, off = log B, and g = log v. The row LSE of s·ℓ
// (the −LSE_j term of log k) is folded into ρ, so log k is never stored or re-read: each
// pass forms s·d − a·g_j from the logits. Starting from g = 0 the first pass
// yields g⁽⁰⁾ = (1−β)[LSE_i(log k_ij) − log B], i.e. v⁽⁰⁾ = (mean_i k_i)^(1−β).
// Sinkhorn-Knopp (SwAV / SeLa): s = 1/ε (or λ), a = 1, γ = 1, off = log B − log K and g = −u
// (u the log prototype scaling); the first column pass takes ρ = 0 on ℓ (row_norm = 0), as
// SwAV normalises the prototypes first; its targets exp(s·ℓ + u + r)·B are the same row softmax.
//
// Precision: every kernel works on d_ij = ℓ_ij − max_j ℓ_ij (row_max, once per solve) rather
// than ℓ: a row constant, invisible to the targets and absorbed by ρ, that keeps the dominant
// entries of each row near 0. Centring is not enough for Sinkhorn at small ε: with ε = 0.05 and
// logit gaps of 200 the scalings g and ρ reach ±4000, where an f32 steps by 2.4e-4, and s·d (a
// product of that size) is rounded by as much — 6e-5 on the targets of 3×7 ±100 cases, 2.4e-4 on
// a one-hot one. So with `compensated` (Sinkhorn, SeLa) the kernels carry double-f32 pairs
// (double_f32.wgsl, prepended by the host): s = (s, s_lo); s·d by TwoSum + TwoProduct; ρ, the
// column partials (high parts, then low parts) and g (g, g_lo) as hi + lo; every exponent
// s·d − g or s·d − ρ by TwoSum, its high part exact, so that an LSE keeps an f32 reference max m
// (some exponent's high part) and adds exp((x_hi − m) + x_lo), exact by Sterbenz for the terms
// that matter. Measured against float64 (test/mira-sinkhorn.test.ts): ≤ 1.3e-7 on the targets
// for ±100 logits at ε = 0.05 (the f32 rounding of exp, log and the row sums), from 6e-5/2.4e-4.
// MIRA (compensated = 0) keeps one fma per exponent: its g is centred (O(log K), not ±4000), its
// tests pass at 2e-6, and the compensated exponent costs about twice the kernel time on CPU
// emulators. Its a·g and γ·(…) round once in either mode. The trace kernels and sinkhorn.wgsl
// read g's high part alone (diagnostics and argmax labels; f32 is enough there).
//
// Shapes travel in the params uniform, not as override constants: on CPU emulators every
// specialisation costs seconds of LLVM time, and nothing here gains from constant shapes.
//
// Entry points (bindings are numbered per entry point, in the order the host binds them):
//   row_max      one workgroup per RB rows: rmax_i = max_j ℓ_ij.
//   init_scale   one workgroup: lmax = max_i rmax_i; g = g_prev = 0 in the reference's frame
//                (g + g_lo = −s·lmax exactly when shifted, see below).
//                Sinkhorn's first prototype step sees s·ℓ unnormalised, so its g carries the
//                constant s·lmax (≈ 2000 for ℓ ≈ 100 at ε = 0.05, where f32 steps by 1e-4);
//                with shift_g = 1 the kernels keep g' = g − s·lmax (the reference's g is
//                g' + s·lmax). No target sees the shift.
//   rows         one workgroup per block of RB rows: column scale, row LSE ρ (hi, lo), then per-block
//                column partials partial[blk][j] = LSE_{i∈blk}(s·ℓ_ij − ρ_i) (high parts;
//                the low parts follow at nb·K + blk·K + j).
//   cols         one thread per column: reduces the partials over blocks in a fixed order
//                (deterministic) into g (hi, lo); keeps the previous g's high part in g_prev; v = exp(g)
//                (MIRA) or u = −g (Sinkhorn, in the reference's frame: −(g + s·lmax)).
//   targets      one workgroup per RB rows: w = softmax_j(s·ℓ_ij − a·g_j): the row max (f32, a reference only), then
//                exp written and summed, then scaled by 1/sum, the same thread for the same
//                element throughout, so each row sums to 1 to f32 rounding.
//   trace_rows   per RB rows, for the trace: Σ entropy, Σ KL(w‖p), max|Δw| against the
//                previous g; per-block column sums of w.
//   trace_reduce one workgroup: reduces those into one trace record (residual, delta_w,
//                objective, entropies, MI, marginal error, v) at slot state[0] % state[1].
// In the row kernels the RB rows of a block are split among the WG threads, TPR threads per
// row, for the row LSEs; then each thread takes columns j ≡ lid (mod WG) across the block's
// rows for the column partials. Every reduction runs in a fixed order: same input, same bits.
// No NaN/Inf for finite input: every LSE is max-shifted and running maxima start at −3e38.

struct Params {
  s: f32,        // scale of ℓ inside the LSEs
  a: f32,        // exponent of the column scale in the row pass
  gamma: f32,    // outer factor of the column update
  off: f32,      // subtracted inside the column update
  inv_tau: f32,  // p = softmax(ℓ·inv_tau) for the objective (trace only)
  beta: f32,     // β in the objective (trace only)
  row_norm: f32, // 0: this row pass takes ρ = 0 (Sinkhorn's first prototype step)
  v_sign: f32,   // +1 MIRA (v = exp(g)), −1 Sinkhorn (g = −u, the log prototype scaling)
  B: u32,
  K: u32,
  shift_g: f32,  // 1: g is kept relative to s·max ℓ (Sinkhorn; see init_scale), 0: MIRA
  s_lo: f32,     // s − f32(s): the scale as the double-f32 (s, s_lo)
  opaque_zero: u32, // 0 from the host, unknown to the compiler (double_f32.wgsl's df_zero)
  compensated: u32, // 1: the exponents in double-f32 (Sinkhorn, SeLa); 0: one fma (MIRA; see Precision above)
  _pad1: u32,
  _pad2: u32,
}

const RB: u32 = 8u;      // rows per workgroup
const WG: u32 = 128u;    // threads per workgroup
const TPR: u32 = 16u;    // threads per row in the row LSEs (WG / RB)
const NEG: f32 = -3.0e38;

// ---- workgroup scratch shared by the row kernels ----
var<workgroup> sm: array<f32, WG>;
var<workgroup> ss: array<f32, WG>;
var<workgroup> sm2: array<f32, WG>;
var<workgroup> ss2: array<f32, WG>;
var<workgroup> sm3: array<f32, WG>;
var<workgroup> ss3: array<f32, WG>;
var<workgroup> sk: array<f32, WG>;
var<workgroup> rho: array<f32, RB>;
var<workgroup> rho2: array<f32, RB>;
var<workgroup> rho3: array<f32, RB>;
var<workgroup> rho_lo: array<f32, RB>;

// (m1, s1) ⊕ (m2, s2): the log-sum-exp pair of the union.
fn lse_merge(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let m = max(a.x, b.x);
  return vec2<f32>(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}

// Adds x to the running (max, sum-exp) pair.
fn lse_push(p: vec2<f32>, x: f32) -> vec2<f32> {
  if (x > p.x) { return vec2<f32>(x, p.y * exp(p.x - x) + 1.0); }
  return vec2<f32>(p.x, p.y + exp(x - p.x));
}

// The exponent s·(ℓ − r) − c of every pass: double-f32 when `comp` (c = ch + cl), else one fma on
// the high parts (then the low part is 0).
fn exponent(comp: bool, l: f32, r: f32, S: vec2<f32>, SS: vec2<f32>, ch: f32, cl: f32) -> vec2<f32> {
  if (comp) { return df_scaled_diff_sub(l, r, S, SS, ch, cl); }
  return vec2<f32>(fma(l - r, S.x, -ch), 0.0);
}

// Adds the double-f32 x = xh + xl to the running pair, whose max is an f32 (some xh): the
// exponent (xh − m) + xl is exact where it matters (xh − m by Sterbenz for the dominant terms).
fn lse_push2(p: vec2<f32>, xh: f32, xl: f32) -> vec2<f32> {
  if (xh > p.x) { return vec2<f32>(xh, p.y * exp(p.x - xh) + exp(xl)); }
  return vec2<f32>(p.x, p.y + exp((xh - p.x) + xl));
}

// Reductions are serial over a few values in workgroup memory (one barrier before, the
// caller's barrier after) rather than barrier trees: on CPU emulators (lavapipe) every barrier
// inside a loop multiplies compile time, and 16 or 128 serial adds cost nothing here.

// Merges the (max, sum) pairs of each group of TPR threads into the group's first slot; with
// n = 3 also sm2/ss2 and sm3/ss3. The result for row r ends at index r·TPR.
fn reduce_rows_lse(lid: u32, n: u32) {
  workgroupBarrier();
  if (lid % TPR == 0u) {
    var p = vec2<f32>(sm[lid], ss[lid]);
    var p2 = vec2<f32>(sm2[lid], ss2[lid]);
    var p3 = vec2<f32>(sm3[lid], ss3[lid]);
    for (var t = 1u; t < TPR; t++) {
      p = lse_merge(p, vec2<f32>(sm[lid + t], ss[lid + t]));
      if (n > 1u) {
        p2 = lse_merge(p2, vec2<f32>(sm2[lid + t], ss2[lid + t]));
        p3 = lse_merge(p3, vec2<f32>(sm3[lid + t], ss3[lid + t]));
      }
    }
    sm[lid] = p.x; ss[lid] = p.y;
    sm2[lid] = p2.x; ss2[lid] = p2.y;
    sm3[lid] = p3.x; ss3[lid] = p3.y;
  }
}

// Over the whole workgroup, into index 0: sm, sm2, sm3, ss2, ss3, sk summed, ss max-ed.
fn reduce_all(lid: u32) {
  workgroupBarrier();
  if (lid == 0u) {
    for (var t = 1u; t < WG; t++) {
      sm[0] += sm[t];
      sm2[0] += sm2[t];
      sm3[0] += sm3[t];
      ss2[0] += ss2[t];
      ss3[0] += ss3[t];
      sk[0] += sk[t];
      ss[0] = max(ss[0], ss[t]);
    }
  }
}

// ---------------------------------------------------------------- row_max
@group(0) @binding(0) var<storage, read> m_logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> m_rmax: array<f32>;
@group(0) @binding(2) var<uniform> m_p: Params;

@compute @workgroup_size(WG)
fn row_max(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let lid = lid3.x;
  let B = m_p.B;
  let K = m_p.K;
  let r0 = wid.x * RB;
  let rl = lid / TPR;
  var m = NEG;
  if (r0 + rl < B) {
    let base = (r0 + rl) * K;
    for (var j = lid % TPR; j < K; j += TPR) { m = max(m, m_logits[base + j]); }
  }
  sm[lid] = m;
  workgroupBarrier();
  if (lid % TPR == 0u && r0 + rl < B) {
    var x = sm[lid];
    for (var t = 1u; t < TPR; t++) { x = max(x, sm[lid + t]); }
    m_rmax[r0 + rl] = x;
  }
}

// ---------------------------------------------------------------- init_scale
@group(0) @binding(0) var<storage, read> i_rmax: array<f32>;
@group(0) @binding(1) var<storage, read_write> i_g: array<f32>;
@group(0) @binding(2) var<storage, read_write> i_glo: array<f32>;
@group(0) @binding(3) var<storage, read_write> i_gprev: array<f32>;
@group(0) @binding(4) var<storage, read_write> i_lmax: array<f32>;
@group(0) @binding(5) var<uniform> i_p: Params;

@compute @workgroup_size(WG)
fn init_scale(@builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  df_zero = i_p.opaque_zero;
  var m = NEG;
  for (var i = lid; i < i_p.B; i += WG) { m = max(m, i_rmax[i]); }
  sm[lid] = m;
  workgroupBarrier();
  if (lid == 0u) {
    var x = sm[0];
    for (var t = 1u; t < WG; t++) { x = max(x, sm[t]); }
    i_lmax[0] = x;
    // g = −s·lmax exactly (hi + lo), or 0.
    let g0 = df_scaled_diff(0.0, x, vec2<f32>(i_p.s, i_p.s_lo), df_split(i_p.s));
    rho[0] = i_p.shift_g * g0.x;
    rho_lo[0] = i_p.shift_g * g0.y;
  }
  workgroupBarrier();
  let g0 = rho[0];
  let g0lo = rho_lo[0];
  for (var j = lid; j < i_p.K; j += WG) {
    i_g[j] = g0;
    i_glo[j] = g0lo;
    i_gprev[j] = g0;
  }
}

// ---------------------------------------------------------------- rows
@group(0) @binding(0) var<storage, read> r_logits: array<f32>;
@group(0) @binding(1) var<storage, read> r_rmax: array<f32>;
@group(0) @binding(2) var<storage, read> r_g: array<f32>;
@group(0) @binding(3) var<storage, read> r_glo: array<f32>;
@group(0) @binding(4) var<storage, read_write> r_partial: array<f32>;
@group(0) @binding(5) var<storage, read> r_lmax: array<f32>;
@group(0) @binding(6) var<uniform> r_p: Params;

@compute @workgroup_size(WG)
fn rows(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let lid = lid3.x;
  let B = r_p.B;
  let K = r_p.K;
  let blk = wid.x;
  let r0 = blk * RB;
  df_zero = r_p.opaque_zero;
  let S = vec2<f32>(r_p.s, r_p.s_lo);
  let SS = df_split(r_p.s);
  let comp = r_p.compensated != 0u;
  let rl = lid / TPR;
  if (r_p.row_norm != 0.0) {
    var p = vec2<f32>(NEG, 0.0);
    if (r0 + rl < B) {
      let base = (r0 + rl) * K;
      let a = r_p.a;
      let mx = r_rmax[r0 + rl];
      for (var j = lid % TPR; j < K; j += TPR) {
        let x = exponent(comp, r_logits[base + j], mx, S, SS, a * r_g[j], a * r_glo[j]);
        p = lse_push2(p, x.x, x.y);
      }
    }
    sm[lid] = p.x;
    ss[lid] = p.y;
    reduce_rows_lse(lid, 1u);
    if (lid % TPR == 0u) {
      let q = df_two_sum(sm[lid], log(ss[lid]));
      rho[rl] = q.x;
      rho_lo[rl] = q.y;
    }
  } else if (lid % TPR == 0u && r0 + rl < B) {
    // ρ = 0 on ℓ itself (SwAV's first prototype step sees exp(s·ℓ) unscaled): s·d − ρ = s·ℓ,
    // less the constant s·lmax when g is kept relative to it.
    let lm = select(r_rmax[r0 + rl], r_lmax[0], r_p.shift_g != 0.0);
    let q = df_scaled_diff(lm, r_rmax[r0 + rl], S, SS);
    rho[rl] = q.x;
    rho_lo[rl] = q.y;
  }
  if (lid % TPR == 0u && r0 + rl < B) { rho2[rl] = r_rmax[r0 + rl]; }
  workgroupBarrier();
  let nr = min(RB, B - r0);
  let lo = ((B + RB - 1u) / RB) * K;  // the low parts follow the high parts of every block
  for (var j = lid; j < K; j += WG) {
    var p = vec2<f32>(NEG, 0.0);
    for (var r = 0u; r < nr; r++) {
      let y = exponent(comp, r_logits[(r0 + r) * K + j], rho2[r], S, SS, rho[r], rho_lo[r]);
      p = lse_push2(p, y.x, y.y);
    }
    let q = df_two_sum(p.x, log(p.y));
    r_partial[blk * K + j] = q.x;
    r_partial[lo + blk * K + j] = q.y;
  }
}

// ---------------------------------------------------------------- cols
@group(0) @binding(0) var<storage, read> c_partial: array<f32>;
@group(0) @binding(1) var<storage, read_write> c_g: array<f32>;
@group(0) @binding(2) var<storage, read_write> c_glo: array<f32>;
@group(0) @binding(3) var<storage, read_write> c_gprev: array<f32>;
@group(0) @binding(4) var<storage, read_write> c_v: array<f32>;
@group(0) @binding(5) var<storage, read> c_lmax: array<f32>;
@group(0) @binding(6) var<uniform> c_p: Params;

@compute @workgroup_size(64)
fn cols(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  let K = c_p.K;
  if (j >= K) { return; }
  df_zero = c_p.opaque_zero;
  let nb = (c_p.B + RB - 1u) / RB;
  var p = vec2<f32>(NEG, 0.0);
  for (var b = 0u; b < nb; b++) { p = lse_push2(p, c_partial[b * K + j], c_partial[(nb + b) * K + j]); }
  let t = df_two_sum(p.x, log(p.y));
  let u = df_two_sum(t.x, -c_p.off);
  // γ = 1 (Sinkhorn) keeps g exact; MIRA's γ·g rounds once, as before (see the header).
  let g = df_two_sum(c_p.gamma * u.x, c_p.gamma * (u.y + t.y));
  c_gprev[j] = c_g[j];
  c_g[j] = g.x;
  c_glo[j] = g.y;
  // MIRA: v = exp(g). Sinkhorn: u = −g in the reference's frame, the log prototype scaling
  // (finite; exp(u) may overflow float32 and float64 alike).
  c_v[j] = select(exp(g.x), -((g.x + c_p.shift_g * c_p.s * c_lmax[0]) + g.y), c_p.v_sign < 0.0);
}

// ---------------------------------------------------------------- targets
@group(0) @binding(0) var<storage, read> t_logits: array<f32>;
@group(0) @binding(1) var<storage, read> t_rmax: array<f32>;
@group(0) @binding(2) var<storage, read> t_g: array<f32>;
@group(0) @binding(3) var<storage, read> t_glo: array<f32>;
@group(0) @binding(4) var<storage, read_write> t_w: array<f32>;
@group(0) @binding(5) var<uniform> t_p: Params;

@compute @workgroup_size(WG)
fn targets(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let lid = lid3.x;
  let B = t_p.B;
  let K = t_p.K;
  let r0 = wid.x * RB;
  let s = t_p.s;
  let a = t_p.a;
  df_zero = t_p.opaque_zero;
  let S = vec2<f32>(s, t_p.s_lo);
  let SS = df_split(s);
  let comp = t_p.compensated != 0u;
  let rl = lid / TPR;
  let valid = r0 + rl < B;
  let base = (r0 + rl) * K;
  var mx = 0.0;
  if (valid) { mx = t_rmax[r0 + rl]; }
  // The row's max of x = s·d − a·g (in f32: only a reference point for the exponents) …
  var m = NEG;
  if (valid) {
    for (var j = lid % TPR; j < K; j += TPR) { m = max(m, fma(t_logits[base + j] - mx, s, -a * t_g[j])); }
  }
  sm[lid] = m;
  workgroupBarrier();
  if (lid % TPR == 0u) {
    var x = sm[lid];
    for (var t = 1u; t < TPR; t++) { x = max(x, sm[lid + t]); }
    rho[rl] = x;
  }
  workgroupBarrier();
  // … then exp(x − max) written and summed by the thread that will scale it …
  let rm = rho[rl];
  var sum = 0.0;
  if (valid) {
    for (var j = lid % TPR; j < K; j += TPR) {
      let x = exponent(comp, t_logits[base + j], mx, S, SS, a * t_g[j], a * t_glo[j]);
      let e = exp((x.x - rm) + x.y);
      t_w[base + j] = e;
      sum += e;
    }
  }
  ss[lid] = sum;
  workgroupBarrier();
  if (lid % TPR == 0u) {
    var x = 0.0;
    for (var t = 0u; t < TPR; t++) { x += ss[lid + t]; }
    rho2[rl] = 1.0 / x;
  }
  workgroupBarrier();
  // … then scaled by 1/sum: rows sum to 1 to f32 rounding whatever the exp's last bit.
  let inv = rho2[rl];
  if (valid) {
    for (var j = lid % TPR; j < K; j += TPR) { t_w[base + j] = t_w[base + j] * inv; }
  }
}

// ---------------------------------------------------------------- trace_rows
// Per-block statistics of the current targets w (from g) against the previous ones (from
// g_prev) and against p = softmax(ℓ·inv_tau):
//   stats[blk*4 + 0] = Σ_rows H(w_i), [1] = Σ_rows KL(w_i‖p_i), [2] = max |w − w_prev|
//   colsum[blk][j]   = Σ_rows w_ij
@group(0) @binding(0) var<storage, read> q_logits: array<f32>;
@group(0) @binding(1) var<storage, read> q_rmax: array<f32>;
@group(0) @binding(2) var<storage, read> q_g: array<f32>;
@group(0) @binding(3) var<storage, read> q_gprev: array<f32>;
@group(0) @binding(4) var<storage, read_write> q_colsum: array<f32>;
@group(0) @binding(5) var<storage, read_write> q_stats: array<f32>;
@group(0) @binding(6) var<uniform> q_p: Params;

@compute @workgroup_size(WG)
fn trace_rows(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let lid = lid3.x;
  let B = q_p.B;
  let K = q_p.K;
  let blk = wid.x;
  let r0 = blk * RB;
  let s = q_p.s;
  let a = q_p.a;
  let it = q_p.inv_tau;
  let rl = lid / TPR;
  // Three row LSEs: current targets, previous targets, p.
  var p0 = vec2<f32>(NEG, 0.0);
  var p1 = vec2<f32>(NEG, 0.0);
  var p2 = vec2<f32>(NEG, 0.0);
  if (r0 + rl < B) {
    let base = (r0 + rl) * K;
    let mx = q_rmax[r0 + rl];
    for (var j = lid % TPR; j < K; j += TPR) {
      let l = q_logits[base + j] - mx;
      p0 = lse_push(p0, fma(l, s, -a * q_g[j]));
      p1 = lse_push(p1, fma(l, s, -a * q_gprev[j]));
      p2 = lse_push(p2, l * it);
    }
  }
  sm[lid] = p0.x; ss[lid] = p0.y;
  sm2[lid] = p1.x; ss2[lid] = p1.y;
  sm3[lid] = p2.x; ss3[lid] = p2.y;
  reduce_rows_lse(lid, 3u);
  if (lid % TPR == 0u) {
    rho[rl] = sm[lid] + log(ss[lid]);
    rho2[rl] = sm2[lid] + log(ss2[lid]);
    rho3[rl] = sm3[lid] + log(ss3[lid]);
  }
  if (lid % TPR == 0u && r0 + rl < B) { sk[rl] = q_rmax[r0 + rl]; }
  workgroupBarrier();
  let nr = min(RB, B - r0);
  var h = 0.0;     // Σ −w log w over this thread's elements
  var kl = 0.0;    // Σ w (log w − log p)
  var d = 0.0;     // max |w − w_prev|
  for (var j = lid; j < K; j += WG) {
    let c0 = a * q_g[j];
    let c1 = a * q_gprev[j];
    var cs = 0.0;
    for (var r = 0u; r < nr; r++) {
      let l = q_logits[(r0 + r) * K + j] - sk[r];
      let lw = fma(l, s, -c0) - rho[r];
      let w = exp(lw);
      let wp = exp(fma(l, s, -c1) - rho2[r]);
      let lp = l * it - rho3[r];
      h -= w * lw;
      kl += w * (lw - lp);
      d = max(d, abs(w - wp));
      cs += w;
    }
    q_colsum[blk * K + j] = cs;
  }
  workgroupBarrier();
  sm[lid] = h;
  sm2[lid] = kl;
  ss[lid] = d;
  workgroupBarrier();
  if (lid == 0u) {
    var hs = 0.0;
    var ks = 0.0;
    var ds = 0.0;
    for (var t = 0u; t < WG; t++) {
      hs += sm[t];
      ks += sm2[t];
      ds = max(ds, ss[t]);
    }
    q_stats[blk * 4u + 0u] = hs;
    q_stats[blk * 4u + 1u] = ks;
    q_stats[blk * 4u + 2u] = ds;
    q_stats[blk * 4u + 3u] = 0.0;
  }
}

// ---------------------------------------------------------------- trace_reduce
// One workgroup. Record layout (HEAD + K floats): [iter, residual, delta_w, objective,
// marginal_entropy, mean_entropy, mi, marginal_error, v_0 … v_{K−1}].
// state[0] counts the records written since the last reset; state[1] is the ring's capacity.
const HEAD: u32 = 8u;
@group(0) @binding(0) var<storage, read> z_colsum: array<f32>;
@group(0) @binding(1) var<storage, read> z_stats: array<f32>;
@group(0) @binding(2) var<storage, read> z_g: array<f32>;
@group(0) @binding(3) var<storage, read> z_gprev: array<f32>;
@group(0) @binding(4) var<storage, read_write> z_trace: array<f32>;
@group(0) @binding(5) var<storage, read_write> z_state: array<u32>;
@group(0) @binding(6) var<storage, read> z_lmax: array<f32>;
@group(0) @binding(7) var<uniform> z_p: Params;

@compute @workgroup_size(WG)
fn trace_reduce(@builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  let B = z_p.B;
  let K = z_p.K;
  let n = z_state[0];
  let base = (n % max(z_state[1], 1u)) * (HEAD + K);
  let nb = (B + RB - 1u) / RB;
  let inv_b = 1.0 / f32(B);
  let inv_k = 1.0 / f32(K);
  // The reported v: MIRA exp(g); Sinkhorn exp(u) = exp(−(g + s·lmax)), SwAV's prototype
  // scaling (it overflows for near one-hot rows at small ε, as SwAV's own does).
  let vs = z_p.v_sign;
  let shift = z_p.shift_g * z_p.s * z_lmax[0];
  // The residual is a ratio: both v are scaled by exp(−max_k log v_prev,k) (the shift cancels,
  // so it is left out), so ‖v_prev‖ ∈ [1, K] cannot underflow; it saturates at f32's max.
  var mx0 = NEG;
  for (var j = lid; j < K; j += WG) { mx0 = max(mx0, vs * z_gprev[j]); }
  sm[lid] = mx0;
  workgroupBarrier();
  if (lid == 0u) {
    for (var t = 1u; t < WG; t++) { mx0 = max(mx0, sm[t]); }
    rho[0] = mx0;
  }
  workgroupBarrier();
  let lvmax = rho[0];
  workgroupBarrier();
  var hm = 0.0;    // marginal entropy
  var me = 0.0;    // marginal error
  var dv = 0.0;    // Σ |v − v_prev|
  var vp = 0.0;    // Σ |v_prev|
  for (var j = lid; j < K; j += WG) {
    var c = 0.0;
    for (var b = 0u; b < nb; b++) { c += z_colsum[b * K + j]; }
    let mj = c * inv_b;
    if (mj > 0.0) { hm -= mj * log(mj); }
    me += abs(mj - inv_k);
    let v = exp(vs * z_g[j] - lvmax);
    let v0 = exp(vs * z_gprev[j] - lvmax);
    dv += abs(v - v0);
    vp += v0;
    z_trace[base + HEAD + j] = exp(vs * (z_g[j] + shift));
  }
  var h = 0.0;
  var kl = 0.0;
  var d = 0.0;
  for (var b = lid; b < nb; b += WG) {
    h += z_stats[b * 4u + 0u];
    kl += z_stats[b * 4u + 1u];
    d = max(d, z_stats[b * 4u + 2u]);
  }
  sm[lid] = hm;
  sm2[lid] = me;
  sm3[lid] = dv;
  ss2[lid] = vp;
  ss3[lid] = h;
  sk[lid] = kl;
  ss[lid] = d;
  reduce_all(lid);
  if (lid == 0u) {
    let meanH = ss3[0] * inv_b;
    let meanKL = sk[0] * inv_b;
    let mi = sm[0] - meanH;
    z_trace[base + 0u] = f32(n + 1u);
    z_trace[base + 1u] = min(sm3[0] / ss2[0], 3.4028234e38);
    z_trace[base + 2u] = ss[0];
    z_trace[base + 3u] = meanKL - z_p.beta * mi;
    z_trace[base + 4u] = sm[0];
    z_trace[base + 5u] = meanH;
    z_trace[base + 6u] = mi;
    z_trace[base + 7u] = sm2[0];
    z_state[0] = n + 1u;
  }
}
