"""One GAN training step under fp32, bf16 autocast and channels_last, on this machine's CPU
(or GPU with --device cuda): the measurement behind train.amp's "off on CPU" default.

    python benchmarks/train_precision.py            # U-Net width 16, 64 px, batch 4, CPU

The variants run interleaved (A B C A B C ...) so a change in machine load hits all of them
alike; the table gives medians and the ratio to fp32, of wall time and of the process's CPU
time. On a shared machine wall time swings with other jobs; CPU time with --threads 1 is
the steadier measure of the work each variant does.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from colorgan.core import config
from colorgan.training import train

VARIANTS = {
    "fp32": {"train.amp": "off", "train.channels_last": False},
    "bf16 autocast": {"train.amp": "bf16", "train.channels_last": False},
    "fp32 channels_last": {"train.amp": "off", "train.channels_last": True},
}


def main() -> None:
    p = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    base = config.with_overrides(
        config.load("pix2pix-unet"),
        {
            "model.width": args.width,
            "model.disc_width": args.width,
            "data.size": args.size,
            "train.batch_size": args.batch,
            "train.device": args.device,
        },
    )
    device = torch.device(args.device)
    parts = {
        name: train.build_parts(config.with_overrides(base, v), device)
        for name, v in VARIANTS.items()
    }
    rgb = torch.rand(
        args.batch, 3, args.size, args.size, generator=torch.Generator().manual_seed(0)
    )
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    wall: dict[str, list[float]] = {name: [] for name in parts}
    cpu: dict[str, list[float]] = {name: [] for name in parts}
    for p_ in parts.values():
        train.train_step(p_, rgb, "gan")  # warm-up
    for _ in range(args.rounds):
        for name, p_ in parts.items():
            sync()
            start, start_cpu = time.perf_counter(), time.process_time()
            train.train_step(p_, rgb, "gan")
            sync()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    ref, ref_cpu = statistics.median(wall["fp32"]), statistics.median(cpu["fp32"])
    print(
        f"U-Net width {args.width}, {args.size} px, batch {args.batch}, {device}, "
        f"{torch.get_num_threads()} threads, median of {args.rounds}\n"
    )
    print("| variant | wall s/step | ratio to fp32 | CPU s/step | ratio to fp32 |")
    print("|---|---|---|---|---|")
    for name in parts:
        m, c = statistics.median(wall[name]), statistics.median(cpu[name])
        print(f"| {name} | {m:.3f} | {m / ref:.2f} | {c:.3f} | {c / ref_cpu:.2f} |")


if __name__ == "__main__":
    main()
