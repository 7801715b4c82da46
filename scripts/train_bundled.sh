#!/usr/bin/env bash
# Reproducible training of the bundled weights (resources/attnregdeeplab_r18.safetensors) on generator data.
# Budget: at most 60 minutes on a 2-core CPU. Usage: bash scripts/train_bundled.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WORK=${1:-/tmp/embryograde_bundled}
TRAIN_SEED=1001      # training data
TEST_SEED=90210      # held-out evaluation data (never used for training)
STAGE1_MINUTES=${STAGE1_MINUTES:-42}
mkdir -p "$WORK"
start=$(date +%s)

[ -f "$WORK/train/labels.csv" ] || $PY main.py synth "$WORK/train" --embryos 320 --frames 2 --size 256 --seed $TRAIN_SEED
[ -f "$WORK/test/labels.csv" ]  || $PY main.py synth "$WORK/test"  --embryos 15 --frames 8  --size 256 --seed $TEST_SEED

[ -f "$WORK/stage1.safetensors" ] || $PY main.py train "$WORK/stage1.safetensors" --data "$WORK/train" --stage 1 --epochs 30 --crop 160 \
    --batch-size 8 --lr 2e-3 --val-fraction 0.125 --patience 6 --max-minutes "$STAGE1_MINUTES" --resume --fp32
$PY main.py train "$WORK/stage2.safetensors" --data "$WORK/train" --stage 2 --init "$WORK/stage1.safetensors" \
    --epochs 8 --batch-size 32 --lr 2e-3 --val-fraction 0.125 --patience 4 --views 4 --fp32
$PY main.py evaluate --weights "$WORK/stage1.safetensors" --data "$WORK/test" --json "$WORK/eval_stage1.json" >/dev/null
$PY main.py evaluate --weights "$WORK/stage2.safetensors" --data "$WORK/test" --json "$WORK/eval_stage2.json" >/dev/null
end=$(date +%s)
$PY scripts/publish_bundled.py --stage2 "$WORK/stage2.safetensors" --eval "$WORK/eval_stage2.json" \
    --eval-stage1 "$WORK/eval_stage1.json" --test-seed $TEST_SEED --minutes $(( (end - start) / 60 ))
