// batchnorm.wgsl's stats_groups entry point: the training statistics from the partial statistics the producing
// convolution gathered (src/nn/batchnorm.ts statsFromProducer). src/nn/batchnorm.ts appends this file to
// batchnorm.wgsl only for such a layer: module size is build time on the CPU emulators (docs/ARCHITECTURE.md, Kernels),
// and on them no layer gathers statistics.
//
// The convolution that wrote x gathered, per channel and GROUP_ROWS-row group, the group's pivot P_g (its first row) and
// its sums shifted by it as it stored it (conv2d_bn_stats.wgsl): groups[(3g)·CL + c] = P_g, [(3g + 1)·CL + c] = Σ (x − P_g),
// [(3g + 2)·CL + c] = Σ (x − P_g)²; GROUPS groups, the last one maybe short. Group 0's pivot is row 0, stats_partial's
// pivot p; with e = P_g − p each block of GPB groups gives the sums stats_partial would:
//   Σ (x − p) = S1_g + n_g·e,   Σ (x − p)² = S2_g + 2e·S1_g + n_g·e²
// so stats_final is unchanged. The grid covers all NB blocks; those past the last group write zeros.
override GROUP_ROWS: u32 = 1u;
override GROUPS: u32 = 1u;
override GPB: u32 = 1u;   // groups per block, ⌈GROUPS / NB⌉

@group(0) @binding(0) var<storage, read_write> sg_groups: array<V>;
@group(0) @binding(1) var<storage, read_write> sg_work: array<V>;

@compute @workgroup_size(TX, TY)
fn stats_groups(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                @builtin(local_invocation_index) li: u32) {
  let c = wg.x * TX + lid.x;
  let g0 = wg.y * GPB;
  let g1 = min(GROUPS, g0 + GPB);
  var s1 = V(0.0);
  var s2 = V(0.0);
  if (c < CL) {
    let p = sg_groups[c];
    for (var g = g0 + lid.y; g < g1; g += TY) {
      let n = V(f32(min(GROUP_ROWS, R - g * GROUP_ROWS)));
      let e = sg_groups[3u * g * CL + c] - p;
      let g1s = sg_groups[(3u * g + 1u) * CL + c];
      s1 += fma(n, e, g1s);
      s2 += fma(n * e, e, fma(2.0 * e, g1s, sg_groups[(3u * g + 2u) * CL + c]));
    }
    if (wg.y == 0u && lid.y == 0u) { sg_work[c] = p; }
  }
  let t = block_sums(s1, s2, li, lid.x);
  if (lid.y == 0u && c < CL) {
    sg_work[(OFF_S1 + wg.y) * CL + c] = t[0];
    sg_work[(off_s2() + wg.y) * CL + c] = t[1];
  }
}

