"""Resizing and padding of float32 planes in numpy, matching the torch calls they replace, so
that the ONNX path needs no torch (tests/test_resample.py compares each with torch).

Shapes: a plane (H, W) or a stack (..., H, W). Output float32.
  * resize_antialiased : torch bilinear with antialias=True (Pillow's BILINEAR, which torch
                         copied; measured max difference 4e-7; plain bilinear when growing).
                         torch gets a 1-pixel-wide input wrong (every output row the same
                         value, torch 2.14): Pillow, and so this, does not.
  * bilinear           : torch bilinear, align_corners=False, no antialias (clamped edges)
  * area               : torch mode="area" (adaptive average pooling)
(Padding is colorgan.core.tiling.pad_bottom_right.)
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from colorgan.core import parallel

BANDED_PIXELS = 1 << 20  # from ~1 MP on, resize_antialiased splits the work over the cores


def resize_antialiased(plane: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) -> shape, bilinear; when shrinking, the filter is widened to the reduction."""
    if tuple(plane.shape) == tuple(shape):
        return plane.astype(np.float32, copy=False)
    if plane.size >= BANDED_PIXELS and shape[1] != plane.shape[1]:
        # Pillow resizes in two separable passes, and each row of the horizontal one is
        # independent of the others: run that pass on bands of rows on both cores (and
        # without a full-size copy for Pillow), then the vertical pass alone. Where Pillow
        # itself would start with the vertical pass (it picks the cheaper order: tall,
        # narrow shrinks), the two orders differ by float rounding only (~1e-7 relative);
        # for the pipeline's aspect-kept working sizes it is the same order and the same
        # numbers (tests/test_resample.py). A 12 MP L to 256 px: 0.05 -> 0.015 s.
        width = shape[1]
        bands = parallel.row_blocks(*plane.shape)
        rows = parallel.parallel(lambda b: _pil_resize(plane[b], (b.stop - b.start, width)), bands)
        plane = np.concatenate(rows)
    return _pil_resize(plane, shape)


def resize(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """resize_antialiased of each plane of a stack (..., H, W): the network's view of L
    without aliasing."""
    if tuple(x.shape[-2:]) == tuple(shape):
        return x.astype(np.float32, copy=False)
    planes = x.reshape(-1, *x.shape[-2:])
    out = np.stack([resize_antialiased(p, shape) for p in planes])
    return out.reshape(*x.shape[:-2], *shape)


def _pil_resize(plane: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    image = Image.fromarray(np.ascontiguousarray(plane, np.float32), mode="F")
    return np.asarray(image.resize((shape[1], shape[0]), Image.BILINEAR), np.float32)


def bilinear_taps(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices i0, i1 and the weight w1 of i1 for each output sample: half-pixel
    centres, edges clamped (torch's align_corners=False, Pillow's and OpenCV's bilinear
    upsampling agree)."""
    src = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
    i0 = np.floor(src).astype(np.intp)
    return i0, np.minimum(i0 + 1, n_in - 1), (src - i0).astype(np.float32)


def bilinear(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(..., h, w) -> (..., *shape), bilinear without antialiasing."""
    x = x.astype(np.float32, copy=False)
    if tuple(x.shape[-2:]) == tuple(shape):
        return x
    y0, y1, wy = bilinear_taps(shape[0], x.shape[-2])
    x0, x1, wx = bilinear_taps(shape[1], x.shape[-1])
    rows = x[..., y0, :] * (1 - wy)[:, None] + x[..., y1, :] * wy[:, None]
    return rows[..., x0] * (1 - wx) + rows[..., x1] * wx


def _area_axis(x: np.ndarray, n_out: int, axis: int) -> np.ndarray:
    """Adaptive average along one axis: output i averages [floor(i n/m), ceil((i+1) n/m))."""
    n_in = x.shape[axis]
    if n_in == n_out:
        return x
    i = np.arange(n_out)
    start, end = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
    csum = np.cumsum(x, axis=axis, dtype=np.float64)
    csum = np.concatenate([np.zeros_like(np.take(csum, [0], axis=axis)), csum], axis=axis)
    total = np.take(csum, end, axis=axis) - np.take(csum, start, axis=axis)
    counts = (end - start).reshape([-1 if a == axis % x.ndim else 1 for a in range(x.ndim)])
    return (total / counts).astype(np.float32)


def area(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(..., H, W) -> (..., *shape), each output the mean of its input cells (torch "area")."""
    return _area_axis(_area_axis(x.astype(np.float32, copy=False), shape[0], -2), shape[1], -1)
