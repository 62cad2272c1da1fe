// Optimizers over flat parameter buffers, and the EMA teacher update.
//
// Parameters p, gradients g and momentum buffers m are flat f32 buffers holding many parameter
// tensors. The host cuts every tensor into chunks of at most CHUNK elements (a chunk never spans
// two tensors) and uploads two small tables:
//   chunks[c]  = (tensor, start, end, flags)       one workgroup per chunk
//   tensors[t] = (first chunk, chunk count, flags, 0)
//   flags: 1 DECAY (weight decay applies), 2 TRUST (LARS trust-ratio scaling applies),
//          4 SKIP (frozen this step: no update at all, as PyTorch skips p.grad = None)
// and a uniform block of the per-step scalars (lr, momentum, … change every step; no recompile).
//
// The update direction is d = a_t·(s·g) + b_t·p with s the gradient scale, then
//   m ← μ·m + d;   p ← p − lr·m                      (PyTorch SGD, dampening 0, no Nesterov;
//                                                      m starts at zero, which equals its clone-
//                                                      of-the-first-d initialisation)
//   SGD:         a = 1, b = wd·DECAY
//   LARS, MIRA (official code, moco-v3 style), TRUST tensors:
//                u = s·g + wd·DECAY·p;  q = η‖p‖/‖u‖ if ‖p‖ > 0 and ‖u‖ > 0, else 1;  a = q, b = q·wd·DECAY
//                other tensors: a = 1, b = wd·DECAY
//   LARS, SOLO (solo-learn / Lightning-bolts), TRUST tensors with ‖p‖ ≠ 0 and ‖s·g‖ ≠ 0:
//                q = η‖p‖/(‖s·g‖ + wd·DECAY·‖p‖ + eps), clipped to min(q/lr, 1) when CLIP;
//                a = q, b = q·wd·DECAY;   otherwise a = 1, b = 0 (weight decay only with LARS)
// The per-tensor norms come from a deterministic two-pass reduction:
//   norms_partial  one workgroup per chunk: Σp², Σ(s·g)², Σu² → part[chunk]
//   norms_final    one workgroup per tensor: fixed-order sum over its chunks → coef[t]
//   update         one workgroup per chunk: the momentum step above
//   ema            teacher ← M·teacher + (1 − M)·student over a flat buffer (lanes of V)
//   ema_chunks     the same over the chunks of a tensor table only (one workgroup per chunk), for
//                  flat buffers that also hold what the EMA must not touch (BN running statistics,
//                  which the teacher's own forward updates, as in the official code)
// so LARS is 3 dispatches for all tensors, SGD 1, EMA 1.
//
// coef[2t] = (a, b, q, trust applied 0/1), coef[2t+1] = (‖p‖, ‖s·g‖, ‖u‖, 0): kept for display
// (the norms of every tensor not frozen; the excluded ones are small: BN parameters and biases).
// p, g, m are read_write (they may be ranges of planned buffers, see elementwise.wgsl); the
// tables and partials belong to the optimizer.
// The host prepends `alias V = …;` and `fn hsum` (used by the EMA entry only).

struct OptParams {
  lr: f32,
  momentum: f32,
  weight_decay: f32,
  eta: f32,
  grad_scale: f32,
  eps: f32,
  clip: f32,       // SOLO: 1 clips the trust ratio to min(q / lr, 1)
  _pad: f32,
}

struct EmaParams {
  m: f32,
  _p0: f32,
  _p1: f32,
  _p2: f32,
}

override LARS: bool = false;
override SOLO: bool = false;
override NL: u32 = 1u;        // EMA lanes

const F_DECAY: u32 = 1u;
const F_TRUST: u32 = 2u;
const F_SKIP: u32 = 4u;
const WG: u32 = 256u;

var<workgroup> r3: array<vec3<f32>, 256>;

// ---------------------------------------------------------------- LARS norms, pass 1
@group(0) @binding(0) var<storage, read_write> np_p: array<f32>;
@group(0) @binding(1) var<storage, read_write> np_g: array<f32>;
@group(0) @binding(2) var<storage, read> np_chunks: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> np_part: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> np_P: OptParams;

@compute @workgroup_size(256)
fn norms_partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let ch = np_chunks[wg.x];
  let wd = select(0.0, np_P.weight_decay, (ch.w & F_DECAY) != 0u);
  let s = np_P.grad_scale;
  var acc = vec3<f32>(0.0);
  if ((ch.w & F_SKIP) == 0u) {
    for (var i = ch.y + li; i < ch.z; i += WG) {
      let p = np_p[i];
      let g = s * np_g[i];
      let u = fma(wd, p, g);
      acc = fma(vec3<f32>(p, g, u), vec3<f32>(p, g, u), acc);
    }
  }
  r3[li] = acc;
  workgroupBarrier();
  // Two levels, fixed order: 16 threads sum 16 entries each, then thread 0 sums those 16.
  if (li < 16u) {
    var t = vec3<f32>(0.0);
    for (var k = 0u; k < 16u; k++) { t += r3[li * 16u + k]; }
    r3[li * 16u] = t;
  }
  workgroupBarrier();
  if (li == 0u) {
    var t = vec3<f32>(0.0);
    for (var k = 0u; k < 16u; k++) { t += r3[k * 16u]; }
    np_part[wg.x] = vec4<f32>(t, 0.0);
  }
}

