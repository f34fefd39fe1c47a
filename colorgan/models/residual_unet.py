"""Residual U-Nets: ResUNet (Zhang, Liu & Wang 2018, "Road Extraction by Deep Residual U-Net").

Every encoder and decoder level is a pre-activation residual unit (layers.PreActResidualBlock).
Encoder: a 3x3 stem conv and a residual unit at full resolution, then `depth` residual
units whose first conv has stride 2 (the downsampling is learned, no pooling); the last one
is the bridge. Channels width * 1, 2, 4, 8, 8, ... (capped at 8).
Decoder, per level: upsample x2, concatenate the encoder feature of that level, one residual
unit. A final norm-ReLU (the units are pre-activated) and a 1x1 conv with tanh.

The two registered variants differ only in the decoder's upsampling:
  * `residual-unet`    -- bilinear x2 upsampling, no parameters (as in ResUNet); the residual
                          unit sees the coarse channels plus the skip.
  * `residual-unet-up` -- an extra learned upsampling stage per decoder level: a 2x2 stride-2
                          transposed conv that also halves the channels, followed by a refining
                          conv3x3-norm-ReLU, before the concatenation. More parameters and
                          compute in the decoder; it can learn how to place detail instead of
                          interpolating it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from colorgan.models.layers import (
    PreActResidualBlock,
    channels_at,
    conv_norm_act,
    norm_layer,
    require,
)
from colorgan.models.registry import register_generator


class _LearnedUp(nn.Sequential):
    def __init__(self, in_ch: int, out_ch: int, norm: str) -> None:
        super().__init__(
            nn.ConvTranspose2d(in_ch, out_ch, 2, stride=2),
            conv_norm_act(out_ch, out_ch, norm=norm),
        )


class _BilinearUp(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class ResidualUNet(nn.Module):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int,
        depth: int,
        learned_upsampling: bool,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        require(depth >= 1, f"residual-unet: depth={depth} must be >= 1")
        require(width >= 1, f"residual-unet: width={width} must be >= 1")
        self.size_multiple = 2**depth
        chans = [channels_at(width, i) for i in range(depth + 1)]
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, chans[0], 3, padding=1),
            PreActResidualBlock(chans[0], chans[0], norm=norm),
        )
        self.downs = nn.ModuleList(
            PreActResidualBlock(chans[i - 1], chans[i], stride=2, norm=norm)
            for i in range(1, depth + 1)
        )
        self.ups = nn.ModuleList()
        self.dec = nn.ModuleList()
        for i in reversed(range(depth)):  # decoder level i goes from chans[i+1] to chans[i]
            if learned_upsampling:
                self.ups.append(_LearnedUp(chans[i + 1], chans[i], norm))
                merged = 2 * chans[i]
            else:
                self.ups.append(_BilinearUp())
                merged = chans[i + 1] + chans[i]
            self.dec.append(PreActResidualBlock(merged, chans[i], norm=norm))
        self.head = nn.Sequential(
            norm_layer(norm, chans[0]),
            nn.ReLU(inplace=True),
            nn.Conv2d(chans[0], out_channels, 1),
            nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        skips = [x]
        for down in self.downs:
            x = down(x)
            skips.append(x)
        skips.pop()  # the bridge output is x itself
        for up, block in zip(self.ups, self.dec, strict=True):
            x = block(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x)


@register_generator("residual-unet")
def residual_unet(
    in_channels: int = 1,
    out_channels: int = 2,
    width: int = 64,
    depth: int = 4,
    norm: str = "batch",
) -> ResidualUNet:
    """ResUNet with bilinear upsampling; input sides must be multiples of 2**depth."""
    return ResidualUNet(in_channels, out_channels, width, depth, False, norm)


@register_generator("residual-unet-up")
def residual_unet_up(
    in_channels: int = 1,
    out_channels: int = 2,
    width: int = 64,
    depth: int = 4,
    norm: str = "batch",
) -> ResidualUNet:
    """ResUNet with a learned transposed-conv + refining-conv upsampling stage per level."""
    return ResidualUNet(in_channels, out_channels, width, depth, True, norm)
