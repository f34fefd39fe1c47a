"""The pix2pix U-Net generator (Isola et al. 2017, "Image-to-Image Translation with cGANs").

Follows the reference code (junyanz/pytorch-CycleGAN-and-pix2pix, `UnetGenerator`):
every level is a 4x4 stride-2 conv, LeakyReLU(0.2) in the encoder, ReLU in the decoder,
BatchNorm everywhere except the outermost encoder conv and the innermost (bottleneck)
conv, channel multipliers 1, 2, 4, 8, 8, ... (capped at 8), skip connections by
concatenation, dropout 0.5 in the three decoder blocks right below the innermost one.
With num_downs=8 at 256 px the bottleneck is 1x1 (pix2pix `unet_256`, 54.4 M parameters
at width 64).
"""

from __future__ import annotations

import torch
from torch import nn

from colorgan.models.layers import channels_at, pix2pix_init, require
from colorgan.models.registry import register_generator


def _down(in_ch: int, out_ch: int, outermost: bool, innermost: bool) -> nn.Sequential:
    # no bias even where no norm follows: the reference code's choice, kept so the
    # parameter count reproduces pix2pix's (54.414 M for unet_256, RGB to RGB)
    conv = nn.Conv2d(in_ch, out_ch, 4, stride=2, padding=1, bias=False)
    if outermost:  # the raw input goes straight into the first conv
        return nn.Sequential(conv)
    # not in-place: this block's input is also the skip tensor the decoder concatenates
    layers = [nn.LeakyReLU(0.2), conv]
    if not innermost:
        layers.append(nn.BatchNorm2d(out_ch))
    return nn.Sequential(*layers)


def _up(in_ch: int, out_ch: int, outermost: bool, dropout: float) -> nn.Sequential:
    conv = nn.ConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1, bias=outermost)
    if outermost:
        return nn.Sequential(nn.ReLU(), conv, nn.Tanh())
    layers = [nn.ReLU(), conv, nn.BatchNorm2d(out_ch)]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class UNet(nn.Module):
    def __init__(
        self, in_channels: int, out_channels: int, width: int, num_downs: int, dropout: float
    ) -> None:
        super().__init__()
        require(num_downs >= 2, f"unet: num_downs={num_downs} must be >= 2")
        require(width >= 1, f"unet: width={width} must be >= 1")
        require(0.0 <= dropout < 1.0, f"unet: dropout={dropout} must be in [0, 1)")
        self.size_multiple = 2**num_downs
        chans = [channels_at(width, i) for i in range(num_downs)]
        inner = num_downs - 1
        # pix2pix: dropout on the three decoder blocks after the innermost one, never the
        # outermost; with fewer levels (small crops) the range is clipped.
        dropped = range(max(1, inner - 3), inner)
        self.downs = nn.ModuleList(
            _down(chans[i - 1] if i else in_channels, chans[i], i == 0, i == inner)
            for i in range(num_downs)
        )
        # ups[k] is the decoder block of level inner - k (innermost first, the order of use)
        self.ups = nn.ModuleList()
        for i in reversed(range(num_downs)):
            in_ch = chans[i] if i == inner else 2 * chans[i]
            out_ch = chans[i - 1] if i else out_channels
            self.ups.append(_up(in_ch, out_ch, i == 0, dropout if i in dropped else 0.0))
        pix2pix_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        x = skips.pop()
        for up in self.ups[:-1]:
            x = torch.cat([skips.pop(), up(x)], dim=1)  # [skip, up] as in the reference code
        return self.ups[-1](x)


@register_generator("unet")
def unet(
    in_channels: int = 1,
    out_channels: int = 2,
    width: int = 64,
    num_downs: int = 8,
    dropout: float = 0.5,
) -> UNet:
    """pix2pix U-Net; input sides must be multiples of 2**num_downs."""
    return UNet(in_channels, out_channels, width, num_downs, dropout)
