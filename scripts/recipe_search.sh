#!/usr/bin/env bash
# The recipe comparison of docs/results.md ("Recipes on this CPU"): short runs of the same
# budget (500 steps, batch 8, 96 px crops, one thread), one thing changed at a time from the
# base (distribution head, fine-tuned MobileNetV2, no guidance), all chosen on the validation
# split only. Resumable: a finished run is skipped, a killed one resumed.
#   bash scripts/recipe_search.sh DATA_DIR OUT_DIR
# DATA_DIR: the folder `colorgan data offline-photos DATA_DIR` built (train/, val/, stamps/).
set -euo pipefail
DATA=${1:?usage: recipe_search.sh DATA_DIR OUT_DIR}
OUT=${2:?usage: recipe_search.sh DATA_DIR OUT_DIR}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
COMMON=(--preset guided-distribution --data "$DATA/train" --size 96 --steps 500 --batch-size 8
        --set "data.val_root=$DATA/val" --set "data.stamps=$DATA/stamps" --set model.guidance=false)

run() {  # NAME [--set ...]: train one variant unless it is finished
  local name=$1; shift
  if [ -f "$OUT/$name/generator.safetensors" ]; then return; fi
  if [ -f "$OUT/$name/config.yaml" ]; then
    colorgan train --out "$OUT/$name" --resume
  else
    colorgan train "${COMMON[@]}" --out "$OUT/$name" "$@"
  fi
}

run base
run frozen-encoder --set "model.gen_kwargs={encoder: mobilenet_v2, weights: imagenet, freeze_encoder: true}"
run efficientnet-lite0 --set "model.gen_kwargs={encoder: efficientnet_lite0, weights: imagenet}"
run l1-regression --set model.head=ab --set loss.l1=100
run l1-then-gan --set model.head=ab --set loss.l1=100 --set train.pretrain_fraction=0.5 --set train.beta1=0.5
run perceptual-vgg16-hed --set loss.perceptual=1.0 --set loss.perceptual_net=vgg16_hed
run guidance --set model.guidance=true
