"""Choose a distribution-head model's decoding temperature (model.temperature), and which of
a run's checkpoints to ship, on the VALIDATION split; plot PSNR, CIEDE2000 and colourfulness
against T.

    python scripts/choose_temperature.py RUN [RUN ...] VAL_DIR [--out docs/temperature]
        [--size 256]

For each T it runs `colorgan evaluate --temperature T` (at the default vividness) on
VAL_DIR with every RUN (a run, its checkpoint folders, or generator files; plus `gray`
and `truth` once), then picks the rule's (RUN, T): among those whose colourfulness reaches
`--min-colour` (default 0.6) of the truth's, the one with the lowest CIEDE2000 (ties:
higher PSNR). T = 1 is the distribution's mean (what pixel metrics reward), lower T
sharper. The user's knob on top of T, vividness, is chosen afterwards on the packed model
by scripts/vividness_curve.py. Writes OUT/temperature.json (every row, the chosen run and
T) and OUT/temperature.png. Pass them to scripts/pack_default_model.py RUN --temperature T.
Never run this on the test split.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

TEMPERATURES = (0.1, 0.2, 0.3, 0.38, 0.5, 0.65, 0.8, 1.0)
KEYS = ("psnr", "ciede2000", "colorfulness")
SKIP = [a for m in ("lpips", "fid", "fd_mobilenetv2", "throughput") for a in ("--skip", m)]


def evaluate(models: list[str], data: str, size: int, extra: list[str]) -> dict[str, dict]:
    """`colorgan evaluate` on the models; {model name: its metrics} from report.json."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "colorgan",
            "evaluate",
            "--data",
            data,
            "--size",
            str(size),
            "--out",
            f"{tmp}/r",
            "--grid",
            "0",
            *SKIP,
            *extra,
        ]
        for m in models:
            cmd += ["--model", m]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        report = json.loads(Path(f"{tmp}/r/report.json").read_text())
    return {m["name"]: m["metrics"] for m in report["models"]}


def choose(rows: dict[str, dict[float, dict]], truth_colour: float, min_colour: float):
    """The rule's (run, T) over rows[run][T] = metrics."""
    every = [(run, t) for run, by_t in rows.items() for t in by_t]
    ok = [(run, t) for run, t in every if rows[run][t]["colorfulness"] >= min_colour * truth_colour]
    pool = ok or every  # none colourful enough: the best CIEDE2000 overall (said in the json)
    return min(
        pool, key=lambda k: (round(rows[k[0]][k[1]]["ciede2000"], 3), -rows[k[0]][k[1]]["psnr"])
    ), bool(ok)


def plot(rows: dict[str, dict[float, dict]], gray: dict, truth_colour: float, chosen, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, key, ref in zip(
        axes, KEYS, (gray["psnr"], gray["ciede2000"], truth_colour), strict=True
    ):
        for run, by_t in rows.items():
            ts = sorted(by_t)
            label = _short(run) if len(rows) > 1 else "model"
            ax.plot(ts, [by_t[t][key] for t in ts], "o-", ms=3, label=label)
        ax.axhline(ref, color="gray", ls="--", label="truth" if key == "colorfulness" else "gray")
        if key == "colorfulness":
            ax.axhline(0.6 * truth_colour, color="gray", ls=":", label="60 % of truth")
        ax.axvline(chosen[1], color="tab:red", lw=0.8, label=f"chosen T={chosen[1]}")
        ax.set_xlabel("temperature T (vividness)")
        ax.set_title(
            {
                "psnr": "PSNR dB (higher better)",
                "ciede2000": "CIEDE2000 (lower better)",
                "colorfulness": "colourfulness",
            }[key]
        )
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _short(run: str) -> str:
    """A run's label in the plot: RUN/step_N for a checkpoint, else its last two parts."""
    parts = Path(run).parts
    return "/".join(parts[-3::2] if parts[-2:-1] == ("checkpoints",) else parts[-2:])


def main() -> None:
    p = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="trained runs, checkpoint dirs or generator files")
    p.add_argument("val", help="the validation folder (never the test split)")
    p.add_argument("--out", default="docs/temperature")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--min-colour", type=float, default=0.6)
    p.add_argument("--temperatures", type=float, nargs="+", default=list(TEMPERATURES))
    args = p.parse_args()
    base = evaluate(["gray", "truth"], args.val, args.size, [])
    rows: dict[str, dict[float, dict]] = {run: {} for run in args.runs}
    for t in args.temperatures:
        found = evaluate(args.runs, args.val, args.size, ["--temperature", str(t)])
        for run in args.runs:  # evaluate names a model by its --model value
            rows[run][t] = metrics = found[run]
            print(f"{run} T={t}: " + ", ".join(f"{k} {metrics[k]:.3f}" for k in KEYS), flush=True)
    truth_colour = base["truth"]["colorfulness"]
    (run, t), colourful = choose(rows, truth_colour, args.min_colour)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rule = f"lowest CIEDE2000 with colourfulness >= {args.min_colour} x truth"
    table = {r: {str(k): v for k, v in by_t.items()} for r, by_t in rows.items()}
    summary = {
        "chosen": t,
        "chosen_run": run,
        "rule": rule,
        "rule_met": colourful,
        "gray": base["gray"],
        "truth": base["truth"],
        "rows": table,
    }
    (out / "temperature.json").write_text(json.dumps(summary, indent=1) + "\n")
    plot(rows, base["gray"], truth_colour, (run, t), out / "temperature.png")
    met = "" if colourful else " (nothing reached the colourfulness: lowest CIEDE2000 overall)"
    print(f"chosen: {run} at T = {t} ({rule}{met}); {out / 'temperature.json'}")


if __name__ == "__main__":
    main()
