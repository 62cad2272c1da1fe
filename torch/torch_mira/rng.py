"""The playground's counter-based hash RNG (src/data/rng.ts, src/shaders/augment.wgsl), bit for bit:

    word(seed, step, sample, view, op) = pcg(pcg(pcg(pcg(pcg(seed) + step) + sample) + view) + op)

pcg() is the PCG-RXS-M-XS output permutation of one LCG step on u32 (wrapping). It drives the data
order (epoch_permutation), the augmentation (augment.py) and the kNN subsets (choose_eval_indices),
so a run continued here sees the same batches and the same crop/flip/jitter draws as the playground.
Scalar functions take Python ints; pcg_np works on numpy uint64 arrays holding u32 values.
"""
import numpy as np

M32 = 0xFFFFFFFF


def pcg(x):
    state = ((x & M32) * 747796405 + 2891336453) & M32
    word = (((state >> ((state >> 28) + 4)) ^ state) * 277803737) & M32
    return ((word >> 22) ^ word) & M32


def rand_base(seed, step, sample, view):
    h = pcg(seed)
    h = pcg(h + step)
    h = pcg(h + sample)
    return pcg(h + view)


def pcg_np(x):
    x = np.asarray(x, dtype=np.uint64) & np.uint64(M32)
    state = (x * np.uint64(747796405) + np.uint64(2891336453)) & np.uint64(M32)
    word = (((state >> ((state >> np.uint64(28)) + np.uint64(4))) ^ state) * np.uint64(277803737)) & np.uint64(M32)
    return ((word >> np.uint64(22)) ^ word) & np.uint64(M32)


def rand_base_np(seed, step, samples, view):
    h = pcg_np(np.full(len(samples), pcg(pcg(seed) + step), dtype=np.uint64) + np.asarray(samples, dtype=np.uint64))
    return pcg_np(h + np.uint64(view))


def word_np(base, op):
    return pcg_np(base + np.uint64(op))


def epoch_permutation(seed, epoch, n):
    """The data order of one epoch (Fisher–Yates driven by the hash), as the playground's trainer."""
    perm = list(range(n))
    base = rand_base(seed, epoch, 0xFFFFFFFF, 0x0DA7A)
    for i in range(n - 1, 0, -1):
        j = (pcg(base + i) * (i + 1)) >> 32
        perm[i], perm[j] = perm[j], perm[i]
    return np.array(perm, dtype=np.int64)


def choose_eval_indices(n, count, seed, labels=None):
    """The kNN bank / query subset (src/mira/knn.ts chooseEvalIndices): class-balanced round robin
    over per-class shuffles, sorted."""
    def stream(salt):
        base = pcg(pcg(seed) + salt)
        i = [0]

        def nxt():
            w = pcg(base + i[0])
            i[0] += 1
            return w
        return nxt

    def shuffle(xs, rand):
        for i in range(len(xs) - 1, 0, -1):
            j = (rand() * (i + 1)) >> 32
            xs[i], xs[j] = xs[j], xs[i]
        return xs

    if labels is None:
        chosen = shuffle(list(range(n)), stream(0))[:count]
    else:
        by_class = {}
        for i, l in enumerate(labels.tolist()):
            by_class.setdefault(l, []).append(i)
        lists = [shuffle(by_class[c], stream(1 + c)) for c in sorted(by_class)]
        chosen = []
        rnd = 0
        while len(chosen) < count:
            for lst in lists:
                if len(chosen) == count:
                    break
                if rnd < len(lst):
                    chosen.append(lst[rnd])
            rnd += 1
    return np.array(sorted(chosen), dtype=np.int64)
