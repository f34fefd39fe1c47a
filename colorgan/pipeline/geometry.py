"""Where the network looks: the working size of a photo and how its pixels map to it.

The network sees a photo resized so that its long side is the working size (aspect ratio
kept); hints and suggestions name pixels of the photo itself, mapped here like the resize
maps pixel centres. L in [0, 100] at full resolution; network L in [-1, 1] (core.color).
"""

from __future__ import annotations

import numpy as np

from colorgan.core import color, resample


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


def working_l(L: np.ndarray, size: int) -> np.ndarray:
    """Full-res L (H, W) -> the single pass's network input (1, h, w), long side = size."""
    shape = working_shape(*L.shape, size)
    # resized, then normalised: the same numbers (both are linear) on 300x fewer pixels
    return color.normalize_l(resample.resize(L.astype(np.float32, copy=False), shape))[None]
