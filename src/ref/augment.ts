// Float64 reference of the GPU augmentation (src/shaders/augment.wgsl): the same parameter
// draws from the same hash RNG (src/data/rng.ts, bit-identical to the WGSL), and the same
// pixel pipeline, in float64. `augmentParamsRef` draws the parameters; `augmentRef` applies any
// given parameters (e.g. the GPU's own, read back from Augmenter.params), so the pixel pipeline
// can be compared to 1e-5 independently of the crop sizes' float rounding.
import type { AugmentConfig, AugmentSampleParams } from '../data/augment-config.ts';
import { AUGMENT_OPS, randBase, randWord, wordToInt, wordToUnit } from '../data/rng.ts';

const NO_IMAGE = 0xffffffff;

/** Python's round(): half to even (WGSL's round() does the same). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const chance = (w: number, thr: number) => w >>> 8 < thr;

/** The parameters of every (view, sample), as the GPU draws them (floats in float64). */
export function augmentParamsRef(cfg: AugmentConfig, seed: number, step: number, indices: ArrayLike<number>, numImages: number): AugmentSampleParams[][] {
  const out: AugmentSampleParams[][] = [];
  const hp = cfg.paddedHeight;
  const wp = cfg.paddedWidth;
  for (let vl = 0; vl < cfg.views; vl++) {
    const row: AugmentSampleParams[] = [];
    const view = cfg.viewOffset + vl;
    for (let sample = 0; sample < cfg.batch; sample++) {
      const base = randBase(seed, step, sample, view);
      const u = (op: number, lo: number, hi: number) => lo + (hi - lo) * wordToUnit(randWord(base, op));
      let ci = 0;
      let cj = 0;
      let ch = hp;
      let cw = wp;
      let attempt = 11;
      if (cfg.crop) {
        attempt = 10;
        const area = hp * wp;
        for (let t = 0; t < 10; t++) {
          const target = area * u(4 * t, cfg.scaleLo, cfg.scaleHi);
          const aspect = Math.exp(u(4 * t + 1, cfg.logRatioLo, cfg.logRatioHi));
          const w = roundHalfEven(Math.sqrt(target * aspect));
          const h = roundHalfEven(Math.sqrt(target / aspect));
          if (w > 0 && w <= wp && h > 0 && h <= hp) {
            ch = h;
            cw = w;
            ci = wordToInt(randWord(base, 4 * t + 2), hp - h + 1);
            cj = wordToInt(randWord(base, 4 * t + 3), wp - w + 1);
            attempt = t;
            break;
          }
        }
        if (attempt === 10) {
          const inRatio = wp / hp;
          if (inRatio < cfg.ratioLo) {
            cw = wp;
            ch = Math.max(1, Math.min(hp, roundHalfEven(cw / cfg.ratioLo)));
          } else if (inRatio > cfg.ratioHi) {
            ch = hp;
            cw = Math.max(1, Math.min(wp, roundHalfEven(ch * cfg.ratioHi)));
          }
          ci = Math.floor((hp - ch) / 2);
          cj = Math.floor((wp - cw) / 2);
        }
      }
      const perm = [0, 1, 2, 3];
      for (let k = 0; k < 3; k++) {
        const i = 3 - k;
        const j = wordToInt(randWord(base, AUGMENT_OPS.ORDER_0 + k), i + 1);
        [perm[i], perm[j]] = [perm[j]!, perm[i]!];
      }
      const solarView = view < 32 && ((cfg.solarizeViews >>> view) & 1) !== 0;
      const img = indices[sample]!;
      row.push({
        cropY: ci,
        cropX: cj,
        cropH: ch,
        cropW: cw,
        flip: chance(randWord(base, AUGMENT_OPS.FLIP), cfg.flipThreshold),
        jitter: chance(randWord(base, AUGMENT_OPS.JITTER_APPLY), cfg.jitterThreshold),
        order: perm as [number, number, number, number],
        brightness: u(AUGMENT_OPS.BRIGHTNESS, cfg.brightness[0], cfg.brightness[1]),
        contrast: u(AUGMENT_OPS.CONTRAST, cfg.contrast[0], cfg.contrast[1]),
        saturation: u(AUGMENT_OPS.SATURATION, cfg.saturation[0], cfg.saturation[1]),
        hue: u(AUGMENT_OPS.HUE, -cfg.hue, cfg.hue),
        grayscale: chance(randWord(base, AUGMENT_OPS.GRAYSCALE), cfg.grayscaleThreshold),
        solarize: solarView && chance(randWord(base, AUGMENT_OPS.SOLARIZE), cfg.solarizeThreshold),
        attempt,
        image: img < numImages ? img : NO_IMAGE,
        check: randWord(base, AUGMENT_OPS.CHECK),
      });
    }
    out.push(row);
  }
  return out;
}

const gray = (r: number, g: number, b: number) => 0.2989 * r + 0.587 * g + 0.114 * b;
const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

function rgbToHsv(r: number, g: number, b: number): [number, number, number] {
  const maxc = Math.max(r, g, b);
  const minc = Math.min(r, g, b);
  const cr = maxc - minc;
  const flat = maxc === minc;
  const s = cr / (flat ? 1 : maxc);
  const d = flat ? 1 : cr;
  const rc = (maxc - r) / d;
  const gc = (maxc - g) / d;
  const bc = (maxc - b) / d;
  let h: number;
  if (maxc === r) h = bc - gc;
  else if (maxc === g) h = 2 + rc - bc;
  else h = 4 + gc - rc;
  const x = h / 6 + 1;
  return [x - Math.floor(x), s, maxc];
}

