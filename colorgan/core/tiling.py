"""Overlapping tiles for photos too large for one network pass, blended without seams.

Tiles of `tile` x `tile` pixels start every `stride` pixels; the last row/column of tiles
is moved back to end exactly at the image edge. Each tile's prediction is weighted by
w(y, x) = r_y(y) * r_x(x), where r ramps up from the tile's interior sides over the
overlap o = tile - stride and is 1 elsewhere (and 1 at sides on the image border):
  * the first `margin` = o // 4 pixels of an interior side get weight 0: a convolution near
    a tile edge sees padding instead of the neighbouring pixels, so those predictions are
    the least trustworthy and are left to the neighbour, which sees them from inside;
  * then a raised-cosine ramp 0 -> 1 over o - 2 * margin pixels. A tile's falling ramp and
    its neighbour's rising ramp add up to 1 (sin^2 + cos^2), so evenly spaced tiles blend
    as a partition of unity, and the sum of weights is divided out anyway (the last tile).
A fully convolutional network whose receptive radius is <= margin therefore gives the
same result tiled as in one pass (tests/test_inference.py checks this).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def tile_starts(length: int, tile: int, stride: int) -> list[int]:
    """Start offsets covering [0, length) with tiles of `tile` (length >= tile)."""
    starts = list(range(0, length - tile + 1, stride))
    if starts[-1] + tile < length:
        starts.append(length - tile)
    return starts


def ramp(tile: int, overlap: int, rise: bool, fall: bool) -> np.ndarray:
    """1-D tile weights (see the module docstring); rise/fall: feather the start/end side."""
    weights = np.ones(tile, np.float32)
    if overlap <= 0:
        return weights
    margin = overlap // 4
    width = overlap - 2 * margin
    i = np.arange(overlap, dtype=np.float64)
    up = np.clip((i - margin + 0.5) / width, 0.0, 1.0)  # 0 in the margin, 1 past the ramp
    up = (0.5 - 0.5 * np.cos(np.pi * up)).astype(np.float32)
    if rise:
        weights[:overlap] *= up
    if fall:
        weights[tile - overlap :] *= up[::-1]
    return weights


def pad_bottom_right(x: np.ndarray, bottom: int, right: int, mode="reflect") -> np.ndarray:
    """(..., H, W) padded by `bottom` rows and `right` columns. "reflect" mirrors the image
    without repeating the edge pixel (torch's "reflect"), again and again when the pad is
    wider than the image (as padding a padded image would); a side of 1 pixel is
    replicated; "zeros" pads with 0 (hint maps: no hint there)."""
    if bottom == right == 0:
        return x
    lead = [(0, 0)] * (x.ndim - 2)
    if mode == "zeros":
        return np.pad(x, [*lead, (0, bottom), (0, right)])
    while bottom > 0 or right > 0:
        h, w = x.shape[-2:]
        pb, pr = min(bottom, max(h - 1, 1)), min(right, max(w - 1, 1))
        kind = "reflect" if min(h, w) > 1 else "edge"
        x = np.pad(x, [*lead, (0, pb), (0, pr)], mode=kind)
        bottom, right = bottom - pb, right - pr
    return x


def tiled_predict(
    predict: Callable[[np.ndarray], np.ndarray],
    l_norm: np.ndarray,
    tile: int,
    stride: int,
    batch: int = 4,
    extra: np.ndarray | None = None,
) -> np.ndarray:
    """Network L (H, W) -> blended ab (2, H, W), float32; `batch` tiles per network call.
    extra: more input channels (C, H, W) cut into the same tiles (zero beyond the image),
    given to predict after L: (B, 1 + C, tile, tile)."""
    height, width = l_norm.shape
    ph, pw = max(height, tile), max(width, tile)
    padded = pad_bottom_right(l_norm, ph - height, pw - width)
    if extra is not None:
        more = pad_bottom_right(extra, ph - height, pw - width, "zeros")
        padded = np.concatenate([padded[None], more])
    ys, xs = tile_starts(ph, tile, stride), tile_starts(pw, tile, stride)
    overlap = tile - stride
    wy = {y: ramp(tile, overlap, y > 0, y + tile < ph) for y in ys}
    wx = {x: ramp(tile, overlap, x > 0, x + tile < pw) for x in xs}
    acc = np.zeros((2, ph, pw), np.float32)
    total = np.zeros((ph, pw), np.float32)
    coords = [(y, x) for y in ys for x in xs]
    for start in range(0, len(coords), batch):
        chunk = coords[start : start + batch]
        inputs = np.stack([padded[..., y : y + tile, x : x + tile] for y, x in chunk])
        ab = np.asarray(predict(inputs if extra is not None else inputs[:, None]))
        for (y, x), pred in zip(chunk, ab, strict=True):
            weight = np.outer(wy[y], wx[x])
            acc[:, y : y + tile, x : x + tile] += pred * weight
            total[y : y + tile, x : x + tile] += weight
    acc /= total
    return np.ascontiguousarray(acc[:, :height, :width])
