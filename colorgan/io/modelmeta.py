"""The config a model file carries in its metadata (safetensors header or ONNX properties),
read as untrusted input: YAML parsed safely (no code runs), then checked against the config
schema (colorgan.core.config: known keys and types, ranges) and generic bounds on every
value the model is built from, so a hostile or damaged file is one line naming it, never a
traceback or an attempt to build a network far bigger than the file (a width of 1,000,000
in a 5 MB file asked for 60 GB). Whether the weights fit the config is checked where the
network is built (colorgan.pipeline.modelcheck).
"""

from __future__ import annotations

import dataclasses
import math

import yaml

from colorgan.core import config as config_mod
from colorgan.core.errors import ColorganError, one_line, shown

MAX_INT = 1 << 16  # no width, depth, size or count of a real model comes near
MAX_TEXT = 256
MAX_ITEMS = 64
MAX_CONFIG_TEXT = 1 << 16  # a real config is ~2 KB of YAML
MAX_DEPTH = 16  # of [ and { in it: a real config has 2
CHECKED_SECTIONS = ("model",)  # what a network is built from (plus data.size, below)
# Sizes in pixels a real model has: the network's activations grow with their square (65,536
# asked for 17 GB). 2048 is the largest working size colorgan offers (pipeline option spec).
MAX_WORKING_SIZE = 2048
SIZES = ("data.size", "model.working_size")
MAX_SIZE_MULTIPLE = 256  # 2 ** (the number of stride-2 stages): 32 for the bundled model
MAX_FIXED_SIDE = 4096  # an export fixed to one input shape (a tile) is at most this big


def parse_config(text: str, where) -> config_mod.Config:
    """The Config in a model file's metadata; ColorganError naming `where` if it is not
    valid YAML, not a valid config, or out of bounds."""
    if len(text) > MAX_CONFIG_TEXT:
        raise ColorganError(
            f"{where}: its config metadata is {len(text):,} characters (a config is a few KB)"
        )
    if flow_depth(text) > MAX_DEPTH:  # PyYAML takes quadratic time in it: 3,000 "["s, 78 s
        raise ColorganError(f"{where}: its config metadata is nested too deep")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ColorganError(f"{where}: its config metadata is not valid YAML ({first})") from None
    except RecursionError:  # nested thousands deep: PyYAML's composer recurses per level
        raise ColorganError(f"{where}: its config metadata is nested too deep") from None
    if not isinstance(raw, dict):
        raise ColorganError(f"{where}: its config metadata is not a mapping of sections")
    for section in CHECKED_SECTIONS:
        for key, value in (raw.get(section) or {}).items():
            check_value(f"{section}.{key}", value, where)
    check_value("data.size", (raw.get("data") or {}).get("size", 0), where)
    try:
        cfg = config_mod.from_dict(raw)
    except (config_mod.ConfigError, TypeError, ValueError) as exc:
        raise ColorganError(f"{where}: bad config in its metadata: {one_line(exc)}") from None
    for section in CHECKED_SECTIONS:  # the values as the schema filled them in
        for field in dataclasses.fields(getattr(cfg, section)):
            check_value(
                f"{section}.{field.name}", getattr(getattr(cfg, section), field.name), where
            )
    for name in SIZES:
        section, key = name.split(".")
        size = getattr(getattr(cfg, section), key)
        if size > MAX_WORKING_SIZE:
            raise ColorganError(
                f"{where}: {name}={size} in its config metadata is over {MAX_WORKING_SIZE} "
                "pixels (a real model's largest working size)"
            )
    return cfg


def parse_onnx_shape(meta: dict, where) -> tuple[int, tuple[int, int] | None]:
    """(size_multiple, fixed input shape (h, w) or None) from an ONNX export's properties,
    bounded like the config: a size multiple of 10**9 asked for 10 GB of padding."""
    text = meta.get("size_multiple")
    multiple = _whole(text, 1, MAX_SIZE_MULTIPLE)
    if multiple is None:
        raise ColorganError(
            f"{where}: size_multiple={shown(text)} in its metadata; need a whole number "
            f"from 1 to {MAX_SIZE_MULTIPLE}"
        )
    fixed = meta.get("input_shape", "dynamic")
    if fixed == "dynamic":
        return multiple, None
    sides = [_whole(t, 1, MAX_FIXED_SIDE) for t in str(fixed).split("x")]
    if len(sides) != 2 or any(s is None or s % multiple for s in sides):
        raise ColorganError(
            f"{where}: input_shape={shown(fixed)} in its metadata; need HxW, 'dynamic' or "
            f"whole multiples of {multiple} up to {MAX_FIXED_SIDE}"
        )
    return multiple, (sides[0], sides[1])


def _whole(text, low: int, high: int) -> int | None:
    """A whole number from low to high written in text (decimal digits only), else None."""
    if not isinstance(text, str) or not (text.isascii() and text.isdigit()) or len(text) > 9:
        return None
    value = int(text)
    return value if low <= value <= high else None


def flow_depth(text: str) -> int:
    """How deep [ and { nest in YAML text (quotes not parsed: brackets inside strings count,
    which only makes a hostile text's count higher)."""
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(depth - 1, 0)
    return deepest


def check_value(name: str, value, where, depth: int = 0) -> None:
    """Generic bounds, so fields added to the schema later are covered too: ints in
    [0, MAX_INT], finite floats, short strings, small flat lists and mappings of these."""
    bad = None
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        bad = None if 0 <= value <= MAX_INT else f"is outside 0..{MAX_INT:,}"
    elif isinstance(value, float):
        bad = None if math.isfinite(value) else "is not a finite number"
    elif isinstance(value, str):
        bad = None if len(value) <= MAX_TEXT else f"is longer than {MAX_TEXT} characters"
    elif isinstance(value, (list, tuple, dict)):
        if depth >= 2 or len(value) > MAX_ITEMS:
            bad = f"is nested deeper than 2 or longer than {MAX_ITEMS} items"
        else:
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                check_value(f"{name}.{str(key)[:40]}", item, where, depth + 1)
    else:
        bad = f"has an unsupported type ({type(value).__name__})"
    if bad is not None:
        raise ColorganError(f"{where}: {name}={shown(value)} in its config metadata {bad}")
