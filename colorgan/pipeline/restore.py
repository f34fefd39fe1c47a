"""Repairing an old photo's lightness before it is coloured: scratches, dust, grain, fading.

    from colorgan.pipeline.restore import restore, repair
    restore("scan.jpg").save("scan_repaired.png")   # a photo -> the repaired gray photo
    fixed = repair(L, steps=("scratches", "dust"))  # L (H, W) float32 in [0, 100], any size
    fixed.L, fixed.mask, fixed.summary()            # repaired L, the pixels filled, what ran

Colorizer.colorize(..., restore=True) repairs the lightness this way before colour.

Steps (each can be left out: `steps=("scratches", "dust")`), in this order:
  * "scratches" and "dust": a small network (colorgan.models.damage_unet, shipped as ONNX in
    colorgan/assets and run by ONNX Runtime: no torch here) finds marks at the photo's own
    resolution, in row bands, reading the photo four ways (VIEWS) and averaging. Its mask
    is split into connected marks: those whose bounding box fits in DUST_SIDE pixels are
    dust (specks, small blobs), the rest scratches (with cracks and hairs). The chosen
    marks, grown by GROW pixels (their soft edges), are filled from around them by OpenCV's
    inpainting (FILL: Navier-Stokes measured slightly better than Telea's fast marching on
    synthetic damage of 8 validation photos, 26.80 against 26.69 dB PSNR; docs/restore.md
    has both on the test split).
  * "grain": OpenCV's non-local means, its strength from the grain's sigma as a small
    network (colorgan.models.grain_net, shipped as ONNX beside the detector) estimates it,
    only when the photo passes the gate. The network answers a sigma map over tiles spread
    across the photo; the gate reads the maps' GRAIN_QUANTILE quantile, low on purpose:
    grain lies over the whole photo, while fine texture the network mistakes for grain
    (what the denoiser would smear) covers parts of it. It must be at least GRAIN_MIN.
  * "fading": the lightness stretched so its FADE_LOW..FADE_HIGH percentiles span
    TARGET_LOW..TARGET_HIGH, only when they span less than FADED_RANGE and the low one is
    at least FADED_BLACK (a faded print: its blacks have gone gray).
Pixels no step touched keep the input's L exactly (grain and fading, when they run, touch
every pixel and say so). Each step decides for itself whether it runs; DEFAULT_STEPS below.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from colorgan.core.errors import ColorganError

try:
    import cv2
except ModuleNotFoundError:  # OpenCV is an extra of the base install
    raise ColorganError("repairing photos needs OpenCV: pip install 'colorgan[restore]'") from None
from colorgan.core import fastcolor
from colorgan.io import images
from colorgan.pipeline.runner import run_padded

STEPS = ("scratches", "dust", "grain", "fading")
# By default every step, chosen on the validation split (107 photos, synthetic damage seed 1;
# docs/restore.md): the detected marks filled gained 2.71 dB PSNR (28.74 -> 31.45) and clean
# photos kept 99.74 % of their pixels exactly; "grain" added 1.18 dB more there and touched
# none of the 636 clean training and validation photos.
DEFAULT_STEPS = STEPS
ASSETS = Path(__file__).resolve().parent.parent / "assets"
DETECTOR = ASSETS / "damage_detector.onnx"
DETECTOR_INFO = ASSETS / "damage_detector.json"  # sha256, threshold, validation scores
BAND, MARGIN = 512, 32  # detector input: rows per band, and the context rows around it
# Bigger photos are searched for marks shrunk to this many pixels (the mask scaled back up):
# the network's time grows with the pixels, and a 12 MP scan's marks are wider in pixels.
DETECT_PIXELS = 3_000_000
# The detector reads the photo as it is, flipped left-right, transposed, and both, and
# averages its answers (over_views). Chosen on validation (107 photos, damage seed 1, each
# way at its best-F1 threshold; docs/restore.md): F1 0.689 -> 0.719 and the marks' fill
# 31.29 -> 31.45 dB, where the flips alone lost (31.24). Four passes: the detection's time x4.
VIEWS = ((False, False), (False, True), (True, False), (True, True))
FILL_TILE = 256  # inpainting runs on the tiles that hold marks only (the rest untouched)
DUST_SIDE = 12  # marks whose bounding box fits in this many pixels are dust
GROW = 1  # pixels added around each mark before filling (its soft edge; 2 lost 0.13 dB on val)
FILL, FILL_RADIUS = cv2.INPAINT_NS, 3
GRAIN = ASSETS / "grain_estimator.onnx"
GRAIN_INFO = ASSETS / "grain_estimator.json"  # sha256, validation scores
# "grain" (chosen on validation by scripts/grain_gate.py, docs/restore.md): the step runs
# when the GRAIN_QUANTILE quantile of the estimator's sigma map is at least GRAIN_MIN (L
# units), and non-local means' strength is GRAIN_H x the map's GRAIN_SIGMA quantile (its
# median: a fairer reading of the grain than the low quantile that keeps texture out)
GRAIN_QUANTILE, GRAIN_MIN, GRAIN_SIGMA, GRAIN_H = 0.1, 2.0, 0.5, 1.3
# the grain is read on GRAIN_GRID x GRAIN_GRID tiles of GRAIN_TILE pixels spread over the
# photo (410,000 pixels at most: 0.01 s), less GRAIN_EDGE pixels a side of each tile's map
GRAIN_GRID, GRAIN_TILE, GRAIN_EDGE = 5, 128, 8
# A clean photo can be as flat as a faded print: on the training and validation photos
# (636), 8 span less than 45 and 3 less than 40 with their blacks at 15 or more (high-key
# scenes); dark low-key ones (blacks under 15) are not faded. The rule below took those 3.
FADE_LOW, FADE_HIGH, FADED_RANGE, FADED_BLACK = 0.5, 99.5, 40.0, 15.0
# Less range than this is a flat field (a gray card, a blank sky), not a faded print:
# stretched, it would turn to noise (a uniform L 50 photo came out black)
FLAT_RANGE = 10.0
TARGET_LOW, TARGET_HIGH = 3.0, 97.0


def parse_steps(text: str | list | tuple | None) -> tuple[str, ...]:
    """ "scratches,dust" (or a list) -> the steps in pipeline order; "all": every step;
    None, "" or "default": DEFAULT_STEPS."""
    if text is None or text in ("", "default", True):
        return DEFAULT_STEPS
    if text == "all":
        return STEPS
    names = [s.strip() for s in (text.split(",") if isinstance(text, str) else text)]
    wrong = [n for n in names if n not in STEPS]
    if wrong or not names:
        raise ColorganError(
            f"repair steps {','.join(wrong) or text!r}: choose from {', '.join(STEPS)} "
            "(comma-separated)"
        )
    return tuple(s for s in STEPS if s in names)


@dataclass
class Repair:
    L: np.ndarray  # the repaired lightness (H, W) float32
    mask: np.ndarray  # bool (H, W): the pixels filled (scratches and dust)
    done: dict = field(default_factory=dict)  # step -> what it did (pixels, sigma, range)

    def summary(self) -> str:
        parts = [f"{k} {v}" for k, v in self.done.items() if v]
        return ", ".join(parts) if parts else "nothing to repair"


def bundled(path: Path, info: Path, what: str):
    """(its JSON, the network in ONNX Runtime) of a network shipped in colorgan/assets, its
    SHA-256 checked against the JSON's."""
    from colorgan.pipeline.onnxrun import OnnxGenerator  # onnxruntime: only when used

    if not path.is_file() or not info.is_file():
        raise ColorganError(
            f"no {what} bundled ({path.name}); train one with scripts/train_restore.sh"
        )
    try:
        meta = json.loads(info.read_text())
        expected = meta["sha256"]
    except (ValueError, KeyError, TypeError):
        raise ColorganError(f"{info}: damaged file (not the JSON of a bundled network)") from None
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != expected:
        raise ColorganError(f"{path}: damaged file (its SHA-256 differs from {info.name})")
    return meta, OnnxGenerator(data)


