#!/usr/bin/env bash
# Train the networks of `colorgan restore` from scratch (docs/restore.md):
#   bash scripts/train_restore.sh [RUN_DIR]
# 1. build the photos (idempotent), 2. train the `damage-detector` preset on synthetic damage
# drawn on the train split (the weights chosen by F1 on fixed damaged crops of the val split),
# 3. choose the threshold on whole val photos and pack the weights into colorgan/assets (ONNX for
# the torch-free install, its SHA-256 and that of the run's safetensors), 4. train the
# `grain-estimator` preset on synthetic grain (chosen on val crops) and pack it the same way,
# 5. print the grain step's grid on val (its settings in colorgan/pipeline/restore.py are
# chosen from it by the rule it prints). The test split is never read here:
# docs/restore.md's numbers come from `colorgan evaluate-restore`.
# On a shared 2-core CPU, run it as `flock /work/train.lock nice -n 5 bash scripts/train_restore.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/colorgan/offline-photos}
RUN=${1:-runs/damage-detector}
colorgan data offline-photos "$DATA"
python scripts/train_detector.py "$RUN" --train "$DATA/train" --val "$DATA/val"
python scripts/pack_detector.py "$RUN" --val "$DATA/val"
python scripts/train_grain.py "$RUN-grain" --train "$DATA/train" --val "$DATA/val"
python scripts/pack_grain.py "$RUN-grain"
python scripts/grain_gate.py "$DATA/val" --damage 1 --clean "$DATA/train"
