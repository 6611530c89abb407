#!/usr/bin/env bash
# One call on a lent H200 (device time is scarce: everything that needs the GPU, in one go, each part
# bounded so that the rest still runs). From the repository root, with the enwiki shards of ../shared/data
# copied to .data/enwiki (val + two train shards) and the remixed repository's scripts in .ref:
#
#   bash benchmarks/h200_session.sh            # results under $OUT (default bench-out)
#
# 1. M: remix beside train_gpt_M.py, 100 steps of one 65,536-token row, val at 0/50/100 on 1M tokens
# 2. the kernels against their torch paths (benchmarks/kernels_check.py)
# 3. record 21's ingredients, compiled, 30 steps (window warm-up, value embeddings, U-net, FP8 head on Hopper)
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-bench-out}
mkdir -p "$OUT"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"; } > "$OUT/gpu.txt" 2>&1
cat "$OUT/gpu.txt"

echo "== 1. M beside its script"
timeout "${M_LIMIT:-230}" python3 benchmarks/baselines_speed.py --data .data/enwiki --ref .ref --steps 100 \
  --val-every 50 --val-tokens 1048576 --which M --out "$OUT/m" > "$OUT/m.log" 2>&1
echo "exit $?"; tail -5 "$OUT/m.log"

echo "== 2. kernels"
timeout "${K_LIMIT:-120}" python3 benchmarks/kernels_check.py > "$OUT/kernels.log" 2>&1
echo "exit $?"; tail -25 "$OUT/kernels.log"

echo "== 3. record 21's ingredients on M, compiled, 30 steps"
# R21: a recipe with record 21's ingredients (default recipes/record_21.toml); one 49,152-token row per step.
R21=${R21:-recipes/record_21.toml}
timeout "${R_LIMIT:-140}" python3 -m remix run "$R21" --steps 30 --force --log-every 10 \
  --set "data.source='.data/enwiki'" --set train.seq_len=49152 --set train.tokens_per_step=49152 \
  --set eval.seq_len=262144 --set eval.tokens=2097152 --set model.max_len=262144 --set eval.every=30 \
  --out "$OUT/r21" > "$OUT/r21.log" 2>&1
echo "exit $?"; tail -8 "$OUT/r21.log"
