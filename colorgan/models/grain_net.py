"""A tiny network that estimates film grain in a photo's lightness: `grain-net`, registered
like the generators so it is built, saved and exported the same way.

Input L (B, 1, H, W) in [-1, 1]; output (B, out_channels, H, W) in [-1, 1]: tanh(z / 2) of
the logit z, i.e. 2 * sigmoid(z) - 1, where SIGMA_MAX * sigmoid(z) is the grain's standard
deviation around each pixel in L units (0 where there is none). The repair
(colorgan.pipeline.restore) reads a low quantile of that map: grain lies over the whole
photo, while texture the network mistakes for grain is only in parts of it.

Why a network: a classical estimate (Immerkaer's kernel) reads the finest detail, so it
sees pixel-independent grain but misses clumped grain (its energy is a little coarser:
estimated 0.5 where it was 3.7) and mistakes fine texture for noise. This one learns both
from synthetic grain on real photos (colorgan.training.grain). Plain 3x3 convolutions;
`depth` stride-2 stages give it its view (depth 4: about 90 pixels), and the head answers
per 2**depth block, shuffled back to full resolution (so H and W need only be multiples of
2**depth).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from colorgan.models.layers import require
from colorgan.models.registry import register_generator

SIGMA_MAX = 10.0  # the largest grain sigma the output can say (L units)


class GrainNet(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, width: int, depth: int):
        super().__init__()
        require(depth >= 1 and width >= 1, f"depth={depth}, width={width}: must be >= 1")
        self.size_multiple = 2**depth
        layers = [nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU()]
        channels = width
        for _ in range(depth):
            layers += [nn.Conv2d(channels, 2 * width, 3, stride=2, padding=1), nn.ReLU()]
            layers += [nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU()]
            channels = 2 * width
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(channels, out_channels * 4**depth, 1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.head(self.body(x)), self.size_multiple)

    def sigma(self, x: torch.Tensor) -> torch.Tensor:
        """The grain sigma map (L units), what the training loss compares."""
        return SIGMA_MAX * torch.sigmoid(self.logits(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.logits(x) / 2)


@register_generator("grain-net")
def grain_net(in_channels: int = 1, out_channels: int = 1, width: int = 16, depth: int = 3):
    return GrainNet(in_channels, out_channels, width, depth)
