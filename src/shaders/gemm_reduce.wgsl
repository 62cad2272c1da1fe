// Deterministic split-K reduce: out[i] = ALPHA · Σ_{s<SPLITS} partial[s][i] + BETA · out[i],
// always summed in the same order (WGSL has no float atomics; a fixed order gives the same
// bits every run). The host prepends the output's element type (src/gpu/gemm.ts reduceSource):
// `alias OUT = f32;`, or `enable f16; alias OUT = f16;` for the f16 path's convolution forward,
// whose f32 partials are summed in f32 and rounded once at the store.
override SIZE: u32;
override SPLITS: u32;
override ALPHA: f32 = 1.0;
override BETA: f32 = 0.0;

@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<OUT>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= SIZE) { return; }
  var s = 0.0;
  for (var p = 0u; p < SPLITS; p++) { s += partial[p * SIZE + i]; }
  var r = ALPHA * s;
  if (BETA != 0.0) { r += BETA * f32(out[i]); }
  out[i] = OUT(r);
}
