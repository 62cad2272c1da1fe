"""The playground's augmentation recipes in torch ops (no torchvision needed), with the playground's
own random draws: src/data/augment-config.ts (presets), src/shaders/augment.wgsl (the pipeline).

Pipeline, in 0…255 pixel units, per image of each view (torchvision's order of the official MIRA
CIFAR recipe): zero pad (28 → 32) → RandomResizedCrop (bilinear, half-pixel centres, no antialias)
+ horizontal flip → ColorJitter with probability (brightness, contrast, saturation, hue in a random
order) → grayscale with probability → solarize with probability (second view only) →
(x/255 − mean)/std with the preset's mean/std.

Every random choice is the hash word of (seed, step, sample-in-global-batch, view, op) (rng.py), so
the parameters equal the playground's exactly (up to the float32 exp/sqrt rounding of a crop size
in rare ties); the pixels then agree to float32 rounding. torchvision's transforms draw from
torch's RNG instead and would match the recipe but not the draws, hence torch ops here.

Presets: 'cifar' (3 channels), 'fashion-mnist' (1 channel), 'none' (pad + normalise).
"""
import math

import numpy as np
import torch

from .rng import rand_base_np, word_np

f32 = np.float32
RATIO = (3 / 4, 4 / 3)
PRESETS = {
    "cifar": {"crop": {"scale": (0.2, 1.0), "ratio": RATIO}, "flip": 0.5,
              "jitter": {"brightness": 0.4, "contrast": 0.4, "saturation": 0.2, "hue": 0.1, "p": 0.8},
              "grayscale": 0.2, "solarize": {"p": 0.2, "views": [1], "threshold": 128},
              "mean": [0.4914, 0.4822, 0.4465], "std": [0.247, 0.243, 0.261]},
    "fashion-mnist": {"crop": {"scale": (0.3, 1.0), "ratio": RATIO}, "flip": 0.5,
                      "jitter": {"brightness": 0.4, "contrast": 0.4, "saturation": 0.0, "hue": 0.0, "p": 0.8},
                      "grayscale": 0.0, "solarize": None, "mean": [0.286], "std": [0.353]},
    "none": {"crop": None, "flip": 0.0, "jitter": None, "grayscale": 0.0, "solarize": None, "mean": None, "std": None},
}
OP_FLIP, OP_JITTER, OP_BRIGHTNESS, OP_CONTRAST, OP_SATURATION, OP_HUE, OP_ORDER, OP_GRAY, OP_SOLARIZE = 100, 101, 102, 103, 104, 105, 106, 109, 110


def preset_for(augment, channels):
    """The trainer's choice (src/mira/trainer.ts): 'none', else by the channel count."""
    return "none" if augment == "none" else "cifar" if channels == 3 else "fashion-mnist"


def threshold(p):
    return int(round(p * 16777216))


def unit(w):
    return (w >> np.uint64(8)).astype(f32) * f32(1 / 16777216)


def randint(w, n):
    return ((w >> np.uint64(16)) * np.asarray(n, dtype=np.uint64)) >> np.uint64(16)


def chance(w, thr):
    return (w >> np.uint64(8)) < np.uint64(thr)


def uniform_in(base, op, lo, hi):
    return f32(lo) + (f32(hi) - f32(lo)) * unit(word_np(base, op))


