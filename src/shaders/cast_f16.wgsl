// The f16 path's weight copy: dst = f16(src) for a list of tensors in one dispatch, each a run of
// whole vec4s (table entry: source and destination offsets and length, in vec4 units).
// Workgroup row wg.y copies tensor wg.y; its threads stride over the tensor by the grid's width,
// so the grid is ⌈longest / 256⌉ (capped by the host) × tensors. Rounding to nearest (WGSL f16()).
enable f16;

struct Entry {
  src: u32,
  dst: u32,
  len: u32,
  pad: u32,
}

@group(0) @binding(0) var<storage, read> table: array<Entry>;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f16>>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = table[wg.y];
  for (var i = gid.x; i < e.len; i += nwg.x * 256u) {
    dst[e.dst + i] = vec4<f16>(src[e.src + i]);
  }
}
