"""Datasets on disk, read as the playground reads them (src/data/{load,idx,cifar,node-fs}.ts):
images uint8 N×H×W×C (NHWC) and labels, in file order (the data order depends on it).

  bundled         public/datasets/fashion-mnist-sample-*-idx?-ubyte.gz of this checkout
  fashion-mnist   /usr/share/datasets/fashion-mnist (IDX, .gz or not)
  cifar10         public/datasets/cifar-10-batches-bin/ or public/datasets/cifar-10-binary.tar.gz
  DIR             a directory with CIFAR-10 .bin files, the CIFAR-10 tarball, or IDX files
CIFAR-10 binary: data_batch_1…5.bin / test_batch.bin, records of 1 label byte + 3072 bytes
(R, G, B planes of 32×32), converted to NHWC.
"""
import gzip
import io
import os
import re
import struct
import tarfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The playground's public/datasets (override with MIRA_DATASETS_DIR, e.g. for an exported copy of torch_mira).
DATASETS_DIR = os.environ.get("MIRA_DATASETS_DIR") or os.path.join(ROOT, "public", "datasets")
BUNDLED_FILES = {("train", "images"): "fashion-mnist-sample-train-images-idx3-ubyte.gz", ("train", "labels"): "fashion-mnist-sample-train-labels-idx1-ubyte.gz",
                 ("test", "images"): "fashion-mnist-sample-test-images-idx3-ubyte.gz", ("test", "labels"): "fashion-mnist-sample-test-labels-idx1-ubyte.gz"}
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
CIFAR_TRAIN_FILES = [f"data_batch_{i}.bin" for i in range(1, 6)]
CIFAR_TEST_FILE = "test_batch.bin"
CIFAR_TARBALL = "cifar-10-binary.tar.gz"
EXPECTED = "expected CIFAR-10 (data_batch_1…5.bin, test_batch.bin), cifar-10-binary.tar.gz, or IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz])"


class DatasetError(ValueError):
    pass


class Split:
    def __init__(self, images, labels):
        self.images = images
        self.labels = labels
        self.count, self.height, self.width, self.channels = images.shape


class Dataset:
    def __init__(self, name, train, test):
        self.name, self.train, self.test = name, train, test


def _read(path):
    with open(path, "rb") as f:
        raw = f.read()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def parse_idx(raw, where):
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 8:
        raise DatasetError(f"{where}: not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DatasetError(f"{where}: {data.size} bytes of data, the header says {dims}")
    return data.reshape(dims)


def idx_role(name):
    n = name.lower()
    kind = "images" if re.search(r"images?[-_.]idx3|idx3[-_.]ubyte", n) and "image" in n else "labels" if re.search(r"labels?[-_.]idx1|idx1[-_.]ubyte", n) and "label" in n else None
    if not kind:
        return None
    if re.search(r"(^|[-_.])(t10k|test)([-_.]|$)", n):
        return "test", kind
    if re.search(r"(^|[-_.])train([-_.]|$)", n):
        return "train", kind
    return None


def _cifar_records(raw, where):
    if len(raw) % 3073:
        raise DatasetError(f"{where}: {len(raw)} bytes is not a whole number of 3073-byte CIFAR-10 records")
    rec = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3073)
    return rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), rec[:, 0].astype(np.int64)


def _cifar(files, where):
    missing = [f for f in CIFAR_TRAIN_FILES + [CIFAR_TEST_FILE] if f not in files]
    if missing:
        raise DatasetError(f"{where}: CIFAR-10 files missing: {', '.join(missing)}")
    parts = [_cifar_records(files[f], f"{where}/{f}") for f in CIFAR_TRAIN_FILES]
    train = Split(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    return Dataset("cifar10", train, Split(*_cifar_records(files[CIFAR_TEST_FILE], f"{where}/{CIFAR_TEST_FILE}")))


def _cifar_tar(path):
    files = {}
    with tarfile.open(path, "r:*") as tar:
        for m in tar.getmembers():
            base = os.path.basename(m.name)
            if m.isfile() and base in CIFAR_TRAIN_FILES + [CIFAR_TEST_FILE]:
                files[base] = tar.extractfile(m).read()
    return _cifar(files, path)


def load_idx(files, where, name):
    """files: {(split, kind): path} for the four IDX files."""
    def split(s):
        images = parse_idx(_read(files[(s, "images")]), files[(s, "images")])
        return Split(images[..., None] if images.ndim == 3 else images, parse_idx(_read(files[(s, "labels")]), files[(s, "labels")]).astype(np.int64))

    missing = [p for p in files.values() if not os.path.isfile(p)]
    if missing:
        raise DatasetError(f"{where}: missing {', '.join(missing)}")
    return Dataset(name, split("train"), split("test"))


def load_dir(path, name=None):
    if not os.path.isdir(path):
        if os.path.isfile(path) and re.search(r"\.(tar\.gz|tgz|tar)$", path, re.I):
            return _cifar_tar(path)
        raise DatasetError(f"{path}: no such directory ({EXPECTED})")
    names = sorted(f for f in os.listdir(path) if os.path.isfile(os.path.join(path, f)))
    if any(n in CIFAR_TRAIN_FILES + [CIFAR_TEST_FILE] for n in names):
        return _cifar({n: open(os.path.join(path, n), "rb").read() for n in names if n in CIFAR_TRAIN_FILES + [CIFAR_TEST_FILE]}, path)
    tars = [n for n in names if re.search(r"\.(tar\.gz|tgz|tar)$", n, re.I)]
    if tars:
        return _cifar_tar(os.path.join(path, CIFAR_TARBALL if CIFAR_TARBALL in tars else tars[0]))
    roles = {}
    for n in names:
        r = idx_role(n)
        if r:
            roles.setdefault(r, []).append(n)
    if not roles:
        raise DatasetError(f"{path}: no dataset files found ({EXPECTED})")

    for key in BUNDLED_FILES:
        if len(roles.get(key, [])) != 1:
            raise DatasetError(f"{path}: {'no' if not roles.get(key) else 'several'} IDX {key[0]} {key[1]} file(s) {roles.get(key, [])}; {EXPECTED}")
    return load_idx({k: os.path.join(path, v[0]) for k, v in roles.items()}, path, name or os.path.basename(os.path.normpath(path)))


def load_dataset(spec):
    """`bundled`, `fashion-mnist`, `cifar10`, or a directory / the CIFAR-10 tarball."""
    if spec == "bundled":
        return load_idx({k: os.path.join(DATASETS_DIR, f) for k, f in BUNDLED_FILES.items()}, DATASETS_DIR, "fashion-mnist-sample")
    if spec == "fashion-mnist":
        return load_dir(FASHION_MNIST_DIR, "fashion-mnist")
    if spec == "cifar10":
        d = os.path.join(DATASETS_DIR, "cifar-10-batches-bin")
        if os.path.isdir(d):
            return load_dir(d)
        t = os.path.join(DATASETS_DIR, CIFAR_TARBALL)
        if os.path.isfile(t):
            return _cifar_tar(t)
        raise DatasetError(f"{DATASETS_DIR}: CIFAR-10 is not here (looked for cifar-10-batches-bin/ and {CIFAR_TARBALL}); pass --data DIR")
    return load_dir(spec)
