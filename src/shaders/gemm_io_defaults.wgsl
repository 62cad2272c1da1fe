// Generic versions of the GEMM core's operand functions, one per "@default NAME" section;
// src/gpu/gemm.ts (gemmSource) adds each section whose function the io file does not define
// itself. They are correct for any io but read one element at a time, so an io whose operand is
// contiguous along the other axis defines its own (and the host sets A_COLS / B_COLS).

// @default load_a4_col
fn load_a4_col(m: u32, k: u32) -> vec4<f32> {
  return vec4<f32>(load_a4(m, k).x, load_a4(m + 1u, k).x, load_a4(m + 2u, k).x, load_a4(m + 3u, k).x);
}

// @default load_b4_col
fn load_b4_col(k: u32, n: u32) -> vec4<f32> {
  return vec4<f32>(load_b4(k, n).x, load_b4(k + 1u, n).x, load_b4(k + 2u, n).x, load_b4(k + 3u, n).x);
}

// @default tile_stats
fn tile_stats(m0: u32, n0: u32, ly: u32, lx: u32, li: u32, wy: u32, a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32>) {}

// @default k_range
fn k_range(z: u32) -> vec2<u32> {
  return split_k_range(z);
}
