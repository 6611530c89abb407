#!/usr/bin/env bash
# One H200 call towards the table of M plus each catalogue ingredient (issues #12, #14): the variants no
# earlier call measured, primed three at a time (M with its fused loss peaks at 34 GiB: four side by side
# would not fit in the H200's 140), then measured one at a time until the budget is spent.
# Run from the repository root with the enwiki shards in .data/enwiki and GPT-2's encoder.json and
# vocab.bpe in .data/gpt2 (prefix_token_loss builds its table from them); carry .data and .bench:
#
#   bash benchmarks/h200_catalogue.sh          # then copy $OUT/ingredients_gpu.json back to .bench/ing/
#
# and to benchmarks/results/ingredients_gpu.json; `python benchmarks/catalogue_table.py` then rewrites the
# table and figure of every call (benchmarks/results/catalogue).
#
# The book of calls starts from benchmarks/results/ingredients_gpu.json (every call so far), so each call
# goes on where the last one stopped; M is measured again in every call. Without arguments, the ingredients
# of issues #14 (its last two first) and #12 (architecture, attention, hyperparameters, the schedule
# retunes); arguments go to ingredients_gpu.py instead (--category schedule data precision: the rest but
# systems, whose kernels are measured by kernels_check.py and baselines_speed.py --also).
set -uo pipefail
[ $# -gt 0 ] || set -- --only prefix_token_loss adam_every_other_step higher_lr_floor longer_cooldown \
  momentum_cooldown --category architecture attention hyperparameters optimizer
export PYTHONUNBUFFERED=1 REMIX_GPT2_DIR=$PWD/.data/gpt2
export TORCHINDUCTOR_CACHE_DIR=$PWD/.cache/inductor TRITON_CACHE_DIR=$PWD/.cache/triton
OUT=${OUT:-bench-out}
mkdir -p "$OUT" .bench/ing
[ -f .bench/ing/ingredients_gpu.json ] || cp benchmarks/results/ingredients_gpu.json .bench/ing/
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
timeout "${LIMIT:-575}" python3 benchmarks/ingredients_gpu.py --data .data/enwiki --val-tokens 1048576 \
  --prime 3 --budget "${BUDGET:-560}" --out .bench/ing "$@" > "$OUT/catalogue.log" 2>&1
echo "exit $?"
cp .bench/ing/ingredients_gpu.json "$OUT/"
grep -v '^{' "$OUT/catalogue.log" | tail -40
