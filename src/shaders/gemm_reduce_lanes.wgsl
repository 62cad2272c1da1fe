// Deterministic split-K reduce for many splits of a small output: out[i] = ALPHA · Σ_s partial[s][i]
// + BETA · out[i], like gemm_reduce.wgsl, but each output is summed by RLANES threads instead of one.
// gemm_reduce.wgsl gives each of the SIZE outputs one thread that walks all SPLITS slabs in turn:
// a weight gradient of a few thousand elements split 100–256 ways (the stem, the 1×1
// projections) is then a few workgroups, on a few of a GPU's SMs, each thread a chain of 100–256
// loads. Here thread (o, l) of a workgroup sums slabs l, l + RLANES, l + 2·RLANES, … of output
// i = group·OUTS + o in that order, and the RLANES sums meet in a fixed tree in workgroup memory
// (lanes [h, 2h) into [0, h)): the same order every run, so the same bits.
// OUTS · RLANES = 256 threads; the OUTS threads of one lane read consecutive outputs of a slab.
// The host (src/nn/conv2d.ts, reduceLanes) picks RLANES ≤ 32 so that each lane sums ≥ 8 slabs.
override SIZE: u32;
override SPLITS: u32;
override ALPHA: f32 = 1.0;
override BETA: f32 = 0.0;
override RLANES: u32 = 8u;
override OUTS: u32 = 256u / RLANES;

@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

var<workgroup> laneSum: array<f32, 256>;

@compute @workgroup_size(OUTS, RLANES, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wg.x + wg.y * nwg.x) * OUTS + lid.x;
  var s = 0.0;
  if (i < SIZE) {
    for (var p = lid.y; p < SPLITS; p += RLANES) { s += partial[p * SIZE + i]; }
  }
  // Every thread reaches every barrier: the tree's bounds are pipeline constants.
  for (var half = RLANES / 2u; half > 0u; half /= 2u) {
    if (lid.y >= half && lid.y < 2u * half) { laneSum[(lid.y - half) * OUTS + lid.x] = s; }
    workgroupBarrier();
    if (lid.y < half) { s += laneSum[lid.y * OUTS + lid.x]; }
    workgroupBarrier();
  }
  if (lid.y == 0u && i < SIZE) {
    var r = ALPHA * s;
    if (BETA != 0.0) { r += BETA * out[i]; }
    out[i] = r;
  }
}
