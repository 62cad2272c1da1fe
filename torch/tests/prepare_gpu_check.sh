#!/bin/bash
# Prepares torch/tests/gpu_check.sh's inputs HERE (needs node; the GPU machine has no playground):
#   DIR/a/        the CLI's run stopped at step 20 of 40 (model.safetensors + optimizer.safetensors)
#   DIR/full.metrics.jsonl   the CLI's uninterrupted 40-step run, to compare the continuation with
#   DIR/w05/      a step-0 checkpoint at width 1/2, batch 256, K 3000 (the H100 results' recipe), for images/s
# Then, on a GPU machine with the merged tree:  bash torch/tests/gpu_check.sh DIR   (DIR carried, ~35 MB)
set -euo pipefail
DIR="${1:-.cache/gpu-check}"
mkdir -p "$DIR/a" "$DIR/w05"
C="--dataset bundled --width 0.0625 --batch 16 --prototypes 32 --steps 40 --log-every 1"
npm run -s cli -- train $C --stop-at-step 20 --out "$DIR/a" >/dev/null 2>&1
npm run -s cli -- train $C --out "$DIR/full" >/dev/null 2>&1
cp "$DIR/full/metrics.jsonl" "$DIR/full.metrics.jsonl" && rm -rf "$DIR/full"
rm -f "$DIR/a/metrics.jsonl"
npx vite-node scripts/torch-init-checkpoint.ts -- "$DIR/w05/model.safetensors" --width 0.5 --batch 256 --steps 1170 --prototypes 3000
du -sh "$DIR"
