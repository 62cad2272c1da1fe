// SeLa's extras over the shared log-domain scaling iteration (mira.wgsl, a = γ = 1):
//
//   sela_change   per row block: Σ_i |c_i / c'_i − 1|, SeLa's convergence measure, where
//                 c_i ∝ exp(−ρ_i) is the sample scaling before (ρ from g_prev) and after
//                 (ρ' from g) the last prototype update: |exp(ρ'_i − ρ_i) − 1|.
//   change_reduce one thread: out[0] = Σ of the block partials (fixed order).
//   labels        per row: argmax_k (s·ℓ_ik − a·g_k) (ties: lowest k) — the hard labels of the
//                 scaled P = diag(r) p^λ diag(c), whose row factor does not change the argmax.
// The params uniform is the one the scaling plan writes (same struct as mira.wgsl), and rmax
// its row maxima: as there, the kernels work on d = ℓ − max_j ℓ (a row constant).
// They read g's high part alone (mira.wgsl carries g + g_lo): the change measure and the argmax
// need no more than f32.
struct Params {
  s: f32,
  a: f32,
  gamma: f32,
  off: f32,
  inv_tau: f32,
  beta: f32,
  row_norm: f32,
  v_sign: f32,
  B: u32,
  K: u32,
  shift_g: f32,
  s_lo: f32,
  opaque_zero: u32,
  compensated: u32,
  _pad1: u32,
  _pad2: u32,
}

const RB: u32 = 8u;
const WG: u32 = 128u;
const TPR: u32 = 16u;
const NEG: f32 = -3.0e38;

var<workgroup> sm: array<f32, WG>;
var<workgroup> ss: array<f32, WG>;
var<workgroup> sm2: array<f32, WG>;
var<workgroup> ss2: array<f32, WG>;
var<workgroup> sidx: array<u32, WG>;

fn lse_push(p: vec2<f32>, x: f32) -> vec2<f32> {
  if (x > p.x) { return vec2<f32>(x, p.y * exp(p.x - x) + 1.0); }
  return vec2<f32>(p.x, p.y + exp(x - p.x));
}

fn lse_merge(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let m = max(a.x, b.x);
  return vec2<f32>(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}

// ---------------------------------------------------------------- sela_change
@group(0) @binding(0) var<storage, read> c_logits: array<f32>;
@group(0) @binding(1) var<storage, read> c_rmax: array<f32>;
@group(0) @binding(2) var<storage, read> c_g: array<f32>;
@group(0) @binding(3) var<storage, read> c_gprev: array<f32>;
@group(0) @binding(4) var<storage, read_write> c_part: array<f32>;
@group(0) @binding(5) var<uniform> c_p: Params;

@compute @workgroup_size(WG)
fn sela_change(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let lid = lid3.x;
  let B = c_p.B;
  let K = c_p.K;
  let blk = wid.x;
  let r0 = blk * RB;
  let rl = lid / TPR;
  let s = c_p.s;
  let a = c_p.a;
  var p0 = vec2<f32>(NEG, 0.0);
  var p1 = vec2<f32>(NEG, 0.0);
  if (r0 + rl < B) {
    let base = (r0 + rl) * K;
    let mx = c_rmax[r0 + rl];
    for (var j = lid % TPR; j < K; j += TPR) {
      let l = c_logits[base + j] - mx;
      p0 = lse_push(p0, fma(l, s, -a * c_g[j]));
      p1 = lse_push(p1, fma(l, s, -a * c_gprev[j]));
    }
  }
  sm[lid] = p0.x; ss[lid] = p0.y;
  sm2[lid] = p1.x; ss2[lid] = p1.y;
  workgroupBarrier();
  if (lid % TPR == 0u) {
    var q0 = vec2<f32>(sm[lid], ss[lid]);
    var q1 = vec2<f32>(sm2[lid], ss2[lid]);
    for (var t = 1u; t < TPR; t++) {
      q0 = lse_merge(q0, vec2<f32>(sm[lid + t], ss[lid + t]));
      q1 = lse_merge(q1, vec2<f32>(sm2[lid + t], ss2[lid + t]));
    }
    var e = 0.0;
    if (r0 + rl < B) { e = abs(exp((q0.x + log(q0.y)) - (q1.x + log(q1.y))) - 1.0); }
    sm[lid] = e;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var e = 0.0;
    for (var r = 0u; r < RB; r++) { e += sm[r * TPR]; }
    c_part[blk] = e;
  }
}

// ---------------------------------------------------------------- change_reduce
@group(0) @binding(0) var<storage, read> z_part: array<f32>;
@group(0) @binding(1) var<storage, read_write> z_out: array<f32>;
@group(0) @binding(2) var<uniform> z_p: Params;

@compute @workgroup_size(1)
fn change_reduce() {
  let nb = (z_p.B + RB - 1u) / RB;
  var e = 0.0;
  for (var b = 0u; b < nb; b++) { e += z_part[b]; }
  z_out[0] = e;
}

// ---------------------------------------------------------------- labels
@group(0) @binding(0) var<storage, read> l_logits: array<f32>;
@group(0) @binding(1) var<storage, read> l_rmax: array<f32>;
@group(0) @binding(2) var<storage, read> l_g: array<f32>;
@group(0) @binding(3) var<storage, read_write> l_labels: array<u32>;
@group(0) @binding(4) var<uniform> l_p: Params;

@compute @workgroup_size(WG)
fn labels(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let lid = lid3.x;
  let B = l_p.B;
  let K = l_p.K;
  let r0 = wid.x * RB;
  let rl = lid / TPR;
  let s = l_p.s;
  let a = l_p.a;
  var best = NEG;
  var bi = 0xffffffffu;
  if (r0 + rl < B) {
    let base = (r0 + rl) * K;
    let mx = l_rmax[r0 + rl];
    for (var j = lid % TPR; j < K; j += TPR) {
      let x = fma(l_logits[base + j] - mx, s, -a * l_g[j]);
      if (x > best || bi == 0xffffffffu) { best = x; bi = j; }
    }
  }
  sm[lid] = best;
  sidx[lid] = bi;
  workgroupBarrier();
  if (lid % TPR == 0u && r0 + rl < B) {
    var b = sm[lid];
    var i = sidx[lid];
    for (var t = 1u; t < TPR; t++) {
      let o = sidx[lid + t];
      if (o != 0xffffffffu && (sm[lid + t] > b || (sm[lid + t] == b && o < i))) { b = sm[lid + t]; i = o; }
    }
    l_labels[r0 + rl] = i;
  }
}
