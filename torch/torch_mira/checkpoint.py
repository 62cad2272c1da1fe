"""Playground checkpoints: model.safetensors (student + `ema.` teacher + metadata `mira.config`)
and optimizer.safetensors (the flat momentum), read and written exactly as the playground does
(src/nn/checkpoint.ts, src/nn/param-store.ts), so either side resumes the other's run.

mira.config (JSON in the safetensors metadata): width, in_channels, image_size, stem_padding,
mean, std, proj_hidden, proj_out, prototypes, step, and the run's extra keys: `train_config` (the
playground's TrainConfig, camelCase keys: batch, steps, lr, method, …) and `knn_top1_init`.

Tensors are stored in PyTorch's names and layouts (conv OIHW, linear out×in), F32, and
num_batches_tracked as I64 of shape []. The momentum is ONE F32 vector in the playground's
ParamLayout: the trainable tensors of encoder + projector in state_dict order, then the head's
weight_v, each starting at a multiple of 64 elements, each in the playground's own layout
(conv HWIO = OIHW.permute(2, 3, 1, 0); linear in×out = the transpose; vectors and the K×P
prototypes as they are). Metadata `step` says which checkpoint step it belongs to.
"""
import json
import os

import numpy as np
import torch

from .safetensors import SafetensorsError, read_safetensors, write_safetensors

CONFIG_KEY = "mira.config"
TEACHER_PREFIX = "ema."
MODEL_KEYS = ("width", "in_channels", "image_size", "stem_padding", "mean", "std", "proj_hidden", "proj_out", "prototypes")
ALIGN = 64


class CheckpointError(ValueError):
    pass


def _align(n):
    return (n + ALIGN - 1) // ALIGN * ALIGN


def load_checkpoint(path):
    """Reads a playground checkpoint. Returns a dict: config (model keys of mira.config), step,
    student {name: tensor} (float32, int64 for num_batches_tracked), teacher (the same without `ema.`,
    or None), extra (every other key of mira.config: train_config, knn_top1_init, …)."""
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint {path} does not exist; pass the model.safetensors a playground run wrote (npm run cli -- train --out DIR writes DIR/model.safetensors)")
    try:
        arrays, meta = read_safetensors(path)
    except SafetensorsError as e:
        raise CheckpointError(f"{path}: not a readable safetensors file: {e}") from None
    raw = meta.get(CONFIG_KEY)
    if raw is None:
        raise CheckpointError(f'{path}: no "{CONFIG_KEY}" metadata; a MIRA Playground checkpoint stores its model configuration there (width, in_channels, image_size, …). Export one from the playground (npm run cli -- train, or the page\'s "save checkpoint").')
    try:
        stored = json.loads(raw)
    except json.JSONDecodeError as e:
        raise CheckpointError(f'{path}: "{CONFIG_KEY}" metadata is not valid JSON: {e}') from None
    missing = [k for k in MODEL_KEYS if k != "stem_padding" and k not in stored]
    if missing:
        raise CheckpointError(f"{path}: metadata {CONFIG_KEY} lacks {', '.join(missing)}")
    config = {k: stored[k] for k in MODEL_KEYS if k in stored}
    config.setdefault("stem_padding", 1)
    step = int(stored.get("step", 0))
    extra = {k: v for k, v in stored.items() if k not in MODEL_KEYS and k != "step"}
    student, teacher = {}, {}
    for name, a in arrays.items():
        t = torch.from_numpy(np.array(a))
        t = t if t.dtype == torch.int64 else t.float()
        if name.startswith(TEACHER_PREFIX):
            teacher[name[len(TEACHER_PREFIX):]] = t
        else:
            student[name] = t
    return {"config": config, "step": step, "student": student, "teacher": teacher or None, "extra": extra, "path": path}


def load_state_strict(module, tensors, what):
    """load_state_dict(strict=True) with one message listing every missing / unexpected / misshapen key."""
    own = module.state_dict()
    missing = [k for k in own if k not in tensors]
    unexpected = [k for k in tensors if k not in own]
    wrong = [f"{k}: {list(tensors[k].shape)}, expected {list(own[k].shape)}" for k in own if k in tensors and tensors[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing keys ({len(missing)}): {', '.join(missing)}")
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {', '.join(unexpected)}")
        if wrong:
            parts.append(f"wrong shapes ({len(wrong)}): {'; '.join(wrong)}")
        raise CheckpointError(f"{what} does not match the model its mira.config describes: {'. '.join(parts)}")
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in tensors.items()}, strict=True)


