"""Decoding a distribution head's logits into colour, with spatial context (numpy only).

The network gives, per pixel at half the working size, a distribution over the Q ab bins
(colorgan.core.abbins). Turning it into one colour per pixel:
  1. probabilities at T = 1 (softmax);
  2. one surface, one colour: the probabilities are smoothed with a guided filter (He et al.
     2010) steered by L at the same size: pixels of one surface (similar L, no edge between
     them) share their evidence, so where a surface's distribution has two modes (a plaza
     that is green or blue) the whole surface picks the same one instead of each pixel
     picking its own (the blotches of a per-pixel decode); edges of L stay edges;
  3. the annealed mean of the smoothed distribution at the model's temperature T;
  4. less colour where unsure: chroma is scaled by (1 - g)^UNSURE_POWER, where g is the
     smoothed distribution's mass on the near-gray bins (chroma <= GRAY_CHROMA). Where the
     model puts much of its belief on "no colour", it does not paint a vivid guess;
  7. vividness: one gain on chroma, `gain(vividness)`; higher = more vivid.
  6. faces found by OpenCV's face detector are pulled toward skin tones
     (colorgan.pipeline.skin), before the gain, so the knob moves them with the rest.

The numbers below were chosen on the validation split by scripts/vividness_curve.py (the
rule is in its docstring); the test split was read once afterwards (MODEL_CARD.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from colorgan.core import abbins, parallel, resample
from colorgan.core.errors import ColorganError
from colorgan.core.parallel import scratch
from colorgan.pipeline import options, skin

# vividness: the user's knob, 0 = muted .. 1 = most vivid (its bounds and default, chosen
# on validation, are colorgan.pipeline.options.VIVIDNESS)
GAIN_RANGE = (0.75, 1.9)  # chroma gain at vividness 0 and 1 (geometric in between)
SMOOTH_RADIUS = 0.0417  # guided filter's window radius, as a share of the long side
SMOOTH_EPS = 0.01  # guided filter's regularisation (L in [0, 1]): edges below ~0.1 smoothed
GRAY_CHROMA = 15 / abbins.AB_SCALE  # bins at most this far from gray count as "no colour"
UNSURE_POWER = 1.0
NEAR_TOP = 1 / 3
MAX_BINS = 24
SCRATCH_MOST = 1 << 23  # elements: a 256 px working size's 262 x 128 x 128 logits fit


def check_temperature(value: float) -> float:
    """A model's decoding temperature (model.temperature): (0, 10], checked where it is read
    too (colorgan.core.config); here for a Colorizer built by hand."""
    if not 0 < value <= 10:
        raise ColorganError(f"temperature={value}: must be in (0, 10]")
    return float(value)


def gain(vividness: float) -> float:
    """The chroma gain of a vividness: GAIN_RANGE's ends, geometric in between (so equal
    steps of the knob multiply colourfulness by equal factors)."""
    lo, hi = GAIN_RANGE
    return float(lo * (hi / lo) ** options.VIVIDNESS.check(vividness))


def decode(
    logits: np.ndarray,
    L: np.ndarray,
    temperature: float,
    vividness: float | None,
    centres: np.ndarray | None = None,
    *,
    radius: float = SMOOTH_RADIUS,
    eps: float = SMOOTH_EPS,
    unsure_power: float = UNSURE_POWER,
    faces: bool | Sequence[np.ndarray] | None = True,
) -> np.ndarray:
    """(B, Q, h, w) logits + L (B, H, W) in [0, 100] (the network's input; averaged onto
    the logits' grid here) -> ab (B, 2, h, w) normalised, float32. centres: the bins'
    (Q, 2) ab (default colorgan.core.abbins). vividness None: no gain (the sweep's own).
    faces: True looks for faces in L here; False or None leaves faces alone (tiles leave them
    to the single pass of "hybrid"); or each photo's boxes, found beforehand by
    skin.faces_in (the runner finds them while the network runs)."""
    centres = abbins.centers() if centres is None else np.asarray(centres, np.float32)
    small = resample.area(np.asarray(L, np.float32), logits.shape[-2:])
    boxes = skin.faces_in(L) if faces is True else (faces or None)  # None: no faces step
    out = np.empty((len(logits), 2, *logits.shape[-2:]), np.float32)
    for i, z in enumerate(logits):
        out[i] = _decode_one(z, small[i], centres, temperature, radius, eps, unsure_power)
        if boxes is not None:
            out[i] = skin.pull_to_skin(out[i], boxes[i])
    return out if vividness is None else out * np.float32(gain(vividness))


def _decode_one(z, light, centres, temperature, radius, eps, unsure_power) -> np.ndarray:
    # the softmax at T = 1, normalised only where it is used: e = exp(z - max) is 1 at each
    # pixel's most likely bin, so e / its sum over the bins are the probabilities
    z = np.asarray(z, np.float32)
    e = np.subtract(z, z.max(axis=0), out=_buffer("decode_e", z.shape))
    np.exp(e, out=e)
    total = e.sum(axis=0)
    gray = e[np.hypot(centres[:, 0], centres[:, 1]) <= GRAY_CHROMA].sum(axis=0)
    # the annealed mean (T < 1) is made by the bins that come near the most likely one (one
    # at a third of it weighs 0.4% at T = 0.2): smoothing only the MAX_BINS that do so at
    # the most pixels (and the gray mass) costs ~20 planes instead of 262
    top = np.greater_equal(e, NEAR_TOP, out=_buffer("decode_top", z.shape, np.bool_))
    near = top.reshape(len(top), -1).view(np.uint8).sum(axis=1, dtype=np.int64)  # 3x a bool sum
    keep = np.sort(np.argsort(-near, kind="stable")[:MAX_BINS])
    keep = keep[near[keep] > 0]
    planes = np.concatenate([e[keep], gray[None]])
    planes /= total
    if radius > 0:
        r = max(1, round(radius * max(z.shape[-2:])))
        planes = guided_filter(light / np.float32(100), planes, r, eps)
        np.maximum(planes, 1e-8, out=planes)
    ab = _annealed_mean(planes[:-1], centres[keep], temperature)
    if unsure_power:
        ab *= np.clip(1 - planes[-1], 0, 1) ** unsure_power
    return ab


def _buffer(name: str, shape: tuple, dtype=np.float32) -> np.ndarray:
    """A per-thread buffer that stays mapped (colorgan.core.parallel.scratch) for the
    softmax's temporaries at the usual working sizes: a fresh 17 MB array a photo was
    page-faulted anew each time (decoding measured 22 -> 12 ms in the 512 px pipeline).
    Bigger ones (large working sizes) are allocated and freed, not kept for the thread's life."""
    if np.prod(shape) <= SCRATCH_MOST:
        return scratch.get(name, shape, dtype)
    return np.empty(shape, dtype)


def _annealed_mean(p: np.ndarray, centres: np.ndarray, temperature: float) -> np.ndarray:
    """(K, h, w) probabilities -> (2, h, w): mean of p^(1/T), normalised."""
    z = np.log(p, dtype=np.float32) / np.float32(temperature)
    z -= z.max(axis=0, keepdims=True)
    np.exp(z, out=z)
    s = np.einsum(
        "qhw,qc->chw",
        z,
        np.concatenate([centres, np.ones((len(centres), 1))], 1).astype(np.float32),
        optimize=False,
    )
    return (s[:2] / s[2:]).astype(np.float32)


def box_mean(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window of (..., h, w), edges extended. Along each axis: window
    sums built from shifted slices, doubling the width (1, 2, 4, ...) and adding the widths
    that make 2r+1, so O(log r) vectorised adds per element (measured ~5x faster than
    running sums by np.cumsum, which numpy does element by element)."""
    for axis in (-2, -1):
        pad = [(0, 0)] * x.ndim
        pad[axis] = (r, r)
        x = _window_sums(np.pad(x, pad, mode="edge"), 2 * r + 1, axis)
    return x / np.float32((2 * r + 1) ** 2)


def _window_sums(p: np.ndarray, k: int, axis: int) -> np.ndarray:
    """Sums of k neighbours along axis (-1 or -2): out[i] = p[i : i + k].sum()."""
    n = p.shape[axis] - k + 1
    cut = (lambda a, lo, hi: a[..., lo:hi]) if axis == -1 else (lambda a, lo, hi: a[..., lo:hi, :])
    total, start = None, 0
    width, sums = 1, p  # sums[i] = p[i : i + width].sum()
    while True:
        if k & width:  # this power of two is part of k: add the window of it that comes next
            part = cut(sums, start, start + n)
            total = part.copy() if total is None else np.add(total, part, out=total)
            start += width
        if 2 * width > k:
            return total
        sums = cut(sums, 0, -width) + cut(sums, width, None)
        width *= 2


def guided_filter(guide: np.ndarray, x: np.ndarray, r: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter of each plane of x (K, h, w) by one gray guide (h, w):
    smooths x where the guide is flat, keeps its edges where the guide has them. Each plane
    is filtered on its own, so the planes are split over the pool's threads (one photo's
    decoding ran on one core while the other waited: 512 px, 20 -> 14 ms)."""
    parts = parallel.chunks(len(x), smallest=1)
    out = parallel.parallel(lambda part: _guided_filter(guide, x[part], r, eps), parts)
    return out[0] if len(out) == 1 else np.concatenate(out)


def _guided_filter(guide: np.ndarray, x: np.ndarray, r: int, eps: float) -> np.ndarray:
    mean_i = box_mean(guide, r)
    var_i = box_mean(guide * guide, r) - mean_i * mean_i
    mean_x = box_mean(x, r)
    a = (box_mean(x * guide, r) - mean_i * mean_x) / (var_i + eps)
    b = mean_x - a * mean_i
    return box_mean(a, r) * guide + box_mean(b, r)
