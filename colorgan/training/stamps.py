"""Cut-outs of objects (RGBA, transparent background) pasted onto training crops.

Full-frame photos are mostly landscapes and animals; fruit, flowers, instruments and
vehicles are rare in them, and their colours are what people expect most. Photographic
cut-outs of such objects (Tux Paint's stamps) pasted at a random size and place onto a
random crop give the network many more objects in many more contexts. The paste is a
plain alpha composite: the truth for those pixels is the object's own colour.
"""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image

from colorgan.core.errors import ColorganError

MIN_SCALE, MAX_SCALE = 0.3, 0.8  # the cut-out's long side, as a share of the crop's side


def find_stamps(folder: str | Path) -> list[Path]:
    """The .png cut-outs in a folder (sorted, so every run indexes them alike)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ColorganError(f"stamp folder not found: {folder} (data.stamps)")
    files = sorted(p for p in folder.glob("*.png") if not p.name.startswith("."))
    if not files:
        raise ColorganError(f"no .png cut-outs in {folder} (data.stamps)")
    return files


class Stamps:
    """Pastes one random cut-out onto an RGB crop with probability `prob`."""

    def __init__(self, files: list[Path], prob: float) -> None:
        self.files, self.prob = files, prob

    @classmethod
    def from_config(cls, folder: str, prob: float) -> Stamps | None:
        if not folder or prob <= 0:
            return None
        return cls(find_stamps(folder), prob)

    def maybe_paste(self, crop: Image.Image, rng: random.Random) -> Image.Image:
        if rng.random() >= self.prob:
            return crop
        with Image.open(self.files[rng.randrange(len(self.files))]) as im:
            stamp = im.convert("RGBA")
        side = crop.width * rng.uniform(MIN_SCALE, MAX_SCALE)
        f = side / max(stamp.size)
        stamp = stamp.resize((max(1, round(stamp.width * f)), max(1, round(stamp.height * f))))
        if rng.random() < 0.5:
            stamp = stamp.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        # anywhere, as long as at least three quarters of it stay inside the crop
        x = rng.randint(-stamp.width // 4, crop.width - stamp.width * 3 // 4)
        y = rng.randint(-stamp.height // 4, crop.height - stamp.height * 3 // 4)
        out = crop.copy()
        out.paste(stamp, (x, y), stamp)
        return out
