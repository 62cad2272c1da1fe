"""The MIRA model exactly as a playground checkpoint describes it (mira.config).

    encoder   CIFAR ResNet-18 (torchvision's BasicBlock names): 3×3 stride-1 stem with padding
              `stem_padding`, no max-pool, stages of 64/128/256/512 × width channels (rounded,
              at least 1), global average pool → D features
    projector Sequential(Linear(D, H, bias=False), BatchNorm1d(H), ReLU,
                         Linear(H, H, bias=False), BatchNorm1d(H), ReLU, Linear(H, P))
    head      weight-normalised Linear(P, K, bias=False): W = g·v/‖v‖ row-wise, g = 1 fixed
              (head.weight_g, not trained), v = head.weight_v (the prototypes); absent when
              mira.config has prototypes 0 (the embedding objectives MVEB and MIO)
    logits    cosines: normalize(projector(encoder(x))) · Wᵀ
    teacher   the EMA copy of encoder + projector (checkpoint keys `ema.*`); it uses the
              student's W (MIRA shares the prototypes).
Module and parameter names are the checkpoint's, so state_dict() keys are exactly its keys.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def stage_channels(width):
    """64/128/256/512 × width, rounded half away from zero as JS Math.round does, at least 1."""
    return [max(1, int(c * width + 0.5)) for c in (64, 128, 256, 512)]


class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Encoder(nn.Module):
    def __init__(self, width, in_channels, stem_padding):
        super().__init__()
        ch = stage_channels(width)
        self.conv1 = nn.Conv2d(in_channels, ch[0], 3, 1, stem_padding, bias=False)
        self.bn1 = nn.BatchNorm2d(ch[0])
        self.relu = nn.ReLU(inplace=True)
        in_planes = ch[0]
        for stage in range(4):
            stride = 1 if stage == 0 else 2
            setattr(self, f"layer{stage + 1}", nn.Sequential(BasicBlock(in_planes, ch[stage], stride), BasicBlock(ch[stage], ch[stage], 1)))
            in_planes = ch[stage]
        self.feature_dim = in_planes

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean(dim=(2, 3))


def make_projector(d, h, p):
    return nn.Sequential(
        nn.Linear(d, h, bias=False), nn.BatchNorm1d(h), nn.ReLU(inplace=True),
        nn.Linear(h, h, bias=False), nn.BatchNorm1d(h), nn.ReLU(inplace=True),
        nn.Linear(h, p),
    )


class PrototypeHead(nn.Module):
    """weight_norm(Linear(P, K, bias=False)) with g frozen: the parameters torch.nn.utils.weight_norm
    creates (weight_g K×1, weight_v K×P), without its forward pre-hook, so W is formed once per step
    and shared by student and teacher."""

    def __init__(self, p, k):
        super().__init__()
        self.weight_g = nn.Parameter(torch.ones(k, 1), requires_grad=False)
        self.weight_v = nn.Parameter(torch.empty(k, p).uniform_(-p ** -0.5, p ** -0.5))

    def unit_prototypes(self):
        v = self.weight_v
        return self.weight_g * v / v.norm(dim=1, keepdim=True)


class Backbone(nn.Module):
    """Encoder + projector: what the EMA teacher is."""

    def __init__(self, cfg):
        super().__init__()
        self.encoder = Encoder(cfg["width"], cfg["in_channels"], cfg.get("stem_padding", 1))
        self.projector = make_projector(self.encoder.feature_dim, cfg["proj_hidden"], cfg["proj_out"])

    def logits(self, x, w):
        """Cosines between the L2-normalised projector output and the unit prototypes w (K×P)."""
        z = F.normalize(self.projector(self.encoder(x)), dim=1)
        return z @ w.t()


class Student(Backbone):
    """Encoder + projector + the prototype head; no head (None, no head.* keys) when the checkpoint
    has prototypes 0 — an embedding objective's (MVEB, MIO) model."""

    def __init__(self, cfg):
        super().__init__(cfg)
        self.head = PrototypeHead(cfg["proj_out"], cfg["prototypes"]) if cfg["prototypes"] > 0 else None

    def embed(self, x):
        """The projector output p (not normalised): what the embedding objectives take."""
        return self.projector(self.encoder(x))


class TwoViews(nn.Module):
    """The student on both views in ONE forward (what DDP wraps): each view goes through the
    network on its own (its own BN batch statistics), the parameters are used twice, and autograd
    sums the two contributions before DDP's per-parameter hook fires once.
    Returns the projector outputs (p1, p2) and, with a prototype head, the cosine logits
    (q1, q2) = normalize(p) · Wᵀ (Backbone.logits' formula); without one (q1, q2) are None."""

    def __init__(self, student):
        super().__init__()
        self.student = student

    def forward(self, x1, x2):
        p1, p2 = self.student.embed(x1), self.student.embed(x2)
        if self.student.head is None:
            return p1, p2, None, None
        w = self.student.head.unit_prototypes()
        return p1, p2, F.normalize(p1, dim=1) @ w.t(), F.normalize(p2, dim=1) @ w.t()