function hsvToRgb(h: number, s: number, v: number): [number, number, number] {
  const h6 = h * 6;
  const i = Math.floor(h6);
  const f = h6 - i;
  const sector = i % 6;
  const p = clamp(v * (1 - s), 0, 1);
  const q = clamp(v * (1 - s * f), 0, 1);
  const t = clamp(v * (1 - s * (1 - f)), 0, 1);
  switch (sector) {
    case 0:
      return [v, t, p];
    case 1:
      return [q, v, p];
    case 2:
      return [p, v, t];
    case 3:
      return [p, q, v];
    case 4:
      return [t, p, v];
    default:
      return [v, p, q];
  }
}

/**
 * Applies `params` ([view][sample]) to `images` (uint8 N×H×W×C) in float64. Returns
 * [views][batch][outSize][outSize][outChannels], normalised, extra channels zero.
 */
export function augmentRef(cfg: AugmentConfig, images: Uint8Array, params: AugmentSampleParams[][]): Float64Array {
  const { outSize: S, outChannels: co, channels: C, height: H, width: W, pad } = cfg;
  const n = S * S;
  const out = new Float64Array(cfg.views * cfg.batch * n * co);
  const x = new Float64Array(n * C);
  const pixel = (img: number, yy: number, xx: number, c: number) => {
    const y = yy - pad;
    const xq = xx - pad;
    if (img === NO_IMAGE || y < 0 || xq < 0 || y >= H || xq >= W) return 0;
    return images[((img * H + y) * W + xq) * C + c]!;
  };
  for (let v = 0; v < cfg.views; v++) {
    for (let s = 0; s < cfg.batch; s++) {
      const p = params[v]![s]!;
      // 1. crop + resize + flip
      const sh = p.cropH / S;
      const sw = p.cropW / S;
      for (let oy = 0; oy < S; oy++) {
        for (let ox0 = 0; ox0 < S; ox0++) {
          const ox = p.flip ? S - 1 - ox0 : ox0;
          const sy = Math.max((oy + 0.5) * sh - 0.5, 0);
          const sx = Math.max((ox + 0.5) * sw - 0.5, 0);
          const y0 = Math.min(Math.floor(sy), p.cropH - 1);
          const x0 = Math.min(Math.floor(sx), p.cropW - 1);
          const y1 = Math.min(y0 + 1, p.cropH - 1);
          const x1 = Math.min(x0 + 1, p.cropW - 1);
          const ly = sy - y0;
          const lx = sx - x0;
          for (let c = 0; c < C; c++) {
            const v00 = pixel(p.image, p.cropY + y0, p.cropX + x0, c);
            const v01 = pixel(p.image, p.cropY + y0, p.cropX + x1, c);
            const v10 = pixel(p.image, p.cropY + y1, p.cropX + x0, c);
            const v11 = pixel(p.image, p.cropY + y1, p.cropX + x1, c);
            x[(oy * S + ox0) * C + c] = (1 - ly) * ((1 - lx) * v00 + lx * v01) + ly * ((1 - lx) * v10 + lx * v11);
          }
        }
      }
      // 2. colour jitter
      if (p.jitter) {
        for (const op of p.order) {
          if (!(cfg.jitterOps & (1 << op))) continue;
          if (op === 0) {
            for (let i = 0; i < x.length; i++) x[i] = clamp(p.brightness * x[i]!, 0, 255);
          } else if (op === 1) {
            let sum = 0;
            for (let i = 0; i < n; i++) sum += C === 3 ? gray(x[3 * i]!, x[3 * i + 1]!, x[3 * i + 2]!) : x[i]!;
            const mean = sum / n;
            const f = p.contrast;
            for (let i = 0; i < x.length; i++) x[i] = clamp(f * x[i]! + (1 - f) * mean, 0, 255);
          } else if (op === 2) {
            const f = p.saturation;
            for (let i = 0; i < n; i++) {
              const l = gray(x[3 * i]!, x[3 * i + 1]!, x[3 * i + 2]!);
              for (let c = 0; c < 3; c++) x[3 * i + c] = clamp(f * x[3 * i + c]! + (1 - f) * l, 0, 255);
            }
          } else {
            for (let i = 0; i < n; i++) {
              const [h, sat, val] = rgbToHsv(x[3 * i]! / 255, x[3 * i + 1]! / 255, x[3 * i + 2]! / 255);
              const hh = h + p.hue;
              const rgb = hsvToRgb(hh - Math.floor(hh), sat, val);
              for (let c = 0; c < 3; c++) x[3 * i + c] = rgb[c]! * 255;
            }
          }
        }
      }
      // 3. grayscale, solarize, normalise
      const toGray = p.grayscale && C === 3;
      const base = (v * cfg.batch + s) * n * co;
      for (let i = 0; i < n; i++) {
        const l = toGray ? gray(x[3 * i]!, x[3 * i + 1]!, x[3 * i + 2]!) : 0;
        for (let c = 0; c < C; c++) {
          let val = toGray ? l : x[i * C + c]!;
          if (p.solarize && val >= cfg.solarizeLevel) val = 255 - val;
          out[base + i * co + c] = (val / 255 - cfg.mean[c]!) / cfg.std[c]!;
        }
      }
    }
  }
  return out;
}
