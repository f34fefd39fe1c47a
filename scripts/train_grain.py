"""Train the grain estimator of the repair's "grain" step (colorgan.training.grain):

    python scripts/train_grain.py OUT --train DATA/train --val DATA/val
        [--preset grain-estimator] [--set train.steps=100]

Writes OUT/grain.safetensors (the weights with the lowest validation error) and
OUT/grain.json (that error, the error on crops without grain, and the step).
"""

from __future__ import annotations

import json
from pathlib import Path

from colorgan.training import grain, repair


def parser():
    return repair.script(__doc__, "grain-estimator")


def main() -> None:
    args = parser().parse_args()
    cfg = repair.settings(args)
    print(json.dumps(grain.train(cfg, args.train, args.val, Path(args.out))))


if __name__ == "__main__":
    main()
