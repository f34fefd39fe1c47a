"""Choose a distribution-head model's default temperature ("vividness") on the VALIDATION
split, and plot PSNR, CIEDE2000 and colourfulness against it.

    python scripts/choose_temperature.py RUN VAL_DIR [--out docs/temperature] [--size 256]

For each T it runs `colorgan evaluate --vividness T` on VAL_DIR (plus `gray` and `truth`
once), then picks the rule's T: among the temperatures whose colourfulness reaches
`--min-colour` (default 0.6) of the truth's, the one with the lowest CIEDE2000 (ties: higher
PSNR). T = 1 is the distribution's mean (what pixel metrics reward), lower T more vivid.
Writes OUT/temperature.json (every row and the choice) and OUT/temperature.png. Pass the
chosen T to scripts/pack_default_model.py --temperature. Never run this on the test split.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

TEMPERATURES = (0.2, 0.3, 0.38, 0.5, 0.65, 0.8, 1.0)
KEYS = ("psnr", "ciede2000", "colorfulness")
SKIP = [a for m in ("lpips", "fid", "fd_mobilenetv2", "throughput") for a in ("--skip", m)]


def evaluate(models: list[str], data: str, size: int, extra: list[str]) -> dict[str, dict]:
    """`colorgan evaluate` on the models; {model name: its metrics} from report.json."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "colorgan", "evaluate", "--data", data, "--size", str(size),
               "--out", f"{tmp}/r", "--grid", "0", *SKIP, *extra]  # fmt: skip
        for m in models:
            cmd += ["--model", m]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        report = json.loads(Path(f"{tmp}/r/report.json").read_text())
    return {m["name"]: m["metrics"] for m in report["models"]}


def choose(rows: dict[float, dict], truth_colour: float, min_colour: float) -> float:
    ok = [t for t, r in rows.items() if r["colorfulness"] >= min_colour * truth_colour]
    pool = ok or list(rows)  # none colourful enough: the best CIEDE2000 overall, said below
    return min(pool, key=lambda t: (round(rows[t]["ciede2000"], 3), -rows[t]["psnr"]))


def plot(rows: dict[float, dict], gray: dict, truth_colour: float, chosen: float, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ts = sorted(rows)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for ax, key, ref in zip(
        axes, KEYS, (gray["psnr"], gray["ciede2000"], truth_colour), strict=True
    ):
        ax.plot(ts, [rows[t][key] for t in ts], "o-", label="model")
        ax.axhline(ref, color="gray", ls="--", label="truth" if key == "colorfulness" else "gray")
        if key == "colorfulness":
            ax.axhline(0.6 * truth_colour, color="gray", ls=":", label="60 % of truth")
        ax.axvline(chosen, color="tab:red", lw=0.8, label=f"chosen T={chosen}")
        ax.set_xlabel("temperature T (vividness)")
        ax.set_title({"psnr": "PSNR dB (higher better)", "ciede2000": "CIEDE2000 (lower better)",
                      "colorfulness": "colourfulness"}[key])  # fmt: skip
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="the trained run (dir or generator file)")
    p.add_argument("val", help="the validation folder (never the test split)")
    p.add_argument("--out", default="docs/temperature")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--min-colour", type=float, default=0.6)
    p.add_argument("--temperatures", type=float, nargs="+", default=list(TEMPERATURES))
    args = p.parse_args()
    base = evaluate(["gray", "truth"], args.val, args.size, [])
    rows = {}
    for t in args.temperatures:
        rows[t] = next(
            iter(evaluate([args.run], args.val, args.size, ["--vividness", str(t)]).values())
        )
        print(f"T={t}: " + ", ".join(f"{k} {rows[t][k]:.3f}" for k in KEYS), flush=True)
    truth_colour = base["truth"]["colorfulness"]
    chosen = choose(rows, truth_colour, args.min_colour)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"chosen": chosen, "rule": f"lowest CIEDE2000 with colourfulness >= "
               f"{args.min_colour} x truth", "gray": base["gray"], "truth": base["truth"],
               "rows": {str(t): r for t, r in rows.items()}}  # fmt: skip
    (out / "temperature.json").write_text(json.dumps(summary, indent=1) + "\n")
    plot(rows, base["gray"], truth_colour, chosen, out / "temperature.png")
    print(f"chosen temperature: {chosen} ({summary['rule']}); {out / 'temperature.json'}")


if __name__ == "__main__":
    main()
