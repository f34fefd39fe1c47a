"""Train the grain estimator of the repair's "grain" step (colorgan.training.grain):

    python scripts/train_grain.py OUT --train DATA/train --val DATA/val
        [--preset grain-estimator] [--set train.steps=100]

Writes OUT/grain.safetensors (the weights with the lowest validation error) and
OUT/grain.json (that error, the error on crops without grain, and the step).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from colorgan.core import config
from colorgan.training import grain


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", help="run folder")
    p.add_argument("--train", required=True, help="training photos")
    p.add_argument("--val", required=True, help="validation photos (chooses the weights)")
    p.add_argument("--preset", default="grain-estimator")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = config.with_overrides(config.load(args.preset), args.set)
    print(json.dumps(grain.train(cfg, args.train, args.val, Path(args.out))))


if __name__ == "__main__":
    main()
