// Operand access for MVEB's Gram matrices on the GEMM core (prepended to gemm_core.wgsl by
// gemmSource; host src/mira/mveb.ts):  A_s = Z_s Z_sᵀ  for every Stein system s at once.
//   z: 2·BATCH × K unit rows (view 1's batch, then view 2's); system s = v·CHUNKS + c holds rows
//      [v·BATCH + c·ROWS, +ROWS) of z.
//   gram: SYSTEMS × M × N (M = N = the padded size NP ≥ ROWS); rows and columns ≥ ROWS are 0.
// workgroup_id.z is the system: k_range (called by the core before any load) keeps it and the
// system's first row in private variables; no split-K. B = Zᵀ is contiguous along K, so the
// host sets B_COLS and load_b4_col reads four consecutive features of one row.
// Storage buffers are read_write (see elementwise.wgsl).

override ROWS: u32;
override BATCH: u32;
override CHUNKS: u32;

@group(0) @binding(0) var<storage, read_write> gz: array<f32>;
@group(0) @binding(1) var<storage, read_write> gram: array<f32>;

var<private> g_sys: u32;
var<private> g_row0: u32;

fn k_range(z: u32) -> vec2<u32> {
  g_sys = z;
  let v = z / CHUNKS;
  g_row0 = v * BATCH + (z - v * CHUNKS) * ROWS;
  return vec2<u32>(0u, K);
}

/** Features k..k+3 of row m of this system (zeros past ROWS and K). */
fn row4(m: u32, k: u32) -> vec4<f32> {
  if (m >= ROWS) { return vec4<f32>(0.0); }
  let o = (g_row0 + m) * K;
  if (k + 3u < K) { return vec4<f32>(gz[o + k], gz[o + k + 1u], gz[o + k + 2u], gz[o + k + 3u]); }
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) { if (k + j < K) { v[j] = gz[o + k + j]; } }
  return v;
}

fn load_a4(m: u32, k: u32) -> vec4<f32> {
  return row4(m, k);
}

// B[k][n] = Z[n][k].
fn load_b4(k: u32, n: u32) -> vec4<f32> {
  return vec4<f32>(row4(n, k).x, row4(n + 1u, k).x, row4(n + 2u, k).x, row4(n + 3u, k).x);
}

fn load_b4_col(k: u32, n: u32) -> vec4<f32> {
  return row4(n, k);
}

fn store_c4(m: u32, n: u32, acc: vec4<f32>, split: u32) {
  if (m >= M) { return; }
  for (var j = 0u; j < 4u; j++) {
    if (n + j < N) { gram[(g_sys * M + m) * N + n + j] = acc[j]; }
  }
}
