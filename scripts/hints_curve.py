"""PSNR against the number of user hints (SIGGRAPH 2017's protocol) and the photo's own
colours as the reference, for docs/results.md.

    python scripts/hints_curve.py MODEL DATA_DIR [--out docs/results/hints]

Runs `colorgan evaluate --hints N` for N in 0, 1, 2, 5, 10, 20, 50 (random 6x6 patches of the
truth's mean colour, positions ~ N(centre, side/4), seed 0) and `--reference self`, writes
OUT/hints.json and OUT/hints.png with Zhang et al.'s published curve beside ours (1000
ImageNet photos at 256 px; theirs is a different, much larger training set and test set).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from choose_temperature import evaluate  # noqa: E402  (the same `colorgan evaluate` runner)

COUNTS = (0, 1, 2, 5, 10, 20, 50)
SIGGRAPH_2017 = {0: 24.43, 1: 25.37, 2: 26.20, 5: 27.39, 10: 28.42, 20: 29.34, 50: 30.42}
KEYS = ("psnr", "ciede2000", "hint_ciede2000", "colorfulness")


def plot(rows: dict[int, dict], reference: dict, gray: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [max(n, 0.5) for n in COUNTS]  # log axis: 0 points drawn at 0.5
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.plot(xs, [rows[n]["psnr"] for n in COUNTS], "o-", label="colorgan (this test split)")
    ax.plot(xs, [SIGGRAPH_2017[n] for n in COUNTS], "s--", label="Zhang et al. 2017 (ImageNet)")
    ax.axhline(reference["psnr"], color="tab:green", ls=":", label="own colours as reference")
    ax.axhline(gray, color="gray", ls=":", label="gray")
    ax.set_xscale("log")
    ax.set_xticks(xs, [str(n) for n in COUNTS])
    ax.set_xlabel("random hints per photo (6x6 patches of the truth's mean colour)")
    ax.set_ylabel("PSNR dB")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("data")
    p.add_argument("--out", default="docs/results/hints")
    p.add_argument("--size", type=int, default=256)
    args = p.parse_args()
    gray = evaluate(["gray"], args.data, args.size, [])["gray"]
    rows = {}
    for n in COUNTS:
        found = evaluate([args.model], args.data, args.size, ["--hints", str(n)] if n else [])
        rows[n] = next(iter(found.values()))
        print(f"{n} hints: " + ", ".join(f"{k} {rows[n].get(k, float('nan')):.3f}" for k in KEYS))
    found = evaluate([args.model], args.data, args.size, ["--reference", "self"])
    reference = next(iter(found.values()))
    print("reference self: " + ", ".join(f"{k} {reference[k]:.3f}" for k in KEYS[:2]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "gray": gray,
        "hints": {str(n): r for n, r in rows.items()},
        "reference_self": reference,
        "siggraph_2017_psnr": SIGGRAPH_2017,
    }
    (out / "hints.json").write_text(json.dumps(summary, indent=1) + "\n")
    plot(rows, reference, gray["psnr"], out / "hints.png")
    print(f"{out / 'hints.json'}, {out / 'hints.png'}")


if __name__ == "__main__":
    main()
