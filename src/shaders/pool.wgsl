// Global average pooling, NHWC → N×C:  y[n][c] = (1/HW)·Σ_{p<HW} x[n][p][c]
// and its backward dx[n][p][c] = dy[n][c] / HW (assigned).
// The host prepends `alias V = vec4<f32>;` (C % 4 == 0) or `alias V = f32;`; CL = C / lane width;
// and the input's storage type S (`alias S = V;`, or f16 on the f16 path: widened at each load).
//   avgpool_fwd  grid (⌈CL/TX⌉, N): workgroup TX lanes × TY pixel threads, each thread strides
//                over the HW pixels by TY; then thread (x, 0) sums the TY partials in a fixed
//                order (wg_sum, workgroup_sum.wgsl: TY = 1 and no barrier on CPU emulators).   x, y
//   avgpool_bwd  one thread per lane of dx (256 per workgroup, 2-D grid).   dy, dx
// Storage buffers are read_write (see elementwise.wgsl).

override HW: u32;          // pixels per image
override CL: u32;          // channel lanes
override NLANES: u32 = 1u; // N·HW·CL (backward)
override TX: u32 = 16u;
override TY: u32 = 16u;    // TX·TY = 256

@group(0) @binding(0) var<storage, read_write> pf_x: array<S>;
@group(0) @binding(1) var<storage, read_write> pf_y: array<V>;

@compute @workgroup_size(TX, TY)
fn avgpool_fwd(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
  let c = wg.x * TX + lid.x;
  let n = wg.y;
  var s = V(0.0);
  if (c < CL) {
    for (var p = lid.y; p < HW; p += TY) { s += V(pf_x[(n * HW + p) * CL + c]); }
  }
  let t = wg_sum(s, li, lid.x);
  if (lid.y == 0u && c < CL) {
    pf_y[n * CL + c] = t * (1.0 / f32(HW));
  }
}

@group(0) @binding(0) var<storage, read_write> pb_dy: array<V>;
@group(0) @binding(1) var<storage, read_write> pb_dx: array<V>;

@compute @workgroup_size(256)
fn avgpool_bwd(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * nwg.x + wg.x) * 256u + li;
  if (i >= NLANES) { return; }
  let n = i / (HW * CL);
  let c = i % CL;
  pb_dx[i] = pb_dy[n * CL + c] * (1.0 / f32(HW));
}
