"""Synthetic damage on clean photos' lightness, with its exact ground-truth mask: what the
damage detector (colorgan.models.damage_unet) is trained on and the repair is evaluated on.

    damaged, mask = damage(L, np.random.default_rng(seed))

L is CIE lightness (H, W) float32 in [0, 100]. Drawn on a coverage layer (alpha in [0, 1])
and blended toward a bright or dark target: long scratches (thin curves of varying width,
opacity and blur, and hard-edged straight lines), short branching cracks, dust specks,
blobs and hairs. Under that, as nuisances the detector must learn to ignore (never in the
mask): film grain (white or blurred Gaussian noise) and JPEG compression. The mask is
exact: the pixels the damage itself (before grain and JPEG) changed by at least MASK_DELTA
in L; a faint stroke on a background of its own brightness changes nothing there and is
not in it.

Everything is seeded by the `rng` given; the same seed gives the same damage.
"""

from __future__ import annotations

import cv2
import numpy as np

MASK_DELTA = 4.0  # L units (of 100): ~10 grey levels of 255; a visible change
KINDS = ("scratches", "cracks", "specks", "blobs", "hairs")
SS = 4  # sub-pixel precision of cv2's drawing (shift bits)


def damage(
    L: np.ndarray,
    rng: np.random.Generator,
    amount: float = 1.0,
    grain: bool = True,
    least_mp: float = 0.125,
):
    """(damaged L float32, mask bool) for a clean L (H, W) in [0, 100]. amount scales how many
    marks of each kind per megapixel; a photo under least_mp megapixels gets as many as one
    of least_mp (a few marks on small photos; training crops use less)."""
    h, w = L.shape
    out = L.astype(np.float32, copy=True)
    for kind in KINDS:
        for _ in range(_count(kind, max(h * w, least_mp * 1e6), amount, rng)):
            alpha = _DRAW[kind](h, w, rng)
            _blend(out, alpha, rng, kind)
    mask = np.abs(out - L) >= MASK_DELTA
    if grain:
        out = grain_and_jpeg(out, rng)[0]
    return out, mask


def _count(kind: str, pixels: float, amount: float, rng: np.random.Generator) -> int:
    per_mp = {"scratches": 8, "cracks": 6, "specks": 60, "blobs": 6, "hairs": 4}[kind]
    mean = amount * per_mp * pixels / 1e6
    return int(rng.poisson(mean)) if rng.random() < 0.85 else 0  # some photos lack a kind


def _blend(out: np.ndarray, alpha: np.ndarray, rng: np.random.Generator, kind: str) -> None:
    """out toward a bright (mostly: scratches on prints) or dark target, by alpha * opacity."""
    bright = rng.random() < (0.3 if kind == "cracks" else 0.6)
    target = rng.uniform(85, 100) if bright else rng.uniform(0, 18)
    opacity = rng.uniform(0.35, 1.0)
    a = alpha * np.float32(opacity)
    out += a * (np.float32(target) - out)


# --- shapes: each returns a coverage layer (H, W) float32 in [0, 1] -------------------------------


def _canvas(h: int, w: int) -> np.ndarray:
    return np.zeros((h, w), np.float32)


def _points(xy: np.ndarray) -> np.ndarray:
    return np.round(xy * (1 << SS)).astype(np.int32).reshape(-1, 1, 2)


def _soften(alpha: np.ndarray, rng: np.random.Generator, most: float) -> np.ndarray:
    sigma = rng.uniform(0, most)
    return cv2.GaussianBlur(alpha, (0, 0), sigma) if sigma > 0.3 else alpha


def _curve(h: int, w: int, rng: np.random.Generator, length: float, bend: float) -> np.ndarray:
    """Points along a smooth random curve (a quadratic Bezier with a wobble)."""
    start = rng.uniform((0, 0), (w, h))
    angle = rng.uniform(0, 2 * np.pi)
    end = start + length * np.array([np.cos(angle), np.sin(angle)])
    mid = (start + end) / 2 + rng.normal(0, bend * length, 2)
    t = np.linspace(0, 1, max(8, int(length / 4)))[:, None]
    xy = (1 - t) ** 2 * start + 2 * (1 - t) * t * mid + t**2 * end
    normal = np.array([-np.sin(angle), np.cos(angle)])
    wobble = rng.uniform(0, 1.5) * np.sin(t * rng.uniform(2, 12) + rng.uniform(0, 6))
    return xy + wobble * normal


