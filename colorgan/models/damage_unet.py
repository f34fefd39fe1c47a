"""A tiny U-Net that finds damage (scratches, cracks, dust, hairs) in a photo's lightness:
`damage-unet`, registered like the generators so it is built, saved and exported the same way.

Input L (B, 1, H, W) in [-1, 1]; output (B, 1, H, W) in [-1, 1]: tanh(z / 2) of the logit z,
i.e. 2 * P(damaged) - 1 (`logits` gives z itself, for the training loss). Like every
registered generator it takes out_channels (the detector uses 1). Small on purpose:
it runs at the photo's own resolution on a CPU (colorgan.pipeline.restore), where marks are
a few pixels wide. The photo goes in as 2x2 pixel blocks (pixel unshuffle: 4 channels at half
size) and the logits come out the same way (pixel shuffle), so every layer runs on a quarter
of the pixels while the mask keeps the full resolution (measured ~4x faster than the same
U-Net on full-size planes); `depth` more downsamplings give it its view (depth 3: ~80
pixels, 4: ~160, enough to follow a long scratch through texture). norm: "none" (plain
convolutions with biases, the first shipped detector) or "batch" (the `damage-detector`
preset: trains faster at the same size; in eval mode each batch norm is a fixed scale and
shift that ONNX Runtime folds into the convolution before it, so inference costs the same).
"""

from __future__ import annotations

from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from colorgan.models.layers import DoubleConv, require
from colorgan.models.registry import register_generator


class DamageUNet(nn.Module):
    def __init__(
        self, in_channels: int, out_channels: int, width: int, depth: int, block: int, norm: str
    ):
        super().__init__()
        require(depth >= 1 and block >= 1, f"depth={depth}, block={block}: must be >= 1")
        widths = [width * 2**i for i in range(depth + 1)]
        self.block = block
        self.size_multiple = 2**depth * block
        first = in_channels * block * block
        self.down = nn.ModuleList([DoubleConv(first, widths[0], norm=norm)])
        self.down.extend(DoubleConv(a, b, norm=norm) for a, b in pairwise(widths))
        self.up = nn.ModuleList(DoubleConv(b + a, a, norm=norm) for a, b in pairwise(widths))
        self.head = nn.Conv2d(widths[0], out_channels * block * block, 1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pixel_unshuffle(x, self.block)
        skips = []
        for i, block in enumerate(self.down):
            x = block(F.max_pool2d(x, 2) if i else x)
            skips.append(x)
        for block, skip in zip(reversed(self.up), reversed(skips[:-1]), strict=True):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], 1))
        return F.pixel_shuffle(self.head(x), self.block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.logits(x) / 2)


@register_generator("damage-unet")
def damage_unet(
    in_channels: int = 1,
    out_channels: int = 1,
    width: int = 12,
    depth: int = 2,
    block: int = 2,
    norm: str = "none",
):
    return DamageUNet(in_channels, out_channels, width, depth, block, norm)
