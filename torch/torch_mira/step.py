"""`python -m torch_mira.step --checkpoint model.safetensors --view1 a.npy --view2 b.npy
   [--method mira|swav|naive|mveb|mio] [--beta 0.7] [--tau-s 0.1] [--tau-t 0.225] [--iters 30] [--eps 0.05]
   [--entropy-weight 0.01] [--stein-eta 0.01] [--stein-chunk N] [--tau-pos 0.5] [--tau-neg 0.5] [--l2-weight 1.0]
   --grads grads.safetensors [--json] [--dtype float32|float64]`

The PyTorch twin of `npm run cli -- step` (cli/commands/step.ts), for parity: one forward and
backward on exactly these two uint8 N×H×W×C batches (no augmentation; (x/255 − mean)/std with the
checkpoint's mean/std), BN in training mode; prints one JSON line and writes the gradient of every
trainable student parameter under its checkpoint name, in PyTorch's layout (p.grad).
Pseudo-label methods (mira, swav, naive): teacher = the checkpoint's ema.* weights with the
student's W; the JSON line has the target statistics of view 1.
Embedding objectives (objectives.py; a checkpoint with prototypes 0, no head.*): MVEB's teacher
is the ema.* encoder + projector (training-mode BN, no gradient) and the JSON line has τ, align
and unif; MIO has no teacher and reports the mean positive / negative pair probabilities.
"""
import argparse
import json
import sys
import time

import numpy as np
import torch

