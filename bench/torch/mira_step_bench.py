"""PyTorch's side of `npm run bench -- --vs-torch` (bench/vs-torch.ts): the project's MIRA training
step, timed the way bench/train-step.bench.ts times the project's (one warm-up step, then N steps,
images/s counting each view), printed as one JSON line on stdout.

The step is torch/torch_mira's (torch/torch_mira/train.py `Run.step`, reused, not re-implemented):
two augmented views of a synthetic CIFAR-shaped batch (the same pixel formula as the project's
bench), the EMA teacher's forward on both, MIRA's 30 log-domain iterations on each, the student's
forward of both views, the swapped loss, backward, SGD with momentum (the project's exclusions) and
the EMA update. Model: the CIFAR ResNet-18 at --width, projector D→H→P, weight-normalised head of K
prototypes. The recipe (lr, β, τ, EMA, iters, …) comes from --config, the project's TrainConfig as
JSON (camelCase keys), so both sides run the same hyperparameters.

Modes (--mode): fp32 (CPU, or CUDA with TF32 off), tf32 (CUDA, TF32 on for matmul and cuDNN),
bf16-cl (CUDA, bf16 autocast and channels_last). `--mode auto` is fp32 on CPU, fp32 on CUDA too.
Peak memory: torch.cuda.max_memory_allocated on CUDA; on CPU the process's peak RSS (ru_maxrss),
which includes the interpreter and torch's libraries.

    PYTHONPATH=torch /usr/bin/python3 bench/torch/mira_step_bench.py --config '{…}' [--steps 5] [--mode fp32] [--threads N]
"""
import argparse
import json
import os
import resource
import sys
import time

import numpy as np

try:
    import torch
except ImportError:  # bench/vs-torch.ts checks this first; a direct caller gets the same hint.
    print("PyTorch is not installed for this python: apt-get install python3-torch (Debian), or pip install torch", file=sys.stderr)
    sys.exit(3)

from torch_mira.augment import Augmenter, preset_for
from torch_mira.methods import swapped_loss, targets_for
from torch_mira.model import Backbone, Student, TwoViews
from torch_mira.optim import Optimizer, ema_update
from torch_mira.schedules import schedule_at

MODES = ("auto", "fp32", "tf32", "bf16-cl")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", required=True, help="the project's TrainConfig as JSON (camelCase keys)")
    p.add_argument("--steps", type=int, default=5, help="timed steps after one warm-up step")
    p.add_argument("--mode", choices=MODES, default="auto")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: os.cpu_count())")
    p.add_argument("--cpu", action="store_true", help="stay on the CPU even when CUDA is there")
    a = p.parse_args(argv)
    try:
        a.tc = json.loads(a.config)
    except json.JSONDecodeError as e:
        p.error(f"--config is not JSON: {e}")
    missing = [k for k in ("width", "batch", "projHidden", "projOut", "prototypes", "stemPadding", "steps", "lr", "warmupSteps", "betaStart", "betaEnd", "emaStart", "tauS", "tauT", "iters", "eps", "momentum", "weightDecay", "optimizer", "seed") if k not in a.tc]
    if missing:
        p.error(f"--config lacks {', '.join(missing)} (pass the project's full TrainConfig)")
    if a.steps < 1:
        p.error("--steps must be at least 1")
    return a


def synthetic_images(n):
    """bench/train-step.bench.ts's syntheticSplits: byte i = (i · 2654435761) >>> 24, NHWC 32×32×3."""
    i = np.arange(n * 32 * 32 * 3, dtype=np.uint64)
    return ((i * np.uint64(2654435761)) & np.uint64(0xFFFFFFFF)) >> np.uint64(24)


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    tc = a.tc
    cuda = torch.cuda.is_available() and not a.cpu
    device = torch.device("cuda" if cuda else "cpu")
    mode = ("fp32" if a.mode == "auto" else a.mode)
    if not cuda and mode != "fp32":
        print(f"--mode {mode} needs CUDA; on the CPU only fp32 runs", file=sys.stderr)
        return 2
    if not cuda:
        torch.set_num_threads(a.threads or os.cpu_count() or 1)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
        torch.backends.cudnn.allow_tf32 = mode == "tf32"
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(tc["seed"])

    B = tc["batch"]
    cfg = {"width": tc["width"], "in_channels": 3, "image_size": 32, "stem_padding": tc["stemPadding"], "proj_hidden": tc["projHidden"], "proj_out": tc["projOut"], "prototypes": tc["prototypes"]}
    student = Student(cfg)
    teacher = Backbone(cfg)
    teacher.load_state_dict({k: v for k, v in student.state_dict().items() if not k.startswith("head.")})
    for p in teacher.parameters():
        p.requires_grad_(False)
    fmt = torch.channels_last if mode == "bf16-cl" else torch.contiguous_format
    student, teacher = student.to(device, memory_format=fmt), teacher.to(device, memory_format=fmt)
    student.train()
    teacher.train()
    net = TwoViews(student)
    opt = Optimizer(student, tc["optimizer"])
    images = synthetic_images(B * 4).astype(np.uint8).reshape(B * 4, 32, 32, 3)
    aug = Augmenter(preset_for(tc.get("augment", "default"), 3), 32, 32, 3, 32, tc["seed"])
    hyper_base = {"tau_t": tc["tauT"], "iters": tc["iters"], "eps": tc["eps"]}
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if mode == "bf16-cl" else None

    def step(s):
        sch = schedule_at(tc, s)
        start = (s % 4) * B
        batch = images[start:start + B]
        samples = list(range(B))
        x1, x2 = (aug(batch, s, samples, v, device).contiguous(memory_format=fmt) for v in (0, 1))
        hyper = dict(hyper_base, beta=sch["beta"])
        with (autocast if autocast is not None else _nothing()):
            with torch.no_grad():
                w = student.head.unit_prototypes()
                l1, l2 = teacher.logits(x1, w), teacher.logits(x2, w)
                t1 = targets_for("mira", l1.float(), hyper)
                t2 = targets_for("mira", l2.float(), hyper)
            _, _, q1, q2 = net(x1, x2)
            loss = swapped_loss(t1, t2, q1.float(), q2.float(), tc["tauS"])
        loss.backward()
        opt.step(sch["lr"], tc["momentum"], tc["weightDecay"], tc.get("larsEta", 0.001), head_frozen=s < tc.get("freezeHeadSteps", 0))
        for p in student.parameters():
            p.grad = None
        ema_update(teacher, student, sch["ema"])
        return loss

    def sync():
        if cuda:
            torch.cuda.synchronize()

    loss = step(0)
    loss.item()
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for s in range(1, 1 + a.steps):
        loss = step(s)
    loss.item()
    sync()
    ms = (time.perf_counter() - t0) * 1000 / a.steps
    peak = torch.cuda.max_memory_allocated() if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = {
        "side": "pytorch", "torch": torch.__version__, "device": torch.cuda.get_device_name(0) if cuda else "cpu", "mode": mode,
        "threads": torch.get_num_threads(), "width": tc["width"], "batch": B, "prototypes": tc["prototypes"], "projHidden": tc["projHidden"], "projOut": tc["projOut"],
        "steps": a.steps, "ms_per_step": ms, "images_per_s": 2 * B * 1000 / ms, "peak_bytes": peak,
        "peak_kind": "cuda max_memory_allocated" if cuda else "process peak RSS (ru_maxrss)", "loss": float(loss.item()),
    }
    print(json.dumps(out))
    return 0


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    sys.exit(main())
