// Augmentation of a batch of uint8 images into normalised f32 NHWC views, all on the GPU.
// One workgroup per (sample, view), dispatched as (batch, views, 1). Invocation 0 draws the
// sample's parameters from the counter-based hash RNG — word = pcg(base + op), base =
// pcg(pcg(pcg(pcg(pcg(seed) + step) + sample) + view) + …), see src/data/rng.ts, its TS twin —
// writes them to `params` (for the reference, tests and the UI) and shares them through
// workgroup memory; then all 64 invocations process the pixels p = lid, lid + 64, … of the view.
//
// Pipeline (torchvision's order for the official MIRA CIFAR recipe), in 0…255 pixel units:
//   zero pad → RandomResizedCrop (bilinear, align_corners=False, no antialias) + horizontal flip
//   → ColorJitter with probability (brightness, contrast, saturation, hue in a random order)
//   → grayscale with probability → solarize with probability (listed views only)
//   → (x/255 − mean) / std; output channels ≥ C are zero (C = 3 → 4 for the stem's vec4 loads).
// `out` doubles as the scratch image between stages: each invocation only ever touches its own
// pixels, so no barrier is needed except around contrast's image mean (a workgroup reduction in a
// fixed order: deterministic).
//
// Bindings: 0 config (uniform, see packAugmentConfig), 1 step (uniform: seed, step, first view),
// 2 images (packed uint8, 4 per u32), 3 indices (u32 per sample), 4 out (f32
// [views][batch][S][S][C_out]), 5 params (u32 [views][batch][16], see decodeAugmentParams).

struct Config {
  batch: u32, in_h: u32, in_w: u32, in_c: u32,
  pad: u32, out_size: u32, out_c: u32, views: u32,
  num_images: u32, crop: u32, scale_lo: f32, scale_hi: f32,
  logr_lo: f32, logr_hi: f32, ratio_lo: f32, ratio_hi: f32,
  flip_thr: u32, jitter_thr: u32, gray_thr: u32, solar_thr: u32,
  solar_views: u32, jitter_ops: u32, solar_level: f32, _p0: u32,
  b_lo: f32, b_hi: f32, c_lo: f32, c_hi: f32,
  s_lo: f32, s_hi: f32, hue: f32, _p1: u32,
  mean: vec4<f32>,
  stdev: vec4<f32>,
}

struct Step {
  seed: u32,
  step: u32,
  view_offset: u32,
  _p: u32,
}

@group(0) @binding(0) var<uniform> cfg: Config;
@group(0) @binding(1) var<uniform> stp: Step;
@group(0) @binding(2) var<storage, read> images: array<u32>;
@group(0) @binding(3) var<storage, read> indices: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> params: array<u32>;

const WG: u32 = 64u;
const NO_IMAGE: u32 = 0xffffffffu;

// Op numbers (AUGMENT_OPS in rng.ts).
const OP_FLIP: u32 = 100u;
const OP_JITTER: u32 = 101u;
const OP_BRIGHTNESS: u32 = 102u;
const OP_CONTRAST: u32 = 103u;
const OP_SATURATION: u32 = 104u;
const OP_HUE: u32 = 105u;
const OP_ORDER: u32 = 106u;
const OP_GRAY: u32 = 109u;
const OP_SOLARIZE: u32 = 110u;
const OP_CHECK: u32 = 0x7fffu;

var<workgroup> wg_prm: array<u32, 16>;
var<workgroup> wg_sum: array<f32, WG>;

