"""The SHA-256 of a file, read in blocks (a model or a photo can be hundreds of MB): the one
helper behind the bundled model's check, checkpoint manifests, the experiments' held-out
images and the data builder's downloads."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: str | Path) -> str:
    """The hex SHA-256 of the file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
