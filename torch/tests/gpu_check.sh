#!/bin/bash
# The GPU check of torch_mira (issue 17), on a machine with one or more NVIDIA GPUs and PyTorch:
#  1. the continuation of the CLI's run (step 20 → 40) with NCCL on the GPU (torchrun, DDP, SyncBatchNorm),
#     compared step by step with the CLI's uninterrupted run;
#  2. images/s (both views) at width 1/2, batch 256, K 3000 for 60 steps, TF32 off and on, beside the
#     playground's 10 490 images/s on an H100 for the same recipe (docs/results-h100.md).
# Inputs from torch/tests/prepare_gpu_check.sh. Writes into $OUT (or ./gpu-check-out).
set -o pipefail
DIR="${1:?usage: gpu_check.sh DIR (from prepare_gpu_check.sh)}"
OUT="${OUT:-gpu-check-out}"
mkdir -p "$OUT"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PYTHONPATH="$ROOT/torch" PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=4
PY="${PYTHON:-python3}"
TR="$PY -m torch.distributed.run --standalone --nproc_per_node ${NPROC:-1} --redirects 1 --tee 1 --log_dir /tmp/torchrun-logs -m torch_mira.train"
{
  nvidia-smi -L
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
  $TR --resume "$DIR/a/model.safetensors" --out "$OUT/small" --log-every 1
  $PY - "$DIR/full.metrics.jsonl" "$OUT/small/metrics.jsonl" <<'PYEOF'
import json, sys
def load(p):
    d = {}
    for l in open(p):
        r = json.loads(l); d.setdefault(r["step"], {}).update(r)
    return d
a, b = load(sys.argv[1]), load(sys.argv[2])
steps = [s for s in range(21, 41) if s in a and s in b and "loss" in b[s]]
print("continuation (torch_mira) vs the CLI: max |Δloss| over steps 21-40 = %.2e; used clusters equal at %d of %d steps; kNN top-1 %s (CLI) vs %s (torch_mira)" % (
    max(abs(a[s]["loss"] - b[s]["loss"]) for s in steps), sum(a[s]["used_clusters"] == b[s]["used_clusters"] for s in steps), len(steps), a[40].get("knn_top1"), b[40].get("knn_top1")))
PYEOF
  for tf in "" "--tf32"; do
    $TR --resume "$DIR/w05/model.safetensors" --out "/tmp/w05$tf" --steps 60 --log-every 20 --no-knn --threads 4 $tf
    $PY -c "import json,sys; r=[json.loads(l) for l in open('/tmp/w05$tf/metrics.jsonl')]; print('width 1/2, batch 256, K 3000 ${tf:-(no TF32)}: images/s (both views) over steps 21-60:', round(2*sum(x['images_per_s'] for x in r[1:])/len(r[1:])))"
  done
  rm -f "$OUT/small/optimizer.safetensors"
} 2>&1 | tee "$OUT/gpu_check.log"
