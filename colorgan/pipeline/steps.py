"""The pure steps of the colour pipeline (no model, no files): geometry of the working size,
running a network on any H and W, lightness of a photo, upsampling ab, composing the result.
colorgan.pipeline.colorizer puts them together; each is tested on its own.

Ranges: L in [0, 100] (float32, full resolution); network L and ab in [-1, 1]
(colorgan.core.color); results uint8 sRGB.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from colorgan.core import color
from colorgan.core.errors import ColorganError
from colorgan.core.tiling import pad_bottom_right
from colorgan.io import images

log = logging.getLogger("colorgan.pipeline")
STRIP_PIXELS = 1 << 20  # colour conversions run on strips of ~1 MP: ~100 MB of temporaries


# --- geometry ------------------------------------------------------------------------------


def working_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """(h, w) with the long side = size and the aspect ratio kept (rounded, at least 1)."""
    scale = size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def to_working(x: float, y: float, full: tuple[int, int], work: tuple[int, int]):
    """Pixel (x, y) of a full-size image -> the nearest pixel (col, row) of its resized
    version: the same mapping as the resize (pixel centres scale), clamped inside."""
    (height, width), (h, w) = full, work
    col = int(np.floor((x + 0.5) * w / width))
    row = int(np.floor((y + 0.5) * h / height))
    return min(max(col, 0), w - 1), min(max(row, 0), h - 1)


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "reflect") -> torch.Tensor:
    """Pad bottom/right to multiples of `multiple` (core.tiling.pad_bottom_right)."""
    h, w = x.shape[-2:]
    return pad_bottom_right(x, -h % multiple, -w % multiple, mode)


def run_padded(network, x: torch.Tensor, multiple: int, channels=None, scale=1, extra=()):
    """network(x, *extra) for any H, W: x (and each 4-D extra input, with zeros) padded up
    to `multiple`; the output checked (4-D, 1/scale of the padded size, `channels` if
    given) and cropped back to x's size / scale (rounded up)."""
    h, w = x.shape[-2:]
    padded = pad_to_multiple(x, multiple)
    more = [pad_to_multiple(e, multiple, "zeros") if e.ndim == 4 else e for e in extra]
    out = network(padded, *more)
    expect = (padded.shape[-2] // scale, padded.shape[-1] // scale)
    wrong_channels = channels is not None and out.shape[1] != channels
    if out.ndim != 4 or tuple(out.shape[-2:]) != expect or wrong_channels:
        where = "the input's size" if scale == 1 else f"1/{scale} of the input's size"
        raise ColorganError(
            f"the network returned shape {tuple(out.shape)} for input {tuple(padded.shape)}; "
            f"expected {channels or 'its'} channels at {where}"
        )
    return out[..., : -(-h // scale), : -(-w // scale)]


def resize(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Bilinear, antialiased when shrinking (no aliasing in the network's view of L)."""
    if tuple(x.shape[-2:]) == tuple(shape):
        return x
    return F.interpolate(x, size=shape, mode="bilinear", align_corners=False, antialias=True)


def working_l(L: np.ndarray, size: int) -> torch.Tensor:
    """Full-res L (H, W) -> the single pass's network input (1, h, w), long side = size."""
    shape = working_shape(*L.shape, size)
    return resize(color.normalize_l(torch.from_numpy(L))[None, None], shape)[0]


def upsample_ab(ab: torch.Tensor, shape: tuple[int, int]) -> np.ndarray:
    """(2,h,w) -> (2,H,W) float32 numpy, bilinear (ab is smooth; bicubic would overshoot)."""
    if tuple(ab.shape[-2:]) == tuple(shape):
        return ab.float().cpu().numpy()
    up = F.interpolate(ab[None].float().cpu(), size=shape, mode="bilinear", align_corners=False)
    return up[0].numpy()


def area_down(ab: np.ndarray, shape: tuple[int, int]) -> torch.Tensor:
    """(2,H,W) numpy -> (2,h,w) tensor, area average (the inverse of upsample_ab's grid)."""
    return F.interpolate(torch.from_numpy(ab)[None], size=shape, mode="area")[0]


# --- lightness and composition (colour maths only through colorgan.core.color) ----------------


@lru_cache(maxsize=2)
def _gray_lut(levels: int) -> np.ndarray:
    """L of every gray level: a gray photo's lightness is a table lookup, exact and instant."""
    ramp = torch.linspace(0.0, 1.0, levels).view(1, 1, 1, levels).expand(1, 3, 1, levels)
    return color.rgb_to_lab(ramp)[0, 0, 0].numpy().astype(np.float32)


def lightness(photo: images.Photo) -> np.ndarray:
    """CIE L in [0, 100] of the photo at full resolution, float32 (H, W)."""
    px = photo.pixels
    if px.ndim == 2 and px.dtype in (np.uint8, np.uint16):
        return _gray_lut(256 if px.dtype == np.uint8 else 65536)[px]
    out = np.empty(px.shape[:2], np.float32)
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(px.dtype, 1.0)
    for rows in strips(px.shape[0], px.shape[1]):
        x = torch.from_numpy(px[rows].astype(np.float32) / scale)
        x = x[None, None].expand(1, 3, -1, -1) if x.ndim == 2 else x.permute(2, 0, 1)[None]
        out[rows] = color.rgb_to_lab(x.contiguous())[0, 0].numpy()  # contiguous: ~25 % faster
    return out


def strips(height: int, width: int) -> list[slice]:
    step = max(1, STRIP_PIXELS // max(width, 1))
    return [slice(y, min(y + step, height)) for y in range(0, height, step)]


def compose(L: np.ndarray, ab: np.ndarray, saturation: float = 1.0, device="cpu") -> np.ndarray:
    """Full-res L (H,W) in [0,100] + network ab (2,H,W) in [-1,1] -> uint8 sRGB (H,W,3).
    Out-of-gamut colours lose chroma (same L and hue) instead of being clipped."""
    out = np.empty((*L.shape, 3), np.uint8)
    for rows in strips(*L.shape):
        lum = torch.from_numpy(L[rows]).to(device)[None, None]
        chroma = color.denormalize_ab(torch.from_numpy(ab[:, rows]).to(device)[None] * saturation)
        rgb = color.lab_to_rgb_in_gamut(torch.cat([lum, chroma], dim=1))
        out[rows] = (rgb[0].permute(1, 2, 0) * 255.0).round().to(torch.uint8).cpu().numpy()
    return out


# --- checks of user values ---------------------------------------------------------------


def check_saturation(value: float) -> float:
    if not value >= 0:  # also NaN
        raise ColorganError(f"saturation={value}: must be >= 0")
    return float(value)


def check_vividness(value: float) -> float:
    """The distribution head's temperature: (0, 1], 1 = the mean, lower = more vivid."""
    if not 0 < value <= 1:
        raise ColorganError(f"vividness={value}: must be in (0, 1] (1 = faithful, lower = vivid)")
    return float(value)


_warned: set[str] = set()


def warn_once(message: str) -> None:
    """A warning said once per process (not once per photo or frame)."""
    if message not in _warned:
        _warned.add(message)
        log.warning("%s", message)