def stored_config(config, step, extra):
    """mira.config in the playground's key order (toStoredConfig), extra keys after."""
    out = {k: config[k] for k in MODEL_KEYS}
    out["step"] = int(step)
    out.update(extra)
    return out


def save_checkpoint(path, student, teacher, config, step, extra):
    """student / teacher: the modules (teacher = encoder + projector, written under `ema.`)."""
    tensors = {}
    for prefix, module in (("", student), (TEACHER_PREFIX, teacher)):
        for name, t in module.state_dict().items():
            t = t.detach().cpu()
            tensors[prefix + name] = t.reshape(()).numpy().astype(np.int64) if name.endswith("num_batches_tracked") else t.float().numpy()
    meta = {CONFIG_KEY: json.dumps(stored_config(config, step, extra), separators=(",", ":")), "format": "pt"}
    write_safetensors(path, tensors, meta)


# ---- the flat optimizer state -------------------------------------------------------------------
class ParamLayout:
    """The playground's ParamLayout: where each trainable tensor's momentum lives in the flat vector."""

    def __init__(self, student):
        named = [(n, p) for n, p in student.named_parameters() if p.requires_grad]
        order = [x for x in named if not x[0].startswith("head.")] + [x for x in named if x[0].startswith("head.")]
        self.slots = {}
        off = 0
        for name, p in order:
            self.slots[name] = (off, p.numel(), tuple(p.shape))
            off = _align(off + p.numel())
        self.size = off

    @staticmethod
    def to_ours(name, t):
        """PyTorch layout → the playground's (flattened)."""
        if t.dim() == 4:
            return t.permute(2, 3, 1, 0).reshape(-1)
        if t.dim() == 2 and name.startswith("projector."):
            return t.t().reshape(-1)
        return t.reshape(-1)

    @staticmethod
    def from_ours(name, flat, shape):
        """The playground's layout (flat) → PyTorch's `shape`."""
        if len(shape) == 4:
            o, i, kh, kw = shape
            return flat.reshape(kh, kw, i, o).permute(3, 2, 0, 1).contiguous()
        if len(shape) == 2 and name.startswith("projector."):
            return flat.reshape(shape[1], shape[0]).t().contiguous()
        return flat.reshape(shape).clone()

    def unflatten(self, flat):
        if flat.numel() != self.size:
            raise CheckpointError(f"momentum has {flat.numel()} values; this model's optimizer state has {self.size} (is optimizer.safetensors from another model?)")
        return {n: self.from_ours(n, flat[o:o + k], s) for n, (o, k, s) in self.slots.items()}

    def flatten(self, tensors):
        flat = torch.zeros(self.size, dtype=torch.float32)
        for n, (o, k, _) in self.slots.items():
            if n in tensors:
                flat[o:o + k] = self.to_ours(n, tensors[n].detach().cpu().float())
        return flat


def load_momentum(path, step):
    """The flat momentum beside a checkpoint if it belongs to `step`; else None with the reason."""
    if not os.path.exists(path):
        return None, f"no {path}: resuming with zero optimizer momentum"
    try:
        arrays, meta = read_safetensors(path)
    except SafetensorsError as e:
        raise CheckpointError(f"{path}: {e}") from None
    if meta.get("step") != str(step):
        return None, f"{path} is from step {meta.get('step')}, the checkpoint from step {step}: resuming with zero optimizer momentum"
    m = arrays.get("momentum")
    if m is None or m.dtype != np.float32:
        raise CheckpointError(f'{path}: no float32 "momentum" tensor')
    return torch.from_numpy(m.reshape(-1).copy()), None


def save_momentum(path, flat, step):
    write_safetensors(path, {"momentum": flat.numpy().astype(np.float32)}, {"step": str(int(step))})


def models_from_checkpoint(ck, dtype=torch.float32):
    """(student, teacher) modules loaded strictly from load_checkpoint's result. Without `ema.*`
    tensors the teacher starts as a copy of the student's encoder + projector (as the playground)."""
    from .model import Backbone, Student

    student = Student(ck["config"]).to(dtype)
    load_state_strict(student, ck["student"], f"{ck['path']} (student)")
    teacher = Backbone(ck["config"]).to(dtype)
    source = ck["teacher"] if ck["teacher"] is not None else {k: v for k, v in ck["student"].items() if not k.startswith("head.")}
    load_state_strict(teacher, source, f"{ck['path']} (ema. teacher)")
    for p in teacher.parameters():
        p.requires_grad_(False)
    return student, teacher
