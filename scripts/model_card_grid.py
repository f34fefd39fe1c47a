"""The model card's picture: photos of the test split (gray input | model | truth) and the
real black-and-white photos, which have no truth (gray input | model).

    python scripts/model_card_grid.py DATA [--model default] [--photos 6] [--also NAME ...]
        [--before MODEL] [--out FILE.jpg]

DATA is the folder `colorgan data offline-photos` wrote: its test/ and legacy_bw/ are read.
The test photos are --photos of them spread evenly over the name order (the first, then
every len/N-th: not picked by how they came out), then the photos named by --also (a file
name of test/, or SPLIT/NAME: the model card names every validation and test photo with
people in it); each is the evaluation's 256 px centre crop, coloured by the public
Colorizer API. --before adds a column: the same photos
coloured by another model (the one bundled before), for a before / after.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from colorgan import Colorizer
from colorgan.io.images import IMAGE_EXTENSIONS, open_rgb

CELL = 256


def crop(path: Path) -> Image.Image:
    """The evaluation's crop: short side CELL, centred."""
    im = open_rgb(path, min_short=CELL)
    scale = CELL / min(im.size)
    im = im.resize(
        (max(CELL, round(im.width * scale)), max(CELL, round(im.height * scale))),
        Image.Resampling.BICUBIC,
    )
    left, top = (im.width - CELL) // 2, (im.height - CELL) // 2
    return im.crop((left, top, left + CELL, top + CELL))


def images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)


def row(colorizers: list[Colorizer], truth: Image.Image, has_truth: bool) -> list[Image.Image]:
    gray = truth.convert("L").convert("RGB")
    out = [gray] + [c.colorize(gray).convert("RGB") for c in colorizers]
    return out + [truth] if has_truth else out


def main() -> None:
    p = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    p.add_argument("data")
    p.add_argument("--model", default="default")
    p.add_argument("--photos", type=int, default=6)
    p.add_argument("--also", nargs="*", default=[], help="NAME (of test/) or SPLIT/NAME")
    p.add_argument("--before", help="a second model, shown before --model's column")
    p.add_argument("--out", default="docs/model_card_grid.jpg")
    args = p.parse_args()
    colorizers = [Colorizer.load(m) for m in (args.before, args.model) if m]
    titles = ["input (L only)"] + [f"before ({Path(args.before).name})"] * bool(args.before)
    titles += [f"colorgan ({args.model})", "truth"]
    data = Path(args.data)
    tests = images_in(data / "test")
    chosen = [tests[i * len(tests) // args.photos] for i in range(min(args.photos, len(tests)))]
    chosen += [data / (name if "/" in name else f"test/{name}") for name in args.also]
    rows = [row(colorizers, crop(f), True) for f in chosen]
    rows += [row(colorizers, crop(f), False) for f in images_in(data / "legacy_bw")]
    head = 22
    sheet = Image.new("RGB", (len(titles) * CELL, head + CELL * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, title in enumerate(titles):
        draw.text((i * CELL + 6, 5), title, fill="black")
    for r, cells in enumerate(rows):
        for c, im in enumerate(cells):
            sheet.paste(im, (c * CELL, head + r * CELL))
        if len(cells) < len(titles):
            draw.text(
                (len(cells) * CELL + 6, head + r * CELL + 6), "real B&W photo:\nno truth", "black"
            )
    sheet.save(args.out, quality=88)
    real = np.sum([len(r) < len(titles) for r in rows])
    print(f"{args.out}: {len(rows)} rows ({real} real B&W)")


if __name__ == "__main__":
    main()
