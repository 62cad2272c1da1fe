// Row L2 normalisation of a ROWS×D row-major matrix and its backward:
//   forward   n_r = ‖x_r‖,  y_r = x_r / max(n_r, EPS)            (F.normalize(x, dim=1))
//   backward  n_r ≥ EPS: dx_r = (dy_r − y_r·(y_r·dy_r)) / n_r
//             n_r < EPS: dx_r = dy_r / EPS                        (the clamp is a constant)
// The same kernels serve the weight-normalised head (g = 1): y = W = v/‖v‖ row-wise, and the
// backward maps dW to dv with ACCUM choosing += (a parameter gradient) or = (an activation one).
//
// The host prepends `alias V = vec4<f32>;` (D % 4 == 0) or `alias V = f32;` and
// `fn hsum(v: V) -> f32` (sum of the components); DL = D / lane width.
// Workgroup: TX lanes along a row × TY rows; each thread strides over its row by TX, then every
// thread of the row gets the row total as the same fixed-order sum of the TX partials (row_sum,
// workgroup_sum.wgsl: one barrier on GPUs; TX = 1 and no barrier on CPU emulators): one
// dispatch per pass, deterministic.
//   l2_fwd  x, y, norm       (norm: ROWS f32, the unclamped ‖x_r‖, saved for the backward)
//   l2_bwd  y, dy, norm, dx
// Storage buffers are read_write (see elementwise.wgsl).

override ROWS: u32;
override DL: u32;
override TX: u32 = 64u;
override TY: u32 = 4u;
override EPS: f32 = 1e-12;
override ACCUM: bool = false;

@group(0) @binding(0) var<storage, read_write> lf_x: array<V>;
@group(0) @binding(1) var<storage, read_write> lf_y: array<V>;
@group(0) @binding(2) var<storage, read_write> lf_norm: array<f32>;

@compute @workgroup_size(TX, TY)
fn l2_fwd(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row = (wg.y * nwg.x + wg.x) * TY + lid.y;
  let ok = row < ROWS;
  var s = 0.0;
  if (ok) {
    for (var d = lid.x; d < DL; d += TX) {
      let v = lf_x[row * DL + d];
      s += hsum(v * v);
    }
  }
  let total = row_sum(s, li, lid.y);
  if (ok) {
    let n = sqrt(total);
    let inv = 1.0 / max(n, EPS);
    for (var d = lid.x; d < DL; d += TX) { lf_y[row * DL + d] = lf_x[row * DL + d] * inv; }
    if (lid.x == 0u) { lf_norm[row] = n; }
  }
}

@group(0) @binding(0) var<storage, read_write> lb_y: array<V>;
@group(0) @binding(1) var<storage, read_write> lb_dy: array<V>;
@group(0) @binding(2) var<storage, read_write> lb_norm: array<f32>;
@group(0) @binding(3) var<storage, read_write> lb_dx: array<V>;

@compute @workgroup_size(TX, TY)
fn l2_bwd(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row = (wg.y * nwg.x + wg.x) * TY + lid.y;
  let ok = row < ROWS;
  var s = 0.0;
  if (ok) {
    for (var d = lid.x; d < DL; d += TX) {
      let i = row * DL + d;
      s += hsum(lb_y[i] * lb_dy[i]);
    }
  }
  let dot = row_sum(s, li, lid.y);
  if (ok) {
    let n = lb_norm[row];
    let clamped = n < EPS;
    let inv = 1.0 / max(n, EPS);
    let proj = select(dot, 0.0, clamped);
    for (var d = lid.x; d < DL; d += TX) {
      let i = row * DL + d;
      var g = (lb_dy[i] - lb_y[i] * proj) * inv;
      if (ACCUM) { g += lb_dx[i]; }
      lb_dx[i] = g;
    }
  }
}
