#!/usr/bin/env bash
# Train the bundled default model from scratch (see MODEL_CARD.md), resumable:
#   bash scripts/train_default.sh [RUN_DIR]
# 1. build the training set from Debian packages (idempotent), 2. train (or resume),
# 3. pack the weights into colorgan/assets (evaluate with `colorgan evaluate`, MODEL_CARD.md).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/colorgan/offline-photos}
RUN=${1:-runs/default-model}
colorgan data offline-photos "$DATA"
if [ -f "$RUN/checkpoints/latest" ]; then
  colorgan train --out "$RUN" --resume
else
  colorgan train --preset default-model --data "$DATA/train" --out "$RUN"
fi

python scripts/pack_default_model.py "$RUN"
