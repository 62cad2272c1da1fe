#!/usr/bin/python3
# PyTorch cross-check of `npm run cli -- linear` (cli/commands/linear.ts): the same multinomial
# logistic regression on the same frozen features, written out by `npm run cli -- embed`.
# Same recipe as src/mira/linear-probe.ts fitLinearClassifier: features standardised with the
# training split's per-dimension mean and std (std floored at 1e-6), zero-initialised weights and
# bias, shuffled mini-batches with the last partial batch dropped, SGD momentum 0.9, no weight
# decay, lr 0.1·batch/256 on a cosine to 0 over all steps, mean cross-entropy. Also reports an
# L-BFGS fit to convergence (tiny L2) as a recipe-independent ceiling. Not in CI (needs torch).
# Run with Debian's torch (/usr/bin/python3, torch 1.13), not pyenv's python3:
#   npm run cli -- embed --checkpoint M --dataset bundled --split train --out ftrain.npy
#   npm run cli -- embed --checkpoint M --dataset bundled --split test --out ftest.npy
#   /usr/bin/python3 scripts/linear_reference.py --train ftrain.npy --test ftest.npy \
#       --train-labels public/datasets/fashion-mnist-sample-train-labels-idx1-ubyte.gz \
#       --test-labels public/datasets/fashion-mnist-sample-test-labels-idx1-ubyte.gz
import argparse
import gzip
import json
import math

import numpy as np
import torch


def idx_labels(path):
    raw = gzip.open(path).read() if path.endswith('.gz') else open(path, 'rb').read()
    if int.from_bytes(raw[0:4], 'big') != 2049:
        raise SystemExit(f'{path}: not an IDX label file (magic {int.from_bytes(raw[0:4], "big")})')
    n = int.from_bytes(raw[4:8], 'big')
    return np.frombuffer(raw[8:8 + n], dtype=np.uint8).astype(np.int64)


def top_k(logits, y):
    rank = (logits > logits.gather(1, y[:, None])).sum(1)
    return 100.0 * (rank == 0).float().mean().item(), 100.0 * (rank < 5).float().mean().item()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--train', required=True)
    ap.add_argument('--test', required=True)
    ap.add_argument('--train-labels', required=True)
    ap.add_argument('--test-labels', required=True)
    ap.add_argument('--epochs', type=int, default=20)
    ap.add_argument('--batch', type=int, default=256)
    ap.add_argument('--lr', type=float, default=None)
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    xtr = torch.from_numpy(np.load(a.train)).double()
    xte = torch.from_numpy(np.load(a.test)).double()
    ytr = torch.from_numpy(idx_labels(a.train_labels)[: xtr.shape[0]])
    yte = torch.from_numpy(idx_labels(a.test_labels)[: xte.shape[0]])
    classes = int(max(ytr.max(), yte.max()) + 1)
    mean = xtr.mean(0)
    std = xtr.std(0, unbiased=False).clamp_min(1e-6)
    xtr = (xtr - mean) / std
    xte = (xte - mean) / std
    n, d = xtr.shape
    B = min(a.batch, n)
    lr = a.lr if a.lr is not None else 0.1 * B / 256
    per_epoch = max(1, n // B)
    total = per_epoch * a.epochs
    model = torch.nn.Linear(d, classes).double()
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.zeros_(model.bias)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=0)
    g = torch.Generator().manual_seed(a.seed)
    step = 0
    for _ in range(a.epochs):
        perm = torch.randperm(n, generator=g)
        for s in range(per_epoch):
            rows = perm[s * B:(s + 1) * B]
            for group in opt.param_groups:
                group['lr'] = lr * (1 + math.cos(math.pi * step / total)) / 2
            loss = torch.nn.functional.cross_entropy(model(xtr[rows]), ytr[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
    with torch.no_grad():
        sgd1, sgd5 = top_k(model(xte), yte)
    # L-BFGS to convergence with a tiny L2, as a ceiling independent of the SGD recipe.
    full = torch.nn.Linear(d, classes).double()
    lbfgs = torch.optim.LBFGS(full.parameters(), lr=1, max_iter=500, history_size=20, line_search_fn='strong_wolfe')

    def closure():
        lbfgs.zero_grad()
        l = torch.nn.functional.cross_entropy(full(xtr), ytr) + 1e-4 * full.weight.pow(2).sum()
        l.backward()
        return l

    lbfgs.step(closure)
    with torch.no_grad():
        lb1, lb5 = top_k(full(xte), yte)
    print(json.dumps({'train': n, 'test': xte.shape[0], 'dim': d, 'classes': classes, 'epochs': a.epochs, 'batch': B, 'lr': lr, 'steps': total,
                      'final_loss': loss.item(), 'top1': sgd1, 'top5': sgd5, 'lbfgs_top1': lb1, 'lbfgs_top5': lb5, 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
