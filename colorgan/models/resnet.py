"""ResNet generators (Johnson et al. 2016; the pix2pix/CycleGAN `ResnetGenerator`).

Layer notation of the CycleGAN paper: c7s1-k = reflect-pad 7x7 conv, stride 1, k filters,
norm, ReLU; dk = 3x3 conv stride 2; Rk = residual block (layers.ResnetBlock); uk = 3x3
transposed conv stride 1/2.
  * `resnet-9blocks` -- c7s1-w, d2w, d4w, 9 x R4w, u2w, uw, c7s1-out + tanh (the reference
                        `resnet_9blocks`, 11.4 M parameters at width 64).
  * `resnet`         -- c7s1-w, n_blocks x Rw, c7s1-out + tanh: residual blocks at full
                        resolution, no downsampling at all. Any image size works, every block
                        sees every pixel at full resolution, and the receptive field is small
                        (2 px per conv): a local colouriser, the contrast to the U-Nets.

Norm: InstanceNorm by default, as CycleGAN and Johnson et al. use for these generators. For
colourisation it also means the same computation in training and at inference on one photo of
any size, where BatchNorm would switch to running statistics gathered on 256 px training crops.
`norm="batch"` gives the pix2pix default for comparison.
"""

from __future__ import annotations

import torch
from torch import nn

from colorgan.models.layers import (
    ResnetBlock,
    check_norm,
    conv_norm_act,
    norm_layer,
    pix2pix_init,
    require,
)
from colorgan.models.registry import register_generator


def _up(in_ch: int, out_ch: int, norm: str) -> nn.Sequential:
    conv = nn.ConvTranspose2d(
        in_ch, out_ch, 3, stride=2, padding=1, output_padding=1, bias=norm == "none"
    )
    return nn.Sequential(conv, norm_layer(norm, out_ch), nn.ReLU(inplace=True))


class ResnetGenerator(nn.Module):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int,
        n_blocks: int,
        n_downsampling: int,
        norm: str,
    ) -> None:
        super().__init__()
        require(n_blocks >= 0, f"resnet: n_blocks={n_blocks} must be >= 0")
        require(width >= 1, f"resnet: width={width} must be >= 1")
        check_norm(norm)
        self.size_multiple = 2**n_downsampling
        layers = [conv_norm_act(in_channels, width, 7, norm=norm, padding_mode="reflect")]
        ch = width
        for _ in range(n_downsampling):
            layers.append(conv_norm_act(ch, 2 * ch, 3, stride=2, norm=norm))
            ch *= 2
        layers += [ResnetBlock(ch, norm=norm) for _ in range(n_blocks)]
        for _ in range(n_downsampling):
            layers.append(_up(ch, ch // 2, norm))
            ch //= 2
        layers += [nn.Conv2d(ch, out_channels, 7, padding=3, padding_mode="reflect"), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        pix2pix_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


@register_generator("resnet")
def resnet(
    in_channels: int = 1,
    out_channels: int = 2,
    width: int = 64,
    n_blocks: int = 6,
    norm: str = "instance",
) -> ResnetGenerator:
    """Residual blocks at full resolution, no downsampling (any input size)."""
    return ResnetGenerator(in_channels, out_channels, width, n_blocks, 0, norm)


@register_generator("resnet-9blocks")
def resnet_9blocks(
    in_channels: int = 1,
    out_channels: int = 2,
    width: int = 64,
    n_blocks: int = 9,
    norm: str = "instance",
) -> ResnetGenerator:
    """pix2pix/CycleGAN ResNet generator; input sides must be multiples of 4."""
    return ResnetGenerator(in_channels, out_channels, width, n_blocks, 2, norm)
