// Element-wise layers over flat tensors of N values, N/LANE lanes of type V (the host prepends
// `alias V = vec4<f32>;` when N % 4 == 0, else `alias V = f32;`). One thread per lane, 256
// threads per workgroup, a 2-D grid when there are more workgroups than the device's per-dimension limit.
//   relu_fwd   y  = max(x, 0)                          x, y
//   relu_bwd   dx = dy·[y > 0]   (mask from the output) y, dy, dx        dx assigned
//   add_fwd    y  = a + b                              a, b, y
//   add_bwd    da = dy, db = dy  (one read, two writes) dy, da, db       both assigned
// Storage buffers are read_write so that inputs and outputs may be ranges of one planned buffer
// (WebGPU forbids read-only and writable bindings of one buffer in a dispatch). In-place use
// (x and y the same range) is not supported: WebGPU rejects overlapping writable bindings.

override NL: u32;   // lanes = N / width of V

fn lane_index(wg: vec3<u32>, nwg: vec3<u32>, li: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * 256u + li;
}

@group(0) @binding(0) var<storage, read_write> rf_x: array<V>;
@group(0) @binding(1) var<storage, read_write> rf_y: array<V>;

@compute @workgroup_size(256)
fn relu_fwd(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
  let i = lane_index(wg, nwg, li);
  if (i >= NL) { return; }
  rf_y[i] = max(rf_x[i], V(0.0));
}

@group(0) @binding(0) var<storage, read_write> rb_y: array<V>;
@group(0) @binding(1) var<storage, read_write> rb_dy: array<V>;
@group(0) @binding(2) var<storage, read_write> rb_dx: array<V>;

@compute @workgroup_size(256)
fn relu_bwd(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
  let i = lane_index(wg, nwg, li);
  if (i >= NL) { return; }
  rb_dx[i] = select(V(0.0), rb_dy[i], rb_y[i] > V(0.0));
}

@group(0) @binding(0) var<storage, read_write> af_a: array<V>;
@group(0) @binding(1) var<storage, read_write> af_b: array<V>;
@group(0) @binding(2) var<storage, read_write> af_y: array<V>;

@compute @workgroup_size(256)
fn add_fwd(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
  let i = lane_index(wg, nwg, li);
  if (i >= NL) { return; }
  af_y[i] = af_a[i] + af_b[i];
}

@group(0) @binding(0) var<storage, read_write> ab_dy: array<V>;
@group(0) @binding(1) var<storage, read_write> ab_da: array<V>;
@group(0) @binding(2) var<storage, read_write> ab_db: array<V>;

@compute @workgroup_size(256)
fn add_bwd(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
  let i = lane_index(wg, nwg, li);
  if (i >= NL) { return; }
  let g = ab_dy[i];
  ab_da[i] = g;
  ab_db[i] = g;
}
