"""The process group (torchrun's environment), cross-process reductions, and batch norm
synchronised across processes.

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; under it the process group is made even for one
process (so `--nproc_per_node 1` on one GPU runs the same DDP / NCCL path); without torchrun
everything runs in one process and every reduction is the identity. Backend: NCCL when CUDA is
available, gloo otherwise.

Synchronised BN: on GPUs torch.nn.SyncBatchNorm; torch's SyncBatchNorm refuses CPU tensors
(torch 1.13: "SyncBatchNorm expected input tensor to be on GPU"), so on CPU (gloo) every
BatchNorm becomes GlobalBatchNorm below — the same mathematics: batch statistics over the global
batch (two all-reduces: Σx, then Σ(x − mean)²), running statistics updated as PyTorch does
(momentum 0.1, unbiased variance over the global count), and a backward that all-reduces Σdy and
Σdy·x̂ so the input gradient is the global batch's. In one process both are plain BatchNorm.
"""
import os

import torch
import torch.distributed as dist
import torch.nn as nn


class Dist:
    """rank / world / device, and in-place all-reduces that are no-ops in one process."""

    def __init__(self, force_cpu=False):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = torch.cuda.is_available() and not force_cpu
        self.device = torch.device(f"cuda:{self.local_rank}") if use_cuda else torch.device("cpu")
        self.backend = "nccl" if use_cuda else "gloo"
        if use_cuda:
            torch.cuda.set_device(self.device)
        launched = "RANK" in os.environ and "MASTER_ADDR" in os.environ
        if launched and not dist.is_initialized():
            dist.init_process_group(self.backend)

    @property
    def distributed(self):
        return dist.is_available() and dist.is_initialized()

    @property
    def main(self):
        return self.rank == 0

    def sum_(self, t):
        if self.distributed:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t

    def max_(self, t):
        if self.distributed:
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return t

    def gather_rows(self, t):
        """Concatenates every process's rows (in rank order); t itself in one process."""
        if not self.distributed:
            return t
        parts = [torch.empty_like(t) for _ in range(self.world)]
        dist.all_gather(parts, t.contiguous())
        return torch.cat(parts, 0)

    def barrier(self):
        if self.distributed:
            dist.barrier()

    def close(self):
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()


def log_sum_exp_rows(x, reducer):
    """log Σ_i exp(x_ij) over the rows of EVERY process (dim 0), stable: max, then Σ exp(x − max)."""
    m = reducer.max_(x.detach().amax(dim=0).clone())
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    s = reducer.sum_(torch.exp(x - m).sum(dim=0))
    return torch.log(s) + m


class _GlobalBatchNormFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps, reducer):
        dims = [d for d in range(x.dim()) if d != 1]
        shape = [1, -1] + [1] * (x.dim() - 2)
        count = reducer.sum_(torch.tensor([x.numel() / x.shape[1]], dtype=torch.float64, device=x.device))
        n = count.item()
        mean = reducer.sum_(x.sum(dim=dims)) / n
        xc = x - mean.reshape(shape)
        var = reducer.sum_((xc * xc).sum(dim=dims)) / n
        invstd = torch.rsqrt(var + eps)
        xhat = xc * invstd.reshape(shape)
        ctx.save_for_backward(xhat, weight, invstd)
        ctx.reducer, ctx.n, ctx.dims, ctx.shape = reducer, n, dims, shape
        mean, var = mean.detach(), var.detach()
        ctx.mark_non_differentiable(mean, var)
        return xhat * weight.reshape(shape) + bias.reshape(shape), mean, var

    @staticmethod
    def backward(ctx, dy, _dmean, _dvar):
        xhat, weight, invstd = ctx.saved_tensors
        dims, shape, n = ctx.dims, ctx.shape, ctx.n
        sum_dy = dy.sum(dim=dims)
        sum_dy_xhat = (dy * xhat).sum(dim=dims)
        # Parameter gradients are this process's (DDP averages them); the input gradient needs the
        # global sums (of Σ_r loss_r, which DDP's average divides by the world size).
        both = ctx.reducer.sum_(torch.stack([sum_dy, sum_dy_xhat]))
        dx = (weight * invstd).reshape(shape) * (dy - (both[0] / n).reshape(shape) - xhat * (both[1] / n).reshape(shape))
        return dx, sum_dy_xhat, sum_dy, None, None


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over the global batch of every process (CPU / gloo); same state_dict keys."""

    reducer = None

    def _check_input_dim(self, x):
        if x.dim() < 2:
            raise ValueError(f"expected 2D or more input (got {x.dim()}D)")

    def forward(self, x):
        if not self.training or self.reducer is None or not self.reducer.distributed:
            return super().forward(x)
        y, mean, var = _GlobalBatchNormFn.apply(x, self.weight, self.bias, self.eps, self.reducer)
        with torch.no_grad():
            self.num_batches_tracked += 1
            n = self.reducer.sum_(torch.tensor([x.numel() / x.shape[1]], dtype=torch.float64, device=x.device)).item()
            self.running_mean.mul_(1 - self.momentum).add_(mean, alpha=self.momentum)
            self.running_var.mul_(1 - self.momentum).add_(var * (n / max(n - 1, 1)), alpha=self.momentum)
        return y


def synchronise_batch_norm(module, reducer):
    """Every BatchNorm of `module` synchronised across processes (in one process: unchanged)."""
    if not reducer.distributed:
        return module
    if reducer.device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)

    def convert(m):
        out = m
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            out = GlobalBatchNorm(m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats)
            out.reducer = reducer
            with torch.no_grad():
                out.weight.copy_(m.weight)
                out.bias.copy_(m.bias)
                out.running_mean.copy_(m.running_mean)
                out.running_var.copy_(m.running_var)
                out.num_batches_tracked.copy_(m.num_batches_tracked)
            out.weight.requires_grad_(m.weight.requires_grad)
            out.bias.requires_grad_(m.bias.requires_grad)
        for name, child in m.named_children():
            out.add_module(name, convert(child))
        return out

    return convert(module)
