// Swapped-prediction cross-entropy, forward and backward into the student logits.
//
// For one student crop q (B×K) predicting up to two targets wa, wb with weights ca, cb (the
// host folds the 1/B of the mean and the pair weights of the loss into them):
//   log p_ik = q_ik/τ_s − LSE_k(q_i/τ_s)     (formed as (q_ik − max_k q_ik)/τ_s − log Σ …)
//   t_ik     = ca·wa_ik + cb·wb_ik
//   loss    += −Σ_ik t_ik log p_ik                     (per block, then loss_reduce)
//   grad_ik  = (p_ik·Σ_k t_ik − t_ik) / τ_s            (= into grad: the gradient of the loss)
// With cb = 0, wb is not read (a uniform branch). The two-view loss
// L = ½[CE(w⁽¹⁾, q⁽²⁾) + CE(w⁽²⁾, q⁽¹⁾)] is two dispatches (ca = 1/(2B)); a multi-crop local
// crop predicts both global targets in one dispatch.
//
// Entry points:
//   ce_rows      one workgroup per RB rows; writes grad and part[slot·nb + blk].
//   loss_reduce  one thread: loss = Σ part in index order (deterministic).
struct Params {
  inv_ts: f32,
  ca: f32,
  cb: f32,
  _pad: f32,
  B: u32,
  K: u32,
  slot: u32,
  _pad1: u32,
}

const RB: u32 = 8u;
const WG: u32 = 128u;
const TPR: u32 = 16u;
const NEG: f32 = -3.0e38;

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> wa: array<f32>;
@group(0) @binding(2) var<storage, read> wb: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;
@group(0) @binding(4) var<storage, read_write> part: array<f32>;
@group(0) @binding(5) var<uniform> P: Params;

var<workgroup> sm: array<f32, WG>;
var<workgroup> ss: array<f32, WG>;
var<workgroup> st: array<f32, WG>;
var<workgroup> row_lse: array<f32, RB>;
var<workgroup> row_max: array<f32, RB>;
var<workgroup> row_tw: array<f32, RB>;

@compute @workgroup_size(WG)
fn ce_rows(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let lid = lid3.x;
  let B = P.B;
  let K = P.K;
  let blk = wid.x;
  let r0 = blk * RB;
  let its = P.inv_ts;
  let ca = P.ca;
  let cb = P.cb;
  let two = cb != 0.0;
  let rl = lid / TPR;
  let valid = r0 + rl < B;
  let base = (r0 + rl) * K;
  // The row's max of q (also of q/τ_s) and Σ_k t_ik …
  var m = NEG;
  var tw = 0.0;
  if (valid) {
    for (var j = lid % TPR; j < K; j += TPR) {
      m = max(m, q[base + j]);
      var t = ca * wa[base + j];
      if (two) { t = fma(cb, wb[base + j], t); }
      tw += t;
    }
  }
  sm[lid] = m;
  st[lid] = tw;
  workgroupBarrier();
  if (lid % TPR == 0u) {
    var a = sm[lid];
    var s = st[lid];
    for (var k = 1u; k < TPR; k++) {
      a = max(a, sm[lid + k]);
      s += st[lid + k];
    }
    row_max[rl] = a;
    row_tw[rl] = s;
  }
  workgroupBarrier();
  // … then log Σ exp((q − max)/τ_s): subtracting before scaling keeps the leading entries exact.
  let qm = row_max[rl];
  var sum = 0.0;
  if (valid) {
    for (var j = lid % TPR; j < K; j += TPR) { sum += exp((q[base + j] - qm) * its); }
  }
  ss[lid] = sum;
  workgroupBarrier();
  if (lid % TPR == 0u) {
    var s = 0.0;
    for (var k = 0u; k < TPR; k++) { s += ss[lid + k]; }
    row_lse[rl] = log(s);
  }
  workgroupBarrier();
  let nr = min(RB, B - r0);
  var loss = 0.0;
  for (var r = 0u; r < nr; r++) {
    let lse = row_lse[r];
    let qmr = row_max[r];
    let twr = row_tw[r];
    let rb = (r0 + r) * K;
    for (var j = lid; j < K; j += WG) {
      let i = rb + j;
      var t = ca * wa[i];
      if (two) { t = fma(cb, wb[i], t); }
      let lp = (q[i] - qmr) * its - lse;
      loss = fma(-t, lp, loss);
      grad[i] = its * (exp(lp) * twr - t);
    }
  }
  workgroupBarrier();
  st[lid] = loss;
  workgroupBarrier();
  if (lid == 0u) {
    var s = 0.0;
    for (var k = 0u; k < WG; k++) { s += st[k]; }
    part[P.slot * ((B + RB - 1u) / RB) + blk] = s;
  }
}

// ---------------------------------------------------------------- loss_reduce
struct ReduceParams {
  count: u32,
  _p0: u32,
  _p1: u32,
  _p2: u32,
}
@group(0) @binding(0) var<storage, read> z_part: array<f32>;
@group(0) @binding(1) var<storage, read_write> z_loss: array<f32>;
@group(0) @binding(2) var<uniform> Z: ReduceParams;

@compute @workgroup_size(1)
fn loss_reduce() {
  var s = 0.0;
  for (var i = 0u; i < Z.count; i++) { s += z_part[i]; }
  z_loss[0] = s;
}
