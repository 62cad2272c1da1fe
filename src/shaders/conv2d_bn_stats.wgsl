// A convolution forward's epilogue that also gathers the batch-norm statistics of its output (issue 15, fused
// convolutions): appended after conv2d_forward.wgsl for the 'tiled' core with EPILOGUE_STATS, so the batch norm reads
// a few partial statistics per channel instead of the whole output again (src/nn/batchnorm.ts statsFromProducer).
//
// Each workgroup owns rows m0 .. m0 + 4·TY of the output (GROUP_ROWS = 4·TY; the last group may be short) and columns
// n0 .. n0 + 4·TX. For each of its columns it writes the group's pivot P (its first row's value) and the sums shifted by it:
//   stats[(3·g) · COUT + co] = P,  stats[(3·g + 1) · COUT + co] = Σ (y − P),  stats[(3·g + 2) · COUT + co] = Σ (y − P)²
// with g = workgroup_id.y: the same shifted sums as batchnorm.wgsl's stats_partial (whose pivot, row 0, is group 0's), so
// a large common offset does not cancel the variance away. The batch norm moves each group's sums to one pivot exactly
// (stats_groups). Thread row 0 shares the pivots through tileB, every thread sums its own ≤ 4 rows, then thread row 0
// adds the TY threads' sums in order through the staged tiles, free once the K loop is over: Σ in tileA (16·TY vec4:
// TX·TY fit when TX ≤ 16), Σ² in tileB (16·TX vec4: when TY ≤ 16) or else after them in tileA (when TX ≤ 8); the host
// uses it only then (src/nn/conv2d.ts bnStatsGroups). Fixed order: the same input gives the same bits.
//
// The host prepends `stats` (read_write array<f32>, GROUPS × 3 × COUT) at the binding after the io's, and
// stored4(v): v as y holds it (rounded to f16 on the f16 path, else v itself; src/nn/conv2d.ts).

/** Rows of the output from row m on that one thread's 4-row block holds (0 to 4). */
fn rows_from(m: u32) -> u32 {
  return min(4u, M - min(m, M));
}

fn tile_stats(m0: u32, n0: u32, ly: u32, lx: u32, li: u32, wy: u32, c0: vec4<f32>, c1: vec4<f32>, c2: vec4<f32>, c3: vec4<f32>) {
  let a0 = stored4(c0);
  let a1 = stored4(c1);
  let a2 = stored4(c2);
  let a3 = stored4(c3);
  // The pivot: row m0 (inside the output: the workgroup exists because it is).
  if (ly == 0u) { tileB[lx] = a0; }
  workgroupBarrier();
  let p = tileB[lx];
  // This thread's rows (outside the output the core's rows hold zeros: left out).
  let rows = rows_from(m0 + 4u * ly);
  var s1 = vec4<f32>(0.0);
  var s2 = vec4<f32>(0.0);
  if (rows > 0u) { let d = a0 - p; s1 = d; s2 = d * d; }
  if (rows > 1u) { let d = a1 - p; s1 += d; s2 = fma(d, d, s2); }
  if (rows > 2u) { let d = a2 - p; s1 += d; s2 = fma(d, d, s2); }
  if (rows > 3u) { let d = a3 - p; s1 += d; s2 = fma(d, d, s2); }
  workgroupBarrier();   // every thread has read its pivot from tileB
  tileA[li] = s1;
  if (TY <= 16u) { tileB[li] = s2; } else { tileA[TX * TY + li] = s2; }
  workgroupBarrier();
  if (ly != 0u) { return; }
  var t1 = vec4<f32>(0.0);
  var t2 = vec4<f32>(0.0);
  for (var k = 0u; k < TY; k++) {
    t1 += tileA[k * TX + lx];
    if (TY <= 16u) { t2 += tileB[k * TX + lx]; } else { t2 += tileA[TX * TY + k * TX + lx]; }
  }
  let col = n0 + 4u * lx;
  let base = 3u * wy * COUT;
  for (var j = 0u; j < 4u; j++) {
    if (col + j < N) {
      stats[base + col + j] = p[j];
      stats[base + COUT + col + j] = t1[j];
      stats[base + 2u * COUT + col + j] = t2[j];
    }
  }
}
