"""The vividness curve of a distribution-head model on the VALIDATION split, and the choice
of the decoding's defaults (colorgan/pipeline/decode.py); never run this on the test split.

    python scripts/vividness_curve.py default data/offline/val --out docs/results/vividness_grid
    python scripts/vividness_curve.py default data/offline/val --radii 0.0417 --powers 1 \
        --step 0.05 --out docs/results

Each photo: the evaluation's 256 px centre crop (colorgan.evaluation.evaluate), its L as
`colorize` reads it, the network's logits once; then every decoding below at every
vividness, composed by the pipeline's one composition (colorgan.core.fastcolor.compose)
and scored (PSNR, CIEDE2000, colourfulness: colorgan.evaluation.metrics).

The rule, written down before the sweep was run:
  * decodings: smoothing radius in RADII x unsure power in POWERS (0 = off), at the model's
    temperature; vividness 0, 0.1, ..., 1 (decode.GAIN_RANGE: geometric chroma gain);
  * the default is the (decoding, vividness) with the lowest CIEDE2000 among those whose
    colourfulness reaches 60 % of the truth's (ties: higher PSNR), as for the temperature;
  * GAIN_RANGE must make the chosen decoding span <= 45 % (vividness 0) to >= 100 %
    (vividness 1) of the truth's colourfulness, monotonically; if it does not, the range is
    changed and the sweep run again (the range is not chosen for fidelity).
What happened (docs/results/vividness_grid/vividness.json, the first command, GAIN_RANGE
(1, 3) then): radius 1/24 with unsure power 1 won; its span was 48 % to 138 %, so the range
became (0.8, 2.2), and the second command, on that decoding alone, gave the default.
Writes OUT/vividness.json (every row, the choice) and OUT/vividness.png.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from skimage.color import deltaE_ciede2000

from colorgan.core import fastcolor
from colorgan.evaluation.evaluate import load_eval_image
from colorgan.evaluation.metrics import colorfulness, psnr
from colorgan.io import atomic
from colorgan.pipeline import decode
from colorgan.pipeline.colorizer import Colorizer
from colorgan.pipeline.geometry import working_l
from colorgan.training import folders

RADII = (0.0, 1 / 48, 1 / 24, 1 / 12)
POWERS = (0.0, 1.0, 2.0)
KEYS = ("psnr", "ciede2000", "colorfulness")


def photos(folder: str, size: int, colorizer: Colorizer):
    """(truth uint8 (N,H,W,3), L (N,H,W), logits (N,Q,h,w)) of the folder's crops."""
    truths, Ls, logits = [], [], []
    for path in folders.find_images(folder):
        truth = (load_eval_image(path, size).permute(1, 2, 0).numpy() * 255).round()
        truths.append(truth.astype(np.uint8))
        Ls.append(fastcolor.lightness(truths[-1]))
        logits.append(colorizer.model.forward(working_l(Ls[-1], size)[None])[0])
    return np.stack(truths), np.stack(Ls), np.stack(logits)


class Scorer:
    """PSNR and colourfulness (colorgan.evaluation.metrics) on every pixel; CIEDE2000 (the
    same formula) on every second pixel in each direction: a quarter of the pixels, 4x
    faster on a busy machine, and the mean of 16k pixels per photo moves by ~0.01."""

    def __init__(self, truth: np.ndarray, L: np.ndarray):
        self.truth, self.L = truth, L
        self.truth_lab = _lab(truth)
        self.truth_colour = float(colorfulness(_tensor(truth)).mean())

    def __call__(self, ab: np.ndarray) -> dict[str, float]:
        rgb = np.stack([fastcolor.compose(light, a) for light, a in zip(self.L, ab, strict=True)])
        delta = deltaE_ciede2000(self.truth_lab, _lab(rgb), channel_axis=1)
        return {
            "psnr": float(psnr(_tensor(rgb), _tensor(self.truth)).mean()),
            "ciede2000": float(delta.mean(axis=(1, 2)).mean()),
            "colorfulness": float(colorfulness(_tensor(rgb)).mean()),
            "colorfulness_truth": self.truth_colour,
        }


def _lab(rgb: np.ndarray) -> np.ndarray:
    """Lab (N,3,h,w) float64 of every second pixel of uint8 sRGB (N,H,W,3)."""
    quarter = rgb[:, ::2, ::2].transpose(0, 3, 1, 2) / 255.0
    return fastcolor.rgb_to_lab(quarter).astype(np.float64)


