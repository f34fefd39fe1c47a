#!/usr/bin/env bash
# Train the bundled default model from scratch (see MODEL_CARD.md), resumable:
#   bash scripts/train_default.sh [RUN_DIR]
# 1. build the training set from Debian packages (idempotent), 2. train (or resume),
# 3. evaluate against the gray baseline on the held-out photos, 4. pack the weights.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-$HOME/.cache/colorgan/offline-photos}
RUN=${1:-runs/default-model}
colorgan data offline-photos "$DATA"
if [ -f "$RUN/checkpoints/latest" ]; then
  colorgan train --out "$RUN" --resume
else
  colorgan train --preset default-model --data "$DATA/train" --out "$RUN"
fi
echo "trained: $RUN/generator.safetensors"
