// Operand access for a plain row-major GEMM, prepended to gemm_core.wgsl:
//   C = ALPHA · op(A) · op(B) + BETA · C (+ bias[n] when HAS_BIAS)
// op(A) is M×K: A stored M×K (row stride LDA), or K×M when TRANS_A. Likewise op(B) is K×N.
// Shapes are pipeline constants, so full-tile bounds checks fold away when shapes divide.
// Split-K (K_CHUNK < K) writes partial products to c[split][M][N] for gemm_reduce.wgsl.

override LDA: u32;
override LDB: u32;
override LDC: u32;
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override ALPHA: f32 = 1.0;
override BETA: f32 = 0.0;
override HAS_BIAS: bool = false;
override SPLIT_K: bool = false;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
// Always bound (a 4-byte dummy when HAS_BIAS is false) so every variant has one layout.
@group(0) @binding(3) var<storage, read> bias: array<f32>;

fn a_at(m: u32, k: u32) -> f32 {
  if (TRANS_A) { return a[k * LDA + m]; }
  return a[m * LDA + k];
}

fn b_at(k: u32, n: u32) -> f32 {
  if (TRANS_B) { return b[n * LDB + k]; }
  return b[k * LDB + n];
}

fn load_a4(m: u32, k: u32) -> vec4<f32> {
  if (m >= M) { return vec4<f32>(0.0); }
  if (k + 3u < K) { return vec4<f32>(a_at(m, k), a_at(m, k + 1u), a_at(m, k + 2u), a_at(m, k + 3u)); }
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) { if (k + j < K) { v[j] = a_at(m, k + j); } }
  return v;
}

fn load_b4(k: u32, n: u32) -> vec4<f32> {
  if (k >= K) { return vec4<f32>(0.0); }
  if (n + 3u < N) { return vec4<f32>(b_at(k, n), b_at(k, n + 1u), b_at(k, n + 2u), b_at(k, n + 3u)); }
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) { if (n + j < N) { v[j] = b_at(k, n + j); } }
  return v;
}

// Four along the other axis: contiguous in memory when the operand is stored transposed, so the
// host sets A_COLS = TRANS_A and B_COLS = TRANS_B.
fn load_a4_col(m: u32, k: u32) -> vec4<f32> {
  if (k >= K) { return vec4<f32>(0.0); }
  if (m + 3u < M) { return vec4<f32>(a_at(m, k), a_at(m + 1u, k), a_at(m + 2u, k), a_at(m + 3u, k)); }
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) { if (m + j < M) { v[j] = a_at(m + j, k); } }
  return v;
}

fn load_b4_col(k: u32, n: u32) -> vec4<f32> {
  if (n >= N) { return vec4<f32>(0.0); }
  if (k + 3u < K) { return vec4<f32>(b_at(k, n), b_at(k + 1u, n), b_at(k + 2u, n), b_at(k + 3u, n)); }
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) { if (k + j < K) { v[j] = b_at(k + j, n); } }
  return v;
}

fn store_c4(m: u32, n: u32, acc: vec4<f32>, split: u32) {
  if (m >= M) { return; }
  for (var j = 0u; j < 4u; j++) {
    let col = n + j;
    if (col < N) {
      if (SPLIT_K) {
        c[(split * M + m) * N + col] = acc[j];
      } else {
        var r = ALPHA * acc[j];
        if (HAS_BIAS) { r += bias[col]; }
        if (BETA != 0.0) { r += BETA * c[m * LDC + col]; }
        c[m * LDC + col] = r;
      }
    }
  }
}
