"""Plain encoder-decoder with max-pooling and NO skip connections: the baseline.

The pix2pix paper's ablation shows what skips buy; this is the network without them, in the
Ronneberger U-Net layout so the comparison isolates the skips: per encoder level two
conv3x3-BN-ReLU (layers.DoubleConv) and a 2x2 max-pool, `depth` times; per decoder level a
2x2 stride-2 transposed conv and two conv3x3-BN-ReLU; a 1x1 conv and tanh. Everything the
decoder paints must pass through the (H / 2**depth) bottleneck, so fine detail and exact
edges have to be rebuilt from it (the pix2pix ablation shows the resulting blur).
"""

from __future__ import annotations

import torch
from torch import nn

from colorgan.models.layers import DoubleConv, channels_at, require
from colorgan.models.registry import register_generator


class EncoderDecoder(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, width: int, depth: int) -> None:
        super().__init__()
        require(depth >= 1, f"encoder-decoder: depth={depth} must be >= 1")
        require(width >= 1, f"encoder-decoder: width={width} must be >= 1")
        self.size_multiple = 2**depth
        chans = [channels_at(width, i) for i in range(depth + 1)]
        enc = [DoubleConv(in_channels, chans[0])]
        for i in range(1, depth + 1):
            enc += [nn.MaxPool2d(2), DoubleConv(chans[i - 1], chans[i])]
        dec = []
        for i in reversed(range(depth)):
            up = nn.ConvTranspose2d(chans[i + 1], chans[i], 2, stride=2)
            dec += [up, DoubleConv(chans[i], chans[i])]
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)
        self.head = nn.Sequential(nn.Conv2d(chans[0], out_channels, 1), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.decoder(self.encoder(x)))


@register_generator("encoder-decoder")
def encoder_decoder(
    in_channels: int = 1,
    out_channels: int = 2,
    width: int = 64,
    depth: int = 4,
) -> EncoderDecoder:
    """Encoder-decoder without skips; input sides must be multiples of 2**depth."""
    return EncoderDecoder(in_channels, out_channels, width, depth)
