"""The before/after grid of docs/restore.md: synthetic damage on test photos and the real
black-and-white photos, each row: the input | all repair steps | the pixels filled (white).

    python scripts/restore_grid.py DATA --out docs/restore_grid.jpg [--photos 3]

DATA: the offline photos (DATA/test, DATA/legacy_bw). The synthetic damage of the i-th test
photo (by name) is the evaluation's: damage(L, default_rng([0, i])).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from colorgan.core.fastcolor import lightness
from colorgan.io import images
from colorgan.pipeline import restore
from colorgan.training.damage import damage
from colorgan.training.folders import find_images

HEIGHT = 260


def gray(L: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.round(L * 2.55), 0, 255).astype(np.uint8), "L")


def row(L: np.ndarray) -> Image.Image:
    fixed = restore.repair(L, restore.STEPS)
    tiles = [gray(L), gray(fixed.L), Image.fromarray(fixed.mask.astype(np.uint8) * 255, "L")]
    width = round(HEIGHT * L.shape[1] / L.shape[0])
    tiles = [t.resize((width, HEIGHT), Image.LANCZOS) for t in tiles]
    out = Image.new("L", (3 * width + 8, HEIGHT), 255)
    for k, t in enumerate(tiles):
        out.paste(t, (k * (width + 4), 0))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", help="the offline photos (with test/ and legacy_bw/)")
    p.add_argument("--out", required=True)
    p.add_argument("--photos", type=int, default=3, help="test photos (default 3)")
    args = p.parse_args()
    data = Path(args.data)
    rows = []
    for i, path in enumerate(find_images(data / "test")[: args.photos]):
        L = lightness(images.read_image(path).pixels)
        rows.append(row(damage(L, np.random.default_rng([0, i]))[0]))
    for path in find_images(data / "legacy_bw"):
        rows.append(row(lightness(images.read_image(path).pixels)))
    width = max(r.width for r in rows)
    grid = Image.new("L", (width, sum(r.height + 4 for r in rows)), 255)
    top = 0
    for r in rows:
        grid.paste(r, (0, top))
        top += r.height + 4
    images.write_image(args.out, grid.convert("RGB"), overwrite=True)
    print(f"{args.out}: {len(rows)} rows")


if __name__ == "__main__":
    main()
