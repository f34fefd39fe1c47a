"""What a chroma gain on top of the temperature would buy: PSNR, CIEDE2000 and colourfulness
on the VALIDATION split for every (temperature, saturation) pair.

    python scripts/saturation_sweep.py default VAL_DIR [--out docs/results/saturation.json]

The protocol of `colorgan evaluate` (same 256 px centre crop, quantised sRGB, the same metric
functions); the network runs once per temperature and its ab is scaled by each saturation
(what `--saturation` does at full size). It answers whether any pair reaches 60 % of the
truth's colourfulness while still beating gray; the bundled model keeps saturation 1 unless
it does (MODEL_CARD.md). Never run this on the test split.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from colorgan.core import color
from colorgan.evaluation import metrics
from colorgan.evaluation.evaluate import load_eval_image
from colorgan.io.images import IMAGE_EXTENSIONS
from colorgan.pipeline.runner import ModelRunner


def score(rgb: torch.Tensor, truth: torch.Tensor) -> dict[str, float]:
    rgb = metrics.quantize(rgb)
    return {
        "psnr": metrics.psnr(rgb, truth).mean().item(),
        "ciede2000": metrics.ciede2000(rgb, truth).mean().item(),
        "colorfulness": metrics.colorfulness(rgb).mean().item(),
    }


def main() -> None:
    p = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    p.add_argument("model", help="a model Colorizer.load takes (default: the bundled one)")
    p.add_argument("val", help="the validation folder (never the test split)")
    p.add_argument("--out", default="docs/results/saturation.json")
    p.add_argument("--temperatures", type=float, nargs="+", default=[0.2, 0.3, 0.38, 0.5])
    p.add_argument("--saturations", type=float, nargs="+", default=[1.0, 1.1, 1.2, 1.3, 1.4])
    args = p.parse_args()
    files = sorted(f for f in Path(args.val).rglob("*") if f.suffix.lower() in IMAGE_EXTENSIONS)
    truth = torch.stack([load_eval_image(f, 256) for f in files])
    l_norm, _ = color.rgb_to_l_ab(truth)
    runner = ModelRunner.load(args.model, backend="torch")
    gray = score(
        color.output_to_rgb(l_norm, torch.zeros_like(l_norm).repeat(1, 2, 1, 1), "lab"), truth
    )
    truth_colour = metrics.colorfulness(metrics.quantize(truth)).mean().item()
    print(f"{len(files)} photos; gray {gray}; truth colourfulness {truth_colour:.2f}")
    rows = []
    for t in args.temperatures:
        ab = torch.cat(
            [runner.predict(l_norm[i : i + 8], vividness=t) for i in range(0, len(files), 8)]
        )
        for s in args.saturations:
            row = score(color.output_to_rgb(l_norm, (ab * s).clamp(-1, 1), "lab"), truth)
            row.update(temperature=t, saturation=s, colour_share=row["colorfulness"] / truth_colour)
            rows.append(row)
            print(json.dumps(row), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = {"photos": len(files), "gray": gray, "truth_colorfulness": truth_colour, "rows": rows}
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print(out)


if __name__ == "__main__":
    main()
