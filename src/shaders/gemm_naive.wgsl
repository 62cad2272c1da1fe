// The naive GEMM, one thread per output element with a serial loop over K: the baseline the
// benchmark compares the tiled kernels against. Row-major, no transposes.
override M: u32;
override N: u32;
override K: u32;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.x;
  let m = gid.y;
  if (m >= M || n >= N) { return; }
  var s = 0.0;
  for (var k = 0u; k < K; k++) { s = fma(a[m * K + k], b[k * N + n], s); }
  c[m * N + n] = s;
}
