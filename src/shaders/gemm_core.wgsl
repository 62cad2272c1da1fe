// GEMM core: C[M×N] = A[M×K] · B[K×N], one 4×4 register tile of C per thread.
//
// This file holds only the loops. The operands are reached through three functions that an
// "io" file prepended to it provides (gemm_plain.wgsl for matrices; the conv kernels for
// implicit GEMM over images):
//   fn load_a4(m: u32, k: u32) -> vec4<f32>   // A[m, k..k+3], zeros outside M×K
//   fn load_b4(k: u32, n: u32) -> vec4<f32>   // B[k, n..n+3], zeros outside K×N
//   fn store_c4(m: u32, n: u32, acc: vec4<f32>, split: u32)  // C[m, n..n+3], split-K index
//
// Two variants, chosen per adapter when the pipeline is created:
//   gemm_tiled  — real GPUs: 16×16 threads, 64×64 block tile staged through workgroup memory
//                 in K-steps of 16, vec4 reads of the staged tiles, fma into 4 vec4 registers.
//   gemm_direct — CPU emulators (SwiftShader, lavapipe), where workgroup barriers are costly:
//                 8×8 threads, 32×32 block tile, each thread streams its own rows of A and
//                 columns of B from global memory (caches do the reuse).
// Split-K: workgroup_id.z selects the K-range [z·K_CHUNK, (z+1)·K_CHUNK) and store_c4 gets z,
// so a deterministic reduce can sum the partial products in a fixed order afterwards.

override M: u32;
override N: u32;
override K: u32;
// K-range per split; a multiple of 16 (the tiled K-step). K_CHUNK >= K means no split.
override K_CHUNK: u32 = 1u << 30u;

const TILE_M: u32 = 64u;
const TILE_N: u32 = 64u;
const TILE_K: u32 = 16u;

// Staged tiles, K-major: tileA[k * 16 + i] holds A rows 4i..4i+3 at column k of the tile.
var<workgroup> tileA: array<vec4<f32>, 256>;
var<workgroup> tileB: array<vec4<f32>, 256>;

@compute @workgroup_size(16, 16, 1)
fn gemm_tiled(@builtin(workgroup_id) wg: vec3<u32>,
              @builtin(local_invocation_id) lid: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
  let m0 = wg.y * TILE_M;
  let n0 = wg.x * TILE_N;
  let k_begin = wg.z * K_CHUNK;
  let k_end = min(K, k_begin + K_CHUNK);

  // Which vec4 of each operand this thread stages: A rows 0..63 × K cols 0,4,8,12;
  // B rows 0..15 × N cols 0,4,…,60. Exactly one vec4 each (256 threads).
  let a_row = li >> 2u;
  let a_col = (li & 3u) << 2u;
  let b_row = li >> 4u;
  let b_col = (li & 15u) << 2u;

  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);

  for (var k0 = k_begin; k0 < k_end; k0 += TILE_K) {
    let a = load_a4(m0 + a_row, k0 + a_col);
    let a_slot = a_row >> 2u;
    let a_lane = a_row & 3u;
    tileA[(a_col + 0u) * 16u + a_slot][a_lane] = a.x;
    tileA[(a_col + 1u) * 16u + a_slot][a_lane] = a.y;
    tileA[(a_col + 2u) * 16u + a_slot][a_lane] = a.z;
    tileA[(a_col + 3u) * 16u + a_slot][a_lane] = a.w;
    tileB[b_row * 16u + (b_col >> 2u)] = load_b4(k0 + b_row, n0 + b_col);
    workgroupBarrier();
    for (var kk = 0u; kk < TILE_K; kk++) {
      let av = tileA[kk * 16u + lid.y];
      let bv = tileB[kk * 16u + lid.x];
      acc0 = fma(vec4<f32>(av.x), bv, acc0);
      acc1 = fma(vec4<f32>(av.y), bv, acc1);
      acc2 = fma(vec4<f32>(av.z), bv, acc2);
      acc3 = fma(vec4<f32>(av.w), bv, acc3);
    }
    workgroupBarrier();
  }
  let m = m0 + lid.y * 4u;
  let n = n0 + lid.x * 4u;
  store_c4(m + 0u, n, acc0, wg.z);
  store_c4(m + 1u, n, acc1, wg.z);
  store_c4(m + 2u, n, acc2, wg.z);
  store_c4(m + 3u, n, acc3, wg.z);
}

const DIRECT_TILE: u32 = 32u;

@compute @workgroup_size(8, 8, 1)
fn gemm_direct(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let m = wg.y * DIRECT_TILE + lid.y * 4u;
  let n = wg.x * DIRECT_TILE + lid.x * 4u;
  let k_begin = wg.z * K_CHUNK;
  let k_end = min(K, k_begin + K_CHUNK);
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var k = k_begin; k < k_end; k += 4u) {
    let a0 = load_a4(m + 0u, k);
    let a1 = load_a4(m + 1u, k);
    let a2 = load_a4(m + 2u, k);
    let a3 = load_a4(m + 3u, k);
    let b0 = load_b4(k + 0u, n);
    let b1 = load_b4(k + 1u, n);
    let b2 = load_b4(k + 2u, n);
    let b3 = load_b4(k + 3u, n);
    acc0 = fma(vec4<f32>(a0.x), b0, fma(vec4<f32>(a0.y), b1, fma(vec4<f32>(a0.z), b2, fma(vec4<f32>(a0.w), b3, acc0))));
    acc1 = fma(vec4<f32>(a1.x), b0, fma(vec4<f32>(a1.y), b1, fma(vec4<f32>(a1.z), b2, fma(vec4<f32>(a1.w), b3, acc1))));
    acc2 = fma(vec4<f32>(a2.x), b0, fma(vec4<f32>(a2.y), b1, fma(vec4<f32>(a2.z), b2, fma(vec4<f32>(a2.w), b3, acc2))));
    acc3 = fma(vec4<f32>(a3.x), b0, fma(vec4<f32>(a3.y), b1, fma(vec4<f32>(a3.z), b2, fma(vec4<f32>(a3.w), b3, acc3))));
  }
  store_c4(m + 0u, n, acc0, wg.z);
  store_c4(m + 1u, n, acc1, wg.z);
  store_c4(m + 2u, n, acc2, wg.z);
  store_c4(m + 3u, n, acc3, wg.z);
}
