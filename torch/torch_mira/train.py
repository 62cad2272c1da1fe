"""`python -m torch_mira.train --resume model.safetensors --out DIR [--data bundled|fashion-mnist|cifar10|DIR]
   [--steps M] [--total-steps T] [flags]`, alone or under `torchrun --nproc_per_node N`.

Continues a playground run: reads model.safetensors (student, ema.* teacher, mira.config with the
run's train_config) and the optimizer.safetensors beside it (the flat momentum), and trains from the
saved step with the same recipe: the same data order (the playground's epoch permutation), the same
augmentation draws (its hash RNG), the same schedules, targets, loss, optimizer and EMA teacher.

Under torchrun each process takes a contiguous 1/N of the global batch (the batch size stays the
checkpoint's): DistributedDataParallel averages the gradients, batch norm is synchronised over the
global batch (distributed.py), and the targets' batch marginals are all-reduced (methods.py), so N
processes compute what one process would on the whole batch (up to float rounding).
The embedding objectives (objectives.py) are per process's batch, as their official code: MVEB's
Stein score is estimated on each process's rows (in `steinChunk`-row chunks; the whole local batch
when steinChunk is 0, so N processes estimate on B/N rows each — one process on B), and MIO's
negatives are the other images of the process's own batch (2·B/N − 2 per row, not 2B − 2). MVEB's
teacher is the EMA encoder + projector (BN in training mode, synchronised like the student's); MIO
has no teacher, and its `ema.*` tensors follow the EMA update all the same, as in the playground.
Writes in --out: metrics.jsonl (the playground's keys; lines up to the resumed step are kept if the
file exists), model.safetensors + optimizer.safetensors (the playground's format: `npm run cli --
embed` / `train --resume` and the page load them), summary.json.
"""
import argparse
import json
import os
import sys
import time

import torch
from torch.nn.parallel import DistributedDataParallel as DDP

from . import EMBEDDING_METHODS, SUPPORTED_METHODS
from .augment import Augmenter, preset_for
from .checkpoint import CheckpointError, ParamLayout, load_checkpoint, load_momentum, models_from_checkpoint, save_checkpoint, save_momentum
from .data import DatasetError, load_dataset
from .distributed import Dist, synchronise_batch_norm
from .knn import KnnEvaluator
from .methods import distribution_stats, representation_health, swapped_loss, targets_for
from .model import TwoViews
from .objectives import MIO_DEFAULTS, MVEB_DEFAULTS, mio_loss, mveb_loss
from .optim import Optimizer, ema_update
from .rng import epoch_permutation
from .schedules import schedule_at


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m torch_mira.train", description="Continue a MIRA Playground run in PyTorch (DDP under torchrun).")
    ap.add_argument("--resume", required=True, help="the playground's model.safetensors (optimizer.safetensors beside it is read too)")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--data", default=None, help="bundled | fashion-mnist | cifar10 | a directory (default: the run's dataset)")
    ap.add_argument("--steps", type=int, default=None, help="steps to run now (default: to the end of the schedule)")
    ap.add_argument("--total-steps", type=int, default=None, help="change the schedule's length (lr / β / EMA cosines) — a different recipe from the playground run's")
    ap.add_argument("--log-every", type=int, default=None, help="metrics every N steps (default: the run's)")
    ap.add_argument("--checkpoint-every", type=int, default=None, help="write the checkpoint every N steps (default: the run's; 0 = at the end)")
    ap.add_argument("--knn-every", type=int, default=None, help="kNN every N steps (default: the run's; 0 = at the end)")
    ap.add_argument("--no-knn", action="store_true", help="skip the kNN evaluations")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1)")
    ap.add_argument("--cpu", action="store_true", help="stay on the CPU (gloo) even when CUDA is available")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 matmuls/convolutions on GPUs (faster, ~1e-3 relative rounding; off by default for parity)")
    ap.add_argument("--json", action="store_true", help="print the metrics as JSON lines")
    return ap.parse_args(argv)


def fail(msg):
    print(f"[torch_mira.train] error: {msg}", file=sys.stderr)
    sys.exit(2)


