"""Train the inpainting network compared with OpenCV's fill (colorgan.training.inpainter):

    python scripts/train_inpainter.py OUT --train DATA/train --val DATA/val
        [--preset inpainter] [--set train.steps=100]

Writes OUT/inpainter.safetensors (the weights with the best validation PSNR) and
OUT/inpainter.json (that PSNR, OpenCV's on the same crops, and the step).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from colorgan.core import config
from colorgan.training import inpainter


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", help="run folder")
    p.add_argument("--train", required=True, help="training photos")
    p.add_argument("--val", required=True, help="validation photos (chooses the weights)")
    p.add_argument("--preset", default="inpainter")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = config.with_overrides(config.load(args.preset), args.set)
    print(json.dumps(inpainter.train(cfg, args.train, args.val, Path(args.out))))


if __name__ == "__main__":
    main()
