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
// j = RW + S·tw contribute, with oh = u_h − th, ow = u_w − tw and u = (h + P − RH) / S. Each
// class is a GEMM of its own:
//   M = BATCH·CH·CW   the class's pixels: h = S·hq + H0 (hq < CH), w = S·wq + W0 (wq < CW)
//   N = CIN
//   K = TH·TW·COUT    the class's taps (th < TH, tw < TW), co fastest
//   A[m, k] = dy[b, u_h − th, u_w − tw, co] (zero outside dy),  u_h = hq + U0H, u_w = wq + U0W
//   B[k, n] = w[RH + S·th, RW + S·tw, n, co]   contiguous along k (co), so B is read by columns
//   C[m, n] → dx[b, h, w, n]
// All S·S classes run in ONE dispatch: workgroup_id.z = class · SPLITS + split, and k_range
// (called by the core before any load) derives the class from z and keeps it in `cls` for the
// loads and stores. Classes run side by side instead of one dispatch after another (a GPU would
// otherwise drain between them), and a class no tap reaches (the odd pixels of a 1×1 stride-2
// conv: K = 0) runs no K-step and stores its zeros in the same dispatch. At stride 1 there is one
// class, the plain dgrad GEMM.
// When every class has the same pixel grid (every even-sized ResNet map), CH_ALL/CW_ALL carry it
// as constants so the pixel decode divides by a constant.
// Split-K (SPLIT_K): each class cuts its K into SPLITS chunks (16-aligned; trailing ones may be
// empty and store zeros) and writes partial[split] laid out like dx (BATCH·IN_H·IN_W·CIN); every
// element of every slab is written, and one gemm_reduce.wgsl pass sums them in a fixed order.
// COUT % 4 == 0 makes A one vec4 load of dy and a column of B one vec4 load of w; CIN % 4 == 0
// makes C a vec4 store.
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
override PAD: u32;
override OUT_H: u32;
override OUT_W: u32;
override SPLITS: u32 = 1u;
override SPLIT_K: bool = false;
override CH_ALL: u32 = 0u;
override CW_ALL: u32 = 0u;

struct PhaseClass {
  rh: u32,
  rw: u32,
  h0: u32,
  w0: u32,
  ch: u32,
  cw: u32,
  u0h: u32,
  u0w: u32,
  tw: u32, // taps along w, at least 1 (a divisor)
  m: u32,
  k: u32,
}

// First coordinate of a phase class (≡ r − P mod S), and how many coordinates first + S·t lie
// below `size` (pixels of the class along one axis, or its taps: r + S·t < KH); as dgradClasses
// in conv2d.ts.
fn phase_start(r: u32) -> u32 { return (r + STRIDE - PAD % STRIDE) % STRIDE; }
fn phase_count(first: u32, size: u32) -> u32 { return select(0u, (size - first + STRIDE - 1u) / STRIDE, first < size); }

fn phase_class(c: u32) -> PhaseClass {
  var p: PhaseClass;
  p.rh = c / STRIDE;
  p.rw = c - p.rh * STRIDE;
  p.h0 = phase_start(p.rh);
  p.w0 = phase_start(p.rw);
  p.ch = select(phase_count(p.h0, IN_H), CH_ALL, CH_ALL != 0u);
  p.cw = select(phase_count(p.w0, IN_W), CW_ALL, CW_ALL != 0u);
  p.u0h = (p.h0 + PAD - p.rh) / STRIDE;
  p.u0w = (p.w0 + PAD - p.rw) / STRIDE;
  let taps_h = phase_count(p.rh, KH);
  let taps_w = phase_count(p.rw, KW);
  p.tw = max(taps_w, 1u);
  p.m = BATCH * p.ch * p.cw;
  p.k = taps_h * taps_w * COUT;
  return p;
}

var<private> cls: PhaseClass;

