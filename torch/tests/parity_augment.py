#!/usr/bin/env python3
"""Parity of torch_mira.augment with the playground's augmentation (not in CI: needs torch).

Runs scripts/torch-augment-views.ts (the playground's float64 reference of the GPU augmentation,
src/ref/augment.ts, with the GPU's hash RNG) on a fixed batch of 64 images for the 'cifar' preset
(3 channels: crop, flip, jitter with brightness/contrast/saturation/hue in random order, grayscale,
solarize on view 2) and the 'fashion-mnist' preset (1 channel, 28→32 padding), then draws the
same parameters and views with torch_mira.augment and compares: every parameter exactly (crop box,
flip, jitter on/off and order, grayscale, solarize) and the factors to 1e-6; the pixels to 1e-3 of
the normalised range (float32 against float64). Exits 1 on any failure.

From the repository root:  /usr/bin/python3 torch/tests/parity_augment.py [--work DIR]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.dont_write_bytecode = True
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "torch"))
from torch_mira.augment import Augmenter  # noqa: E402

PIXEL_TOL = 1e-3


def check(preset, work):
    images = np.load(os.path.join(work, f"{preset}.images.npy"))
    ref_views = np.load(os.path.join(work, f"{preset}.views.npy"))
    meta = json.load(open(os.path.join(work, f"{preset}.params.json")))
    n, H, W, C = images.shape
    aug = Augmenter(preset, H, W, C, 32, meta["seed"])
    samples = list(range(n))
    bad = []
    worst = 0.0
    for v in range(2):
        p = aug.params(meta["step"], samples, v)
        for s, r in enumerate(meta["params"][v]):
            got = {"cropY": p["ci"][s], "cropX": p["cj"][s], "cropH": p["ch"][s], "cropW": p["cw"][s], "flip": bool(p["flip"][s]),
                   "jitter": bool(p["jitter"][s]), "order": list(p["order"][s]), "grayscale": bool(p["gray"][s]), "solarize": bool(p["solarize"][s])}
            for k, g in got.items():
                want = r[k]
                if (list(want) if isinstance(want, list) else want) != (g if not isinstance(g, np.generic) else g.item()):
                    bad.append(f"view {v} sample {s} {k}: torch {g}, playground {want}")
            for i, k in enumerate(("brightness", "contrast", "saturation", "hue")):
                if abs(float(p["factors"][s, i]) - r[k]) > 1e-6:
                    bad.append(f"view {v} sample {s} {k}: torch {p['factors'][s, i]}, playground {r[k]}")
        x = aug(images, meta["step"], samples, v).permute(0, 2, 3, 1).numpy()
        worst = max(worst, float(np.abs(x - ref_views[v]).max()))
    applied = sum(r["jitter"] for v in range(2) for r in meta["params"][v])
    ok = not bad and worst <= PIXEL_TOL
    print(f"{'PASS' if ok else 'FAIL'} {preset:13s} parameters {'identical' if not bad else f'{len(bad)} differ, e.g. ' + bad[0]} "
          f"(2 views × {n} images, {applied} jittered); pixels max|diff| {worst:.2e} (normalised units)")
    return ok


def main():
    ap = argparse.ArgumentParser(description="augmentation parity: torch_mira vs the playground's reference")
    ap.add_argument("--work", default=None)
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="mira-augment-")
    subprocess.run(["npx", "vite-node", "scripts/torch-augment-views.ts", "--", work], cwd=ROOT, check=True, capture_output=True)
    results = [check(p, work) for p in ("cifar", "fashion-mnist")]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
