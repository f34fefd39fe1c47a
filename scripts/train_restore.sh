#!/usr/bin/env bash
# Train the damage detector of `colorgan restore` from scratch (docs/restore.md):
#   bash scripts/train_restore.sh [RUN_DIR]
# 1. build the photos (idempotent), 2. train the `damage-detector` preset on synthetic damage
# drawn on the train split (the weights chosen by F1 on fixed damaged crops of the val split),
# 3. choose the threshold on whole val photos and pack the weights into colorgan/assets (ONNX for
# the torch-free install, its SHA-256 and that of the run's safetensors). The test split is never read here:
# docs/restore.md's numbers come from `colorgan evaluate-restore`.
# On a shared 2-core CPU, run it as `flock /work/train.lock nice -n 5 bash scripts/train_restore.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/colorgan/offline-photos}
RUN=${1:-runs/damage-detector}
colorgan data offline-photos "$DATA"
python scripts/train_detector.py "$RUN" --train "$DATA/train" --val "$DATA/val"
python scripts/pack_detector.py "$RUN" --val "$DATA/val"
