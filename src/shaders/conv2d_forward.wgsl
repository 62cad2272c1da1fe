// Convolution forward as an implicit GEMM; operand access ("io") for gemm_core.wgsl, which the
// host appends after this file (exactly as gemm_plain.wgsl is used for plain matrices).
//
//   y[b, oh, ow, co] = Σ_{i, j, ci} x[b, oh·S + i − P, ow·S + j − P, ci] · w[i, j, ci, co]
//
// Layouts: x NHWC (BATCH×IN_H×IN_W×CIN), w HWIO (KH×KW×CIN×COUT), y NHWC (BATCH×OUT_H×OUT_W×COUT).
// GEMM view: M = BATCH·OUT_H·OUT_W (output pixels), N = COUT, K = KH·KW·CIN with ci fastest, so
//   A[m, k] = x_patch (zero outside the image: the padding), B[k, n] = w viewed as K×N (HWIO is
//   already that matrix, row-major), C[m, n] = y viewed as M×N. Assigned with `=`, no bias.
// When CIN % 4 == 0 a 4-aligned k never crosses a tap, so A is one vec4 load of x along the
// channels; CIN = 1 or 3 (the stem) takes the per-element path. COUT % 4 == 0 makes B and C vec4.
// Split-K (SPLIT_K): C goes to partial[split][M][N]; gemm_reduce.wgsl sums the splits in a fixed
// order into y. Every shape is an override, so the index math folds to constants.
//
// The host prepends the buffer declarations (see src/nn/conv2d.ts, storageView): binding 0 `x`
// (read), 1 `w` (read), 2 `y` (read_write; y or the split-K partial), each with accessors
// NAME_ld(i) -> f32, NAME_ld4(i) -> vec4<f32> (i % 4 == 0), NAME_st(i, f32), NAME_st4(i, vec4),
// declared as array<vec4<f32>> when the tensor's channel count allows it, else array<f32>.

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

// x_patch[m, k]; the caller has checked m < M. u32 arithmetic: a coordinate left of or above the
// image wraps to a huge value and fails the `< IN_H` / `< IN_W` test, which is the zero padding.
fn x_patch(b: u32, ih0: u32, iw0: u32, k: u32) -> f32 {
  let tap = k / CIN;
  let ci = k - tap * CIN;
  let i = tap / KW;
  let j = tap - i * KW;
  let ih = ih0 + i - PAD;
  let iw = iw0 + j - PAD;
  if (ih >= IN_H || iw >= IN_W) { return 0.0; }
  return x_ld(((b * IN_H + ih) * IN_W + iw) * CIN + ci);
}

fn load_a4(m: u32, k: u32) -> vec4<f32> {
  if (m >= M) { return vec4<f32>(0.0); }
  let b = m / (OUT_H * OUT_W);
  let r = m - b * (OUT_H * OUT_W);
  let oh = r / OUT_W;
  let ow = r - oh * OUT_W;
  let ih0 = oh * STRIDE;
  let iw0 = ow * STRIDE;
  if (CIN % 4u == 0u) {
    if (k >= K) { return vec4<f32>(0.0); }
    let tap = k / CIN;
    let ci = k - tap * CIN;
    let i = tap / KW;
    let j = tap - i * KW;
    let ih = ih0 + i - PAD;
    let iw = iw0 + j - PAD;
    if (ih >= IN_H || iw >= IN_W) { return vec4<f32>(0.0); }
    return x_ld4(((b * IN_H + ih) * IN_W + iw) * CIN + ci);
  }
  var v = vec4<f32>(0.0);
  for (var q = 0u; q < 4u; q++) {
    if (k + q < K) { v[q] = x_patch(b, ih0, iw0, k + q); }
  }
  return v;
}

fn load_b4(k: u32, n: u32) -> vec4<f32> {
  if (k >= K) { return vec4<f32>(0.0); }
  if (COUT % 4u == 0u) {
    if (n >= N) { return vec4<f32>(0.0); }
    return w_ld4(k * COUT + n);
  }
  var v = vec4<f32>(0.0);
  for (var q = 0u; q < 4u; q++) {
    if (n + q < N) { v[q] = w_ld(k * COUT + n + q); }
  }
  return v;
}

fn store_c4(m: u32, n: u32, acc: vec4<f32>, split: u32) {
  if (m >= M) { return; }
  var base = m * COUT + n;
  if (SPLIT_K) { base += split * (M * COUT); }
  if (COUT % 4u == 0u) {
    if (n < N) { y_st4(base, acc); }
    return;
  }
  for (var q = 0u; q < 4u; q++) {
    if (n + q < N) { y_st(base + q, acc[q]); }
  }
}
