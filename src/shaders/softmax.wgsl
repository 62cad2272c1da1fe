// Row-wise softmax with temperature, max-shifted: out_ij = exp(x_ij/T − LSE_j(x_ij/T)), or its
// log with LOG (log-softmax). Used for the naive targets (the teacher softmax) and p.
//
// One workgroup per RB rows, TPR threads per row: the row's max, then Σ exp over the elements
// each thread will write (serial merges of the TPR partials: deterministic), then the output. Shapes and 1/T travel in the params uniform (no
// recompilation when T changes or per shape); LOG is the only specialisation.
struct Params {
  inv_t: f32,
  _pad: f32,
  B: u32,
  K: u32,
}

override LOG: bool = false;
const RB: u32 = 8u;
const WG: u32 = 128u;
const TPR: u32 = 16u;
const NEG: f32 = -3.0e38;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> P: Params;

var<workgroup> sm: array<f32, WG>;
var<workgroup> row_max: array<f32, RB>;
var<workgroup> row_sum: array<f32, RB>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let lid = lid3.x;
  let B = P.B;
  let K = P.K;
  let r0 = wid.x * RB;
  let it = P.inv_t;
  let rl = lid / TPR;
  let valid = r0 + rl < B;
  let base = (r0 + rl) * K;
  // The row's max of x (T > 0: also the max of x/T) …
  var m = NEG;
  if (valid) {
    for (var j = lid % TPR; j < K; j += TPR) { m = max(m, x[base + j]); }
  }
  sm[lid] = m;
  workgroupBarrier();
  if (lid % TPR == 0u) {
    var q = sm[lid];
    for (var t = 1u; t < TPR; t++) { q = max(q, sm[lid + t]); }
    row_max[rl] = q;
  }
  workgroupBarrier();
  // … Σ exp((x − max)/T), each thread over the elements it will write (softmax: written now,
  // scaled below, so rows sum to 1 to f32 rounding). Subtracting before scaling keeps the
  // row's leading entries exact: (x − max) is exact near the max, x/T − max/T is not.
  let rm = row_max[rl];
  var sum = 0.0;
  if (valid) {
    for (var j = lid % TPR; j < K; j += TPR) {
      let e = exp((x[base + j] - rm) * it);
      if (!LOG) { y[base + j] = e; }
      sum += e;
    }
  }
  sm[lid] = sum;
  workgroupBarrier();
  if (lid % TPR == 0u) {
    var q = 0.0;
    for (var t = 0u; t < TPR; t++) { q += sm[lid + t]; }
    row_sum[rl] = q;
  }
  workgroupBarrier();
  let total = row_sum[rl];
  if (valid) {
    if (LOG) {
      let ls = log(total);
      for (var j = lid % TPR; j < K; j += TPR) { y[base + j] = (x[base + j] - rm) * it - ls; }
    } else {
      let inv = 1.0 / total;
      for (var j = lid % TPR; j < K; j += TPR) { y[base + j] = y[base + j] * inv; }
    }
  }
}
