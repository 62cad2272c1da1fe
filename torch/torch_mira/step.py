"""`python -m torch_mira.step --checkpoint model.safetensors --view1 a.npy --view2 b.npy
   [--method mira|swav|naive] [--beta 0.7] [--tau-s 0.1] [--tau-t 0.225] [--iters 30] [--eps 0.05]
   --grads grads.safetensors [--json] [--dtype float32|float64]`

The PyTorch twin of `npm run cli -- step` (cli/commands/step.ts), for parity: one forward and
backward on exactly these two uint8 N×H×W×C batches (no augmentation; (x/255 − mean)/std with the
checkpoint's mean/std), teacher = the checkpoint's ema.* weights with the student's W, BN in
training mode; prints one JSON line (loss, target statistics of view 1) and writes the gradient of
every trainable student parameter under its checkpoint name, in PyTorch's layout (p.grad).
"""
import argparse
import json
import sys
import time

import numpy as np
import torch

from . import SUPPORTED_METHODS
from .checkpoint import CheckpointError, models_from_checkpoint, load_checkpoint
from .methods import distribution_stats, swapped_loss, targets_for
from .safetensors import write_safetensors


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m torch_mira.step", description=__doc__.split("\n\n")[1])
    ap.add_argument("--checkpoint", required=True, help="model.safetensors (student, ema.* teacher, mira.config)")
    ap.add_argument("--view1", required=True, help="first view, uint8 N×H×W×C .npy")
    ap.add_argument("--view2", required=True, help="second view, uint8 N×H×W×C .npy")
    ap.add_argument("--method", default="mira", choices=SUPPORTED_METHODS)
    ap.add_argument("--beta", type=float, default=0.7)
    ap.add_argument("--tau-s", type=float, default=0.1)
    ap.add_argument("--tau-t", type=float, default=0.225)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--eps", type=float, default=0.05)
    ap.add_argument("--grads", required=True, help="where to write the gradients (safetensors)")
    ap.add_argument("--json", action="store_true", help="print one JSON line (always JSON; kept for the contract)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="compute precision (float32 = what training uses)")
    a = ap.parse_args(argv)
    if not 0 < a.beta < 1:
        ap.error(f"--beta must be in (0, 1), got {a.beta}")
    for k in ("tau_s", "tau_t", "eps"):
        if not getattr(a, k) > 0:
            ap.error(f"--{k.replace('_', '-')} must be positive, got {getattr(a, k)}")
    if a.iters < 1:
        ap.error(f"--iters must be ≥ 1, got {a.iters}")
    return a


def read_view(path, cfg, what):
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise SystemExit(f"step: cannot read {what} {path}: {e}")
    S, C = cfg["image_size"], cfg["in_channels"]
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[1:] != (S, S, C):
        raise SystemExit(f"step: {what} {path} is {arr.dtype} {list(arr.shape)}; the checkpoint's model takes uint8 N×{S}×{S}×{C} (NHWC)")
    return arr


def normalize(u8, mean, std, dtype):
    x = (u8.astype(np.float64) / 255 - np.array(mean)) / np.array(std)
    return torch.from_numpy(x.astype(np.float32)).to(dtype).permute(0, 3, 1, 2).contiguous()


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(1)
    dtype = torch.float64 if a.dtype == "float64" else torch.float32
    try:
        ck = load_checkpoint(a.checkpoint)
        student, teacher = models_from_checkpoint(ck, dtype)
    except CheckpointError as e:
        raise SystemExit(f"step: {e}")
    cfg = ck["config"]
    v1, v2 = read_view(a.view1, cfg, "--view1"), read_view(a.view2, cfg, "--view2")
    if len(v1) != len(v2):
        raise SystemExit(f"step: --view1 has {len(v1)} images but --view2 has {len(v2)}; the two views must be the same images")
    if len(v1) < 2:
        raise SystemExit("step: BN in training mode needs at least 2 images per view")
    x1, x2 = normalize(v1, cfg["mean"], cfg["std"], dtype), normalize(v2, cfg["mean"], cfg["std"], dtype)
    hyper = {"beta": a.beta, "tau_t": a.tau_t, "iters": a.iters, "eps": a.eps}
    t0 = time.time()
    student.train()
    teacher.train()
    w = student.head.unit_prototypes()
    with torch.no_grad():
        t1 = targets_for(a.method, teacher.logits(x1, w.detach()), hyper)
        t2 = targets_for(a.method, teacher.logits(x2, w.detach()), hyper)
    q1, q2 = student.logits(x1, w), student.logits(x2, w)
    loss = swapped_loss(t1, t2, q1, q2, a.tau_s)
    loss.backward()
    grads = {n: p.grad.detach().float().numpy() for n, p in student.named_parameters() if p.requires_grad}
    write_safetensors(a.grads, grads, {"mira.step": json.dumps({"method": a.method, "beta": a.beta, "tauS": a.tau_s, "tauT": a.tau_t, "iters": a.iters, "eps": a.eps, "batch": len(v1), "loss": loss.item()})})
    m = distribution_stats(t1)
    print(json.dumps({
        "loss": loss.item(), "method": a.method, "batch": len(v1), "prototypes": cfg["prototypes"],
        "teacher": "ema" if ck["teacher"] is not None else "student (checkpoint has no ema.* tensors)",
        "target_entropy": m["mean_entropy"], "target_marginal_entropy": m["marginal_entropy"], "target_mi": m["mi"],
        "used_clusters": m["used_clusters"], "largest_cluster_fraction": m["largest_cluster_fraction"],
        "grads": a.grads, "tensors": len(grads), "backend": f"torch {torch.__version__} {a.dtype}", "ms": round((time.time() - t0) * 1000),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
