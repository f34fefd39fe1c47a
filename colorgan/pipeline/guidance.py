"""What a person tells the colourizer: colour hints at points of the photo, and a reference
photo whose colours to follow. Turned here into the network's guidance inputs
(docs: /CONTRACT of `model.guidance`, summarised):

  hint map (3, h, w) at the working size: channels a, b (normalised ab, colorgan.core.color)
      and a mask in {0, 1}; a hint is a square patch of `size` working-size pixels centred on
      its point, holding the hint colour's ab; zeros elsewhere (= no hint).
  reference (Q + 1,): the reference photo's ab histogram over the Q bins of
      colorgan.core.abbins (sums to 1), then a flag 1.0; all zeros = no reference.

Hint coordinates are pixels of the INPUT photo (x to the right, y down, 0-based; it may be
12 MP while the network sees 256 px): they are mapped like the resize maps pixel centres.
Colours: "#rrggbb" (or "#rgb") or an (r, g, b) tuple of 0-255, converted sRGB -> Lab; only
their ab is used (the photo keeps its own lightness).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from colorgan.core import color, fastcolor, resample
from colorgan.core.errors import ColorganError, shown
from colorgan.io import images
from colorgan.pipeline.geometry import to_working, working_shape

DEFAULT_SIZE = 3  # working-size pixels, as in training (SIGGRAPH 2017: patches of 1-9 px)
MAX_SIZE = 64
MAX_COORD = 1 << 30  # pixels: no photo is this big (a 400-digit x overflowed float())
MAX_HINTS = 10_000
MAX_HINTS_BYTES = 1 << 20  # a hints file or field: 10,000 hints take about 500 KB of JSON
REFERENCE_SIDE = 128  # long side of the reference photo its histogram is taken at
HINTS_FORMAT = 'need a JSON list of {"x", "y", "color", "size"}'
HEX = re.compile(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})")


def parse_color(value) -> tuple[int, int, int]:
    """ "#rrggbb", "#rgb" or (r, g, b) with 0-255 -> (r, g, b); else a ColorganError."""
    if isinstance(value, str):
        match = HEX.fullmatch(value.strip())
        if match:
            digits = match.group(1)
            digits = "".join(c * 2 for c in digits) if len(digits) == 3 else digits
            return tuple(int(digits[i : i + 2], 16) for i in (0, 2, 4))
    elif isinstance(value, Iterable) and not isinstance(value, (bytes, dict)):
        parts = list(value)
        ok = len(parts) == 3 and all(isinstance(v, (int, np.integer)) for v in parts)
        if ok and all(0 <= v <= 255 for v in parts):
            return tuple(int(v) for v in parts)
    raise ColorganError(f"hint colour {shown(value)}: use #rrggbb or (r, g, b) with values 0-255")


def to_hex(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


@dataclass(frozen=True)
class Hint:
    """A colour at a point: x, y in the input photo's pixels; size: the patch's side in
    working-size pixels. Checked on creation (colour, size); the point is checked against
    each photo it is used on."""

    x: float
    y: float
    color: str | tuple[int, int, int]
    size: int = DEFAULT_SIZE

    def __post_init__(self) -> None:
        for name in ("x", "y"):
            v = getattr(self, name)
            number = isinstance(v, (int, float)) and not isinstance(v, bool)
            if not number or not -MAX_COORD <= v <= MAX_COORD:  # NaN fails too
                raise ColorganError(f"hint {name}={shown(v)}: must be a number (pixels)")
        parse_color(self.color)
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise ColorganError(f"hint size={shown(self.size)}: must be a whole number of pixels")
        if not 1 <= self.size <= MAX_SIZE:
            raise ColorganError(f"hint size={self.size}: must be between 1 and {MAX_SIZE}")

    @property
    def rgb(self) -> tuple[int, int, int]:
        return parse_color(self.color)

    @classmethod
    def parse(cls, value) -> Hint:
        """A Hint, a dict {"x", "y", "color"[, "size"]} (JSON, REST) or the command line's
        "X,Y,#RRGGBB[,SIZE]"."""
        if isinstance(value, Hint):
            return value
        if isinstance(value, dict):
            unknown = set(value) - {"x", "y", "color", "size"}
            missing = {"x", "y", "color"} - set(value)
            if unknown or missing:
                what = (
                    f"unknown keys {shown(sorted(unknown))}" if unknown else f"no {sorted(missing)}"
                )
                raise ColorganError(f"hint {shown(value)}: {what}; use x, y, color and size")
            return cls(value["x"], value["y"], value["color"], value.get("size", DEFAULT_SIZE))
        if isinstance(value, str):
            return _parse_text(value)
        raise ColorganError(f"hint {shown(value)}: use Hint(x, y, color) or a dict")


def _parse_text(text: str) -> Hint:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (3, 4):
        raise ColorganError(f"--hint {shown(text)}: use X,Y,#RRGGBB or X,Y,#RRGGBB,SIZE")
    try:
        x, y = float(parts[0]), float(parts[1])
        size = int(parts[3]) if len(parts) == 4 else DEFAULT_SIZE
    except ValueError:
        raise ColorganError(f"--hint {shown(text)}: X, Y and SIZE must be numbers") from None
    return Hint(int(x) if x.is_integer() else x, int(y) if y.is_integer() else y, parts[2], size)


def parse_hints(values) -> tuple[Hint, ...]:
    """None, one hint or a list of hints (Hint, dict or "X,Y,#RRGGBB[,SIZE]") -> tuple."""
    if values is None:
        return ()
    if isinstance(values, (Hint, dict, str)):
        values = [values]
    return tuple(Hint.parse(v) for v in values)


def read_hints_file(path: str | Path) -> tuple[Hint, ...]:
    """A JSON file holding a list of {"x", "y", "color", "size"} objects."""
    path = Path(path).expanduser()
    try:
        with open(path, "rb") as f:  # bounded: a 200 MB file took 103 s and 3.3 GB
            data = f.read(MAX_HINTS_BYTES + 1)
    except OSError as exc:
        raise ColorganError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return hints_from_json(data, str(path))


def hints_from_json(text: bytes | str, name: str) -> tuple[Hint, ...]:
    """The hints of a JSON list of {"x", "y", "color", "size"} objects (a hints file, the
    REST `hints` field), named `name` in messages: at most MAX_HINTS_BYTES and MAX_HINTS."""
    try:
        return _json_hints(text)
    except ColorganError as exc:
        raise ColorganError(f"{name}: {exc}") from None


def _json_hints(text: bytes | str) -> tuple[Hint, ...]:
    if len(text) > MAX_HINTS_BYTES:
        raise ColorganError(f"over {MAX_HINTS_BYTES // 1024} KiB of hints; {HINTS_FORMAT}")
    try:
        data = json.loads(text)
    except RecursionError:  # json recurses per level of nesting
        raise ColorganError(f"not a list of hints (nested too deep); {HINTS_FORMAT}") from None
    except ValueError as exc:  # UnicodeDecodeError included
        raise ColorganError(f"not JSON ({shown(str(exc), 120)[1:-1]}); {HINTS_FORMAT}") from None
    if not isinstance(data, list):
        raise ColorganError(f"{shown(data)} is not a list; {HINTS_FORMAT}")
    if len(data) > MAX_HINTS:
        raise ColorganError(f"{len(data):,} hints: at most {MAX_HINTS:,}")
    hints = []
    for i, item in enumerate(data):
        try:
            hints.append(Hint.parse(item))
        except ColorganError as exc:
            raise ColorganError(f"hints[{i}]: {exc}") from None
    return tuple(hints)


def hint_ab(hints: tuple[Hint, ...]) -> np.ndarray:
    """(N, 2) normalised ab of the hints' colours, float32."""
    rgb = np.array([h.rgb for h in hints], np.float32) / 255.0
    lab = fastcolor.rgb_to_lab(rgb.T[:, :, None])  # (3, N, 1)
    return color.normalize_ab(lab[1:, :, 0]).T.astype(np.float32)


