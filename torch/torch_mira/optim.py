"""SGD with momentum and LARS, per tensor, with the playground's exclusions (src/nn/optimizer.ts,
src/ref/optimizer.ts, src/shaders/optimizer.wgsl), and the EMA teacher update.

Flags per trainable tensor (src/nn/parameters.ts): weight decay and the LARS trust ratio apply to
tensors of more than one dimension (conv and linear weights, the prototypes); BN weights/biases
and the projector's last bias are excluded from both. The head (prototypes) is frozen for the
first freezeHeadSteps steps: no update, momentum untouched (as PyTorch skips p.grad = None).

    SGD:          d = g + wd·p [decay];                    m ← μ·m + d;  p ← p − lr·m
    LARS ('mira', the official MIRA / moco-v3 LARS), trust tensors:
                  u = g + wd·p;  q = η‖p‖/‖u‖ if ‖p‖ > 0 and ‖u‖ > 0, else 1;  d = q·u;  then as SGD
                  other tensors: d = g + wd·p [decay]
    EMA:          t ← m·t + (1 − m)·s  over the teacher's trainable tensors (encoder + projector);
                  the teacher's BN running statistics come from its own forwards.
"""
import torch


class Optimizer:
    def __init__(self, student, kind, momentum_state=None):
        if kind not in ("sgd", "lars"):
            raise ValueError(f"optimizer must be sgd or lars, got {kind!r}")
        self.kind = kind
        self.params = [(n, p) for n, p in student.named_parameters() if p.requires_grad]
        self.momentum = {n: torch.zeros_like(p) for n, p in self.params}
        if momentum_state is not None:
            for n, p in self.params:
                self.momentum[n].copy_(momentum_state[n].to(p.device, p.dtype))

    @staticmethod
    def flags(name, p):
        multi = p.dim() > 1
        return {"decay": multi, "trust": multi, "head": name.startswith("head.")}

    @torch.no_grad()
    def step(self, lr, momentum, weight_decay, eta=0.001, head_frozen=False):
        for name, p in self.params:
            f = self.flags(name, p)
            if f["head"] and head_frozen:
                continue
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            d = g + weight_decay * p if f["decay"] else g.clone()
            if self.kind == "lars" and f["trust"]:
                pn, un = p.norm(), d.norm()
                q = torch.where((pn > 0) & (un > 0), eta * pn / un, torch.ones_like(pn))
                d = d * q
            m = self.momentum[name]
            m.mul_(momentum).add_(d)
            p.sub_(lr * m)


@torch.no_grad()
def ema_update(teacher, student, m):
    """teacher ← m·teacher + (1 − m)·student over the teacher's parameters (names shared)."""
    sp = dict(student.named_parameters())
    for name, t in teacher.named_parameters():
        t.mul_(m).add_(sp[name].detach(), alpha=1 - m)
