"""The colour options, written once: name, type, bounds or choices, default and help text.

Every interface reads them from here: the command line's arguments
(colorgan.interfaces.args.add_options), the REST API's query parameters
(colorgan.interfaces.web.server, through `query`) and the Python API's checks
(Colorizer.using calls `check`). A bound changed here changes all three.
"""

from __future__ import annotations

from dataclasses import dataclass

from colorgan.core.errors import ColorganError

MODES = ("single", "tiles", "hybrid")


@dataclass(frozen=True)
class Option:
    """One option. low/high: inclusive bounds of a number; choices: the values of a text."""

    name: str
    kind: type  # int, float or str
    help: str
    default: object = None  # None: chosen by the model (its working size, temperature...)
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None

    def check(self, value):
        """value, converted to the option's type; a ColorganError naming the option and its
        range for anything else (NaN, inf, a bool, a value out of range). None: the default."""
        if value is None:
            return self.default
        if self.choices is not None:
            if value not in self.choices:
                raise ColorganError(f"{self.name}={value!r}; valid: {', '.join(self.choices)}")
            return value
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not numeric or (self.kind is int and not float(value).is_integer()):
            raise ColorganError(f"{self.name}={value!r}: must be {self.describe()}")
        if not self.low <= value <= self.high:  # NaN fails too
            raise ColorganError(f"{self.name}={value}: must be {self.describe()}")
        return self.kind(value)

    def describe(self) -> str:
        """The allowed values in words: 'a number from 0 to 4'."""
        if self.choices is not None:
            return "one of " + ", ".join(self.choices)
        what = "a whole number" if self.kind is int else "a number"
        return f"{what} from {self.low:g} to {self.high:g}"


SATURATION = Option(
    "saturation",
    float,
    "scale the colour: 0 = gray, 1 = as predicted (default), >1 more colourful",
    default=1.0,
    low=0.0,
    high=4.0,
    metavar="X",
)
VIVIDNESS = Option(
    "vividness",
    float,
    "distribution-head models: how vivid the colour is, 0 = muted .. 1 = most vivid "
    "(default 0.35, chosen on validation: docs/vividness.md); saturation scales the result "
    "after it; other models ignore it",
    # a chroma gain of 0.75 to 1.9 (colorgan.pipeline.decode): on validation 43 % to 120 %
    # of the truth's colourfulness (scripts/vividness_curve.py); the default: below
    low=0.0,
    high=1.0,
    metavar="V",
)
# vividness when none is given (the option's default stays None, so that "given" can be
# told from "not given": models without a distribution head say they ignore a given one);
# on validation 61 % of the truth's colourfulness, the lowest CIEDE2000 at >= 60 %
DEFAULT_VIVIDNESS = 0.35
SIZE = Option(
    "size",
    int,
    "working size: the network sees the photo with its long side at N pixels (default: the "
    "model's working size); colour is applied at full resolution",
    # above 2048 the network's memory grows past what a photo gains (colour is smooth)
    low=16,
    high=2048,
    metavar="N",
)
MODE = Option(
    "mode",
    str,
    "single pass; tiles only; or hybrid = colour from the single pass, detail from tiles "
    "(default: single, or hybrid when a tile size is given)",
    choices=MODES,
)
TILE = Option(
    "tile",
    int,
    "also colour overlapping N-pixel tiles at the full resolution (finer colour detail for "
    "big pictures; N must be a multiple of the model's size multiple)",
    low=16,
    high=4096,
    metavar="N",
)
STRIDE = Option(
    "stride", int, "tile step (default: 3/4 of the tile)", low=1, high=4096, metavar="N"
)
SUGGESTIONS = Option("k", int, "how many colours", default=5, low=1, high=64)

COLOUR = (SATURATION, VIVIDNESS)
TILES = (TILE, STRIDE, MODE)
ALL = {o.name: o for o in (SIZE, *TILES, *COLOUR)}
