"""Train the damage detector of `colorgan restore` (colorgan.training.detector):

    python scripts/train_detector.py OUT --train DATA/train --val DATA/val
        [--preset damage-detector] [--set train.steps=100]

Writes OUT/detector.safetensors (the weights with the best validation F1) and
OUT/detector.json (that F1, its precision, recall, threshold and step).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from colorgan.core import config
from colorgan.training import detector


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", help="run folder")
    p.add_argument("--train", required=True, help="training photos")
    p.add_argument("--val", required=True, help="validation photos (chooses the weights)")
    p.add_argument("--preset", default="damage-detector")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    p.add_argument(
        "--crop-mp",
        type=float,
        default=detector.CROP_MP,
        help="marks per crop: as many as on a photo of this many megapixels",
    )
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = config.with_overrides(config.load(args.preset), args.set)
    best = detector.train(cfg, args.train, args.val, Path(args.out), args.crop_mp)
    print(json.dumps(best))


if __name__ == "__main__":
    main()
