// GEMM core: C[M×N] = A[M×K] · B[K×N], one 4×4 register tile of C per thread.
//
// This file holds only the loops. The operands are reached through functions that an "io" file
// placed before it provides (gemm_plain.wgsl for matrices; the conv kernels for implicit GEMM
// over images); src/gpu/gemm.ts (gemmSource) adds generic versions of any the io leaves out
// (gemm_io_defaults.wgsl):
//   fn load_a4(m: u32, k: u32) -> vec4<f32>      // A[m, k..k+3]   zeros outside M×K
//   fn load_a4_col(m: u32, k: u32) -> vec4<f32>  // A[m..m+3, k]   (used when A_COLS)
//   fn load_b4(k: u32, n: u32) -> vec4<f32>      // B[k, n..n+3]   zeros outside K×N
//   fn load_b4_col(k: u32, n: u32) -> vec4<f32>  // B[k..k+3, n]   (used when B_COLS)
//   fn store_c4(m: u32, n: u32, acc: vec4<f32>, z: u32)  // C[m, n..n+3]; z = workgroup_id.z
//   fn k_range(z: u32) -> vec2<u32>              // this workgroup's [k_begin, k_end); called
//                                                // first, before any load (default: split_k_range)
//   fn tile_stats(m0: u32, n0: u32, ly: u32, lx: u32, li: u32, wy: u32,   // 'tiled' only, when
//                 a0, a1, a2, a3: vec4<f32>)     // EPILOGUE_STATS: after the stores, every thread
//                                                // with its 4×4 block (a convolution's batch-norm
//                                                // statistics, conv2d_bn_stats.wgsl; may use tileA/B
//                                                // and barriers: the K loop is over)
// An operand is read four at a time along whichever axis is contiguous in its memory: the
// weight gradient's A (image patches) is contiguous along M (the channels), dgrad's B (the
// weights) along K, so those io files set A_COLS / B_COLS.
//
// Two variants, chosen per adapter when the pipeline is created:
//   gemm_tiled  — real GPUs: TX×TY threads (256 for square tiles), a 4·TY × 4·TX block tile
//                 staged through workgroup memory in K-steps of 16, vec4 reads of the staged
//                 tiles, fma into 4 vec4 registers.
//   gemm_direct — CPU emulators (SwiftShader, lavapipe), where workgroup barriers are costly:
//                 TX×TY = 64 threads, each streams its own rows of A and columns of B from global
//                 memory (caches do the reuse).
// TX and TY (threads along N and M) are chosen per shape by the host (gemmTile): 16×16 / 8×8 for
// wide operands, narrow tiles such as 128×8 when N or M is only a few channels, so that no
// thread computes padding.
// Split-K: by default workgroup_id.z selects the K-range [z·K_CHUNK, (z+1)·K_CHUNK) and store_c4
// gets z (the split), so a deterministic reduce can sum the partial products in a fixed order
// afterwards. An io may read more into z (dgrad: the phase class and the split).

// The product's sizes, for the io files that specialise on them (the convolutions: their index
// math folds to constants). gemm_plain.wgsl leaves them unset and reads its sizes from a uniform, so
// that one pipeline serves every plain GEMM with the same flags and tile.
override M: u32 = 0u;
override N: u32 = 0u;
override K: u32 = 0u;
// K-range per split; a multiple of 16 (the tiled K-step). K_CHUNK >= K means no split.
override K_CHUNK: u32 = 1u << 30u;
override TX: u32 = 16u;
override TY: u32 = 16u;
override A_COLS: bool = false;
override B_COLS: bool = false;
override EPILOGUE_STATS: bool = false;

override THREADS: u32 = TX * TY;
const TILE_K: u32 = 16u;
override TILE_A_VEC4S: u32 = TILE_K * TY;
override TILE_B_VEC4S: u32 = TILE_K * TX;

/** The default k_range: split z of K in chunks of K_CHUNK. */
fn split_k_range(z: u32) -> vec2<u32> {
  let begin = z * K_CHUNK;
  return vec2<u32>(begin, min(K, begin + K_CHUNK));
}

// Staged tiles, K-major: tileA[k * TY + i] holds A rows 4i..4i+3 at column k of the tile,
// tileB[k * TX + j] holds B columns 4j..4j+3 at row k.
var<workgroup> tileA: array<vec4<f32>, TILE_A_VEC4S>;
var<workgroup> tileB: array<vec4<f32>, TILE_B_VEC4S>;

fn stage_a(m0: u32, k0: u32, li: u32) {
  for (var i = li; i < TILE_A_VEC4S; i += THREADS) {
    if (A_COLS) {
      let kk = i / TY;
      let slot = i - kk * TY;
      tileA[i] = load_a4_col(m0 + 4u * slot, k0 + kk);
    } else {
      // One row of A at 4 consecutive k, scattered into the K-major tile.
      let row = i >> 2u;
      let kc = (i & 3u) << 2u;
      let a = load_a4(m0 + row, k0 + kc);
      let slot = row >> 2u;
      let lane = row & 3u;
      tileA[(kc + 0u) * TY + slot][lane] = a.x;
      tileA[(kc + 1u) * TY + slot][lane] = a.y;
      tileA[(kc + 2u) * TY + slot][lane] = a.z;
      tileA[(kc + 3u) * TY + slot][lane] = a.w;
    }
  }
}

