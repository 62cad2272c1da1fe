// GEMM core, K-lanes entry: for a product whose output is too small to give a GPU's workgroups
// full tiles, but whose reduction is long — the weight gradients of the stem (36×Cout over
// B·32·32 pixels) and of the 1×1 projections (Cin×Cout over B·Ho·Wo). The host appends this
// file after gemm_core.wgsl (src/nn/conv2d.ts) and uses its loads, stores, k_range, a_rows and
// b_rows; the io is the same as for the other entries.
//
// The workgroup is TX×TY×LANES threads: the TX×TY threads of a thread layout (gemmTile) each own
// a 4×4 block of C, as in gemm_direct, and LANES copies of that layout share the workgroup's
// K-range [k_range(z)): lane l takes the 4-wide K-steps l, l + LANES, l + 2·LANES, … and
// accumulates its own 4×4 block. Then the lanes' blocks are summed in workgroup memory by a
// fixed tree (lanes [h, 2h) into [0, h), h = LANES/2, …, 1) and lane 0 stores the sum: the same
// order every run, so the same bits (WGSL has no float atomics), and across workgroups the
// split-K partials go to the fixed-order reduce as before.
//
// Why not the tiled entry: with a tall narrow layout (the stem's 36×64 weight gradient gets 16×2
// threads) a workgroup is a single warp, so the 1024 workgroups the split-K rule aims for put
// about 8 warps on each SM — too few to hide the K-loop's load latency (the loop is
// latency-bound, docs/results-h100.md) — and every warp walks its whole K-chunk alone. With
// lanes each workgroup has 256 threads and each thread walks 1/LANES of the chunk.
// Operands are read straight from global memory (caches do the reuse, as in gemm_direct): the
// lanes of a workgroup read different pixels, so a staged tile would be shared by one lane only.

override LANES: u32 = 1u;
// The upper half of the lanes' 4×4 blocks at the first tree step: (LANES/2)·TX·TY blocks of 4 vec4.
override LANE_SUM_VEC4S: u32 = max(1u, LANES / 2u) * TX * TY * 4u;
var<workgroup> laneSum: array<vec4<f32>, LANE_SUM_VEC4S>;

@compute @workgroup_size(TX, TY, LANES)
fn gemm_lanes(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let m = (wg.y * TY + lid.y) * 4u;
  let n = (wg.x * TX + lid.x) * 4u;
  let kr = k_range(wg.z);
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  // k_range's bounds are multiples of 16 (or K), so a 4-wide step never crosses into the next split.
  for (var k = kr.x + 4u * lid.z; k < kr.y; k += 4u * LANES) {
    let b = b_rows(k, n);
    var a = mat4x4<f32>();
    if (A_COLS) { a = a_rows(m, k); }   // column r = A[m + r, k..k+3]
    // Row r of the block: acc_r += Σ_j A[m + r, k + j] · B[k + j, n..n+3].
    var ar: vec4<f32>;
    if (A_COLS) { ar = a[0]; } else { ar = load_a4(m, k); }
    acc0 = fma(b[3], vec4<f32>(ar.w), fma(b[2], vec4<f32>(ar.z), fma(b[1], vec4<f32>(ar.y), fma(b[0], vec4<f32>(ar.x), acc0))));
    if (A_COLS) { ar = a[1]; } else { ar = load_a4(m + 1u, k); }
    acc1 = fma(b[3], vec4<f32>(ar.w), fma(b[2], vec4<f32>(ar.z), fma(b[1], vec4<f32>(ar.y), fma(b[0], vec4<f32>(ar.x), acc1))));
    if (A_COLS) { ar = a[2]; } else { ar = load_a4(m + 2u, k); }
    acc2 = fma(b[3], vec4<f32>(ar.w), fma(b[2], vec4<f32>(ar.z), fma(b[1], vec4<f32>(ar.y), fma(b[0], vec4<f32>(ar.x), acc2))));
    if (A_COLS) { ar = a[3]; } else { ar = load_a4(m + 3u, k); }
    acc3 = fma(b[3], vec4<f32>(ar.w), fma(b[2], vec4<f32>(ar.z), fma(b[1], vec4<f32>(ar.y), fma(b[0], vec4<f32>(ar.x), acc3))));
  }
  // The fixed tree over the lanes. `half` is uniform (LANES is a pipeline constant), so every
  // thread reaches every barrier.
  let block = (lid.y * TX + lid.x) * 4u;
  for (var half = LANES / 2u; half > 0u; half /= 2u) {
    if (lid.z >= half && lid.z < 2u * half) {
      let at = (lid.z - half) * TX * TY * 4u + block;
      laneSum[at] = acc0;
      laneSum[at + 1u] = acc1;
      laneSum[at + 2u] = acc2;
      laneSum[at + 3u] = acc3;
    }
    workgroupBarrier();
    if (lid.z < half) {
      let at = lid.z * TX * TY * 4u + block;
      acc0 += laneSum[at];
      acc1 += laneSum[at + 1u];
      acc2 += laneSum[at + 2u];
      acc3 += laneSum[at + 3u];
    }
    workgroupBarrier();
  }
  if (lid.z == 0u) {
    store_c4(m, n, acc0, wg.z);
    store_c4(m + 1u, n, acc1, wg.z);
    store_c4(m + 2u, n, acc2, wg.z);
    store_c4(m + 3u, n, acc3, wg.z);
  }
}
