"""Weighted kNN top-1 of the student encoder's features, as the playground evaluates it
(src/mira/knn.ts, src/mira/trainer.ts evaluateKnn): a class-balanced bank of `knnBank` training
images (seed) and `knnQueries` test images (seed + 1) chosen by the playground's hash
(rng.choose_eval_indices), zero-padded to the network's size and normalised with the model's
mean/std, BN in evaluation mode; features L2-normalised; for each query the k most similar bank
entries vote with w = exp((s − s_max)/T); prediction = argmax (ties → lower class); k = 20, T = 0.07.
"""
import numpy as np
import torch
import torch.nn.functional as F

from .rng import choose_eval_indices


def eval_images(split, idx, size, mean, std):
    H, W = split.height, split.width
    oy, ox = (size - H) // 2, (size - W) // 2
    px = np.zeros((len(idx), size, size, split.channels), np.uint8)
    px[:, oy:oy + H, ox:ox + W] = split.images[idx]
    x = (px.astype(np.float64) / 255 - np.array(mean)) / np.array(std)
    return torch.from_numpy(x.astype(np.float32)).permute(0, 3, 1, 2).contiguous()


@torch.no_grad()
def embed(encoder, x, device, chunk=256):
    was = encoder.training
    encoder.eval()
    out = torch.cat([encoder(x[i:i + chunk].to(device)).float().cpu() for i in range(0, len(x), chunk)])
    encoder.train(was)
    return out


class KnnEvaluator:
    def __init__(self, data, cfg, seed, bank, queries):
        tr, te = data.train, data.test
        self.bank_idx = choose_eval_indices(tr.count, min(bank, tr.count), seed, tr.labels)
        self.query_idx = choose_eval_indices(te.count, min(queries, te.count), seed + 1, te.labels)
        size = cfg["image_size"]
        self.bank_x = eval_images(tr, self.bank_idx, size, cfg["mean"], cfg["std"])
        self.query_x = eval_images(te, self.query_idx, size, cfg["mean"], cfg["std"])
        self.bank_y = torch.from_numpy(tr.labels[self.bank_idx])
        self.query_y = torch.from_numpy(te.labels[self.query_idx])
        self.classes = int(max(self.bank_y.max(), self.query_y.max())) + 1

    def top1(self, encoder, device, k=20, T=0.07):
        b = F.normalize(embed(encoder, self.bank_x, device).double(), dim=1, eps=1e-12)
        q = F.normalize(embed(encoder, self.query_x, device).double(), dim=1, eps=1e-12)
        sim = q @ b.t()
        k = min(k, b.shape[0])
        s, i = sim.topk(k, dim=1)
        w = torch.exp((s - s[:, :1]) / T)
        votes = torch.zeros(q.shape[0], self.classes, dtype=torch.float64)
        votes.scatter_add_(1, self.bank_y[i], w)
        pred = votes.argmax(1)
        return 100.0 * (pred == self.query_y).double().mean().item()