class Run:
    def __init__(self, a, d):
        self.a, self.d = a, d
        try:
            ck = load_checkpoint(a.resume)
        except CheckpointError as e:
            fail(str(e))
        tc = ck["extra"].get("train_config")
        if not isinstance(tc, dict):
            fail(f"{a.resume}: mira.config has no train_config; only checkpoints written by a training run (npm run cli -- train, the page) carry the recipe to continue")
        if tc.get("method") not in SUPPORTED_METHODS:
            fail(f"{a.resume}: method {tc.get('method')!r} is not supported by torch_mira (supported: {', '.join(SUPPORTED_METHODS)})")
        tc = dict(tc)
        self.embedding = tc["method"] in EMBEDDING_METHODS
        prototypes = ck["config"]["prototypes"]
        if self.embedding and prototypes > 0:
            fail(f"{a.resume}: method {tc['method']} is an embedding objective, but the checkpoint has a prototype head (prototypes {prototypes}); a {tc['method']} run's checkpoint has prototypes 0 and no head.* tensors")
        if not self.embedding and prototypes == 0:
            fail(f"{a.resume}: method {tc['method']} needs a prototype head, but the checkpoint has prototypes 0 (no head.* tensors)")
        if a.total_steps is not None:
            if a.total_steps <= ck["step"]:
                fail(f"--total-steps {a.total_steps} must be beyond the checkpoint's step {ck['step']}")
            tc["steps"] = a.total_steps
        for k, v in (("logEvery", a.log_every), ("checkpointEvery", a.checkpoint_every), ("knnEvery", a.knn_every)):
            if v is not None:
                tc[k] = v
        self.ck, self.tc, self.cfg = ck, tc, ck["config"]
        try:
            self.data = load_dataset(a.data or tc["dataset"])
        except (DatasetError, OSError) as e:
            fail(str(e))
        tr = self.data.train
        size = -(-max(tr.height, tr.width) // 8) * 8
        if tr.channels != self.cfg["in_channels"] or size != self.cfg["image_size"]:
            fail(f"{a.data or tc['dataset']}: {tr.height}×{tr.width}×{tr.channels} images (network size {size}); the checkpoint's model takes {self.cfg['in_channels']} channel(s) at {self.cfg['image_size']}")
        B = tc["batch"]
        if d.device.type == "cuda" and d.world > torch.cuda.device_count():
            fail(f"{d.world} processes but {torch.cuda.device_count()} GPU(s) here; NCCL needs one GPU per process (--nproc_per_node ≤ {torch.cuda.device_count()})")
        if B % d.world:
            fail(f"the batch of {B} does not split over {d.world} processes; use an --nproc_per_node that divides it")
        if tr.count < B:
            fail(f"{self.data.name}: {tr.count} training images, fewer than the batch of {B}")
        self.local = B // d.world
        if self.embedding:
            self.check_embedding_config(tc)
        self.steps_per_epoch = max(1, tr.count // B)
        self.start = ck["step"]
        self.end = tc["steps"] if a.steps is None else min(tc["steps"], self.start + a.steps)
        if self.start >= tc["steps"]:
            fail(f"{a.resume} is at step {self.start}, the end of its {tc['steps']}-step schedule; pass --total-steps to train longer")

        student, teacher = models_from_checkpoint(ck)
        self.layout = ParamLayout(student)
        momentum, note = load_momentum(os.path.join(os.path.dirname(os.path.abspath(a.resume)), "optimizer.safetensors"), self.start)
        if note and d.main:
            print(f"[torch_mira.train] {note}", file=sys.stderr)
        self.student = synchronise_batch_norm(student, d).to(d.device)
        self.teacher = synchronise_batch_norm(teacher, d).to(d.device)
        self.student.train()
        self.teacher.train()
        self.opt = Optimizer(self.student, tc["optimizer"], self.layout.unflatten(momentum) if momentum is not None else None)
        pair = TwoViews(self.student)
        self.net = DDP(pair, device_ids=[d.device] if d.device.type == "cuda" else None, broadcast_buffers=False) if d.distributed else pair
        self.aug = Augmenter(preset_for(tc["augment"], tr.channels), tr.height, tr.width, tr.channels, self.cfg["image_size"], tc["seed"])
        self.perm_epoch, self.perm = -1, None
        self.knn = None
        self.knn_init = ck["extra"].get("knn_top1_init")

    def check_embedding_config(self, tc):
        """The objective's settings from train_config (the playground's defaults for missing keys), checked before any step."""
        where = f"{self.a.resume}: train_config"
        if tc["method"] == "mveb":
            ew, eta, chunk = tc.get("entropyWeight", MVEB_DEFAULTS["entropy_weight"]), tc.get("steinEta", MVEB_DEFAULTS["stein_eta"]), tc.get("steinChunk", 0) or self.local
            if not ew >= 0 or not eta > 0:
                fail(f"{where}: entropyWeight {ew} must be ≥ 0 and steinEta {eta} > 0")
            if chunk < 2 or self.local % chunk:
                fail(f"{where}: steinChunk {tc.get('steinChunk')} must be ≥ 2 and divide each process's batch of {self.local} ({tc['batch']} over {self.d.world} process(es)): the Stein score is estimated per process; use an --nproc_per_node that keeps B/N a multiple of it")
            self.objective = {"entropy_weight": ew, "stein_eta": eta, "chunk": chunk}
        else:
            tp, tn, mu = tc.get("tauPos", MIO_DEFAULTS["tau_pos"]), tc.get("tauNeg", MIO_DEFAULTS["tau_neg"]), tc.get("l2Weight", MIO_DEFAULTS["l2_weight"])
            neg = tc.get("mioNegatives", "on")
            if not tp > 0 or not tn > 0 or not mu >= 0 or neg not in ("on", "off"):
                fail(f"{where}: tauPos {tp} and tauNeg {tn} must be > 0, l2Weight {mu} ≥ 0, mioNegatives {neg!r} on or off")
            if self.local < 2:
                fail(f"MIO needs at least 2 images per process for negative pairs; the batch of {tc['batch']} over {self.d.world} processes leaves {self.local}")
            self.objective = {"tau_pos": tp, "tau_neg": tn, "l2_weight": mu, "neg_weight": 1.0 if neg == "on" else 0.0}

    def batch_indices(self, step):
        epoch = step // self.steps_per_epoch
        if epoch != self.perm_epoch:
            self.perm, self.perm_epoch = epoch_permutation(self.tc["seed"], epoch, self.data.train.count), epoch
        start = (step % self.steps_per_epoch) * self.tc["batch"]
        return self.perm[start:start + self.tc["batch"]]

    def step(self, s):
        tc, d = self.tc, self.d
        sch = schedule_at(tc, s)
        idx = self.batch_indices(s)
        lo = d.rank * self.local
        samples = list(range(lo, lo + self.local))
        images = self.data.train.images[idx[lo:lo + self.local]]
        x1 = self.aug(images, s, samples, 0, d.device)
        x2 = self.aug(images, s, samples, 1, d.device)
        if self.embedding:
            return self.embedding_step(s, sch, x1, x2)
        hyper = {"beta": sch["beta"], "tau_t": tc["tauT"], "iters": tc["iters"], "eps": tc["eps"]}
        with torch.no_grad():
            w = self.student.head.unit_prototypes()
            l1, l2 = self.teacher.logits(x1, w), self.teacher.logits(x2, w)
            t1 = targets_for(tc["method"], l1, hyper, d)
            t2 = targets_for(tc["method"], l2, hyper, d)
        p1, p2, q1, q2 = self.net(x1, x2)
        loss = swapped_loss(t1, t2, q1, q2, tc["tauS"])
        self.update(s, sch, loss)
        return sch, loss.detach(), {"q1": q1.detach(), "l1": l1, "t1": t1, "p1": p1.detach(), "p2": p2.detach()}

    def embedding_step(self, s, sch, x1, x2):
        """MVEB (with the EMA teacher's projections) or MIO on this process's rows (objectives.py)."""
        p1, p2, _, _ = self.net(x1, x2)
        o = self.objective
        if self.tc["method"] == "mveb":
            with torch.no_grad():
                t1, t2 = self.teacher.projector(self.teacher.encoder(x1)), self.teacher.projector(self.teacher.encoder(x2))
            loss, stats = mveb_loss(p1, p2, t1, t2, o["entropy_weight"], o["stein_eta"], o["chunk"])
            stats = {f"mveb_{k}": v for k, v in stats.items()}
        else:
            loss, stats = mio_loss(p1, p2, o["tau_pos"], o["tau_neg"], o["l2_weight"], o["neg_weight"])
            stats = {f"mio_{k}": v for k, v in stats.items()}
        self.update(s, sch, loss)
        return sch, loss.detach(), {"p1": p1.detach(), "p2": p2.detach(), "stats": stats}

    def update(self, s, sch, loss):
        """Backward (DDP averages the gradients), the optimizer step, the EMA teacher."""
        tc = self.tc
        loss.backward()
        self.opt.step(sch["lr"], tc["momentum"], tc["weightDecay"], tc.get("larsEta", 0.001), head_frozen=s < tc["freezeHeadSteps"])
        for p in self.student.parameters():
            p.grad = None
        ema_update(self.teacher, self.student, sch["ema"])

    def metrics(self, s, sch, loss, out, ips, wall):
        tc, d = self.tc, self.d
        loss = d.sum_(loss.clone()).item() / d.world
        health = representation_health(d.gather_rows(out["p1"]), d.gather_rows(out["p2"]))
        head = {"step": s + 1, "epoch": (s + 1) / self.steps_per_epoch, "loss": loss, "lr": sch["lr"], "beta": sch["beta"], "ema_momentum": sch["ema"], **health}
        tail = {"images_per_s": ips, "wall_s": wall, "processes": d.world, "backend": d.backend}
        if self.embedding:
            keys = sorted(out["stats"])
            mean = d.sum_(torch.tensor([out["stats"][k] for k in keys], dtype=torch.float64, device=d.device)) / d.world
            return {**head, **dict(zip(keys, mean.tolist())), **tail}
        q1, l1, t1 = (d.gather_rows(out[k]) for k in ("q1", "l1", "t1"))
        ps, pt = torch.softmax(q1 / tc["tauS"], 1), torch.softmax(l1 / tc["tauT"], 1)
        ms, mt, mw = distribution_stats(ps, t1), distribution_stats(pt, t1), distribution_stats(t1)
        return {
            **head,
            "student_entropy": ms["mean_entropy"], "student_marginal_entropy": ms["marginal_entropy"], "student_mi": ms["mi"],
            "teacher_entropy": mt["mean_entropy"], "teacher_marginal_entropy": mt["marginal_entropy"], "teacher_mi": mt["mi"],
            "target_entropy": mw["mean_entropy"], "target_marginal_entropy": mw["marginal_entropy"], "target_mi": mw["mi"],
            "kl_student_targets": ms["kl"], "kl_teacher_targets": mt["kl"],
            "used_clusters": mw["used_clusters"], "largest_cluster_fraction": mw["largest_cluster_fraction"], **tail,
        }

    def evaluate_knn(self):
        if self.knn is None:
            self.knn = KnnEvaluator(self.data, self.cfg, self.tc["seed"], self.tc["knnBank"], self.tc["knnQueries"])
        return self.knn.top1(self.student.encoder, self.d.device)

    def save(self, step):
        extra = dict(self.ck["extra"])
        extra["train_config"] = self.tc
        extra["knn_top1_init"] = self.knn_init
        out = self.a.out
        save_checkpoint(os.path.join(out, "model.safetensors"), self.student, self.teacher, self.cfg, step, extra)
        save_momentum(os.path.join(out, "optimizer.safetensors"), self.layout.flatten(self.opt.momentum), step)


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(max(1, a.threads))
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32
    d = Dist(force_cpu=a.cpu)
    try:
        run = Run(a, d)
    except (CheckpointError, DatasetError) as e:
        fail(str(e))
    tc = run.tc
    lines = []
    metrics_path = os.path.join(a.out, "metrics.jsonl")
    if d.main:
        os.makedirs(a.out, exist_ok=True)
        kept = []
        if os.path.exists(metrics_path):
            kept = [l for l in open(metrics_path).read().splitlines() if l and json.loads(l)["step"] <= run.start]
        with open(metrics_path, "w") as f:
            f.writelines(l + "\n" for l in kept)
        print(f"[torch_mira.train] {tc['method']} on {run.data.name} ({run.data.train.count} train), width {run.cfg['width']}, batch {tc['batch']} "
              f"({d.world} process(es) × {run.local}, {d.backend} on {d.device}), K {run.cfg['prototypes']}, steps {run.start} → {run.end} of {tc['steps']}", file=sys.stderr)

    def emit(rec):
        lines.append(json.dumps(rec))
        if a.json:
            print(lines[-1], flush=True)

    def flush():
        if d.main and lines:
            with open(metrics_path, "a") as f:
                f.writelines(l + "\n" for l in lines)
            lines.clear()

    if d.main and not a.no_knn and run.start == 0 and run.knn_init is None:
        run.knn_init = run.evaluate_knn()
        emit({"step": 0, "knn_top1": run.knn_init, "knn_top1_init": run.knn_init})
        print(f"  kNN top-1 at initialisation {run.knn_init:.2f}%", file=sys.stderr)
    t0 = last_t = time.time()
    last_s = run.start
    for s in range(run.start, run.end):
        sch, loss, view1 = run.step(s)
        if (s + 1) % tc["logEvery"] == 0 or s + 1 == tc["steps"] or s + 1 == run.end:
            now = time.time()
            ips = (s + 1 - last_s) * tc["batch"] / max(1e-6, now - last_t)
            last_t, last_s = now, s + 1
            rec = run.metrics(s, sch, loss, view1, ips, now - t0)
            if d.main:
                emit(rec)
                if not a.json:
                    what = f"eff. rank {rec['effective_rank']:.1f}" if run.embedding else f"used {rec['used_clusters']}"
                    print(f"  step {s + 1}/{tc['steps']} loss {rec['loss']:.4f} lr {rec['lr']:.4f} {what} {ips:.1f} img/s", file=sys.stderr)
        done = s + 1
        if not a.no_knn and tc["knnEvery"] > 0 and done % tc["knnEvery"] == 0 and done < tc["steps"] and d.main:
            knn_s = time.time()
            emit({"step": done, "knn_top1": run.evaluate_knn()})
            last_t += time.time() - knn_s  # images/s counts training only
        if tc["checkpointEvery"] > 0 and done % tc["checkpointEvery"] == 0 and d.main:
            flush()
            run.save(done)
    wall = time.time() - t0
    knn = None
    if d.main:
        if not a.no_knn and run.end == tc["steps"]:
            knn = run.evaluate_knn()
            emit({"step": run.end, "knn_top1": knn})
        flush()
        run.save(run.end)
        summary = {
            "knn_top1": knn, "knn_top1_init": run.knn_init, "steps": run.end, "resumed_from": run.start, "wall_s": wall,
            "images_per_s": (run.end - run.start) * tc["batch"] * 2 / max(wall, 1e-6), "dataset": run.data.name,
            "processes": d.world, "backend": d.backend, "device": str(d.device), "torch": torch.__version__, "config": tc,
        }
        with open(os.path.join(a.out, "summary.json"), "w") as f:
            json.dump(summary, f, indent=2)
        print(f"[torch_mira.train] done: steps {run.start} → {run.end} in {wall:.1f} s ({summary['images_per_s']:.1f} images/s, both views); "
              f"kNN top-1 {knn if knn is None else f'{knn:.2f}%'}; wrote {a.out}/{{metrics.jsonl,summary.json,model.safetensors,optimizer.safetensors}}", file=sys.stderr)
    d.barrier()
    d.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
