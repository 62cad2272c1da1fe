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

SUPPORTED_METHODS = ("mira", "swav", "naive")
"""The methods `torch_mira.train` continues (and `export --to torch` accepts)."""
EMBEDDING_METHODS = ("mveb", "mio")
"""Embedding objectives (objectives.py): `torch_mira.step` computes their loss and gradients; train does not run them yet."""
STEP_METHODS = SUPPORTED_METHODS + EMBEDDING_METHODS
