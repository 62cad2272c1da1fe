"""safetensors files in pure Python (the `safetensors` pip package is not needed).

Format (huggingface/safetensors): 8-byte little-endian header length N, N bytes of JSON
{"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets": [begin, end]}, ...}, then
the tensors' raw little-endian bytes. Written as the playground's writer does (src/io/safetensors.ts):
tensors ordered by dtype (widest first, the reference's enum order) then by name, metadata keys
sorted, header padded with spaces to a multiple of 8 bytes. Reading requires the tensors to tile
the data area exactly, as the reference reader does.
"""
import json
import struct

import numpy as np

# dtype → (numpy dtype, rank in the reference's Dtype enum; the writer sorts descending on it)
DTYPES = {
    "U8": (np.uint8, 1),
    "F16": (np.float16, 7),
    "I32": (np.int32, 9),
    "F32": (np.float32, 11),
    "F64": (np.float64, 12),
    "I64": (np.int64, 13),
}
NUMPY_TO_DTYPE = {np.dtype(v[0]): k for k, v in DTYPES.items()}


class SafetensorsError(ValueError):
    pass


def read_safetensors(path):
    """Returns ({name: numpy array}, {metadata key: str}). Raises SafetensorsError naming the file."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise SafetensorsError(f"cannot read {path}: {e.strerror or e}") from None
    return parse_safetensors(raw, path)


def parse_safetensors(raw, source="safetensors"):
    if len(raw) < 8:
        raise SafetensorsError(f"{source}: {len(raw)} bytes, too short for a safetensors header")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise SafetensorsError(f"{source}: header length {n} runs past the file's {len(raw)} bytes")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{source}: header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{source}: header is not a JSON object")
    meta = header.pop("__metadata__", {}) or {}
    data = memoryview(raw)[8 + n:]
    spans = []
    out = {}
    for name, t in header.items():
        dtype = t.get("dtype")
        if dtype not in DTYPES:
            raise SafetensorsError(f"{source}: tensor {name} has dtype {dtype}; supported: {', '.join(DTYPES)}")
        b, e = t["data_offsets"]
        shape = [int(s) for s in t["shape"]]
        np_dtype = np.dtype(DTYPES[dtype][0]).newbyteorder("<")
        count = int(np.prod(shape)) if shape else 1
        if e - b != count * np_dtype.itemsize or e > len(data) or b < 0:
            raise SafetensorsError(f"{source}: tensor {name} [{b}, {e}) does not hold {shape} {dtype} inside the {len(data)} data bytes")
        out[name] = np.frombuffer(data[b:e], dtype=np_dtype).reshape(shape).astype(np_dtype.newbyteorder("="))
        spans.append((b, e))
    spans.sort()
    at = 0
    for b, e in spans:
        if b != at:
            raise SafetensorsError(f"{source}: tensors do not tile the data area (gap or overlap at byte {at})")
        at = e
    if at != len(data):
        raise SafetensorsError(f"{source}: {len(data) - at} trailing bytes after the last tensor")
    return out, {str(k): str(v) for k, v in meta.items()}


def encode_safetensors(tensors, metadata=None):
    """tensors: {name: numpy array} (dtype from the array: uint8, float16/32/64, int32, int64)."""
    items = []
    for name, array in tensors.items():
        a = np.asarray(array)
        dtype = NUMPY_TO_DTYPE.get(a.dtype)
        if dtype is None:
            raise SafetensorsError(f"cannot write tensor {name} of numpy dtype {a.dtype}")
        raw = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()
        items.append((name, dtype, list(a.shape), raw))
    items.sort(key=lambda t: (-DTYPES[t[1]][1], t[0]))
    header = {"__metadata__": dict(sorted((metadata or {}).items()))} if metadata else {}
    offset = 0
    for name, dtype, shape, raw in items:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(raw for _, _, _, raw in items)


def write_safetensors(path, tensors, metadata=None):
    """Writes atomically (path.tmp, then rename), as the playground's CLI does."""
    import os

    data = encode_safetensors(tensors, metadata)
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)
