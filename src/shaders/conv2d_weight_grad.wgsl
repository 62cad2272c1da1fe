// Convolution weight gradient (wgrad) as an implicit GEMM; operand access ("io") for
// gemm_core.wgsl, which the host appends after this file.
//
//   dw[i, j, ci, co] (=|+=) Σ_{b, oh, ow} x[b, oh·S + i − P, ow·S + j − P, ci] · dy[b, oh, ow, co]
//
// ACCUMULATE selects `+=` (parameter gradients summed over several backward passes; docs/ARCHITECTURE.md, forward and backward)
// or `=`; with split-K the flag moves to the reduce (BETA = 1 or 0) and this kernel only writes
// partial products.
// Layouts: x NHWC (BATCH×IN_H×IN_W×CIN), dy NHWC (BATCH×OUT_H×OUT_W×COUT), dw HWIO (KH×KW×CIN×COUT).
// GEMM view: M = KH·KW·CIN (rows of dw, ci fastest), N = COUT, K = BATCH·OUT_H·OUT_W (the output
// pixels: the long reduction).
//   A[r, p] = x_patch[p, r]: read by columns (4 channels of one pixel, load_a4_col) when
//             CIN % 4 == 0, else by rows (4 consecutive pixels p at one (tap, ci), load_a4)
//   B[p, n] = dy viewed as (BATCH·OUT_H·OUT_W)×COUT — vec4 along the channels when COUT % 4 == 0
//   C[r, n] = dw viewed as M×N (HWIO is that matrix, row-major)
// The reduction over K is never one thread's serial loop over BATCH·H·W: the host splits it
// (split-K, workgroup_id.z) into chunks, each written to partial[split][M][N], and
// gemm_reduce.wgsl sums the chunks in a fixed order (WGSL has no float atomics), so the result is
// the same bits every run.
// A 4-aligned pixel group lies in one image row when OUT_W % 4 == 0 (every ResNet map): then the
// pixel is decoded once per group.
//
// The host prepends the buffer declarations (src/nn/conv2d.ts, storageView): binding 0 `x`,
// 1 `dy` (read), 2 `dw` (read_write; dw or the split-K partial).

override BATCH: u32;
override IN_H: u32;
override IN_W: u32;
override CIN: u32;
override COUT: u32;
override KH: u32;
override KW: u32;
override STRIDE: u32;
override PAD: u32;
override OUT_H: u32;
override OUT_W: u32;
override SPLIT_K: bool = false;
override ACCUMULATE: bool = false;

fn x_at(b: u32, ih: u32, iw: u32, ci: u32) -> f32 {
  if (ih >= IN_H || iw >= IN_W) { return 0.0; }
  return x_ld(((b * IN_H + ih) * IN_W + iw) * CIN + ci);
}

fn load_a4(r: u32, p: u32) -> vec4<f32> {
  if (r >= M) { return vec4<f32>(0.0); }
  let tap = r / CIN;
  let ci = r - tap * CIN;
  let i = tap / KW;
  let j = tap - i * KW;
  var v = vec4<f32>(0.0);
  if (OUT_W % 4u == 0u) {
    if (p >= K) { return v; }
    let b = p / (OUT_H * OUT_W);
    let rem = p - b * (OUT_H * OUT_W);
    let oh = rem / OUT_W;
    let ow = rem - oh * OUT_W;
    let ih = oh * STRIDE + i - PAD;
    if (ih >= IN_H) { return v; }
    let iw0 = ow * STRIDE + j - PAD; // u32: wraps when left of the image; + q·S unwraps exactly
    let row = (b * IN_H + ih) * IN_W;
    for (var q = 0u; q < 4u; q++) {
      let iw = iw0 + q * STRIDE;
      if (iw < IN_W) { v[q] = x_ld((row + iw) * CIN + ci); }
    }
    return v;
  }
  for (var q = 0u; q < 4u; q++) {
    let pq = p + q;
    if (pq < K) {
      let b = pq / (OUT_H * OUT_W);
      let rem = pq - b * (OUT_H * OUT_W);
      let oh = rem / OUT_W;
      let ow = rem - oh * OUT_W;
      v[q] = x_at(b, oh * STRIDE + i - PAD, ow * STRIDE + j - PAD, ci);
    }
  }
  return v;
}

// A[r..r+3, p]: one pixel at 4 consecutive (tap, ci) rows. With CIN % 4 == 0 (every layer but
// an unpadded stem) that is one tap and 4 channels: a single vec4 load of x along the channels,
// so the host stages A by columns (A_COLS) then.
fn load_a4_col(r: u32, p: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (p >= K || r >= M) { return v; }
  let b = p / (OUT_H * OUT_W);
  let rem = p - b * (OUT_H * OUT_W);
  let oh = rem / OUT_W;
  let ow = rem - oh * OUT_W;
  if (CIN % 4u == 0u) {
    let tap = r / CIN;
    let i = tap / KW;
    let j = tap - i * KW;
    let ih = oh * STRIDE + i - PAD;
    let iw = ow * STRIDE + j - PAD;
    if (ih < IN_H && iw < IN_W) { v = x_ld4(((b * IN_H + ih) * IN_W + iw) * CIN + r - tap * CIN); }
    return v;
  }
  for (var q = 0u; q < 4u; q++) {
    let rq = r + q;
    if (rq < M) {
      let tap = rq / CIN;
      let i = tap / KW;
      let j = tap - i * KW;
      v[q] = x_at(b, oh * STRIDE + i - PAD, ow * STRIDE + j - PAD, rq - tap * CIN);
    }
  }
  return v;
}

fn load_b4(p: u32, n: u32) -> vec4<f32> {
  if (p >= K) { return vec4<f32>(0.0); }
  if (COUT % 4u == 0u) {
    if (n >= N) { return vec4<f32>(0.0); }
    return dy_ld4(p * COUT + n);
  }
  var v = vec4<f32>(0.0);
  for (var q = 0u; q < 4u; q++) {
    if (n + q < N) { v[q] = dy_ld(p * COUT + n + q); }
  }
  return v;
}

fn store_c4(r: u32, n: u32, acc: vec4<f32>, split: u32) {
  if (r >= M) { return; }
  var base = r * COUT + n;
  if (SPLIT_K) { base += split * (M * COUT); }
  let add = ACCUMULATE && !SPLIT_K;
  if (COUT % 4u == 0u) {
    if (n < N) {
      if (add) { dw_st4(base, dw_ld4(base) + acc); } else { dw_st4(base, acc); }
    }
    return;
  }
  for (var q = 0u; q < 4u; q++) {
    if (n + q < N) {
      if (add) { dw_st(base + q, dw_ld(base + q) + acc[q]); } else { dw_st(base + q, acc[q]); }
    }
  }
}