// ---------------------------------------------------------------- LARS norms, pass 2
@group(0) @binding(0) var<storage, read> nf_tensors: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> nf_part: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> nf_coef: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> nf_P: OptParams;

@compute @workgroup_size(64)
fn norms_final(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let t = wg.x;
  let info = nf_tensors[t];
  var acc = vec3<f32>(0.0);
  for (var c = li; c < info.y; c += 64u) { acc += nf_part[info.x + c].xyz; }
  r3[li] = acc;
  workgroupBarrier();
  if (li != 0u) { return; }
  var total = vec3<f32>(0.0);
  for (var k = 0u; k < 64u; k++) { total += r3[k]; }
  let norms = sqrt(total);
  let pn = norms.x;
  let gn = norms.y;
  let un = norms.z;
  let wd = select(0.0, nf_P.weight_decay, (info.z & F_DECAY) != 0u);
  let trust = LARS && (info.z & (F_TRUST | F_SKIP)) == F_TRUST;
  var a = 1.0;
  var b = wd;
  var q = 1.0;
  var applied = 0.0;
  if (SOLO) {
    b = 0.0;
    if (trust && pn != 0.0 && gn != 0.0) {
      q = nf_P.eta * pn / (gn + pn * wd + nf_P.eps);
      if (nf_P.clip != 0.0) { q = min(q / nf_P.lr, 1.0); }
      a = q;
      b = q * wd;
      applied = 1.0;
    }
  } else if (trust) {
    if (pn > 0.0 && un > 0.0) { q = nf_P.eta * pn / un; }
    a = q;
    b = q * wd;
    applied = 1.0;
  }
  nf_coef[2u * t] = vec4<f32>(a, b, q, applied);
  nf_coef[2u * t + 1u] = vec4<f32>(pn, gn, un, 0.0);
}

// ---------------------------------------------------------------- momentum step
@group(0) @binding(0) var<storage, read_write> up_p: array<f32>;
@group(0) @binding(1) var<storage, read_write> up_g: array<f32>;
@group(0) @binding(2) var<storage, read_write> up_m: array<f32>;
@group(0) @binding(3) var<storage, read> up_chunks: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read_write> up_coef: array<vec4<f32>>;
@group(0) @binding(5) var<uniform> up_P: OptParams;

@compute @workgroup_size(256)
fn update(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let ch = up_chunks[wg.x];
  if ((ch.w & F_SKIP) != 0u) { return; }
  var a = 1.0;
  var b = select(0.0, up_P.weight_decay, (ch.w & F_DECAY) != 0u);
  if (LARS) {
    let k = up_coef[2u * ch.x];
    a = k.x;
    b = k.y;
  }
  a *= up_P.grad_scale;
  let mu = up_P.momentum;
  let lr = up_P.lr;
  for (var i = ch.y + li; i < ch.z; i += WG) {
    let p = up_p[i];
    let d = fma(a, up_g[i], b * p);
    let m = fma(mu, up_m[i], d);
    up_m[i] = m;
    up_p[i] = fma(-lr, m, p);
  }
}

// ---------------------------------------------------------------- EMA teacher
@group(0) @binding(0) var<storage, read_write> em_t: array<V>;
@group(0) @binding(1) var<storage, read_write> em_s: array<V>;
@group(0) @binding(2) var<uniform> em_P: EmaParams;

@compute @workgroup_size(256)
fn ema(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * nwg.x + wg.x) * 256u + li;
  if (i >= NL) { return; }
  let m = em_P.m;
  em_t[i] = em_t[i] * m + em_s[i] * (1.0 - m);
}

@group(0) @binding(0) var<storage, read_write> ec_t: array<f32>;
@group(0) @binding(1) var<storage, read_write> ec_s: array<f32>;
@group(0) @binding(2) var<storage, read> ec_chunks: array<vec4<u32>>;
@group(0) @binding(3) var<uniform> ec_P: EmaParams;

@compute @workgroup_size(256)
fn ema_chunks(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let ch = ec_chunks[wg.x];
  let m = ec_P.m;
  for (var i = ch.y + li; i < ch.z; i += WG) { ec_t[i] = ec_t[i] * m + ec_s[i] * (1.0 - m); }
}
