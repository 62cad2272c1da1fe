// Convolution input gradient (dgrad) as implicit GEMMs; operand access ("io") for
// gemm_core.wgsl, which the host appends after this file. dx is ASSIGNED (`=`), never accumulated.
//
//   dx[b, h, w, ci] = Σ_{i, j, co} dy[b, oh, ow, co] · w[i, j, ci, co]
//                     over the taps with h + P − i = oh·S, w + P − j = ow·S, 0 ≤ oh < OUT_H, 0 ≤ ow < OUT_W
//
// Layouts: dy NHWC (BATCH×OUT_H×OUT_W×COUT), w HWIO (KH×KW×CIN×COUT), dx NHWC (BATCH×IN_H×IN_W×CIN).
//
// No wasted taps at stride S > 1: the input pixels fall into S×S phase classes by
// ((h + P) mod S, (w + P) mod S) = (RH, RW); in class (RH, RW) exactly the taps i = RH + S·th,
// j = RW + S·tw contribute, with oh = u_h − th, ow = u_w − tw and u = (h + P − RH) / S. The host
// dispatches one GEMM per class (one in all at stride 1), each specialised here:
//   M = BATCH·CH·CW   the class's pixels: h = S·hq + H0 (hq < CH), w = S·wq + W0 (wq < CW)
//   N = CIN
//   K = TH·TW·COUT    the class's taps (th < TH, tw < TW), co fastest
//   A[m, k] = dy[b, u_h − th, u_w − tw, co] (zero outside dy),  u_h = hq + U0H, u_w = wq + U0W
//   B[k, n] = w[RH + S·th, RW + S·tw, n, co]   (a stride-COUT gather along n)
//   C[m, n] → dx[b, h, w, n]
// A class without taps (K = 0: the odd pixels of a 1×1 stride-2 conv) would run no K-step and
// store zeros; the host does not dispatch it but clears dx first (clearBuffer), which is cheaper.
// TW_D is TW clamped to ≥ 1 (a divisor only).
// COUT % 4 == 0 makes A one vec4 load of dy along the channels; CIN % 4 == 0 makes C a vec4 store.
// Split-K (SPLIT_K): every class writes partial[split] laid out like dx (BATCH·IN_H·IN_W·CIN);
// classes dispatch the same number of splits (trailing ones empty, storing zeros), and one
// gemm_reduce.wgsl pass sums them in a fixed order into dx (the slabs are cleared first when a
// class has no taps).
//
// The host prepends the buffer declarations (src/nn/conv2d.ts, storageView): binding 0 `dy`,
// 1 `w` (read), 2 `dx` (read_write; dx or the split-K partial).

override BATCH: u32;
override IN_H: u32;
override IN_W: u32;
override CIN: u32;
override COUT: u32;
override KH: u32;
override KW: u32;
override STRIDE: u32;
override OUT_H: u32;
override OUT_W: u32;
// The phase class.
override RH: u32;
override RW: u32;
override H0: u32;
override W0: u32;
override CH: u32;
override CW: u32;
override U0H: u32;
override U0W: u32;
override TW_D: u32;
override SPLIT_K: bool = false;

fn dy_at(b: u32, uh: u32, uw: u32, k: u32) -> f32 {
  let tap = k / COUT;
  let co = k - tap * COUT;
  let th = tap / TW_D;
  let tw = tap - th * TW_D;
  let oh = uh - th; // wraps above OUT_H when negative
  let ow = uw - tw;
  if (oh >= OUT_H || ow >= OUT_W) { return 0.0; }
  return dy_ld(((b * OUT_H + oh) * OUT_W + ow) * COUT + co);
}

fn load_a4(m: u32, k: u32) -> vec4<f32> {
  if (m >= M) { return vec4<f32>(0.0); }
  let b = m / (CH * CW);
  let r = m - b * (CH * CW);
  let hq = r / CW;
  let wq = r - hq * CW;
  let uh = hq + U0H;
  let uw = wq + U0W;
  if (COUT % 4u == 0u) {
    if (k >= K) { return vec4<f32>(0.0); }
    let tap = k / COUT;
    let co = k - tap * COUT;
    let th = tap / TW_D;
    let tw = tap - th * TW_D;
    let oh = uh - th;
    let ow = uw - tw;
    if (oh >= OUT_H || ow >= OUT_W) { return vec4<f32>(0.0); }
    return dy_ld4(((b * OUT_H + oh) * OUT_W + ow) * COUT + co);
  }
  var v = vec4<f32>(0.0);
  for (var q = 0u; q < 4u; q++) {
    if (k + q < K) { v[q] = dy_at(b, uh, uw, k + q); }
  }
  return v;
}

fn load_b4(k: u32, n: u32) -> vec4<f32> {
  if (k >= K) { return vec4<f32>(0.0); }
  let tap = k / COUT;
  let co = k - tap * COUT;
  let th = tap / TW_D;
  let tw = tap - th * TW_D;
  let i = RH + STRIDE * th;
  let j = RW + STRIDE * tw;
  let base = ((i * KW + j) * CIN + n) * COUT + co;
  var v = vec4<f32>(0.0);
  for (var q = 0u; q < 4u; q++) {
    if (n + q < N) { v[q] = w_ld(base + q * COUT); }
  }
  return v;
}

fn store_c4(m: u32, n: u32, acc: vec4<f32>, split: u32) {
  if (m >= M) { return; }
  let b = m / (CH * CW);
  let r = m - b * (CH * CW);
  let hq = r / CW;
  let wq = r - hq * CW;
  let h = STRIDE * hq + H0;
  let w = STRIDE * wq + W0;
  var base = ((b * IN_H + h) * IN_W + w) * CIN + n;
  if (SPLIT_K) { base += split * (BATCH * IN_H * IN_W * CIN); }
  if (CIN % 4u == 0u) {
    if (n < N) { dx_st4(base, acc); }
    return;
  }
  for (var q = 0u; q < 4u; q++) {
    if (n + q < N) { dx_st(base + q, acc[q]); }
  }
}
