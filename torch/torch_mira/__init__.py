"""torch_mira: continue a MIRA Playground run in PyTorch (DistributedDataParallel over torchrun).

The same model, recipe and numbers as the playground (see torch/README.md): the checkpoint's
ResNet-18 + projector + weight-normalised prototype head + EMA teacher (model.py), MIRA's
log-domain fixed point, SwAV's Sinkhorn-Knopp, naive targets and the swapped loss (methods.py), the MVEB and MIO embedding objectives (objectives.py),
the lr / β / EMA schedules (schedules.py), SGD and LARS with the playground's exclusions
(optim.py), the augmentation recipes with the playground's counter-based RNG (augment.py), the
datasets (data.py), weighted kNN (knn.py), checkpoints in the playground's safetensors format
(safetensors.py, checkpoint.py), the process group and synchronised batch norm (distributed.py),
`python -m torch_mira.train` and `python -m torch_mira.step`.
"""

PSEUDO_LABEL_METHODS = ("mira", "swav", "naive")
"""Methods whose targets come from the teacher's logits over the prototype head (methods.py)."""
EMBEDDING_METHODS = ("mveb", "mio")
"""Embedding objectives on the projector outputs, no prototype head (objectives.py)."""
SUPPORTED_METHODS = PSEUDO_LABEL_METHODS + EMBEDDING_METHODS
"""The methods `torch_mira.train` continues (and `export --to torch` accepts: cli/commands/export.ts TORCH_METHODS)."""
STEP_METHODS = SUPPORTED_METHODS
"""The methods `torch_mira.step` computes a loss and gradients for."""
