// Operand access for a plain row-major GEMM, prepended to gemm_core.wgsl:
//   C = ALPHA · op(A) · op(B) + BETA · C (+ bias[n] when HAS_BIAS)
// op(A) is M×K: A stored M×K (row stride LDA), or K×M when TRANS_A. Likewise op(B) is K×N.
// Shapes are pipeline constants, so full-tile bounds checks fold away when shapes divide.
// Split-K (K_CHUNK < K) writes partial products to c[split][M][N] for gemm_reduce.wgsl.
//
// The host (src/gpu/gemm.ts) prepends the declarations of binding 0 `a`, 1 `b` (read) and 2 `c`
// (read_write: C, or the split-K partial) with src/gpu/storage-view.ts: accessors NAME_ld(i),
// NAME_ld4(i) (i % 4 == 0), NAME_st, NAME_st4, over array<vec4<f32>> when the row stride (LDA, LDB,
// N) is a multiple of 4, else over array<f32>. The core asks for four values along the operand's
// contiguous axis at k, m or n divisible by 4, so with a vec4 array that is one 16-byte load.

override LDA: u32;
override LDB: u32;
override LDC: u32;
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override ALPHA: f32 = 1.0;
override BETA: f32 = 0.0;
override HAS_BIAS: bool = false;
override SPLIT_K: bool = false;

// Always bound (a 4-byte dummy when HAS_BIAS is false) so every variant has one layout.
@group(0) @binding(3) var<storage, read> bias: array<f32>;

fn a_at(m: u32, k: u32) -> f32 {
  if (TRANS_A) { return a_ld(k * LDA + m); }
  return a_ld(m * LDA + k);
}

fn b_at(k: u32, n: u32) -> f32 {
  if (TRANS_B) { return b_ld(n * LDB + k); }
  return b_ld(k * LDB + n);
}

// Whether the run of four at i (i % 4 == 0) along an axis of length L lies inside it. When L % 4 == 0
// (every layer of the networks) this is i < L, known from the constants, and the per-element tail
// paths below fold away: CPU emulators compile each pipeline at its first dispatch, and the tails
// inlined into the core's 4×4 block made every GEMM pipeline about twice as large to compile.
fn whole4(i: u32, L: u32) -> bool {
  return L % 4u == 0u || i + 3u < L;
}

fn load_a4(m: u32, k: u32) -> vec4<f32> {
  if (m >= M || k >= K) { return vec4<f32>(0.0); }
  if (whole4(k, K)) {
    if (!TRANS_A) { return a_ld4(m * LDA + k); }
    return vec4<f32>(a_at(m, k), a_at(m, k + 1u), a_at(m, k + 2u), a_at(m, k + 3u));
  }
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) { if (k + j < K) { v[j] = a_at(m, k + j); } }
  return v;
}

fn load_b4(k: u32, n: u32) -> vec4<f32> {
  if (k >= K || n >= N) { return vec4<f32>(0.0); }
  if (whole4(n, N)) {
    if (!TRANS_B) { return b_ld4(k * LDB + n); }
    return vec4<f32>(b_at(k, n), b_at(k, n + 1u), b_at(k, n + 2u), b_at(k, n + 3u));
  }
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) { if (n + j < N) { v[j] = b_at(k, n + j); } }
  return v;
}

// Four along the other axis: contiguous in memory when the operand is stored transposed, so the
// host sets A_COLS = TRANS_A and B_COLS = TRANS_B.
fn load_a4_col(m: u32, k: u32) -> vec4<f32> {
  if (k >= K || m >= M) { return vec4<f32>(0.0); }
  if (whole4(m, M)) {
    if (TRANS_A) { return a_ld4(k * LDA + m); }
    return vec4<f32>(a_at(m, k), a_at(m + 1u, k), a_at(m + 2u, k), a_at(m + 3u, k));
  }
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) { if (m + j < M) { v[j] = a_at(m + j, k); } }
  return v;
}

fn load_b4_col(k: u32, n: u32) -> vec4<f32> {
  if (n >= N || k >= K) { return vec4<f32>(0.0); }
  if (whole4(k, K)) {
    if (TRANS_B) { return b_ld4(n * LDB + k); }
    return vec4<f32>(b_at(k, n), b_at(k + 1u, n), b_at(k + 2u, n), b_at(k + 3u, n));
  }
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) { if (k + j < K) { v[j] = b_at(k + j, n); } }
  return v;
}

fn store_c4(m: u32, n: u32, acc: vec4<f32>, split: u32) {
  if (m >= M || n >= N) { return; }
  if (SPLIT_K) {
    let base = (split * M + m) * N + n;
    if (whole4(n, N)) { c_st4(base, acc); return; }
    for (var j = 0u; j < 4u; j++) { if (n + j < N) { c_st(base + j, acc[j]); } }
    return;
  }
  let base = m * LDC + n;
  if (whole4(n, N)) {
    var r = ALPHA * acc;
    if (HAS_BIAS) { r += vec4<f32>(bias[n], bias[n + 1u], bias[n + 2u], bias[n + 3u]); }
    if (BETA != 0.0) { r += BETA * c_ld4(base); }
    c_st4(base, r);
    return;
  }
  for (var j = 0u; j < 4u; j++) {
    let col = n + j;
    if (col < N) {
      var r = ALPHA * acc[j];
      if (HAS_BIAS) { r += bias[col]; }
      if (BETA != 0.0) { r += BETA * c_ld(base + j); }
      c_st(base + j, r);
    }
  }
}