class Augmenter:
    def __init__(self, preset, height, width, channels, out_size, seed):
        self.p = PRESETS[preset]
        self.preset = preset
        self.H, self.W, self.C, self.S, self.seed = height, width, channels, out_size, seed
        self.pad = max(0, (out_size - max(height, width)) // 2)
        self.hp, self.wp = height + 2 * self.pad, width + 2 * self.pad
        default = PRESETS["cifar" if channels == 3 else "fashion-mnist"]
        self.mean = [f32(x) for x in (self.p["mean"] or default["mean"])]
        self.std = [f32(x) for x in (self.p["std"] or default["std"])]
        j = self.p["jitter"]
        ops = 0
        if j:
            ops = (1 if j["brightness"] > 0 else 0) | (2 if j["contrast"] > 0 else 0) | (4 if channels == 3 and j["saturation"] > 0 else 0) | (8 if channels == 3 and j["hue"] > 0 else 0)
        self.jitter_ops = ops

        def factor(s):
            return (f32(max(0.0, 1 - s)), f32(1 + s)) if s > 0 else (f32(1), f32(1))

        self.brightness = factor(j["brightness"] if j else 0)
        self.contrast = factor(j["contrast"] if j else 0)
        self.saturation = factor(j["saturation"] if j and channels == 3 else 0)
        self.hue = f32(j["hue"] if j and channels == 3 else 0)
        self.jitter_thr = threshold(j["p"]) if j and ops else 0
        self.flip_thr = threshold(self.p["flip"])
        self.gray_thr = threshold(self.p["grayscale"]) if channels == 3 else 0
        sol = self.p["solarize"]
        self.solar_thr = threshold(sol["p"]) if sol else 0
        self.solar_views = sum(1 << v for v in (sol["views"] if sol else []))
        self.solar_level = f32(sol["threshold"] if sol else 128)

    # ---- the per-image parameters (make_params in augment.wgsl) --------------------------------
    def params(self, step, samples, view):
        n = len(samples)
        base = rand_base_np(self.seed, step, samples, view)
        hp, wp = self.hp, self.wp
        ci = np.zeros(n, np.int64)
        cj = np.zeros(n, np.int64)
        ch = np.full(n, hp, np.int64)
        cw = np.full(n, wp, np.int64)
        crop = self.p["crop"]
        if crop:
            area = f32(hp * wp)
            lo_s, hi_s = crop["scale"]
            lr_lo, lr_hi = f32(math.log(crop["ratio"][0])), f32(math.log(crop["ratio"][1]))
            done = np.zeros(n, bool)
            for t in range(10):
                target = area * uniform_in(base, 4 * t, lo_s, hi_s)
                aspect = np.exp(uniform_in(base, 4 * t + 1, lr_lo, lr_hi)).astype(f32)
                w = np.round(np.sqrt((target * aspect).astype(f32))).astype(np.int64)
                h = np.round(np.sqrt((target / aspect).astype(f32))).astype(np.int64)
                ok = ~done & (w > 0) & (w <= wp) & (h > 0) & (h <= hp)
                ch = np.where(ok, h, ch)
                cw = np.where(ok, w, cw)
                ci = np.where(ok, randint(word_np(base, 4 * t + 2), np.maximum(hp - h + 1, 1)).astype(np.int64), ci)
                cj = np.where(ok, randint(word_np(base, 4 * t + 3), np.maximum(wp - w + 1, 1)).astype(np.int64), cj)
                done |= ok
            if not done.all():
                in_ratio = f32(wp) / f32(hp)
                fh, fw = hp, wp
                if in_ratio < f32(crop["ratio"][0]):
                    fh = max(1, min(hp, int(np.round(f32(fw) / f32(crop["ratio"][0])))))
                elif in_ratio > f32(crop["ratio"][1]):
                    fw = max(1, min(wp, int(np.round(f32(fh) * f32(crop["ratio"][1])))))
                ch = np.where(done, ch, fh)
                cw = np.where(done, cw, fw)
                ci = np.where(done, ci, (hp - fh) // 2)
                cj = np.where(done, cj, (wp - fw) // 2)
        perm = np.tile(np.arange(4, dtype=np.int64), (n, 1))
        for k in range(3):
            i = 3 - k
            j = randint(word_np(base, OP_ORDER + k), i + 1).astype(np.int64)
            rows = np.arange(n)
            a, b = perm[rows, i].copy(), perm[rows, j].copy()
            perm[rows, i], perm[rows, j] = b, a
        solar_view = view < 32 and (self.solar_views >> view) & 1
        return {
            "ci": ci, "cj": cj, "ch": ch, "cw": cw,
            "flip": chance(word_np(base, OP_FLIP), self.flip_thr),
            "jitter": chance(word_np(base, OP_JITTER), self.jitter_thr),
            "order": perm,
            "factors": np.stack([uniform_in(base, OP_BRIGHTNESS, *self.brightness), uniform_in(base, OP_CONTRAST, *self.contrast),
                                 uniform_in(base, OP_SATURATION, *self.saturation), uniform_in(base, OP_HUE, -self.hue, self.hue)], 1),
            "gray": chance(word_np(base, OP_GRAY), self.gray_thr),
            "solarize": chance(word_np(base, OP_SOLARIZE), self.solar_thr) & bool(solar_view),
        }

    # ---- the pixels -----------------------------------------------------------------------------
    def __call__(self, images, step, samples, view, device="cpu"):
        """images: uint8 numpy n×H×W×C of the batch; samples: their positions in the GLOBAL batch.
        Returns float32 n×C×S×S (NCHW), normalised."""
        prm = self.params(step, samples, view)
        n, S, C, pad = len(samples), self.S, self.C, self.pad
        x = torch.zeros(n, self.hp + 1, self.wp + 1, C, dtype=torch.float32, device=device)
        x[:, pad:pad + self.H, pad:pad + self.W] = torch.from_numpy(np.ascontiguousarray(images)).to(device, torch.float32)
        t = lambda a, dt=torch.float32: torch.from_numpy(np.asarray(a)).to(device, dt)
        o = torch.arange(S, dtype=torch.float32, device=device)

        def axis(start, size, flip):
            sc = t(size.astype(f32)) / torch.tensor(float(S), dtype=torch.float32, device=device)
            src = o[None, :].expand(n, S)
            if flip is not None:
                src = torch.where(t(flip, torch.bool)[:, None], (S - 1) - src, src)
            s = torch.clamp((src + 0.5) * sc[:, None] - 0.5, min=0.0)
            sz = t(size, torch.int64)[:, None]
            i0 = torch.minimum(s.floor().long(), sz - 1)
            i1 = torch.minimum(i0 + 1, sz - 1)
            return i0 + t(start, torch.int64)[:, None], i1 + t(start, torch.int64)[:, None], s - i0.float()

        y0, y1, ly = axis(prm["ci"], prm["ch"], None)
        x0, x1, lx = axis(prm["cj"], prm["cw"], prm["flip"])
        b = torch.arange(n, device=device)[:, None, None]
        g = lambda yy, xx: x[b, yy[:, :, None], xx[:, None, :]]
        ly, lx = ly[:, :, None, None], lx[:, None, :, None]
        out = (1 - ly) * ((1 - lx) * g(y0, x0) + lx * g(y0, x1)) + ly * ((1 - lx) * g(y1, x0) + lx * g(y1, x1))

        jit = t(prm["jitter"], torch.bool)
        order = t(prm["order"], torch.int64)
        fac = t(prm["factors"])
        for k in range(4):
            for op in range(4):
                if not (self.jitter_ops >> op) & 1:
                    continue
                m = jit & (order[:, k] == op)
                if not bool(m.any()):
                    continue
                v = out[m]
                f = fac[m, op][:, None, None, None]
                if op == 0:
                    v = torch.clamp(f * v, 0.0, 255.0)
                elif op == 1:
                    mean = self.luma(v).mean(dim=(1, 2, 3), keepdim=True)
                    v = torch.clamp(f * v + (1 - f) * mean, 0.0, 255.0)
                elif op == 2:
                    v = torch.clamp(f * v + (1 - f) * gray(v), 0.0, 255.0)
                else:
                    h, s, val = rgb_to_hsv(v / 255.0)
                    h = h + f[..., 0]
                    v = hsv_to_rgb(h - h.floor(), s, val) * 255.0
                out[m] = v
        if C == 3:
            gm = t(prm["gray"], torch.bool)
            out = torch.where(gm[:, None, None, None], gray(out).expand_as(out), out)
        sm = t(prm["solarize"], torch.bool)[:, None, None, None]
        out = torch.where(sm & (out >= float(self.solar_level)), 255.0 - out, out)
        mean = torch.tensor(self.mean, device=device).reshape(1, 1, 1, C)
        std = torch.tensor(self.std, device=device).reshape(1, 1, 1, C)
        return ((out / 255.0 - mean) / std).permute(0, 3, 1, 2).contiguous()

    def luma(self, v):
        return gray(v) if self.C == 3 else v


def gray(v):
    """torchvision's rgb_to_grayscale weights, keeping a channel axis of 1."""
    return 0.2989 * v[..., 0:1] + 0.587 * v[..., 1:2] + 0.114 * v[..., 2:3]


def rgb_to_hsv(c):
    r, g, b = c[..., 0], c[..., 1], c[..., 2]
    maxc = torch.maximum(r, torch.maximum(g, b))
    minc = torch.minimum(r, torch.minimum(g, b))
    cr = maxc - minc
    flat = maxc == minc
    s = cr / torch.where(flat, torch.ones_like(maxc), maxc)
    d = torch.where(flat, torch.ones_like(cr), cr)
    rc, gc, bc = (maxc - r) / d, (maxc - g) / d, (maxc - b) / d
    h = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = h / 6.0 + 1.0
    return h - h.floor(), s, maxc


def hsv_to_rgb(h, s, v):
    h6 = h * 6.0
    i = h6.floor()
    f = h6 - i
    sector = i.long() % 6
    p = torch.clamp(v * (1.0 - s), 0.0, 1.0)
    q = torch.clamp(v * (1.0 - s * f), 0.0, 1.0)
    t = torch.clamp(v * (1.0 - s * (1.0 - f)), 0.0, 1.0)
    choices = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    out = torch.zeros(*h.shape, 3, dtype=h.dtype, device=h.device)
    for k, (a, b, c) in enumerate(choices):
        m = sector == k
        out[..., 0] = torch.where(m, a, out[..., 0])
        out[..., 1] = torch.where(m, b, out[..., 1])
        out[..., 2] = torch.where(m, c, out[..., 2])
    return out
