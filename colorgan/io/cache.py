"""The one cache folder of the package: $XDG_CACHE_HOME/colorgan, by default ~/.cache/colorgan.

Everything colorgan keeps to save time later (ONNX exports, chroma scans of training folders,
downloaded packages) goes under it, each in its own subfolder, so one variable moves (or a
test isolates) all of it, and deleting the folder only ever costs time.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """$XDG_CACHE_HOME/colorgan/<parts...> (~/.cache when the variable is unset or empty),
    read at each call so a changed environment takes effect. Not created here."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser().joinpath("colorgan", *parts)
