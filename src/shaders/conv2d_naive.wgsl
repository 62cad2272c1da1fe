// Naive convolution kernels, one thread per output element with a serial loop over its whole
// reduction: the BENCHMARK BASELINE only (the training path uses the implicit GEMMs of
// conv2d_forward / conv2d_input_grad / conv2d_weight_grad.wgsl over gemm_core.wgsl).
// Layouts: activations NHWC, weights HWIO. Bindings: 0 `src0`, 1 `src1` (read), 2 `dst`.
//   naive_forward:      src0 = x,  src1 = w,  dst = y   (=)
//   naive_input_grad:   src0 = dy, src1 = w,  dst = dx  (=)
//   naive_weight_grad:  src0 = x,  src1 = dy, dst = dw  (= or += with ACCUMULATE), a serial loop
//                       over BATCH·OUT_H·OUT_W per thread: exactly what the real kernel avoids.
// Dispatch: 64 threads per workgroup over (x, y) workgroups; element index
// gid.x + gid.y · nwg.x · 64, so more workgroups than the device's per-dimension limit fit.

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
override ACCUMULATE: bool = false;

@group(0) @binding(0) var<storage, read> src0: array<f32>;
@group(0) @binding(1) var<storage, read> src1: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * 64u;
}

@compute @workgroup_size(64)
fn naive_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  if (e >= BATCH * OUT_H * OUT_W * COUT) { return; }
  let co = e % COUT;
  let p = e / COUT;
  let ow = p % OUT_W;
  let oh = (p / OUT_W) % OUT_H;
  let b = p / (OUT_W * OUT_H);
  var s = 0.0;
  for (var i = 0u; i < KH; i++) {
    let ih = oh * STRIDE + i - PAD;
    if (ih >= IN_H) { continue; }
    for (var j = 0u; j < KW; j++) {
      let iw = ow * STRIDE + j - PAD;
      if (iw >= IN_W) { continue; }
      for (var ci = 0u; ci < CIN; ci++) {
        s = fma(src0[((b * IN_H + ih) * IN_W + iw) * CIN + ci], src1[((i * KW + j) * CIN + ci) * COUT + co], s);
      }
    }
  }
  dst[e] = s;
}

@compute @workgroup_size(64)
fn naive_input_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  if (e >= BATCH * IN_H * IN_W * CIN) { return; }
  let ci = e % CIN;
  let p = e / CIN;
  let w = p % IN_W;
  let h = (p / IN_W) % IN_H;
  let b = p / (IN_W * IN_H);
  var s = 0.0;
  for (var i = 0u; i < KH; i++) {
    let th = h + PAD - i; // = oh·S when this tap contributes (wraps when negative)
    if (th >= OUT_H * STRIDE || th % STRIDE != 0u) { continue; }
    let oh = th / STRIDE;
    for (var j = 0u; j < KW; j++) {
      let tw = w + PAD - j;
      if (tw >= OUT_W * STRIDE || tw % STRIDE != 0u) { continue; }
      let ow = tw / STRIDE;
      for (var co = 0u; co < COUT; co++) {
        s = fma(src0[((b * OUT_H + oh) * OUT_W + ow) * COUT + co], src1[((i * KW + j) * CIN + ci) * COUT + co], s);
      }
    }
  }
  dst[e] = s;
}

@compute @workgroup_size(64)
fn naive_weight_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  if (e >= KH * KW * CIN * COUT) { return; }
  let co = e % COUT;
  let r = e / COUT;
  let ci = r % CIN;
  let j = (r / CIN) % KW;
  let i = r / (CIN * KW);
  var s = 0.0;
  for (var b = 0u; b < BATCH; b++) {
    for (var oh = 0u; oh < OUT_H; oh++) {
      let ih = oh * STRIDE + i - PAD;
      if (ih >= IN_H) { continue; }
      for (var ow = 0u; ow < OUT_W; ow++) {
        let iw = ow * STRIDE + j - PAD;
        if (iw >= IN_W) { continue; }
        s = fma(src0[((b * IN_H + ih) * IN_W + iw) * CIN + ci], src1[((b * OUT_H + oh) * OUT_W + ow) * COUT + co], s);
      }
    }
  }
  if (ACCUMULATE) { s += dst[e]; }
  dst[e] = s;
}
