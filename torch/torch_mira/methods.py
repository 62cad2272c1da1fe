"""How pseudo-labels are made from the teacher's logits, and the swapped loss — the playground's
src/mira/{assignment,sinkhorn,softmax,loss}.ts in PyTorch, with the batch marginals taken over the
GLOBAL batch of every process (the official MIRA and SwAV code all-reduce the column sums).

MIRA (log-domain fixed point, a = β/(1−β), k = softmax(ℓ/(τ_t(1−β))) row-wise, N global rows):
    log v⁽⁰⁾ = (1−β)·log mean_i k_i
    iters × { r_i = LSE_j(log k_ij − a·log v_j);  log v_j = (1−β)·log mean_i exp(log k_ij − r_i) }
    w_ij = softmax_j(log k_ij − a·log v_j)
  which is the official direct formula v ← [mean_i k_i / Σ_j k_ij v_j^(−a)]^(1−β), w ∝ k v^(−a),
  never forming v^(−a) or exp of large numbers.
SwAV Sinkhorn-Knopp (ε, `iters`), in the log domain: x = ℓ/ε, r = 0,
    iters × { u_j = −log K − LSE_i(x_ij + r_i);  r_i = −log N − LSE_j(x_ij + u_j) },  q_i = softmax_j(x_ij + u_j)
  = SwAV's Q = exp(x)ᵀ, Q /= ΣQ, {rows /= Σ, /= K; columns /= Σ, /= N}, Q ×= N.
naive: softmax(ℓ/τ_t).
Swapped loss: L = ½[CE(w⁽¹⁾, q⁽²⁾) + CE(w⁽²⁾, q⁽¹⁾)], CE(w, q) = mean_i −Σ_k w_ik log softmax(q_i/τ_s)_k.
"""
import math

import torch

from . import PSEUDO_LABEL_METHODS
from .distributed import log_sum_exp_rows


class _Local:
    """The reducer of one process: every reduction is the identity."""

    distributed = False

    def sum_(self, t):
        return t

    def max_(self, t):
        return t


LOCAL = _Local()


def _global_rows(n, reducer, device):
    return reducer.sum_(torch.tensor([float(n)], dtype=torch.float64, device=device)).item()


@torch.no_grad()
def mira_targets(logits, tau, beta, iters, reducer=LOCAL):
    l = logits.double()
    om = 1.0 - beta
    a = beta / om
    log_n = math.log(_global_rows(l.shape[0], reducer, l.device))
    log_k = torch.log_softmax(l / (tau * om), dim=1)
    g = om * (log_sum_exp_rows(log_k, reducer) - log_n)
    for _ in range(iters):
        r = torch.logsumexp(log_k - a * g, dim=1, keepdim=True)
        g = om * (log_sum_exp_rows(log_k - r, reducer) - log_n)
    return torch.softmax(log_k - a * g, dim=1).to(logits.dtype)


@torch.no_grad()
def sinkhorn_targets(logits, eps, iters, reducer=LOCAL):
    x = logits.double() / eps
    K = x.shape[1]
    log_n = math.log(_global_rows(x.shape[0], reducer, x.device))
    r = torch.zeros(x.shape[0], 1, dtype=x.dtype, device=x.device)
    u = torch.zeros(K, dtype=x.dtype, device=x.device)
    for _ in range(iters):
        u = -math.log(K) - log_sum_exp_rows(x + r, reducer)
        r = -log_n - torch.logsumexp(x + u, dim=1, keepdim=True)
    return torch.softmax(x + u, dim=1).to(logits.dtype)


@torch.no_grad()
def naive_targets(logits, tau):
    return torch.softmax(logits / tau, dim=1)


def targets_for(method, logits, hyper, reducer=LOCAL):
    """hyper: beta, tau_t, iters, eps."""
    if method == "mira":
        return mira_targets(logits, hyper["tau_t"], hyper["beta"], hyper["iters"], reducer)
    if method == "swav":
        return sinkhorn_targets(logits, hyper["eps"], hyper["iters"], reducer)
    if method == "naive":
        return naive_targets(logits, hyper["tau_t"])
    raise ValueError(f"method {method!r} has no pseudo-label targets (pseudo-label methods: {', '.join(PSEUDO_LABEL_METHODS)})")


def cross_entropy(w, q, tau_s):
    return -(w * torch.log_softmax(q / tau_s, dim=1)).sum(1).mean()


def swapped_loss(t1, t2, q1, q2, tau_s):
    return 0.5 * (cross_entropy(t1, q2, tau_s) + cross_entropy(t2, q1, tau_s))


@torch.no_grad()
def distribution_stats(p, w=None):
    """The playground's collapse metrics of a probability matrix (rows = samples): mean entropy,
    marginal entropy, MI, mean KL(p‖w), used clusters (argmax histogram), largest cluster fraction."""
    p = p.double()
    ent = -(p * torch.log(p.clamp_min(1e-30))).sum(1).mean().item()
    m = p.mean(0)
    marg = -(m * torch.log(m.clamp_min(1e-30))).sum().item()
    hist = torch.bincount(p.argmax(1), minlength=p.shape[1])
    kl = 0.0 if w is None else (p * (torch.log(p.clamp_min(1e-30)) - torch.log(w.double().clamp_min(1e-30)))).sum(1).mean().item()
    return {"mean_entropy": ent, "marginal_entropy": marg, "mi": marg - ent, "kl": kl,
            "used_clusters": int((hist > 0).sum()), "largest_cluster_fraction": hist.max().item() / p.shape[0]}


@torch.no_grad()
def representation_health(p1, p2):
    """The representation-health metrics every playground method reports (src/ref/representation.ts),
    on one batch's projector outputs of the two views (B×D, normalised here as F.normalize does):
    alignment = mean_i cos(p⁽¹⁾_i, p⁽²⁾_i); uniformity = log mean_{i≠j} exp(−2‖z_i − z_j‖²) over view 1;
    effective rank = exp(H(σ/Σσ)) of view 1's normalised B×D matrix (σ its singular values, float64)."""
    z1, z2 = torch.nn.functional.normalize(p1.double(), dim=1), torch.nn.functional.normalize(p2.double(), dim=1)
    n = z1.shape[0]
    g = z1 @ z1.t()
    d2 = (2 - 2 * g).clamp_min(0)
    off = ~torch.eye(n, dtype=torch.bool, device=g.device)
    uniformity = math.log(torch.exp(-2 * d2[off]).mean().item()) if n > 1 else float("nan")
    sv = torch.linalg.svdvals(z1)
    p = sv / sv.sum()
    p = p[p > 0]
    return {"alignment": (z1 * z2).sum(1).mean().item(), "uniformity": uniformity, "effective_rank": math.exp(-(p * torch.log(p)).sum().item())}
