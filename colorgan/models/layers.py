"""Building blocks shared by the generator families and the discriminator.

Each family file composes these so conv-norm-activation code is written once. Norm
names are strings so they can come straight from a config ("batch", "instance", "none").
"""

from __future__ import annotations

import torch
from torch import nn

from colorgan.core.errors import ColorganError

NORMS = ("batch", "instance", "none")


def require(ok: bool, message: str) -> None:
    """Architecture arguments come from user configs (model.gen_kwargs): fail with their name."""
    if not ok:
        raise ColorganError(message)


def check_norm(norm: str) -> None:
    require(norm in NORMS, f"norm={norm!r}; valid: {', '.join(NORMS)}")


def norm_layer(norm: str, channels: int) -> nn.Module:
    check_norm(norm)
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "instance":
        # affine=True (CycleGAN uses affine=False plus a conv bias that the norm then cancels);
        # a learned per-channel scale and shift is strictly more expressive and has no dead bias.
        return nn.InstanceNorm2d(channels, affine=True)
    return nn.Identity()


def conv_norm_act(
    in_ch: int,
    out_ch: int,
    kernel: int = 3,
    stride: int = 1,
    norm: str = "batch",
    act: str = "relu",
    padding_mode: str = "zeros",
) -> nn.Sequential:
    """Conv (same padding for odd kernels), norm, activation; a conv bias only when unnormed."""
    conv = nn.Conv2d(
        in_ch,
        out_ch,
        kernel,
        stride=stride,
        padding=kernel // 2,
        bias=norm == "none",
        padding_mode=padding_mode,
    )
    return nn.Sequential(conv, norm_layer(norm, out_ch), activation(act))


def activation(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "lrelu":
        return nn.LeakyReLU(0.2, inplace=True)
    if name == "none":
        return nn.Identity()
    raise ValueError(f"unknown activation {name!r}")


class DoubleConv(nn.Sequential):
    """Two 3x3 conv-norm-ReLU layers: the unit of the U-Net family (Ronneberger et al.)."""

    def __init__(self, in_ch: int, out_ch: int, norm: str = "batch") -> None:
        super().__init__(
            conv_norm_act(in_ch, out_ch, norm=norm), conv_norm_act(out_ch, out_ch, norm=norm)
        )


class ResnetBlock(nn.Module):
    """CycleGAN/pix2pix residual block: reflect-pad conv3x3-norm-ReLU-conv3x3-norm, plus input.

    Reflection padding (as in Johnson et al.) avoids the dark border zero padding paints at
    full resolution; there is no activation after the sum, as in the reference code.
    """

    def __init__(self, channels: int, norm: str = "instance") -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv_norm_act(channels, channels, norm=norm, padding_mode="reflect"),
            conv_norm_act(channels, channels, norm=norm, act="none", padding_mode="reflect"),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class PreActResidualBlock(nn.Module):
    """Pre-activation residual unit (He et al. 2016) as used by ResUNet (Zhang et al. 2018).

    norm-ReLU-conv3x3(stride)-norm-ReLU-conv3x3, plus a shortcut that is the identity when the
    shape is kept and a strided 1x1 conv + norm when channels or resolution change.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, norm: str = "batch") -> None:
        super().__init__()
        self.body = nn.Sequential(
            norm_layer(norm, in_ch),
            nn.ReLU(),  # not in-place: the shortcut still reads the block input
            nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=norm == "none"),
            norm_layer(norm, out_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_ch, out_ch, 3, padding=1),
        )
        if in_ch == out_ch and stride == 1:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=norm == "none"),
                norm_layer(norm, out_ch),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.body(x)


def pix2pix_init(module: nn.Module, gain: float = 0.02) -> nn.Module:
    """The initialisation of the pix2pix reference code: conv weights N(0, 0.02), norm scale
    N(1, 0.02), biases 0. Used for the networks we reproduce from that code."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    return module


def channels_at(width: int, level: int, cap: int = 8) -> int:
    """pix2pix channel schedule: width * 2**level, the multiplier capped at `cap`."""
    return width * min(2**level, cap)
