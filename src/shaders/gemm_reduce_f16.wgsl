// Deterministic split-K reduce into f16 storage (the f16 path's convolution forward, whose
// output activation is f16): out[i] = f16(ALPHA · Σ_{s<SPLITS} partial[s][i]), the partial
// products f32 and summed in f32 in the same fixed order as gemm_reduce.wgsl, rounded once at
// the store. Assigned only (no BETA: the forward assigns its output).
enable f16;

override SIZE: u32;
override SPLITS: u32;
override ALPHA: f32 = 1.0;

@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f16>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= SIZE) { return; }
  var s = 0.0;
  for (var p = 0u; p < SPLITS; p++) { s += partial[p * SIZE + i]; }
  out[i] = f16(ALPHA * s);
}
