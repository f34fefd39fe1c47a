"""Colour as a distribution: the quantised ab plane of Zhang et al. (ECCV 2016).

The ab plane is cut into squares of GRID = 10 Lab units; the bins kept are the ones that
sRGB colours actually fall into (at any lightness). Zhang et al. count 313 such bins for
their gamut estimate; ours, from the sRGB cube through colorgan.core.color, has Q = 262
(the table below; tests/test_abbins.py recomputes it). A network with a "distribution"
head predicts, per pixel, logits over these Q bins; this module turns them into colour.

Ranges: ab here is the network's normalised ab (Lab ab / 110, so roughly [-1, 1]); logits
are any real numbers; probabilities sum to 1 over the bin axis (axis -3 of (..., Q, H, W)).

Decoding (`annealed_mean`): softmax(logits / T), then the expected bin centre.
  T = 1   the mean of the predicted distribution: where the network is unsure between
          a red and a green, it gives a muted in-between colour (what PSNR rewards);
  T -> 0  the mode: the single most likely bin, vivid but sometimes wrong;
  Zhang et al. use T = 0.38 for pictures people look at.
This is numpy only: the ONNX Runtime path decodes without importing torch.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from colorgan.core import parallel

GRID = 10.0  # bin size in Lab units
AB_SCALE = 110.0  # = colorgan.core.color.AB_SCALE (normalised ab = Lab ab / 110)
# For each a index (a = 10 * index), the first and last b index of the bins kept there.
_ROWS = {
    -9: (8, 8), -8: (4, 8), -7: (2, 9), -6: (0, 9), -5: (-2, 9), -4: (-3, 9), -3: (-4, 9),
    -2: (-4, 9), -1: (-5, 9), 0: (-6, 9), 1: (-7, 8), 2: (-8, 8), 3: (-8, 8), 4: (-9, 8),
    5: (-9, 7), 6: (-10, 7), 7: (-11, 7), 8: (-11, 7), 9: (-9, 0), 10: (-7, -5),
}  # fmt: skip


@lru_cache(maxsize=1)
def centers() -> np.ndarray:
    """(Q, 2) float32 bin centres in normalised ab (read-only)."""
    pts = [(a, b) for a, (lo, hi) in sorted(_ROWS.items()) for b in range(lo, hi + 1)]
    out = np.asarray(pts, np.float32) * np.float32(GRID / AB_SCALE)
    out.setflags(write=False)
    return out


Q = len(centers())  # the number of bins (262)


def num_bins() -> int:
    return Q


def _exp_weights(logits: np.ndarray, temperature: float, axis: int) -> np.ndarray:
    """exp((logits - max) / T) along axis: the softmax before normalising (float32, a new
    array; stable for any temperature > 0)."""
    if not temperature > 0:
        raise ValueError(f"temperature={temperature}: must be > 0")
    z = np.asarray(logits, np.float32) / np.float32(temperature)  # a new array: in place below
    z -= z.max(axis=axis, keepdims=True)
    return np.exp(z, out=z)


def softmax(logits: np.ndarray, temperature: float = 1.0, axis: int = -3) -> np.ndarray:
    """Probabilities from logits (float32, stable for any temperature > 0)."""
    z = _exp_weights(logits, temperature, axis)
    z /= z.sum(axis=axis, keepdims=True)
    return z


@lru_cache(maxsize=1)
def _centres_and_ones() -> np.ndarray:
    """(Q, 3): each bin's centre (a, b) and a 1, for annealed_mean's single pass."""
    out = np.concatenate([centers(), np.ones((Q, 1), np.float32)], axis=1)
    out.setflags(write=False)
    return out


def annealed_mean(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """(..., Q, H, W) logits -> (..., 2, H, W) normalised ab (float32)."""
    if not temperature > 0:
        raise ValueError(f"temperature={temperature}: must be > 0")
    logits = np.asarray(logits, np.float32)
    *lead, q, h, w = logits.shape
    flat = logits.reshape(-1, q, h, w)
    out = np.empty((len(flat), 2, h, w), np.float32)
    # row bands of each image on the block pool (colorgan.core.parallel: both cores, and the
    # (Q, rows, W) weights in per-thread buffers that stay mapped, not fresh temporaries)
    step = -(-h // parallel.workers())
    bands = [(i, slice(r, min(r + step, h))) for i in range(len(flat)) for r in range(0, h, step)]
    parallel.parallel(lambda band: _annealed_band(flat, out, *band, np.float32(temperature)), bands)
    return out.reshape(*lead, 2, h, w)


def _annealed_band(logits, out, i: int, rows: slice, temperature: np.float32) -> None:
    z = parallel.scratch.get("annealed", logits[i, :, rows].shape)
    np.divide(logits[i, :, rows], temperature, out=z)
    z -= z.max(axis=0)
    np.exp(z, out=z)
    # one pass over the (Q, rows, W) weights gives both sum(p * centre) and sum(p) (a column
    # of ones beside the centres): the softmax is never normalised as a whole (video: -1/3
    # time). numpy's own einsum loop, not BLAS (optimize=False): OpenBLAS's threads
    # busy-wait after each call and took a core from the video pipeline's other threads
    # (measured: 30 CPU-ms a frame); single-threaded this loop is also faster than sgemm
    s = np.einsum("qhw,qc->chw", z, _centres_and_ones(), optimize=False)
    np.divide(s[:2], s[2:], out=out[i, :, rows])


def top_colors(logits: np.ndarray, k: int = 5) -> list[tuple[np.ndarray, float]]:
    """The k most likely bins at one pixel: logits (Q,) -> [(normalised ab (2,), p)]."""
    p = softmax(np.asarray(logits, np.float32)[:, None, None])[:, 0, 0]
    order = np.argsort(-p)[:k]
    return [(centers()[i].copy(), float(p[i])) for i in order]


def nearest_bins(ab: np.ndarray) -> np.ndarray:
    """(2, N) normalised ab -> (N,) index of the nearest bin centre."""
    c = centers()
    d = (ab[0][:, None] - c[None, :, 0]) ** 2 + (ab[1][:, None] - c[None, :, 1]) ** 2
    return d.argmin(axis=1)


def histogram(ab: np.ndarray, sigma: float = 5.0) -> np.ndarray:
    """The colour distribution of an image: (2, H, W) normalised ab -> (Q,) float32 summing
    to 1. Each pixel votes for its nearest bin; the counts are then spread over neighbouring
    bins with a Gaussian of `sigma` Lab units, so two photos of slightly different hues
    still share bins (a reference photo is never the same scene). Use a small image (the
    reference is resized to ~128 px): the cost is O(pixels x Q)."""
    flat = np.asarray(ab, np.float32).reshape(2, -1)
    counts = np.bincount(nearest_bins(flat), minlength=num_bins()).astype(np.float32)
    if sigma > 0:
        c = centers() * AB_SCALE
        d2 = ((c[:, None, :] - c[None, :, :]) ** 2).sum(-1)
        counts = np.exp(-d2 / (2 * sigma**2)) @ counts
    return (counts / max(float(counts.sum()), 1e-12)).astype(np.float32)
