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
from colorgan.core.errors import ColorganError

MAX_INT = 1 << 16  # no width, depth, size or count of a real model comes near
MAX_TEXT = 256
MAX_ITEMS = 64
CHECKED_SECTIONS = ("model",)  # what a network is built from (plus data.size, below)


def parse_config(text: str, where) -> config_mod.Config:
    """The Config in a model file's metadata; ColorganError naming `where` if it is not
    valid YAML, not a valid config, or out of bounds."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ColorganError(f"{where}: its config metadata is not valid YAML ({first})") from None
    if not isinstance(raw, dict):
        raise ColorganError(f"{where}: its config metadata is not a mapping of sections")
    for section in CHECKED_SECTIONS:
        for key, value in (raw.get(section) or {}).items():
            check_value(f"{section}.{key}", value, where)
    check_value("data.size", (raw.get("data") or {}).get("size", 0), where)
    try:
        cfg = config_mod.from_dict(raw)
    except (config_mod.ConfigError, TypeError, ValueError) as exc:
        raise ColorganError(f"{where}: bad config in its metadata: {exc}") from None
    for section in CHECKED_SECTIONS:  # the values as the schema filled them in
        for field in dataclasses.fields(getattr(cfg, section)):
            check_value(
                f"{section}.{field.name}", getattr(getattr(cfg, section), field.name), where
            )
    return cfg


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
                check_value(f"{name}.{key}", item, where, depth + 1)
    else:
        bad = f"has an unsupported type ({type(value).__name__})"
    if bad is not None:
        shown = repr(value) if len(repr(value)) < 40 else repr(value)[:37] + "..."
        raise ColorganError(f"{where}: {name}={shown} in its config metadata {bad}")
