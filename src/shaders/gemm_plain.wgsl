// Operand access for a plain row-major GEMM, prepended to gemm_core.wgsl:
//   C = alpha · op(A) · op(B) + beta · C (+ bias[n] when HAS_BIAS)
// op(A) is M×K: A stored M×K (row stride lda), or K×M when TRANS_A. Likewise op(B) is K×N.
// Split-K (k_chunk < K) writes partial products to c[split][M][N] for gemm_reduce.wgsl.
//
// The sizes, strides and scalars are a uniform (`dims`), not pipeline constants: a network's
// plain GEMMs differ mostly in size, and CPU emulators spend ~0.1–0.3 s compiling each pipeline,
// so one pipeline per (flags, thread layout) serves them all (docs/results-cpu.md §2). What
// changes the code stays an override: the transposes, bias, whether C is read (beta ≠ 0), split-K,
// and whether M, N, K are multiples of 4 (then the per-element tail paths fold away).
//
// The host (src/gpu/gemm.ts) prepends the declarations of binding 0 `a`, 1 `b` (read) and 2 `c`
// (read_write: C, or the split-K partial) with src/gpu/storage-view.ts: accessors NAME_ld(i),
// NAME_ld4(i) (i % 4 == 0), NAME_st, NAME_st4, over array<vec4<f32>> when the row stride (lda, ldb,
// N) is a multiple of 4, else over array<f32>. The core asks for four values along the operand's
// contiguous axis at k, m or n divisible by 4, so with a vec4 array that is one 16-byte load.

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override READ_C: bool = false;   // beta ≠ 0
override HAS_BIAS: bool = false;
override SPLIT_K: bool = false;
override M4: bool = false;       // M % 4 == 0
override N4: bool = false;       // N % 4 == 0
override K4: bool = false;       // K % 4 == 0

struct PlainDims {
  m: u32,
  n: u32,
  k: u32,
  lda: u32,
  ldb: u32,
  ldc: u32,
  k_chunk: u32,
  alpha: f32,
  beta: f32,
}

// Always bound (a 4-byte dummy when HAS_BIAS is false) so every variant has one layout.
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<uniform> dims: PlainDims;

/** Split z of K in chunks of k_chunk (the core's k_range hook). */
fn k_range(z: u32) -> vec2<u32> {
  let begin = z * dims.k_chunk;
  return vec2<u32>(begin, min(dims.k, begin + dims.k_chunk));
}

fn a_at(m: u32, k: u32) -> f32 {
  if (TRANS_A) { return a_ld(k * dims.lda + m); }
  return a_ld(m * dims.lda + k);
}

fn b_at(k: u32, n: u32) -> f32 {
  if (TRANS_B) { return b_ld(n * dims.ldb + k); }
  return b_ld(k * dims.ldb + n);
}

// Whether the run of four at i (i % 4 == 0) along an axis of length L lies inside it. When L % 4 == 0
// (L4: every layer of the networks) this is i < L, and the per-element tail paths below fold
// away: CPU emulators compile each pipeline at its first dispatch, and the tails inlined into the
// core's 4×4 block made every GEMM pipeline about twice as large to compile.
fn whole4(i: u32, L: u32, L4: bool) -> bool {
  return L4 || i + 3u < L;
}

fn load_a4(m: u32, k: u32) -> vec4<f32> {
  if (m >= dims.m || k >= dims.k) { return vec4<f32>(0.0); }
  if (whole4(k, dims.k, K4)) {
    if (!TRANS_A) { return a_ld4(m * dims.lda + k); }
    return vec4<f32>(a_at(m, k), a_at(m, k + 1u), a_at(m, k + 2u), a_at(m, k + 3u));
  }
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) { if (k + j < dims.k) { v[j] = a_at(m, k + j); } }
  return v;
}

fn load_b4(k: u32, n: u32) -> vec4<f32> {
  if (k >= dims.k || n >= dims.n) { return vec4<f32>(0.0); }
  if (whole4(n, dims.n, N4)) {
    if (!TRANS_B) { return b_ld4(k * dims.ldb + n); }
    return vec4<f32>(b_at(k, n), b_at(k, n + 1u), b_at(k, n + 2u), b_at(k, n + 3u));
  }
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) { if (n + j < dims.n) { v[j] = b_at(k, n + j); } }
  return v;
}

// Four along the other axis: contiguous in memory when the operand is stored transposed, so the
// host sets A_COLS = TRANS_A and B_COLS = TRANS_B.
fn load_a4_col(m: u32, k: u32) -> vec4<f32> {
  if (k >= dims.k || m >= dims.m) { return vec4<f32>(0.0); }
  if (whole4(m, dims.m, M4)) {
    if (TRANS_A) { return a_ld4(k * dims.lda + m); }
    return vec4<f32>(a_at(m, k), a_at(m + 1u, k), a_at(m + 2u, k), a_at(m + 3u, k));
  }
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) { if (m + j < dims.m) { v[j] = a_at(m + j, k); } }
  return v;
}

fn load_b4_col(k: u32, n: u32) -> vec4<f32> {
  if (n >= dims.n || k >= dims.k) { return vec4<f32>(0.0); }
  if (whole4(k, dims.k, K4)) {
    if (TRANS_B) { return b_ld4(n * dims.ldb + k); }
    return vec4<f32>(b_at(k, n), b_at(k + 1u, n), b_at(k + 2u, n), b_at(k + 3u, n));
  }
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) { if (k + j < dims.k) { v[j] = b_at(k + j, n); } }
  return v;
}

fn store_c4(m: u32, n: u32, acc: vec4<f32>, split: u32) {
  if (m >= dims.m || n >= dims.n) { return; }
  if (SPLIT_K) {
    let base = (split * dims.m + m) * dims.n + n;
    if (whole4(n, dims.n, N4)) { c_st4(base, acc); return; }
    for (var j = 0u; j < 4u; j++) { if (n + j < dims.n) { c_st(base + j, acc[j]); } }
    return;
  }
  let base = m * dims.ldc + n;
  if (whole4(n, dims.n, N4)) {
    var r = dims.alpha * acc;
    if (HAS_BIAS) { r += vec4<f32>(bias[n], bias[n + 1u], bias[n + 2u], bias[n + 3u]); }
    if (READ_C) { r += dims.beta * c_ld4(base); }
    c_st4(base, r);
    return;
  }
  for (var j = 0u; j < 4u; j++) {
    let col = n + j;
    if (col < dims.n) {
      var r = dims.alpha * acc[j];
      if (HAS_BIAS) { r += bias[col]; }
      if (READ_C) { r += dims.beta * c_ld(base + j); }
      c_st(base + j, r);
    }
  }
}
