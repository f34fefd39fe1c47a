"""Colour of the int8 network against float32, side by side on the same photos: one markdown
table (the quality half of docs/speed.md).

    python benchmarks/int8_parity.py --data data/offline/val
    python benchmarks/int8_parity.py --data data/offline/val --model runs/my_model --hints 10

Both networks run in ONNX Runtime through the same Colorizer under `colorgan evaluate`'s
protocol (colorgan.evaluation.evaluate: centre crops of --size, 8-bit outputs): automatic
colour, --hints simulated user hints per photo (hint adherence = CIEDE2000 between the output
and the hinted colours, at the hinted pixels), and each photo's own colours as the reference.
The int8 network is the model's `<name>.int8.onnx` (scripts/quantize_model.py). Goals
(issue 26): |PSNR int8 - fp32| <= 0.05 dB and |CIEDE2000 int8 - fp32| <= 0.1 in every row,
hint adherence unchanged (within 0.1 as well).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from colorgan.evaluation import evaluate as ev
from colorgan.pipeline.loading import load_model
from colorgan.training.folders import find_images

PSNR_GOAL, CIEDE_GOAL = 0.05, 0.1
COMMAND = "python benchmarks/int8_parity.py"


def scores(files, candidates, size: int, **guidance) -> dict[str, dict[str, float]]:
    settings = ev.EvalSettings(
        size=size, grid=0, skip=ev.OPTIONAL, dataset=str(files[0].parent), **guidance
    )
    report = ev.evaluate(files, candidates, settings, Path("."), networks={}, write=False)
    return {m["name"]: m["metrics"] for m in report["models"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="validation photos (never train)")
    parser.add_argument("--model", default="default")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--hints", type=int, default=10)
    args = parser.parse_args()
    files = find_images(Path(args.data))
    candidates = [
        ev.from_model(p, load_model(args.model, "onnx", "cpu", p)) for p in ("fp32", "int8")
    ]
    settings = {
        "automatic": {},
        f"{args.hints} hints": {"hints": args.hints},
        "own colours as reference": {"reference": "self"},
    }
    print(
        f"{len(files)} photos of {args.data}, centre crops {args.size}x{args.size}; model "
        f"{args.model}; int8: {candidates[1].runner.network.metadata.get('calibration')}; "
        f"load average {os.getloadavg()[0]:.1f}\n\n"
        "| colour | PSNR fp32 | PSNR int8 | diff | CIEDE2000 fp32 | CIEDE2000 int8 | diff | "
        "hint CIEDE2000 fp32 | int8 | diff | within goals |\n|---|---|---|---|---|---|---|---|"
        "---|---|---|"
    )
    for name, guidance in settings.items():
        s = scores(files, candidates, args.size, **guidance)
        f, q = s["fp32"], s["int8"]
        cells = [f"{f['psnr']:.3f}", f"{q['psnr']:.3f}", f"{q['psnr'] - f['psnr']:+.3f}"]
        cells += [f"{f['ciede2000']:.3f}", f"{q['ciede2000']:.3f}"]
        cells.append(f"{q['ciede2000'] - f['ciede2000']:+.3f}")
        ok = abs(q["psnr"] - f["psnr"]) <= PSNR_GOAL
        ok &= abs(q["ciede2000"] - f["ciede2000"]) <= CIEDE_GOAL
        if "hint_ciede2000" in f:
            diff = q["hint_ciede2000"] - f["hint_ciede2000"]
            ok &= abs(diff) <= CIEDE_GOAL
            cells += [f"{f['hint_ciede2000']:.3f}", f"{q['hint_ciede2000']:.3f}", f"{diff:+.3f}"]
        else:
            cells += ["-", "-", "-"]
        print(f"| {name} | {' | '.join(cells)} | {'yes' if ok else 'NO'} |", flush=True)
    print(f"\n`{COMMAND} --data {args.data} --hints {args.hints}`")


if __name__ == "__main__":
    main()
