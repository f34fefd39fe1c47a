"""PatchGAN discriminator (pix2pix `NLayerDiscriminator`).

conv4x4 s2 + LeakyReLU(0.2); n_layers - 1 more conv4x4 s2 + BatchNorm + LeakyReLU with
channel multipliers 2, 4, 8, 8, ... (capped at 8); one conv4x4 s1 + BatchNorm + LeakyReLU;
a final conv4x4 s1 to one channel. Output: raw logits on a grid, each judging one patch of
`receptive_field(n_layers)` pixels (70 at n_layers=3). Conditional use: callers concatenate
L and the (real or generated) colour, so in_channels = 1 + 2 in Lab mode.

The layer geometry is defined once in `_conv_geometry`; the module, `patch_grid` and
`receptive_field` are all derived from it.
"""

from __future__ import annotations

import torch
from torch import nn

from colorgan.core.errors import ColorganError
from colorgan.models.layers import channels_at, pix2pix_init

KERNEL = 4
PADDING = 1


def _conv_geometry(n_layers: int) -> list[tuple[int, int, int]]:
    """(kernel, stride, padding) of every conv, input to output."""
    if n_layers < 1:
        raise ColorganError(f"PatchGAN n_layers={n_layers} must be >= 1")
    return [(KERNEL, 2, PADDING)] * n_layers + [(KERNEL, 1, PADDING)] * 2


def receptive_field(n_layers: int) -> int:
    """Side in input pixels of the patch one output logit sees (70 for n_layers=3)."""
    field = 1
    for kernel, stride, _ in reversed(_conv_geometry(n_layers)):
        field = (field - 1) * stride + kernel
    return field


def patch_grid(size: int, n_layers: int = 3) -> int:
    """Side of the logit grid for a square input of `size` pixels."""
    side = size
    for kernel, stride, padding in _conv_geometry(n_layers):
        side = (side + 2 * padding - kernel) // stride + 1
    if side < 1:
        raise ColorganError(f"image size {size} is too small for a PatchGAN with {n_layers} layers")
    return side


class PatchGAN(nn.Module):
    def __init__(self, in_channels: int = 3, width: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        geometry = _conv_geometry(n_layers)
        chans = [in_channels] + [channels_at(width, i) for i in range(n_layers + 1)] + [1]
        layers: list[nn.Module] = []
        last = len(geometry) - 1
        for i, (kernel, stride, padding) in enumerate(geometry):
            # no norm on the first conv (it sees the raw image) nor the last (it is the logit)
            normed = 0 < i < last
            layers.append(
                nn.Conv2d(chans[i], chans[i + 1], kernel, stride, padding, bias=not normed)
            )
            if normed:
                layers.append(nn.BatchNorm2d(chans[i + 1]))
            if i < last:
                layers.append(nn.LeakyReLU(0.2, inplace=True))
        self.model = nn.Sequential(*layers)
        self.n_layers = n_layers
        pix2pix_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
