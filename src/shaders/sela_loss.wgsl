// SeLa's training objective: cross-entropy of the student logits against one hard label per
// image and head, forward and backward into the logits (= into the gradient tensor).
//
// For H heads, q laid out [B][H][K] (the prototype GEMM's B×(H·K) output: head h's logits of
// image i at columns h·K … (h+1)·K − 1) and labels [B][H] u32 (a batch's rows of the N×H label
// table, as the checkpoint's labels.npy stores it):
//   log p_hik = q_hik/τ_s − LSE_k(q_hi/τ_s)        (formed as (q − max_k q)/τ_s − log Σ …)
//   L         = 1/(H·B) Σ_h Σ_i −log p_{h,i,y_hi}  (the heads' mean losses, averaged)
//   ∂L/∂q_hik = (p_hik − [k = y_hi]) / (τ_s·H·B)
// A label ≥ K is not a class: its row adds nothing and is counted (the host reports it).
//
// Entry points:
//   ce_rows      one workgroup per RB rows of one head (workgroup y = head); writes grad and
//                the block's (loss, bad-label count) into part[2·(h·nb + blk) + {0, 1}].
//   loss_reduce  one thread: out[0] = Σ loss partials, out[1] = Σ bad labels, in index order
//                (deterministic).
struct Params {
  inv_ts: f32,   // 1/τ_s
  scale: f32,    // 1/(H·B), folded into the loss and the gradient
  B: u32,
  K: u32,
  H: u32,
  nb: u32,       // row blocks per head
  _pad0: u32,
  _pad1: u32,
}

const RB: u32 = 8u;
const WG: u32 = 128u;
const TPR: u32 = 16u;
const NEG: f32 = -3.0e38;

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;
@group(0) @binding(4) var<uniform> P: Params;

var<workgroup> sm: array<f32, WG>;
var<workgroup> row_max: array<f32, RB>;
var<workgroup> row_inv: array<f32, RB>;
var<workgroup> row_loss: array<f32, RB>;
var<workgroup> row_bad: array<f32, RB>;

@compute @workgroup_size(WG)
fn ce_rows(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let lid = lid3.x;
  let B = P.B;
  let K = P.K;
  let h = wid.y;
  let blk = wid.x;
  let r0 = blk * RB;
  let its = P.inv_ts;
  let rl = lid / TPR;
  let row = r0 + rl;
  let valid = row < B;
  let base = (row * P.H + h) * K;
  // The row's max of q …
  var m = NEG;
  if (valid) {
    for (var j = lid % TPR; j < K; j += TPR) { m = max(m, q[base + j]); }
  }
  sm[lid] = m;
  workgroupBarrier();
  if (lid % TPR == 0u) {
    var a = sm[lid];
    for (var t = 1u; t < TPR; t++) { a = max(a, sm[lid + t]); }
    row_max[rl] = a;
  }
  workgroupBarrier();
  // … then Σ_k exp((q − max)/τ_s) …
  let mx = row_max[rl];
  var s = 0.0;
  if (valid) {
    for (var j = lid % TPR; j < K; j += TPR) { s += exp((q[base + j] - mx) * its); }
  }
  sm[lid] = s;
  workgroupBarrier();
  if (lid % TPR == 0u) {
    var a = 0.0;
    for (var t = 0u; t < TPR; t++) { a += sm[lid + t]; }
    row_inv[rl] = 1.0 / a;
    var l = 0.0;
    var bad = 0.0;
    if (valid) {
      let y = labels[row * P.H + h];
      // −log p_y = log Σ − (q_y − max)/τ_s; a label ≥ K adds nothing and is counted.
      if (y < K) { l = log(a) - (q[base + y] - mx) * its; } else { bad = 1.0; }
    }
    row_loss[rl] = l;
    row_bad[rl] = bad;
  }
  workgroupBarrier();
  // … then the gradient, the same thread for the same element as in the sum.
  let inv = row_inv[rl];
  let c = P.scale * its;
  if (valid) {
    let y = labels[row * P.H + h];
    for (var j = lid % TPR; j < K; j += TPR) {
      let p = exp((q[base + j] - mx) * its) * inv;
      grad[base + j] = c * (p - select(0.0, 1.0, j == y));
    }
  }
  if (lid == 0u) {
    var l = 0.0;
    var bad = 0.0;
    for (var r = 0u; r < RB; r++) {
      l += row_loss[r];
      bad += row_bad[r];
    }
    let slot = 2u * (h * P.nb + blk);
    part[slot] = l * P.scale;
    part[slot + 1u] = bad;
  }
}

// ---------------------------------------------------------------- loss_reduce
@group(0) @binding(0) var<storage, read> z_part: array<f32>;
@group(0) @binding(1) var<storage, read_write> z_out: array<f32>;
@group(0) @binding(2) var<uniform> z_p: Params;

@compute @workgroup_size(1)
fn loss_reduce() {
  let n = z_p.H * z_p.nb;
  var l = 0.0;
  var bad = 0.0;
  for (var b = 0u; b < n; b++) {
    l += z_part[2u * b];
    bad += z_part[2u * b + 1u];
  }
  z_out[0] = l;
  z_out[1] = bad;
}