fn pcg(x: u32) -> u32 {
  let state = x * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

fn rand_base(seed: u32, step: u32, sample: u32, view: u32) -> u32 {
  var h = pcg(seed);
  h = pcg(h + step);
  h = pcg(h + sample);
  return pcg(h + view);
}

fn word(base: u32, op: u32) -> u32 { return pcg(base + op); }
fn unit(w: u32) -> f32 { return f32(w >> 8u) * (1.0 / 16777216.0); }
fn randint(w: u32, n: u32) -> u32 { return ((w >> 16u) * n) >> 16u; }
fn chance(w: u32, thr: u32) -> bool { return (w >> 8u) < thr; }
fn uniform_in(base: u32, op: u32, lo: f32, hi: f32) -> f32 { return lo + (hi - lo) * unit(word(base, op)); }

fn make_params(sample: u32, vl: u32) -> array<u32, 16> {
  var p: array<u32, 16>;
  let view = stp.view_offset + vl;
  let base = rand_base(stp.seed, stp.step, sample, view);
  let hp = cfg.in_h + 2u * cfg.pad;
  let wp = cfg.in_w + 2u * cfg.pad;

  // RandomResizedCrop.get_params: 10 attempts, then the central crop with the ratio clamped.
  var ci = 0u;
  var cj = 0u;
  var ch = hp;
  var cw = wp;
  var attempt = 11u;
  if (cfg.crop != 0u) {
    attempt = 10u;
    let area = f32(hp * wp);
    for (var t = 0u; t < 10u; t++) {
      let target_area = area * uniform_in(base, 4u * t, cfg.scale_lo, cfg.scale_hi);
      let aspect = exp(uniform_in(base, 4u * t + 1u, cfg.logr_lo, cfg.logr_hi));
      let w = i32(round(sqrt(target_area * aspect)));
      let h = i32(round(sqrt(target_area / aspect)));
      if (w > 0 && w <= i32(wp) && h > 0 && h <= i32(hp)) {
        ch = u32(h);
        cw = u32(w);
        ci = randint(word(base, 4u * t + 2u), hp - ch + 1u);
        cj = randint(word(base, 4u * t + 3u), wp - cw + 1u);
        attempt = t;
        break;
      }
    }
    if (attempt == 10u) {
      let in_ratio = f32(wp) / f32(hp);
      if (in_ratio < cfg.ratio_lo) {
        cw = wp;
        ch = max(1u, min(hp, u32(round(f32(cw) / cfg.ratio_lo))));
      } else if (in_ratio > cfg.ratio_hi) {
        ch = hp;
        cw = max(1u, min(wp, u32(round(f32(ch) * cfg.ratio_hi))));
      }
      ci = (hp - ch) / 2u;
      cj = (wp - cw) / 2u;
    }
  }
  p[0] = ci;
  p[1] = cj;
  p[2] = ch;
  p[3] = cw;
  p[4] = select(0u, 1u, chance(word(base, OP_FLIP), cfg.flip_thr));
  p[5] = select(0u, 1u, chance(word(base, OP_JITTER), cfg.jitter_thr));
  // torchvision's ColorJitter applies its ops in a random order (randperm(4)): Fisher–Yates.
  var perm = array<u32, 4>(0u, 1u, 2u, 3u);
  for (var k = 0u; k < 3u; k++) {
    let i = 3u - k;
    let j = randint(word(base, OP_ORDER + k), i + 1u);
    let tmp = perm[i];
    perm[i] = perm[j];
    perm[j] = tmp;
  }
  p[6] = perm[0] | (perm[1] << 2u) | (perm[2] << 4u) | (perm[3] << 6u);
  p[7] = bitcast<u32>(uniform_in(base, OP_BRIGHTNESS, cfg.b_lo, cfg.b_hi));
  p[8] = bitcast<u32>(uniform_in(base, OP_CONTRAST, cfg.c_lo, cfg.c_hi));
  p[9] = bitcast<u32>(uniform_in(base, OP_SATURATION, cfg.s_lo, cfg.s_hi));
  p[10] = bitcast<u32>(uniform_in(base, OP_HUE, -cfg.hue, cfg.hue));
  p[11] = select(0u, 1u, chance(word(base, OP_GRAY), cfg.gray_thr));
  let solar_view = view < 32u && ((cfg.solar_views >> min(view, 31u)) & 1u) != 0u;
  p[12] = select(0u, 1u, solar_view && chance(word(base, OP_SOLARIZE), cfg.solar_thr));
  p[13] = attempt;
  let img = indices[sample];
  p[14] = select(NO_IMAGE, img, img < cfg.num_images);
  p[15] = word(base, OP_CHECK);
  return p;
}

// A padded-image pixel (0…255), zero outside the image.
fn pixel(img: u32, yy: u32, xx: u32, c: u32) -> f32 {
  let y = i32(yy) - i32(cfg.pad);
  let x = i32(xx) - i32(cfg.pad);
  if (img == NO_IMAGE || y < 0 || x < 0 || y >= i32(cfg.in_h) || x >= i32(cfg.in_w)) { return 0.0; }
  let byte = ((img * cfg.in_h + u32(y)) * cfg.in_w + u32(x)) * cfg.in_c + c;
  return f32((images[byte >> 2u] >> ((byte & 3u) * 8u)) & 0xffu);
}

// torchvision's rgb_to_grayscale weights.
fn gray(v: vec3<f32>) -> f32 { return 0.2989 * v.x + 0.587 * v.y + 0.114 * v.z; }

fn load3(at: u32) -> vec3<f32> { return vec3<f32>(out[at], out[at + 1u], out[at + 2u]); }
fn store3(at: u32, v: vec3<f32>) {
  out[at] = v.x;
  out[at + 1u] = v.y;
  out[at + 2u] = v.z;
}

fn luma_at(at: u32) -> f32 {
  if (cfg.in_c == 3u) { return gray(load3(at)); }
  return out[at];
}

// RGB in [0, 1] → HSV, as torchvision's tensor implementation.
fn rgb_to_hsv(c: vec3<f32>) -> vec3<f32> {
  let maxc = max(c.x, max(c.y, c.z));
  let minc = min(c.x, min(c.y, c.z));
  let cr = maxc - minc;
  let is_flat = maxc == minc;
  let s = cr / select(maxc, 1.0, is_flat);
  let d = select(cr, 1.0, is_flat);
  let rc = (maxc - c.x) / d;
  let gc = (maxc - c.y) / d;
  let bc = (maxc - c.z) / d;
  var h: f32;
  if (maxc == c.x) {
    h = bc - gc;
  } else if (maxc == c.y) {
    h = 2.0 + rc - bc;
  } else {
    h = 4.0 + gc - rc;
  }
  h = fract(h / 6.0 + 1.0);
  return vec3<f32>(h, s, maxc);
}

fn hsv_to_rgb(c: vec3<f32>) -> vec3<f32> {
  let h6 = c.x * 6.0;
  let i = floor(h6);
  let f = h6 - i;
  let sector = u32(i) % 6u;
  let v = c.z;
  let s = c.y;
  let p = clamp(v * (1.0 - s), 0.0, 1.0);
  let q = clamp(v * (1.0 - s * f), 0.0, 1.0);
  let t = clamp(v * (1.0 - s * (1.0 - f)), 0.0, 1.0);
  switch (sector) {
    case 0u: { return vec3<f32>(v, t, p); }
    case 1u: { return vec3<f32>(q, v, p); }
    case 2u: { return vec3<f32>(p, v, t); }
    case 3u: { return vec3<f32>(p, q, v); }
    case 4u: { return vec3<f32>(t, p, v); }
    default: { return vec3<f32>(v, p, q); }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let sample = wid.x;
  let vl = wid.y;
  if (lid == 0u) {
    let p = make_params(sample, vl);
    let o = (vl * cfg.batch + sample) * 16u;
    for (var k = 0u; k < 16u; k++) {
      params[o + k] = p[k];
      wg_prm[k] = p[k];
    }
  }
  let prm = workgroupUniformLoad(&wg_prm);

  let S = cfg.out_size;
  let n = S * S;
  let co = cfg.out_c;
  let C = cfg.in_c;
  let base_out = (vl * cfg.batch + sample) * n * co;
  let ci = prm[0];
  let cj = prm[1];
  let ch = prm[2];
  let cw = prm[3];
  let flip = prm[4] != 0u;
  let img = prm[14];

  // 1. Crop + resize (bilinear, half-pixel centres, edge-clamped, as torch's upsample_bilinear2d
  //    with align_corners=False) + horizontal flip.
  let sh = f32(ch) / f32(S);
  let sw = f32(cw) / f32(S);
  for (var p = lid; p < n; p += WG) {
    let oy = p / S;
    var ox = p % S;
    if (flip) { ox = S - 1u - ox; }
    let sy = max((f32(oy) + 0.5) * sh - 0.5, 0.0);
    let sx = max((f32(ox) + 0.5) * sw - 0.5, 0.0);
    let y0 = min(u32(sy), ch - 1u);
    let x0 = min(u32(sx), cw - 1u);
    let y1 = min(y0 + 1u, ch - 1u);
    let x1 = min(x0 + 1u, cw - 1u);
    let ly = sy - f32(y0);
    let lx = sx - f32(x0);
    for (var c = 0u; c < C; c++) {
      let v00 = pixel(img, ci + y0, cj + x0, c);
      let v01 = pixel(img, ci + y0, cj + x1, c);
      let v10 = pixel(img, ci + y1, cj + x0, c);
      let v11 = pixel(img, ci + y1, cj + x1, c);
      out[base_out + p * co + c] = (1.0 - ly) * ((1.0 - lx) * v00 + lx * v01) + ly * ((1.0 - lx) * v10 + lx * v11);
    }
  }

  // 2. Colour jitter, ops in the drawn order (0 brightness, 1 contrast, 2 saturation, 3 hue).
  if (prm[5] != 0u) {
    for (var k = 0u; k < 4u; k++) {
      let op = (prm[6] >> (2u * k)) & 3u;
      if ((cfg.jitter_ops & (1u << op)) == 0u) { continue; }
      let f = bitcast<f32>(prm[7u + op]);
      if (op == 1u) {
        // Contrast blends with the mean grey level of the whole (current) view.
        var s = 0.0;
        for (var p = lid; p < n; p += WG) { s += luma_at(base_out + p * co); }
        wg_sum[lid] = s;
        workgroupBarrier();
        for (var off = WG / 2u; off > 0u; off = off >> 1u) {
          if (lid < off) { wg_sum[lid] += wg_sum[lid + off]; }
          workgroupBarrier();
        }
        let mean = wg_sum[0] / f32(n);
        workgroupBarrier();
        for (var p = lid; p < n; p += WG) {
          let at = base_out + p * co;
          for (var c = 0u; c < C; c++) { out[at + c] = clamp(f * out[at + c] + (1.0 - f) * mean, 0.0, 255.0); }
        }
      } else if (op == 0u) {
        for (var p = lid; p < n; p += WG) {
          let at = base_out + p * co;
          for (var c = 0u; c < C; c++) { out[at + c] = clamp(f * out[at + c], 0.0, 255.0); }
        }
      } else if (op == 2u) {
        for (var p = lid; p < n; p += WG) {
          let at = base_out + p * co;
          let v = load3(at);
          store3(at, clamp(f * v + (1.0 - f) * gray(v), vec3<f32>(0.0), vec3<f32>(255.0)));
        }
      } else {
        for (var p = lid; p < n; p += WG) {
          let at = base_out + p * co;
          var hsv = rgb_to_hsv(load3(at) / 255.0);
          hsv.x = fract(hsv.x + f);
          store3(at, hsv_to_rgb(hsv) * 255.0);
        }
      }
    }
  }

  // 3. Grayscale, solarize, normalise; pad channels with zeros.
  let to_gray = prm[11] != 0u && C == 3u;
  let solar = prm[12] != 0u;
  for (var p = lid; p < n; p += WG) {
    let at = base_out + p * co;
    var l = 0.0;
    if (to_gray) { l = gray(load3(at)); }
    for (var c = 0u; c < co; c++) {
      if (c < C) {
        var x = out[at + c];
        if (to_gray) { x = l; }
        if (solar && x >= cfg.solar_level) { x = 255.0 - x; }
        out[at + c] = (x / 255.0 - cfg.mean[c]) / cfg.stdev[c];
      } else {
        out[at + c] = 0.0;
      }
    }
  }
}