def over_views(probability, L: np.ndarray, views=VIEWS) -> np.ndarray:
    """probability(L) averaged over views of L: (transpose, flip) pairs, each a permutation
    of the pixels undone on its answer. The network was trained on left-right flips only
    and reads a mark a little differently each way: the mean of the views misses less."""
    total = np.zeros(L.shape, np.float32)
    for transpose, flip in views:
        view = L.T if transpose else L
        view = np.ascontiguousarray(view[:, ::-1] if flip else view)
        p = probability(view)
        p = p[:, ::-1] if flip else p
        total += p.T if transpose else p
    return total / len(views)


class Detector:
    """The damage network in ONNX Runtime: L (H, W) in [0, 100] -> P(damaged) (H, W)."""

    def __init__(self, path: Path = DETECTOR, info: Path = DETECTOR_INFO) -> None:
        meta, self.network = bundled(path, info, "damage detector")
        self.threshold = float(meta["threshold"])  # chosen for the answer over VIEWS

    def probability(self, L: np.ndarray) -> np.ndarray:
        """P(damaged) (H, W): the network's answer averaged over the VIEWS of L."""
        return over_views(self.one_view, L)

    def one_view(self, L: np.ndarray) -> np.ndarray:
        h = L.shape[0]
        out = np.empty(L.shape, np.float32)
        multiple = self.network.size_multiple
        for top in range(0, h, BAND):
            lo, hi = max(0, top - MARGIN), min(h, top + BAND + MARGIN)
            x = (L[lo:hi] / np.float32(50) - 1)[None, None].astype(np.float32)
            y = run_padded(self.network, x, multiple, channels=1)[0, 0]
            out[top : min(h, top + BAND)] = y[top - lo : top - lo + min(BAND, h - top)]
        return (out + 1) / 2  # the network answers 2p - 1

    def marks(self, L: np.ndarray) -> np.ndarray:
        """Where P(damaged) >= the threshold chosen on validation, at L's size (searched
        on L shrunk to DETECT_PIXELS when bigger)."""
        h, w = L.shape
        scale = min(1.0, (DETECT_PIXELS / (h * w)) ** 0.5)
        if scale == 1.0:
            return self.probability(L) >= self.threshold
        small = cv2.resize(L, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        prob = cv2.resize(self.probability(small), (w, h), interpolation=cv2.INTER_LINEAR)
        return prob >= self.threshold


@cache
def default_detector() -> Detector:
    return Detector()


def split_marks(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(scratches, dust): connected marks by the size of their bounding box."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    small = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]) <= DUST_SIDE
    small[0] = False  # the background
    dust = small[labels]
    return mask & ~dust, dust


def grow(mask: np.ndarray) -> np.ndarray:
    """The pixels `fill` fills for a mask: the mask grown by GROW pixels (bool)."""
    kernel = np.ones((2 * GROW + 1,) * 2, np.uint8)
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def fill(L: np.ndarray, mask: np.ndarray, method: int = FILL) -> tuple[np.ndarray, np.ndarray]:
    """(L with the mask's pixels, grown by GROW, inpainted from around them; the grown mask).
    Only the FILL_TILE tiles holding marks are inpainted, each with a margin of context wide
    enough for marks crossing its edges; every other pixel is L's exactly."""
    grown = grow(mask).astype(np.uint8)
    out = np.array(L, np.float32)
    h, w = L.shape
    margin = 4 * FILL_RADIUS + GROW  # context beyond the tile: inpainting reads this far
    for ty in range(0, h, FILL_TILE):
        for tx in range(0, w, FILL_TILE):
            tile = grown[ty : ty + FILL_TILE, tx : tx + FILL_TILE]
            if not tile.any():
                continue
            y0, x0 = max(0, ty - margin), max(0, tx - margin)
            y1, x1 = min(h, ty + FILL_TILE + margin), min(w, tx + FILL_TILE + margin)
            region = cv2.inpaint(
                L[y0:y1, x0:x1].astype(np.float32), grown[y0:y1, x0:x1], FILL_RADIUS, method
            )
            inner = region[ty - y0 : ty - y0 + tile.shape[0], tx - x0 : tx - x0 + tile.shape[1]]
            sel = tile.astype(bool)
            out[ty : ty + FILL_TILE, tx : tx + FILL_TILE][sel] = inner[sel]
    return out, grown.astype(bool)


class GrainEstimator:
    """The grain network in ONNX Runtime: L (H, W) in [0, 100] -> its grain sigma map."""

    def __init__(self, path: Path = GRAIN, info: Path = GRAIN_INFO) -> None:
        meta, self.network = bundled(path, info, "grain estimator")
        self.sigma_max = float(meta["sigma_max"])  # the sigma the network's output 1 means

    def levels(self, L: np.ndarray, quantiles=(GRAIN_QUANTILE, GRAIN_SIGMA)) -> np.ndarray:
        """The photo's grain sigma read at each quantile of the maps of grain_tiles(L)."""
        return np.quantile(self.tile_maps(L), quantiles)

    def tile_maps(self, L: np.ndarray) -> np.ndarray:
        """The sigma maps of grain_tiles(L), less GRAIN_EDGE pixels a side (a tile's edge
        is read against padding), in one batch."""
        x = grain_tiles(L) / np.float32(50) - 1
        out = run_padded(self.network, x[:, None], self.network.size_multiple, channels=1)
        e = GRAIN_EDGE if min(x.shape[1:]) > 4 * GRAIN_EDGE else 0
        return self.sigma_max * (out[:, 0, e : out.shape[2] - e, e : out.shape[3] - e] + 1) / 2


def grain_tiles(L: np.ndarray) -> np.ndarray:
    """GRAIN_GRID x GRAIN_GRID tiles of GRAIN_TILE pixels a side (less where the photo is),
    spread evenly over the whole photo: (n, th, tw) float32. Grain covers the photo; a
    centre crop could be all texture (a close-up of leaves)."""
    h, w = L.shape
    th, tw = min(GRAIN_TILE, h), min(GRAIN_TILE, w)
    ys = np.unique(np.linspace(0, h - th, GRAIN_GRID).round().astype(int))
    xs = np.unique(np.linspace(0, w - tw, GRAIN_GRID).round().astype(int))
    return np.stack([L[y : y + th, x : x + tw] for y in ys for x in xs]).astype(np.float32)


@cache
def default_grain_estimator() -> GrainEstimator:
    return GrainEstimator()


def load_networks(steps) -> None:
    """Load the bundled networks the steps need (the detector for scratches and dust, the
    grain estimator for grain) now: a missing or damaged one is one error before any photo
    is read, not one per photo."""
    steps = parse_steps(steps)
    if {"scratches", "dust"} & set(steps):
        default_detector()
    if "grain" in steps:
        default_grain_estimator()


def grain_sigma(L: np.ndarray, estimator: GrainEstimator | None = None) -> float | None:
    """The grain sigma of L (L units: its map's GRAIN_SIGMA quantile) if the map's
    GRAIN_QUANTILE quantile is at least GRAIN_MIN, else None (no grain, or texture)."""
    gate, sigma = (estimator or default_grain_estimator()).levels(L)
    return float(sigma) if gate >= GRAIN_MIN else None


def denoise(L: np.ndarray, sigma: float) -> np.ndarray:
    """OpenCV's non-local means on the 8-bit lightness, strength from sigma."""
    gray = np.clip(np.round(L * 2.55), 0, 255).astype(np.uint8)
    out = cv2.fastNlMeansDenoising(gray, None, GRAIN_H * sigma * 2.55, 5, 13)
    return out.astype(np.float32) / np.float32(2.55)


def fading_range(L: np.ndarray) -> tuple[float, float] | None:
    """The (low, high) lightness percentiles of a faded print (they span less than
    FADED_RANGE but at least FLAT_RANGE, the low one at least FADED_BLACK), else None."""
    low, high = np.percentile(L[::4, ::4], (FADE_LOW, FADE_HIGH))
    faded = FLAT_RANGE <= high - low < FADED_RANGE and low >= FADED_BLACK
    return (float(low), float(high)) if faded else None


def stretch(L: np.ndarray, low: float, high: float) -> np.ndarray:
    scale = (TARGET_HIGH - TARGET_LOW) / max(high - low, 1e-3)
    return np.clip((L - low) * scale + TARGET_LOW, 0, 100).astype(np.float32)


def repair(
    L: np.ndarray,
    steps=DEFAULT_STEPS,
    detector: Detector | None = None,
    marks: np.ndarray | None = None,
) -> Repair:
    """The repaired lightness of L (H, W) in [0, 100] (see the module's docstring).
    marks: the detector's mask of L when already found (the evaluation reuses it)."""
    steps = parse_steps(steps)
    L = np.asarray(L, np.float32)
    mask = np.zeros(L.shape, bool)
    done: dict = {}
    # the grain is read on the photo as it came: the fill leaves smooth streaks where marks
    # were, which the estimator reads as grain-free (a 12 MP scan with grain of sigma 3 and
    # 2.5 % of its pixels filled: the gate's reading fell from 2.7 to 0.9), and the marks
    # themselves are thin, which the gate's low quantile passes over
    sigma = grain_sigma(L) if "grain" in steps else None
    if "scratches" in steps or "dust" in steps:
        if marks is None:
            marks = (detector or default_detector()).marks(L)
        scratches, dust = split_marks(marks)
        for name, marks in (("scratches", scratches), ("dust", dust)):
            if name in steps and marks.any():
                mask |= marks
                done[name] = f"{int(marks.sum())} px"
        if mask.any():
            L, mask = fill(L, mask)
    if sigma is not None:
        L = denoise(L, sigma)
        done["grain"] = f"sigma {sigma:.1f}"
    if "fading" in steps:
        faded = fading_range(L)
        if faded is not None:
            L = stretch(L, *faded)
            done["fading"] = "L {:.0f}..{:.0f}".format(*faded)
    return Repair(L, mask, done)


def gray_image(L: np.ndarray, photo) -> Image.Image:
    """The repaired lightness as a neutral gray sRGB image with the photo's alpha and
    metadata (what `colorgan restore` writes)."""
    rgb = fastcolor.compose(L, np.zeros((2, 1, 1), np.float32), 1.0)
    rgb[...] = rgb[..., 1:2]  # exactly neutral: the conversion's rounding can differ by 1
    return images.to_pil(rgb, photo)


def restore(image, steps=DEFAULT_STEPS) -> Image.Image:
    """A path, PIL image, numpy array or images.Photo -> the repaired photo, gray, same size."""
    photo = images.read_image(image)
    return gray_image(repair(fastcolor.lightness(photo.pixels), steps).L, photo)
