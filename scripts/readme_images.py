"""The README's example images, made with a model (the bundled one unless told):
docs/castle_before_after.jpg (the input and its automatic colour) and docs/castle_hints.jpg
(the input, the automatic colour, and the README's three-point command's result).

    python scripts/readme_images.py [--model default] [--out docs]

Each panel is the full result scaled to 512 px wide; panels 8 px apart on white.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from colorgan import Colorizer

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "castle_clinton_1961.jpg"
# the README's `colorgan colorize ... --hint` command: plaza stone, water, fort wall
HINTS = ["600,540,#b8b0a0", "500,770,#3d5a66", "360,410,#8a6a55"]
PANEL, GAP = 512, 8


def strip(images: list[Image.Image]) -> Image.Image:
    """The images side by side, each PANEL px wide, GAP px of white between them."""
    panels = [
        im.convert("RGB").resize((PANEL, round(im.height * PANEL / im.width)), Image.LANCZOS)
        for im in images
    ]
    height = max(p.height for p in panels)
    out = Image.new("RGB", (len(panels) * (PANEL + GAP) - GAP, height), "white")
    for i, p in enumerate(panels):
        out.paste(p, (i * (PANEL + GAP), 0))
    return out


def main() -> None:
    p = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    p.add_argument("--model", default="default")
    p.add_argument("--out", default=str(ROOT / "docs"))
    args = p.parse_args()
    colorizer = Colorizer.load(args.model)
    source = Image.open(EXAMPLE)
    auto = colorizer.colorize(EXAMPLE)
    hinted = colorizer.colorize(EXAMPLE, hints=HINTS)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, images in (
        ("castle_before_after.jpg", [source, auto]),
        ("castle_hints.jpg", [source, auto, hinted]),
    ):
        strip(images).save(out / name, quality=90)
        print(out / name)


if __name__ == "__main__":
    main()