class HintOutside(ColorganError):
    """A hint's point lies outside the photo it is used on."""


def check_inside(hints: tuple[Hint, ...], full: tuple[int, int]) -> None:
    height, width = full
    for h in hints:
        if not (0 <= h.x < width and 0 <= h.y < height):
            raise HintOutside(
                f"hint at ({h.x}, {h.y}) is outside the image ({width}x{height} pixels)"
            )


def hint_map(hints: tuple[Hint, ...], full: tuple[int, int], work: tuple[int, int]):
    """(3, h, w) hint map at the working shape `work` for a photo of shape `full` (later
    hints win where patches overlap); a hint outside the photo is a ColorganError."""
    check_inside(hints, full)
    out = np.zeros((3, *work), np.float32)
    if not hints:
        return out
    for hint, ab in zip(hints, hint_ab(hints), strict=True):
        col, row = to_working(hint.x, hint.y, full, work)
        top, left = row - (hint.size - 1) // 2, col - (hint.size - 1) // 2
        rows = slice(max(top, 0), max(top + hint.size, 0))
        cols = slice(max(left, 0), max(left + hint.size, 0))
        out[:2, rows, cols] = ab[:, None, None]
        out[2, rows, cols] = 1.0
    return out


def reference_image(src) -> Image.Image:
    """The reference photo (path, PIL image, array or Photo) as 8-bit RGB; an unreadable
    one is a ColorganError naming it (the images module's policy: alpha over white)."""
    if isinstance(src, (str, Path)):
        try:
            return images.open_rgb(src, min_short=REFERENCE_SIDE)
        except ColorganError as exc:
            raise ColorganError(f"reference {exc}") from None
    if isinstance(src, Image.Image):
        return images.to_rgb8(src)
    px = images.read_image(src).pixels
    scale = {np.dtype(np.uint8): 1, np.dtype(np.uint16): 1 / 257}.get(px.dtype, 255)
    px = np.clip(px.astype(np.float32) * scale + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(px).convert("RGB")


def reference_from_rgb(rgb, bins) -> np.ndarray:
    """(Q + 1,) float32 for an sRGB image (3, H, W) in [0, 1] (array or CPU tensor): the
    histogram of its ab over the bins of colorgan.core.abbins, taken with its long side at
    most REFERENCE_SIDE (area average), then the flag 1."""
    rgb = np.asarray(rgb, np.float32)
    h, w = rgb.shape[-2:]
    if max(h, w) > REFERENCE_SIDE:
        rgb = resample.area(rgb, working_shape(h, w, REFERENCE_SIDE))
    ab = color.normalize_ab(fastcolor.rgb_to_lab(rgb)[1:])
    hist = np.asarray(bins.histogram(ab), np.float32).reshape(-1)
    return np.concatenate([hist, np.ones(1, np.float32)])


def reference_vector(src, bins) -> np.ndarray:
    """(Q + 1,) of a reference photo given as a path, PIL image, array or Photo."""
    arr = np.asarray(reference_image(src), dtype=np.float32).transpose(2, 0, 1) / 255.0
    return reference_from_rgb(np.ascontiguousarray(arr), bins)


@dataclass(frozen=True)
class Guide:
    """Hints and reference of one photo (or clip), validated; empty = automatic colour."""

    hints: tuple[Hint, ...] = ()
    reference: np.ndarray | None = None  # (Q + 1,) float32

    def __bool__(self) -> bool:
        return bool(self.hints) or self.reference is not None


def batch(items, shape, bins) -> tuple:
    """(hint maps (B,3,h,w) or None, references (B,Q+1) or None) for [(full shape, Guide
    or None)] at working shape `shape`; None where no photo has any (automatic colour).
    bins: the model's ab bins (colorgan.core.abbins), whose Q sizes an absent reference."""
    if not any(g for _, g in items):
        return None, None
    hints = np.stack([hint_map(g.hints if g else (), full, shape[-2:]) for full, g in items])
    refs = None
    if any(g is not None and g.reference is not None for _, g in items):
        zero = np.zeros(bins.Q + 1, np.float32)
        refs = np.stack([g.reference if g and g.reference is not None else zero for _, g in items])
    return hints, refs


def top_colors(bins, logits_at_point, lightness: float, k: int) -> list[tuple[str, float]]:
    """[("#rrggbb", probability)] of the k likeliest bins of one point's logits (Q,), each
    at the photo's lightness there (chroma reduced into the sRGB gamut if needed)."""
    out = []
    for ab, p in bins.top_colors(logits_at_point, k):
        a, b = color.denormalize_ab(np.asarray(ab, np.float32).reshape(2, 1))
        lin = fastcolor.lab_to_linear_in_gamut(np.float32([lightness]), a, b)[0]
        rgb = np.round(fastcolor.linear_to_srgb(lin) * 255).astype(int).tolist()
        out.append((to_hex(rgb), float(p)))
    return out
