"""Train the damage detector of `colorgan restore` (colorgan.training.detector):

    python scripts/train_detector.py OUT --train DATA/train --val DATA/val
        [--preset damage-detector] [--set train.steps=100]

Writes OUT/detector.safetensors (the weights with the best validation F1) and
OUT/detector.json (that F1, its precision, recall, threshold and step).
"""

from __future__ import annotations

import json
from pathlib import Path

from colorgan.training import detector, repair


def parser():
    p = repair.script(__doc__, "damage-detector")
    p.add_argument(
        "--crop-mp",
        type=float,
        default=detector.CROP_MP,
        help="marks per crop: as many as on a photo of this many megapixels",
    )
    return p


def main() -> None:
    args = parser().parse_args()
    cfg = repair.settings(args)
    best = detector.train(cfg, args.train, args.val, Path(args.out), args.crop_mp)
    print(json.dumps(best))


if __name__ == "__main__":
    main()
