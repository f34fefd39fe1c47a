"""Before and after the decoding with spatial context (colorgan/pipeline/decode.py), on the
README's example, the model card's grid photos and the people of the validation and test
splits: gray input | before | after | truth (real black-and-white photos have no truth).

    python scripts/decode_before_after.py DATA [--model default] [--out docs]

"before" is the decoding the pipeline had until then: the annealed mean of each pixel's own
distribution at the model's temperature (colorgan.core.abbins.annealed_mean), no gain, no
face step; "after" is what `colorize` gives now (Colorizer.colorize, default vividness).
Writes OUT/castle_decode_before_after.jpg and OUT/decode_before_after.jpg. The photos are
chosen by name (model_card_grid.py's first test photos, the real B&W photos, and PEOPLE:
every photo of the two splits with people in it, found by eye), not by how they came out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from model_card_grid import CELL, crop, images_in  # scripts/ (run from the repository root)
from PIL import Image, ImageDraw
from readme_images import EXAMPLE, strip

from colorgan import Colorizer
from colorgan.core import abbins, fastcolor
from colorgan.io import images
from colorgan.pipeline.geometry import working_l

# the photos of the validation and test splits that show people (looked through by name
# and thumbnail): a portrait, an orchestra, mariachi players, Irish musicians
PEOPLE = (
    "val/matplotlib__grace_hopper.jpg",
    "val/gcompris-explore_world_music__music_orchestra.jpg",
    "val/gcompris-explore_world_music__music_mexico.jpg",
    "test/gcompris-explore_world_music__music_ireland.jpg",
)


def before(colorizer: Colorizer, image) -> Image.Image:
    """The per-pixel annealed mean at the model's temperature, composed as colorize does."""
    photo = images.read_image(image)
    L = fastcolor.lightness(photo.pixels)
    logits = colorizer.model.forward(working_l(L, colorizer.working_size)[None])
    ab = abbins.annealed_mean(logits, colorizer.temperature)[0]
    return Image.fromarray(colorizer.compose(L, ab))


def after(colorizer: Colorizer, image) -> Image.Image:
    return colorizer.colorize(image).convert("RGB")


def castle(colorizer: Colorizer, out: Path) -> None:
    gray = Image.open(EXAMPLE).convert("RGB")
    sheet = strip([gray, before(colorizer, EXAMPLE), after(colorizer, EXAMPLE)])
    sheet.save(out / "castle_decode_before_after.jpg", quality=88)


def grid(colorizer: Colorizer, data: Path, out: Path) -> int:
    files = [(f, True) for f in images_in(data / "test")[:6]]
    files += [(f, False) for f in images_in(data / "legacy_bw")]
    files += [(data / name, True) for name in PEOPLE]
    head = 22
    sheet = Image.new("RGB", (4 * CELL, head + CELL * len(files)), "white")
    draw = ImageDraw.Draw(sheet)
    titles = ("input (L only)", "before: per-pixel decoding", "after: decode.py", "truth")
    for i, title in enumerate(titles):
        draw.text((i * CELL + 6, 5), title, fill="black")
    for r, (path, has_truth) in enumerate(files):
        truth = crop(path)
        gray = np.asarray(truth.convert("L").convert("RGB"))
        cells = [Image.fromarray(gray), before(colorizer, gray), after(colorizer, gray)]
        cells += [truth] if has_truth else []
        for c, im in enumerate(cells):
            sheet.paste(im, (c * CELL, head + r * CELL))
        if not has_truth:
            draw.text((3 * CELL + 6, head + r * CELL + 6), "real B&W photo", fill="black")
    sheet.save(out / "decode_before_after.jpg", quality=85)
    return len(files)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data")
    p.add_argument("--model", default="default")
    p.add_argument("--out", default="docs")
    args = p.parse_args()
    colorizer = Colorizer.load(args.model)
    out = Path(args.out)
    castle(colorizer, out)
    rows = grid(colorizer, Path(args.data), out)
    print(
        f"{out / 'castle_decode_before_after.jpg'}; {out / 'decode_before_after.jpg'}: {rows} rows"
    )


if __name__ == "__main__":
    main()