def _scratch(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A long curve, or (a third of them) a straight line: film scratched in the gate runs
    straight along the strip, often near vertical, and a scan leaves it hard-edged (drawn
    without anti-aliasing and not softened)."""
    alpha = _canvas(h, w)
    length = rng.uniform(0.2, 1.2) * max(h, w)
    straight = rng.random() < 1 / 3
    xy = _line(h, w, rng, length) if straight else _curve(h, w, rng, length, 0.08)
    width = int(rng.choice([1, 1, 2, 2, 3, 4]))
    kind = cv2.LINE_8 if straight and rng.random() < 0.5 else cv2.LINE_AA
    # broken along its length: a scratch comes and goes where the emulsion held
    pieces = np.array_split(xy, int(rng.integers(1, 5)))
    for piece in pieces:
        if len(piece) > 1 and rng.random() < 0.85:
            cv2.polylines(alpha, [_points(piece)], False, 1.0, width, kind, SS)
    return alpha if kind == cv2.LINE_8 else _soften(alpha, rng, 1.0)


def _line(h: int, w: int, rng: np.random.Generator, length: float) -> np.ndarray:
    """Points along a straight segment, near vertical half the time."""
    start = rng.uniform((0, 0), (w, h))
    angle = np.pi / 2 + rng.normal(0, 0.03) if rng.random() < 0.5 else rng.uniform(0, np.pi)
    t = np.linspace(0, 1, max(8, int(length / 4)))[:, None]
    return start + t * length * np.array([np.cos(angle), np.sin(angle)])


def _crack(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A short jagged random walk with a branch or two."""
    alpha = _canvas(h, w)
    start = rng.uniform((0, 0), (w, h))
    for _ in range(int(rng.integers(1, 4))):
        steps = int(rng.integers(6, 30))
        angle = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.5, steps))
        step = rng.uniform(2, 6, steps)[:, None]
        xy = start + np.cumsum(step * np.stack([np.cos(angle), np.sin(angle)], 1), 0)
        cv2.polylines(alpha, [_points(xy)], False, 1.0, int(rng.integers(1, 3)), cv2.LINE_AA, SS)
        start = xy[int(rng.integers(0, len(xy)))]
    return _soften(alpha, rng, 0.7)


def _speck(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    alpha = _canvas(h, w)
    centre = _points(rng.uniform((0, 0), (w, h)))[0, 0]
    radius = int(rng.uniform(0.7, 3.0) * (1 << SS))
    cv2.circle(alpha, tuple(int(v) for v in centre), radius, 1.0, -1, cv2.LINE_AA, SS)
    return _soften(alpha, rng, 0.8)


def _blob(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """An irregular polygon around a centre: a stain or a lump of dust."""
    alpha = _canvas(h, w)
    centre = rng.uniform((0, 0), (w, h))
    n = int(rng.integers(7, 14))
    angle = np.sort(rng.uniform(0, 2 * np.pi, n))
    radius = rng.uniform(2.5, 9) * rng.uniform(0.6, 1.4, n)
    xy = centre + radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)
    cv2.fillPoly(alpha, [_points(xy)], 1.0, cv2.LINE_AA, SS)
    return _soften(alpha, rng, 1.2)


def _hair(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A thin curly curve: a hair or a fibre on the scanner glass."""
    alpha = _canvas(h, w)
    length = rng.uniform(20, 120)
    xy = _curve(h, w, rng, length, 0.4)
    t = np.linspace(0, rng.uniform(3, 14), len(xy))[:, None]
    xy = xy + rng.uniform(1, 6) * np.concatenate([np.sin(t), np.cos(t)], 1)
    cv2.polylines(alpha, [_points(xy)], False, 1.0, 1, cv2.LINE_AA, SS)
    return _soften(alpha, rng, 0.6)


_DRAW = {"scratches": _scratch, "cracks": _crack, "specks": _speck, "blobs": _blob, "hairs": _hair}


# --- nuisances ----------------------------------------------------------------------------------


def grain_and_jpeg(L: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Film grain (often), then 8-bit JPEG compression (often): the nuisances `damage` adds
    outside its mask. -> (the 8-bit L as float32, the grain's sigma in L units: 0 for none);
    the grain estimator (colorgan.training.grain) learns that sigma from such crops."""
    sigma = 0.0
    if rng.random() < 0.7:
        sigma = rng.uniform(0.5, 5.0)
        noise = rng.normal(0, 1, L.shape).astype(np.float32)
        if rng.random() < 0.5:  # clumped grain: blurred, rescaled to its sigma
            noise = cv2.GaussianBlur(noise, (0, 0), rng.uniform(0.5, 1.2))
            noise /= max(float(noise.std()), 1e-6)
        L = L + sigma * noise
    gray = np.clip(np.round(L * 2.55), 0, 255).astype(np.uint8)
    if rng.random() < 0.6:
        quality = int(rng.integers(40, 96))
        _, data = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, quality])
        gray = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    return gray.astype(np.float32) / np.float32(2.55), float(sigma)
