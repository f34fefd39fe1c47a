"""Training throughput of every preset on this machine, side by side in one run.

For each preset: a short run of `colorgan.training.train.run` at 128 px (batch 16 by default) on
a folder of photos, and from its log the images/s and the share of wall time spent
waiting for the data loader, measured over the steps after warm-up (first window dropped).
Both stages are measured: the L1 pretraining step (generator only) and the GAN step.

    python benchmarks/train_throughput.py --data /path/to/photos [--steps 6] [--presets a b]

Without --data a folder of synthetic 512x384 photos is made in a temp dir.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import torch

from colorgan.core import config
from colorgan.training import train

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _synthetic(folder: Path, n: int = 40) -> Path:
    from tests.conftest import make_photo

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        make_photo(i, (512, 384)).save(folder / f"p{i}.jpg", quality=92)
    return folder


def measure(preset: str, data: str, out: Path, args) -> dict:
    per_stage = args.steps  # steps measured per stage, after one warm-up window
    steps = 2 * (per_stage + args.window)
    cfg = config.with_overrides(
        config.load(preset),
        [
            f"data.root={data}",
            f"data.size={args.size}",
            f"train.batch_size={args.batch}",
            f"train.steps={steps}",
            "train.pretrain_fraction=0.5",
            f"data.workers={args.workers}",
            f"train.log_every={args.window}",
            "train.sample_every=100000",
            "train.ckpt_every=100000",
            "train.val_batches=0",
        ],
    )
    train.run(cfg, out / preset)
    rows = [json.loads(x) for x in (out / preset / "log.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r["kind"] == "train"]
    half = steps // 2
    result = {}
    for stage, part in (
        ("pretrain", rows[: half // args.window]),
        ("gan", rows[half // args.window :]),
    ):
        part = part[1:]  # the first window of each stage includes warm-up
        result[stage] = (
            statistics.mean(r["img_per_s"] for r in part),
            statistics.mean(r["data_share"] for r in part),
        )
    return result


def main() -> None:
    p = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    p.add_argument("--data", help="photo folder (default: synthetic photos)")
    p.add_argument("--presets", nargs="*", default=None)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=4, help="measured steps per stage")
    p.add_argument("--window", type=int, default=2, help="steps per timing window")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    presets = args.presets or [n for n in config.list_presets() if n != "default-model"]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{args.size} px, batch {args.batch}, {args.workers} loader workers\n"
    )
    print("| preset | L1 step img/s | GAN step img/s | data wait (GAN) |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or str(_synthetic(Path(tmp) / "photos"))
        for preset in presets:
            r = measure(preset, data, Path(tmp) / "runs", args)
            print(
                f"| {preset} | {r['pretrain'][0]:.1f} | {r['gan'][0]:.1f} | "
                f"{100 * r['gan'][1]:.1f}% |",
                flush=True,
            )


if __name__ == "__main__":
    main()
