"""Atomic file writes: the bytes go to a hidden temporary file beside the target, which is
renamed into place only when complete, so a reader never sees half a file under a final name.
"""

from __future__ import annotations

import os
from pathlib import Path


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
