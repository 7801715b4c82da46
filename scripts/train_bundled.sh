#!/usr/bin/env bash
# Reproducible training of the bundled weights (resources/attnregdeeplab_r18.safetensors) on generator data.
# Budget: at most 60 minutes on a 2-core CPU. Usage: bash scripts/train_bundled.sh [WORKDIR]
#
# STAGE2_INIT=W trains stage 2 only, over the frozen network of W instead of a fresh stage 1. The shipped model
# bundled-r18-239ea594 is `STAGE2_INIT=resources/attnregdeeplab_r18.safetensors` over bundled-r18-87b6d86d
# (stage 1 34.7 min + stage 2 8.3 min, this script at commit 2093b9d): its grading head trained further on 4x
# the embryos (13.7 min), 56.7 min in all. W is copied first, because publishing overwrites resources/. To
# reproduce it: git show 08865d7:resources/attnregdeeplab_r18.safetensors > /tmp/w/base.safetensors (and the
# .json beside it), then STAGE2_INIT=/tmp/w/base.safetensors bash scripts/train_bundled.sh.
# Stage 1 is not bit-reproducible across commits of the model code: a fresh one from this script (same seed,
# 29.0 min) scored test fragment Dice 0.732 after stage 2, which the publish rule refuses against 0.741.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WORK=${1:-/tmp/embryograde_bundled}
TRAIN_SEED=1001      # training data
TEST_SEED=90210      # held-out evaluation data (never used for training)
STAGE1_MINUTES=${STAGE1_MINUTES:-42}
STAGE2_INIT=${STAGE2_INIT:-}
mkdir -p "$WORK"
start=$(date +%s)

# Stage 2 trains only the small grading head on cached features, so it can afford 4x the embryos: the same
# seed, so its first 320 embryos are stage 1's (the generator seeds every embryo by its own index).
[ -f "$WORK/train_s2/labels.csv" ] || $PY main.py synth "$WORK/train_s2" --embryos 1280 --frames 2 --size 256 --seed $TRAIN_SEED
[ -f "$WORK/test/labels.csv" ]  || $PY main.py synth "$WORK/test"  --embryos 15 --frames 8  --size 256 --seed $TEST_SEED

EVAL_STAGE1=()  # held-out figures of a fresh stage 1; over STAGE2_INIT the earlier model's sidecar has them
if [ -n "$STAGE2_INIT" ]; then
    cp "$STAGE2_INIT" "$WORK/base.safetensors"
    cp "${STAGE2_INIT%.safetensors}.json" "$WORK/base.json"
    BASE="$WORK/base.safetensors"
else
    [ -f "$WORK/train/labels.csv" ] || $PY main.py synth "$WORK/train" --embryos 320 --frames 2 --size 256 --seed $TRAIN_SEED
    [ -f "$WORK/stage1.safetensors" ] || $PY main.py train "$WORK/stage1.safetensors" --data "$WORK/train" --stage 1 --epochs 30 --crop 160 \
        --batch-size 8 --lr 2e-3 --val-fraction 0.125 --patience 6 --max-minutes "$STAGE1_MINUTES" --resume --fp32
    BASE="$WORK/stage1.safetensors"
    $PY main.py evaluate --weights "$BASE" --data "$WORK/test" --json "$WORK/eval_stage1.json" >/dev/null
    EVAL_STAGE1=(--eval-stage1 "$WORK/eval_stage1.json")
fi
$PY main.py train "$WORK/stage2.safetensors" --data "$WORK/train_s2" --stage 2 --init "$BASE" \
    --epochs 8 --batch-size 32 --lr 2e-3 --val-fraction 0.125 --patience 4 --views 2 --fp32
$PY main.py evaluate --weights "$WORK/stage2.safetensors" --data "$WORK/test" --json "$WORK/eval_stage2.json" >/dev/null
end=$(date +%s)
$PY scripts/publish_bundled.py --stage2 "$WORK/stage2.safetensors" --eval "$WORK/eval_stage2.json" \
    "${EVAL_STAGE1[@]}" --test-seed $TEST_SEED --minutes $(( (end - start) / 60 ))