fn stage_b(n0: u32, k0: u32, li: u32) {
  for (var i = li; i < TILE_B_VEC4S; i += THREADS) {
    if (B_COLS) {
      // One column of B at 4 consecutive k, scattered into the K-major tile.
      let col = i >> 2u;
      let kc = (i & 3u) << 2u;
      let b = load_b4_col(k0 + kc, n0 + col);
      let slot = col >> 2u;
      let lane = col & 3u;
      tileB[(kc + 0u) * TX + slot][lane] = b.x;
      tileB[(kc + 1u) * TX + slot][lane] = b.y;
      tileB[(kc + 2u) * TX + slot][lane] = b.z;
      tileB[(kc + 3u) * TX + slot][lane] = b.w;
    } else {
      let kk = i / TX;
      let slot = i - kk * TX;
      tileB[i] = load_b4(k0 + kk, n0 + 4u * slot);
    }
  }
}

@compute @workgroup_size(TX, TY, 1)
fn gemm_tiled(@builtin(workgroup_id) wg: vec3<u32>,
              @builtin(local_invocation_id) lid: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
  let m0 = wg.y * 4u * TY;
  let n0 = wg.x * 4u * TX;
  let kr = k_range(wg.z);

  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);

  for (var k0 = kr.x; k0 < kr.y; k0 += TILE_K) {
    stage_a(m0, k0, li);
    stage_b(n0, k0, li);
    workgroupBarrier();
    for (var kk = 0u; kk < TILE_K; kk++) {
      let av = tileA[kk * TY + lid.y];
      let bv = tileB[kk * TX + lid.x];
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
  if (EPILOGUE_STATS) { tile_stats(m0, n0, lid.y, lid.x, li, wg.y, acc0, acc1, acc2, acc3); }
}

// The direct core's loops over the 4×4 block keep one copy of the io's load and store code instead
// of four inlined copies: CPU emulators compile a pipeline's code (SwiftShader when the pipeline is
// created, lavapipe at its first dispatch), and the convolution ios' index math made each GEMM
// pipeline one of the costliest to build. The loops index no array: four registers rotate by one
// per iteration (after four they are back in place), so SwiftShader, which keeps the loops, needs
// no private memory, and lavapipe, which unrolls them, folds the moves away.

/** Rows m..m+3 of A at k..k+3, as the columns of a matrix (column r = A[m + r, k..k+3]); A_COLS. */
fn a_rows(m: u32, k: u32) -> mat4x4<f32> {
  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) {
    let col = load_a4_col(m, k + j);   // A[m..m+3, k + j]
    c0 = c1;
    c1 = c2;
    c2 = c3;
    c3 = col;
  }
  return transpose(mat4x4<f32>(c0, c1, c2, c3));
}

/** Rows k..k+3 of B at columns n..n+3, as the columns of a matrix (column j = B[k + j, n..n+3]). */
fn b_rows(k: u32, n: u32) -> mat4x4<f32> {
  var v0 = vec4<f32>(0.0);
  var v1 = vec4<f32>(0.0);
  var v2 = vec4<f32>(0.0);
  var v3 = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) {
    var v: vec4<f32>;
    if (B_COLS) { v = load_b4_col(k, n + j); } else { v = load_b4(k + j, n); }   // B[k..k+3, n + j] or B[k + j, n..n+3]
    v0 = v1;
    v1 = v2;
    v2 = v3;
    v3 = v;
  }
  let b = mat4x4<f32>(v0, v1, v2, v3);
  if (B_COLS) { return transpose(b); }
  return b;
}

@compute @workgroup_size(TX, TY, 1)
fn gemm_direct(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let m = (wg.y * TY + lid.y) * 4u;
  let n = (wg.x * TX + lid.x) * 4u;
  let kr = k_range(wg.z);
  // acc_r = Σ_k A[m + r, k] · B[k, n..n+3]; inside the row loop acc0 is row r's.
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var k = kr.x; k < kr.y; k += 4u) {
    let b = b_rows(k, n);
    var a = mat4x4<f32>();
    if (A_COLS) { a = a_rows(m, k); }
    for (var r = 0u; r < 4u; r++) {
      var ar: vec4<f32>;
      if (A_COLS) {
        ar = a[0];
        a = mat4x4<f32>(a[1], a[2], a[3], a[0]);
      } else {
        ar = load_a4(m + r, k);
      }
      let t = fma(b[3], vec4<f32>(ar.w), fma(b[2], vec4<f32>(ar.z), fma(b[1], vec4<f32>(ar.y), fma(b[0], vec4<f32>(ar.x), acc0))));
      acc0 = acc1;
      acc1 = acc2;
      acc2 = acc3;
      acc3 = t;
    }
  }
  for (var r = 0u; r < 4u; r++) {
    store_c4(m + r, n, acc0, wg.z);
    acc0 = acc1;
    acc1 = acc2;
    acc2 = acc3;
  }
}
