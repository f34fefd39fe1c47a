"""`colorgan evaluate-restore`: the repair of `colorgan restore` on synthetic damage with
exact ground truth (colorgan.evaluation.restoration): PSNR/SSIM against the clean photos,
the detector's precision/recall/F1, and how much it changes clean photos.
"""

from __future__ import annotations

import json
from pathlib import Path

from colorgan.core.errors import ColorganError
from colorgan.io import atomic


def add_arguments(p) -> None:
    arg = p.add_argument
    arg("--data", required=True, help="folder of clean photos (the test split)")
    arg("--damage", type=int, default=0, metavar="SEED", help="seed of the damage (default 0)")
    arg("--limit", type=int, metavar="N", help="only the first N photos (sorted by name)")
    arg("--out", help="also write report.json and report.md into this folder")


def run_cli(args) -> int:
    from colorgan.evaluation import restoration
    from colorgan.training.folders import find_images

    files = find_images(args.data)[: args.limit]
    if not files:
        raise ColorganError(f"{args.data}: no images")
    report = restoration.evaluate(files, args.damage)
    text = restoration.markdown(report)
    print(text, end="")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        atomic.write_text(out / "report.json", json.dumps(report, indent=2) + "\n")
        atomic.write_text(out / "report.md", text)
    return 0