// The class's pixel grid, a constant when all classes share it.
fn grid_w() -> u32 { return select(cls.cw, CW_ALL, CW_ALL != 0u); }
fn grid_size() -> u32 { return select(cls.ch, CH_ALL, CH_ALL != 0u) * grid_w(); }
// At stride 1 the one class is the whole dgrad GEMM; these fold to constants then, so its index
// math divides by constants only.
fn c_m() -> u32 { return select(cls.m, M, STRIDE == 1u); }
fn c_k() -> u32 { return select(cls.k, K, STRIDE == 1u); }
fn c_tw() -> u32 { return select(cls.tw, KW, STRIDE == 1u); }
fn c_u0h() -> u32 { return select(cls.u0h, PAD, STRIDE == 1u); }
fn c_u0w() -> u32 { return select(cls.u0w, PAD, STRIDE == 1u); }

fn k_range(z: u32) -> vec2<u32> {
  let c = z / SPLITS;
  let p = phase_class(c);
  cls = p;
  if (p.m == 0u) { return vec2<u32>(0u, 0u); }
  let split = z - c * SPLITS;
  let chunk = ((p.k + SPLITS - 1u) / SPLITS + 15u) / 16u * 16u;
  let begin = min(p.k, split * chunk);
  return vec2<u32>(begin, min(p.k, begin + chunk));
}

// The dy pixel (b, u_h − th, u_w − tw) of class pixel m at tap index `tap`; false outside dy.
fn dy_pixel(m: u32, tap: u32, out: ptr<function, u32>) -> bool {
  let b = m / grid_size();
  let r = m - b * grid_size();
  let hq = r / grid_w();
  let wq = r - hq * grid_w();
  let th = tap / c_tw();
  let tw = tap - th * c_tw();
  let oh = hq + c_u0h() - th; // wraps above OUT_H when negative
  let ow = wq + c_u0w() - tw;
  if (oh >= OUT_H || ow >= OUT_W) { return false; }
  *out = (b * OUT_H + oh) * OUT_W + ow;
  return true;
}

fn load_a4(m: u32, k: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (m >= c_m() || k >= c_k()) { return v; }
  var pix = 0u;
  if (COUT % 4u == 0u) {
    let tap = k / COUT;
    if (dy_pixel(m, tap, &pix)) { v = dy_ld4(pix * COUT + k - tap * COUT); }
    return v;
  }
  for (var q = 0u; q < 4u; q++) {
    let kq = k + q;
    let tap = kq / COUT;
    if (kq < c_k() && dy_pixel(m, tap, &pix)) { v[q] = dy_ld(pix * COUT + kq - tap * COUT); }
  }
  return v;
}

// The w index of B[k, n]: tap (th, tw) of the class, input channel n, output channel co.
fn w_index(k: u32, n: u32) -> u32 {
  let tap = k / COUT;
  let co = k - tap * COUT;
  let th = tap / c_tw();
  let tw = tap - th * c_tw();
  let i = cls.rh + STRIDE * th;
  let j = cls.rw + STRIDE * tw;
  return ((i * KW + j) * CIN + n) * COUT + co;
}

fn load_b4_col(k: u32, n: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (k >= c_k() || n >= N) { return v; }
  if (COUT % 4u == 0u) { return w_ld4(w_index(k, n)); } // k % 4 == 0: one tap, 4 channels
  for (var q = 0u; q < 4u; q++) {
    if (k + q < c_k()) { v[q] = w_ld(w_index(k + q, n)); }
  }
  return v;
}

fn load_b4(k: u32, n: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (k >= c_k()) { return v; }
  let base = w_index(k, n);
  for (var q = 0u; q < 4u; q++) {
    if (n + q < N) { v[q] = w_ld(base + q * COUT); }
  }
  return v;
}

fn store_c4(m: u32, n: u32, acc: vec4<f32>, z: u32) {
  if (m >= c_m()) { return; }
  let b = m / grid_size();
  let r = m - b * grid_size();
  let hq = r / grid_w();
  let wq = r - hq * grid_w();
  let h = STRIDE * hq + cls.h0;
  let w = STRIDE * wq + cls.w0;
  var base = ((b * IN_H + h) * IN_W + w) * CIN + n;
  if (SPLIT_K) { base += (z % SPLITS) * (BATCH * IN_H * IN_W * CIN); }
  if (CIN % 4u == 0u) {
    if (n < N) { dx_st4(base, acc); }
    return;
  }
  for (var q = 0u; q < 4u; q++) {
    if (n + q < N) { dx_st(base + q, acc[q]); }
  }
}
