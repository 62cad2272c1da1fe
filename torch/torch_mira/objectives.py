"""The embedding objectives (issue 12, "The objectives"; docs/ARCHITECTURE.md, embedding objectives):
MVEB and MIO on the student's projector outputs p⁽¹⁾, p⁽²⁾ (B×D), z = p/max(‖p‖, 1e-12) row-wise
(F.normalize); autograd takes the gradient back through the normalisation. The playground's
float64 references are src/ref/mveb.ts and src/ref/mio.ts; these are the same formulas.

MVEB (Multi-View Entropy Bottleneck; t⁽ᵛ⁾ = the EMA teacher's outputs normalised, no gradient):
    align = ½ [ mean_i ⟨z⁽¹⁾_i, t⁽²⁾_i⟩ + mean_i ⟨z⁽²⁾_i, t⁽¹⁾_i⟩ ]
    Stein score of one chunk Z (N×D, no gradient, float64): A = Z Zᵀ; τ = max(0.1, the ⌊N²/2⌋-th
      largest entry of 1 − A, diagonal included); K = exp(A/τ); Ψ_i = (1/τ)(Σ_j K_ij) z_i;
      S = −(K + ηI)⁻¹ Ψ by Cholesky (K not rescaled; η absolute)
    unif  = ½ [ Ĥ(Z⁽¹⁾) + Ĥ(Z⁽²⁾) ],  Ĥ(Z) = −(1/B) Σ_i ⟨sg(S_i), z_i⟩
    L     = −align − λ·unif
  `chunk` N (default B) estimates S on sub-batches of N consecutive rows (the official code: per GPU).
MIO (v1 of the paper as its code; no teacher): Z = [z⁽¹⁾; z⁽²⁾] (2B rows), S = Z Zᵀ, partner a' = a ± B
    L = mean over the 2B ordered positive pairs softplus(−s_aa'/τ₊)
      + ν · mean over the 2B(2B−2) ordered negative pairs (b ∉ {a, a'}) softplus(s_ab/τ₋)
      + μ · mean over the B·D entries of (z⁽¹⁾ − z⁽²⁾)²
  ν = 1 (the playground's `mioNegatives` 'on'); 0 is its collapse demo ('off'), as src/ref/mio.ts negWeight.
"""
import torch
import torch.nn.functional as F

MVEB_DEFAULTS = {"entropy_weight": 0.01, "stein_eta": 0.01}
MVEB_TAU_MIN = 0.1
MIO_DEFAULTS = {"tau_pos": 0.5, "tau_neg": 0.5, "l2_weight": 1.0}


@torch.no_grad()
def stein_score(z, eta):
    """S (N×D, float64) and τ of one chunk of unit rows z."""
    z = z.double()
    n = z.shape[0]
    a = z @ z.t()
    tau = max(MVEB_TAU_MIN, torch.topk((1 - a).reshape(-1), n * n // 2).values[-1].item())
    k = torch.exp(a / tau)
    psi = k.sum(1, keepdim=True) / tau * z
    chol = torch.linalg.cholesky(k + eta * torch.eye(n, dtype=k.dtype, device=k.device))
    return -torch.cholesky_solve(psi, chol), tau


def mveb_loss(p1, p2, q1, q2, entropy_weight=MVEB_DEFAULTS["entropy_weight"], stein_eta=MVEB_DEFAULTS["stein_eta"], chunk=None):
    """p: student projector outputs (with gradient), q: the teacher's (no gradient). Returns
    (loss, stats {tau (mean over chunks and views), align, unif})."""
    b = p1.shape[0]
    chunk = b if chunk is None else chunk
    if chunk < 2 or b % chunk:
        raise ValueError(f"mveb: the Stein chunk {chunk} must be ≥ 2 and divide the batch {b}")
    z = (F.normalize(p1, dim=1), F.normalize(p2, dim=1))
    t = (F.normalize(q1.detach(), dim=1), F.normalize(q2.detach(), dim=1))
    align = 0.5 * ((z[0] * t[1]).sum(1).mean() + (z[1] * t[0]).sum(1).mean())
    taus, unif = [], 0
    for zv in z:
        parts = [stein_score(c.detach(), stein_eta) for c in zv.split(chunk)]
        taus += [tau for _, tau in parts]
        s = torch.cat([s for s, _ in parts]).to(zv.dtype)
        unif = unif - 0.5 * (s * zv).sum(1).mean()
    loss = -align - entropy_weight * unif
    return loss, {"tau": sum(taus) / len(taus), "align": align.item(), "unif": unif.item()}


def mio_loss(p1, p2, tau_pos=MIO_DEFAULTS["tau_pos"], tau_neg=MIO_DEFAULTS["tau_neg"], l2_weight=MIO_DEFAULTS["l2_weight"], neg_weight=1.0):
    """Returns (loss, stats {pos_prob, neg_prob}: mean σ(s/τ) over the positive / negative pairs)."""
    b = p1.shape[0]
    if b < 2:
        raise ValueError(f"mio: a batch of {b} has no negative pairs; use at least 2 images")
    z1, z2 = F.normalize(p1, dim=1), F.normalize(p2, dim=1)
    zz = torch.cat([z1, z2])
    s = zz @ zz.t()
    idx = torch.arange(2 * b, device=s.device)
    partner = (idx + b) % (2 * b)
    pos = s[idx, partner]
    neg_mask = torch.ones_like(s, dtype=torch.bool)
    neg_mask[idx, idx] = False
    neg_mask[idx, partner] = False
    neg = s[neg_mask]
    loss = F.softplus(-pos / tau_pos).mean() + neg_weight * F.softplus(neg / tau_neg).mean() + l2_weight * ((z1 - z2) ** 2).mean()
    with torch.no_grad():
        stats = {"pos_prob": torch.sigmoid(pos / tau_pos).mean().item(), "neg_prob": torch.sigmoid(neg / tau_neg).mean().item()}
    return loss, stats
