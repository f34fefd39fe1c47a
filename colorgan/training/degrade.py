"""Old-photo degradations of the network's lightness input during training.

The photos the bundled model is for are old prints and scans: faded or harsh contrast, a
tone curve off from sRGB's, soft focus, film grain, JPEG blocks from being passed around.
The training photos are clean digital ones, so a share of the training crops gets their
L input degraded that way while the colour target stays the clean photo's: the network
learns to colour through the damage instead of reading colour off clean texture it will not
see. Applied to L only (the colour it must predict is the photo's, not a damaged one).

Every draw comes from a generator seeded by the step, so a resumed run degrades the same
crops the same way. Ranges: gamma 2^U(-0.5, 0.5); contrast U(0.6, 1.3) around the crop's
mean with a brightness shift U(-0.08, 0.08); Gaussian blur sigma U(0.3, 1.5) px; grain
sigma U(0.005, 0.04) of the L range; JPEG quality U(15, 70). Each of the last three is
applied with probability 1/2 to a degraded crop.
"""

from __future__ import annotations

import io

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def degrade_l(l_in: torch.Tensor, seed: int, share: float) -> torch.Tensor:
    """l_in: (B, 1, H, W) lightness in [-1, 1]; returns a copy with `share` of the crops
    degraded (contrast and gamma always, then blur, grain and JPEG each with p = 1/2)."""
    if share <= 0:
        return l_in
    g = torch.Generator().manual_seed(seed)
    u = lambda lo, hi: lo + (hi - lo) * torch.rand((), generator=g).item()  # noqa: E731
    out = []
    for x in l_in.detach().float().cpu():
        if torch.rand((), generator=g).item() >= share:
            out.append(x)
            continue
        y = ((x + 1) / 2).clamp(0, 1) ** (2 ** u(-0.5, 0.5))
        y = (y.mean() + u(0.6, 1.3) * (y - y.mean()) + u(-0.08, 0.08)).clamp(0, 1)
        blur, grain, jpeg = (torch.rand(3, generator=g) < 0.5).tolist()
        sigma, noise, quality = u(0.3, 1.5), u(0.005, 0.04), int(u(15, 70))
        if blur:
            y = gaussian_blur(y, sigma)
        if grain:
            y = (y + noise * torch.randn(y.shape, generator=g)).clamp(0, 1)
        if jpeg:
            y = jpeg_roundtrip(y, quality)
        out.append(y * 2 - 1)
    return torch.stack(out).to(l_in)


def gaussian_blur(y: torch.Tensor, sigma: float) -> torch.Tensor:
    """(1, H, W) blurred with a separable Gaussian (radius 3 sigma, reflected edges)."""
    radius = max(1, round(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=y.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    z = F.pad(y[None], (radius, radius, radius, radius), mode="reflect")
    z = F.conv2d(z, k.view(1, 1, 1, -1))
    return F.conv2d(z, k.view(1, 1, -1, 1))[0]


def jpeg_roundtrip(y: torch.Tensor, quality: int) -> torch.Tensor:
    """(1, H, W) in [0, 1] through an 8-bit grayscale JPEG at `quality` and back."""
    buf = io.BytesIO()
    Image.fromarray((y[0] * 255).round().to(torch.uint8).numpy()).save(buf, "JPEG", quality=quality)
    with Image.open(buf) as im:
        return torch.from_numpy(np.array(im, np.float32) / 255)[None].to(y.dtype)
