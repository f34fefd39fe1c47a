"""Train the inpainting network compared with OpenCV's fill (colorgan.training.inpainter):

    python scripts/train_inpainter.py OUT --train DATA/train --val DATA/val
        [--preset inpainter] [--set train.steps=100]

Writes OUT/inpainter.safetensors (the weights with the best validation PSNR) and
OUT/inpainter.json (that PSNR, OpenCV's on the same crops, and the step).
"""

from __future__ import annotations

import json
from pathlib import Path

from colorgan.training import inpainter, repair


def parser():
    return repair.script(__doc__, "inpainter")


def main() -> None:
    args = parser().parse_args()
    cfg = repair.settings(args)
    print(json.dumps(inpainter.train(cfg, args.train, args.val, Path(args.out))))


if __name__ == "__main__":
    main()