def _tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 255


def sweep(colorizer: Colorizer, data, radii, powers, vividness) -> dict:
    truth, L, logits = data
    score = Scorer(truth, L)
    rows = {"gray": score(np.zeros((len(L), 2, 2, 2), np.float32))}
    for radius in radii:
        for power in powers:
            ab = decode.decode(
                logits, L, colorizer.temperature, None, radius=radius, unsure_power=power
            )
            for v in vividness:
                name = f"radius={radius:.4f} power={power:g} vividness={v:g}"
                rows[name] = score(ab * np.float32(decode.gain(v)))
                print(name, {k: round(x, 3) for k, x in rows[name].items()}, flush=True)
    return rows


def choose(rows: dict, min_colour: float = 0.6) -> tuple[str, bool]:
    """The rule's pick, and whether any row reached the colourfulness (if none did: the
    lowest CIEDE2000 overall, and the json says so)."""
    truth = rows["gray"]["colorfulness_truth"]
    every = [k for k in rows if k != "gray"]
    pool = [k for k in every if rows[k]["colorfulness"] >= min_colour * truth]
    key = lambda k: (round(rows[k]["ciede2000"], 3), -rows[k]["psnr"])  # noqa: E731
    return min(pool or every, key=key), bool(pool)


def plot(rows: dict, chosen: str, vividness, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    decoding = chosen.rsplit(" vividness=", 1)[0]
    gray, truth = rows["gray"], rows["gray"]["colorfulness_truth"]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    plain = "radius=0.0000 power=0"
    curves = {"chosen decoding": decoding, "no smoothing, no unsure damping": plain}
    curves = {k: c for k, c in curves.items() if f"{c} vividness=0" in rows}
    for ax, key in zip(axes, KEYS, strict=True):
        for label, prefix in curves.items():
            ys = [rows[f"{prefix} vividness={v:g}"][key] for v in vividness]
            ys = [100 * y / truth for y in ys] if key == "colorfulness" else ys
            ax.plot(vividness, ys, "o-", ms=3, label=label)
        if key == "colorfulness":
            for level, style in ((100, "--"), (60, ":"), (40, "-.")):
                ax.axhline(level, color="gray", ls=style, lw=0.8, label=f"{level} % of truth")
        else:
            ax.axhline(gray[key], color="gray", ls="--", label="gray (ab = 0)")
        v = float(chosen.rsplit("=", 1)[1])
        ax.axvline(v, color="tab:red", lw=0.8, label=f"default {v:g}")
        ax.set_xlabel("vividness")
        ax.set_title(
            {
                "psnr": "PSNR dB (higher better)",
                "ciede2000": "CIEDE2000 (lower better)",
                "colorfulness": "colourfulness, % of truth",
            }[key]
        )
        ax.legend(fontsize=6)
    fig.tight_layout()
    with atomic.writing(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help='"default", a run, or a generator file')
    p.add_argument("val", help="the validation folder (never the test split)")
    p.add_argument("--out", default="docs/results")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--radii", type=float, nargs="+", default=list(RADII))
    p.add_argument("--powers", type=float, nargs="+", default=list(POWERS))
    p.add_argument("--step", type=float, default=0.1, help="of the vividness grid")
    args = p.parse_args()
    vividness = [round(v, 4) for v in np.arange(0, 1 + 1e-9, args.step)]
    colorizer = Colorizer.load(args.model, device="cpu")
    data = photos(args.val, args.size, colorizer)
    rows = sweep(colorizer, data, args.radii, args.powers, vividness)
    chosen, colourful = choose(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "chosen": chosen,
        "rule": "lowest CIEDE2000 with colourfulness >= 0.6 x truth",
        "rule_met": colourful,
        "gain_range": decode.GAIN_RANGE,
        "rows": rows,
    }
    atomic.write_text(out / "vividness.json", json.dumps(summary, indent=1) + "\n")
    plot(rows, chosen, vividness, out / "vividness.png")
    met = "" if colourful else " (nothing reached the colourfulness: lowest CIEDE2000 overall)"
    print(f"chosen: {chosen}{met}; {out / 'vividness.json'}")


if __name__ == "__main__":
    main()
