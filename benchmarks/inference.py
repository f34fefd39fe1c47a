"""Inference cost on CPU: seconds and peak memory per image, single pass vs tiles.

    python benchmarks/inference.py                  # the default model, 512x512 and 4000x3000
    python benchmarks/inference.py --model runs/x   # any model colorgan can load

Every (input, mode) is measured in a fresh Python process, so its peak RSS
(VmHWM, see common.py) is that run's own: interpreter + torch + model + one image. The
process first colours a small warm-up image (one-time costs: thread pools, lookup tables),
then times `Colorizer.colorize(path)` (decode, network, full-resolution composition) and,
separately, saving the result as PNG. If no default model is bundled, a freshly initialised
`pretrained-unet` (MobileNetV2 encoder, weights=None, working size 256) stands in: the same
architecture and cost as the preset, random weights; the output says so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import peak_rss_mb  # benchmarks/common.py (scripts run from this folder)
from PIL import Image

from colorgan.pipeline.options import MODES

SIZES = {"512x512": (512, 512), "4000x3000": (3000, 4000)}


def make_photo(path: Path, height: int, width: int) -> None:
    """A photo-like test image: smooth shapes, edges and grain, built a band at a time."""
    rng = np.random.default_rng(0)
    bands = []
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    for k in range(3):
        y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
        plane = 0.5 + 0.3 * np.sin(2 * np.pi * (3 + k) * x + 5 * y) * np.cos(2 * np.pi * 4 * y)
        plane += 0.15 * ((x * 7 + y * 5) % 1 > 0.5)  # hard edges
        plane += rng.normal(0, 0.02, (height, width)).astype(np.float32)
        bands.append(Image.fromarray((np.clip(plane, 0, 1) * 255).astype(np.uint8)))
    Image.merge("RGB", bands).save(path, quality=92)


def stand_in_model(folder: Path) -> Path:
    from colorgan.core import config
    from colorgan.models import generator_from_config
    from colorgan.training import checkpoint

    cfg = config.with_overrides(
        config.load("pretrained-unet"),
        ["data.size=256", "model.gen_kwargs={encoder: mobilenet_v2, weights: null}"],
    )
    path = folder / "pretrained-unet-random.safetensors"
    checkpoint.save_generator(path, generator_from_config(cfg.model, 256, False), cfg)
    return path


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        line = next(x for x in f if x.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


def child(model: str, image: str, mode: str, tile: int, stride: int, backend: str) -> None:
    """One measurement in this (fresh) process; prints one JSON line."""
    import torch

    from colorgan.pipeline.colorizer import Colorizer

    colorizer = Colorizer.load(model, backend=backend)
    after_load = rss_mb()
    network, in_network = colorizer.model.network, [0.0]

    def timed_network(*xs):  # the network is a swappable callable: time it on its own
        start = time.perf_counter()
        out = network(*xs)
        in_network[0] += time.perf_counter() - start
        return out

    colorizer.model.network = timed_network
    kwargs = {} if mode == "single" else {"mode": mode, "tile": tile, "stride": stride}
    colorizer.colorize(np.zeros((64, 64), np.uint8), **kwargs)  # warm-up
    in_network[0] = 0.0
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    result = colorizer.colorize(image, **kwargs)
    seconds = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    result.save(Path(image).with_name(f"out_{mode}.png"))
    report = {
        "seconds": seconds,
        "network_seconds": in_network[0],
        "cpu_seconds": sum(
            getattr(cpu_after, k) - getattr(cpu_before, k) for k in ("ru_utime", "ru_stime")
        ),
        "save_seconds": time.perf_counter() - start,
        "peak_mb": peak_rss_mb(),
        "after_load_mb": after_load,
        "load": os.getloadavg()[0],
        "threads": torch.get_num_threads(),
        "working_size": colorizer.working_size,
    }
    print(json.dumps(report))


def tile_count(shape: tuple[int, int], tile: int, stride: int) -> int:
    from colorgan.core.tiling import tile_starts

    h, w = (max(s, tile) for s in shape)
    return len(tile_starts(h, tile, stride)) * len(tile_starts(w, tile, stride))


def measure(model: str, image: Path, mode: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", model, str(image), mode, str(args.tile)]
    cmd += [str(args.stride), args.backend]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"measurement failed ({' '.join(cmd)}):\n{run.stderr}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def table(model: str, tmp: Path, args: argparse.Namespace) -> dict:
    """Measure every (size, mode) and print the markdown table; returns the last result."""
    print(
        "| input | mode | network passes | colorize s | of which network s | CPU s "
        "| save PNG s | peak RSS MB | RSS after model load MB | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in args.sizes.split(","):
        image = tmp / f"{name}.jpg"
        make_photo(image, *SIZES[name])
        for mode in args.modes.split(","):
            r = measure(model, image, mode, args)
            tiles = tile_count(SIZES[name], args.tile, args.stride)
            passes = {"single": "1", "tiles": f"{tiles} tiles", "hybrid": f"1 + {tiles} tiles"}
            label = mode if mode == "single" else f"{mode} {args.tile}/{args.stride}"
            cells = [name, label, passes[mode]] + [
                f"{r[k]:.2f}" for k in ("seconds", "network_seconds", "cpu_seconds")
            ]
            cells += [f"{r['save_seconds']:.2f}", f"{r['peak_mb']:.0f}"]
            cells += [f"{r['after_load_mb']:.0f}", f"{r['load']:.1f}"]
            print("| " + " | ".join(cells) + " |", flush=True)
    return r


def main() -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--sizes", default=",".join(SIZES), help=f"of {', '.join(SIZES)}")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--stride", type=int, default=192)
    parser.add_argument("--backend", default="auto", help="auto (the CLI's), torch or onnx")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        model, image, mode, tile, stride, backend = args.child
        return child(model, image, mode, int(tile), int(stride), backend)

    from colorgan.io.modelfile import DEFAULT_ONNX

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model, note = args.model, f"model: {args.model}"
        if model == "default" and not DEFAULT_ONNX.is_file():
            model = str(stand_in_model(tmp))
            note = (
                "model: no default model is bundled yet -> freshly initialised "
                "pretrained-unet (mobilenet_v2, weights=None), working size 256"
            )
        print(
            f"{note}\nCPU: {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores; python {platform.python_version()}\n"
            "Wall seconds depend on what else runs on the machine: the CPU seconds (user + "
            "sys) of the measured call and the 1-minute load average are given beside them.\n",
            flush=True,
        )
        r = table(model, tmp, args)
        print(
            f"\nbackend: {args.backend}; torch threads: {r['threads']}; "
            f"working size {r['working_size']}; "
            "each row measured in a fresh process"
        )


if __name__ == "__main__":
    main()