from . import EMBEDDING_METHODS, STEP_METHODS
from .checkpoint import CheckpointError, models_from_checkpoint, load_checkpoint
from .methods import distribution_stats, swapped_loss, targets_for
from .objectives import MIO_DEFAULTS, MVEB_DEFAULTS, mio_loss, mveb_loss
from .safetensors import write_safetensors


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m torch_mira.step", description=__doc__.split("\n\n")[1])
    ap.add_argument("--checkpoint", required=True, help="model.safetensors (student, ema.* teacher, mira.config)")
    ap.add_argument("--view1", required=True, help="first view, uint8 N×H×W×C .npy")
    ap.add_argument("--view2", required=True, help="second view, uint8 N×H×W×C .npy")
    ap.add_argument("--method", default="mira", choices=STEP_METHODS)
    ap.add_argument("--beta", type=float, default=0.7)
    ap.add_argument("--tau-s", type=float, default=0.1)
    ap.add_argument("--tau-t", type=float, default=0.225)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--eps", type=float, default=0.05)
    ap.add_argument("--entropy-weight", type=float, default=MVEB_DEFAULTS["entropy_weight"], help="MVEB: λ, the weight of the entropy term (≥ 0)")
    ap.add_argument("--stein-eta", type=float, default=MVEB_DEFAULTS["stein_eta"], help="MVEB: η, the Stein estimate's ridge (> 0)")
    ap.add_argument("--stein-chunk", type=int, default=None, help="MVEB: rows per Stein estimate (≥ 2, divides the batch; default the whole batch)")
    ap.add_argument("--tau-pos", type=float, default=MIO_DEFAULTS["tau_pos"], help="MIO: τ₊, the positive pairs' temperature (> 0)")
    ap.add_argument("--tau-neg", type=float, default=MIO_DEFAULTS["tau_neg"], help="MIO: τ₋, the negative pairs' temperature (> 0)")
    ap.add_argument("--l2-weight", type=float, default=MIO_DEFAULTS["l2_weight"], help="MIO: μ, the weight of the L2 term (≥ 0)")
    ap.add_argument("--grads", required=True, help="where to write the gradients (safetensors)")
    ap.add_argument("--json", action="store_true", help="print one JSON line (always JSON; kept for the contract)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="compute precision (float32 = what training uses)")
    a = ap.parse_args(argv)
    if not 0 < a.beta < 1:
        ap.error(f"--beta must be in (0, 1), got {a.beta}")
    for k in ("tau_s", "tau_t", "eps", "stein_eta", "tau_pos", "tau_neg"):
        if not getattr(a, k) > 0:
            ap.error(f"--{k.replace('_', '-')} must be positive, got {getattr(a, k)}")
    for k in ("entropy_weight", "l2_weight"):
        if not getattr(a, k) >= 0:
            ap.error(f"--{k.replace('_', '-')} must be ≥ 0, got {getattr(a, k)}")
    if a.stein_chunk is not None and a.stein_chunk < 2:
        ap.error(f"--stein-chunk must be ≥ 2 (τ needs at least two rows per Stein estimate), got {a.stein_chunk}")
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
    except CheckpointError as e:
        raise SystemExit(f"step: {e}")
    cfg = ck["config"]
    embedding = a.method in EMBEDDING_METHODS
    if embedding and cfg["prototypes"] > 0:
        raise SystemExit(f"step: {a.checkpoint} has a prototype head (K = {cfg['prototypes']}), a pseudo-label method's checkpoint; --method {a.method} is an embedding objective and needs one with prototypes 0 (no head.* tensors)")
    if not embedding and cfg["prototypes"] == 0:
        raise SystemExit(f"step: {a.checkpoint} has no prototype head (prototypes 0: an embedding objective's checkpoint); --method {a.method} needs prototypes")
    try:
        student, teacher = models_from_checkpoint(ck, dtype)
    except CheckpointError as e:
        raise SystemExit(f"step: {e}")
    v1, v2 = read_view(a.view1, cfg, "--view1"), read_view(a.view2, cfg, "--view2")
    if len(v1) != len(v2):
        raise SystemExit(f"step: --view1 has {len(v1)} images but --view2 has {len(v2)}; the two views must be the same images")
    if len(v1) < 2:
        raise SystemExit(f"step: --view1 {a.view1} has {len(v1)} image(s); BN in training mode (and MIO's negative pairs) need at least 2 images per view")
    if a.method == "mveb" and a.stein_chunk is not None and (a.stein_chunk > len(v1) or len(v1) % a.stein_chunk):
        raise SystemExit(f"step: --stein-chunk {a.stein_chunk} must be at most the batch {len(v1)} and divide it")
    x1, x2 = normalize(v1, cfg["mean"], cfg["std"], dtype), normalize(v2, cfg["mean"], cfg["std"], dtype)
    t0 = time.time()
    student.train()
    teacher.train()
    a.teacher_tensors = ck["teacher"]
    run = embedding_step if embedding else pseudo_label_step
    loss, meta, report = run(a, student, teacher, x1, x2)
    loss.backward()
    grads = {n: p.grad.detach().float().numpy() for n, p in student.named_parameters() if p.requires_grad}
    write_safetensors(a.grads, grads, {"mira.step": json.dumps({"method": a.method, **meta, "batch": len(v1), "loss": loss.item()})})
    print(json.dumps({
        "loss": loss.item(), "method": a.method, "batch": len(v1), "prototypes": cfg["prototypes"], **report,
        "grads": a.grads, "tensors": len(grads), "backend": f"torch {torch.__version__} {a.dtype}", "ms": round((time.time() - t0) * 1000),
    }))
    return 0


def teacher_note(teacher_tensors):
    return "ema" if teacher_tensors is not None else "student (checkpoint has no ema.* tensors)"


def pseudo_label_step(a, student, teacher, x1, x2):
    """The swapped loss on the targets of the teacher's logits (methods.py). Returns (loss, the
    hyper-parameters for the gradients' metadata, the JSON line's method-specific fields)."""
    hyper = {"beta": a.beta, "tau_t": a.tau_t, "iters": a.iters, "eps": a.eps}
    w = student.head.unit_prototypes()
    with torch.no_grad():
        t1 = targets_for(a.method, teacher.logits(x1, w.detach()), hyper)
        t2 = targets_for(a.method, teacher.logits(x2, w.detach()), hyper)
    q1, q2 = student.logits(x1, w), student.logits(x2, w)
    loss = swapped_loss(t1, t2, q1, q2, a.tau_s)
    m = distribution_stats(t1)
    report = {
        "teacher": teacher_note(a.teacher_tensors), "target_entropy": m["mean_entropy"], "target_marginal_entropy": m["marginal_entropy"], "target_mi": m["mi"],
        "used_clusters": m["used_clusters"], "largest_cluster_fraction": m["largest_cluster_fraction"],
    }
    return loss, {"beta": a.beta, "tauS": a.tau_s, "tauT": a.tau_t, "iters": a.iters, "eps": a.eps}, report


def embedding_step(a, student, teacher, x1, x2):
    """MVEB or MIO on the student's projector outputs (objectives.py); same return as pseudo_label_step.
    The statistics carry the playground's metric keys (mveb_tau, mveb_align, mveb_unif; mio_pos_prob, mio_neg_prob)."""
    p1, p2 = student.embed(x1), student.embed(x2)
    if a.method == "mveb":
        with torch.no_grad():
            q1, q2 = teacher.projector(teacher.encoder(x1)), teacher.projector(teacher.encoder(x2))
        loss, stats = mveb_loss(p1, p2, q1, q2, a.entropy_weight, a.stein_eta, a.stein_chunk)
        meta = {"entropyWeight": a.entropy_weight, "steinEta": a.stein_eta, "steinChunk": a.stein_chunk or len(x1)}
        return loss, meta, {"teacher": teacher_note(a.teacher_tensors), **{f"mveb_{k}": v for k, v in stats.items()}}
    loss, stats = mio_loss(p1, p2, a.tau_pos, a.tau_neg, a.l2_weight)
    return loss, {"tauPos": a.tau_pos, "tauNeg": a.tau_neg, "l2Weight": a.l2_weight}, {"teacher": "none (the method has no teacher)", **{f"mio_{k}": v for k, v in stats.items()}}


if __name__ == "__main__":
    sys.exit(main())
