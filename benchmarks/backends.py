"""Generator forward pass on CPU, backend against backend: images/s and peak memory.

    python benchmarks/backends.py                      # 256 and 512 px, every backend
    python benchmarks/backends.py --sizes 256 --backends eager,onnxruntime

Measures the network call alone (l_norm (1,1,N,N) -> ab), the part a backend changes; the
Colorizer's pre/post-processing is the same code for all of them. Backends:
  eager        the torch module (what `colorgan colorize` runs today)
  eager-cl     the same in channels_last memory format
  onnxruntime  colorgan.pipeline.export.OnnxGenerator on the exported .onnx (CPU execution provider)
  jit          torch.jit.trace + torch.jit.optimize_for_inference (frozen, conv-BN folded)
  compile      torch.compile (inductor, C++ codegen on CPU); setup includes the compile
Each (backend, size) runs in a fresh Python process, so its peak RSS (VmHWM) is its own:
interpreter + torch + model + one pass. Every process takes the same input; the table gives
each backend's max abs difference from eager on it. The model is the bundled default if
colorgan/assets/default_model.safetensors exists, else a freshly initialised
`pretrained-unet` (MobileNetV2 encoder, weights=None, width 32): the output says which.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import peak_rss_mb  # benchmarks/common.py (scripts run from this folder)

BACKENDS = ("eager", "eager-cl", "onnxruntime", "jit", "compile")
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "colorgan/assets/default_model.safetensors"
MIN_RUNS, MIN_SECONDS = 5, 10.0  # timed passes: at least 5 and at least 10 s


def prepare_model(folder: Path) -> tuple[Path, str]:
    """(generator file, what it is)."""
    if DEFAULT_MODEL.is_file():
        return DEFAULT_MODEL, f"bundled default model ({DEFAULT_MODEL.name})"
    from colorgan.core import config
    from colorgan.models import generator_from_config
    from colorgan.training import checkpoint

    cfg = config.with_overrides(
        config.load("pretrained-unet"),
        {"model.width": 32, "model.gen_kwargs": {"encoder": "mobilenet_v2", "weights": None}},
    )
    path = folder / "pretrained-unet-w32-random.safetensors"
    checkpoint.save_generator(path, generator_from_config(cfg.model, 256, False), cfg)
    return path, "freshly initialised pretrained-unet (mobilenet_v2, weights=None, width 32)"


def build_network(backend: str, model: Path, onnx_file: Path, size: int, guided: bool):
    """The callable to time; built inside the child so setup cost and memory are its own.
    guided: the network also takes (hint, ref), traced with their all-zero values."""
    import torch

    from colorgan.core import abbins
    from colorgan.models.guidance_layers import empty_guidance
    from colorgan.pipeline import export
    from colorgan.pipeline.loading import load_generator

    if backend == "onnxruntime":
        return export.OnnxGenerator(onnx_file)
    generator, _ = load_generator(model)
    x = torch.zeros(1, 1, size, size)
    example = (x, *empty_guidance(x, abbins.Q)) if guided else (x,)
    if backend == "eager-cl":
        generator = generator.to(memory_format=torch.channels_last)
        return lambda x, *more: generator(x.contiguous(memory_format=torch.channels_last), *more)
    if backend == "jit":
        traced = torch.jit.trace(generator, example, check_trace=False)
        return torch.jit.optimize_for_inference(torch.jit.freeze(traced))
    if backend == "compile":
        compiled = torch.compile(generator)
        with torch.inference_mode():
            compiled(*example)  # compiles here, counted as setup
        return compiled
    return generator


def child(args) -> None:
    import torch

    from colorgan.core import abbins
    from colorgan.models.guidance_layers import empty_guidance
    from colorgan.pipeline import export

    # a guided model (hints, reference) takes their all-zero inputs, as the Colorizer gives it
    # for automatic colour; the ONNX file's inputs say whether it is one (not timed as setup)
    guided = len(export.OnnxGenerator(Path(args.onnx)).input_names) > 1
    t0 = time.perf_counter()
    network = build_network(args.child, Path(args.model), Path(args.onnx), args.size, guided)
    x = torch.rand(1, 1, args.size, args.size, generator=torch.Generator().manual_seed(0))
    x = x * 2 - 1
    xs = (x, *empty_guidance(x, abbins.Q)) if guided else (x,)
    with torch.inference_mode():
        out = network(*xs)  # warm-up: thread pools, allocator, lazy initialisation
        setup = time.perf_counter() - t0
        times: list[float] = []
        while len(times) < MIN_RUNS or sum(times) < MIN_SECONDS:
            start = time.perf_counter()
            network(*xs)
            times.append(time.perf_counter() - start)
    np.save(args.out, out.float().numpy())
    print(
        json.dumps(
            {
                "median_s": statistics.median(times),
                "min_s": min(times),
                "peak_mb": peak_rss_mb(),
                "setup_s": setup,
            }
        )
    )


def run_child(backend: str, size: int, model: Path, onnx_file: Path, folder: Path) -> dict:
    out = folder / f"{backend}-{size}.npy"  # the output is the same in every round
    cmd = [sys.executable, __file__, "--child", backend, "--size", str(size)]
    cmd += ["--model", str(model), "--onnx", str(onnx_file), "--out", str(out)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        return {"error": "timed out after 900 s"}
    if done.returncode != 0:
        lines = (done.stderr.strip() or "no output").splitlines()
        return {"error": lines[-1][:120]}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["output"] = out
    return result


def summarise(runs: list[dict]) -> dict:
    """One row from a (backend, size)'s processes: the median over rounds of each process's
    median time, the fastest single pass, the highest peak memory."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[0]
    return {
        "median_s": statistics.median(r["median_s"] for r in ok),
        "min_s": min(r["min_s"] for r in ok),
        "peak_mb": max(r["peak_mb"] for r in ok),
        "setup_s": statistics.median(r["setup_s"] for r in ok),
        "output": ok[0]["output"],
    }


def table(results: dict, sizes: list[int], backends: list[str]) -> str:
    rows = [
        "| backend | size | images/s | ms/image median (best) | peak RSS MB | setup s "
        "| max abs diff vs eager |",
        "|---|---|---|---|---|---|---|",
    ]
    for size in sizes:
        ref = results.get(("eager", size), {}).get("output")
        for backend in backends:
            r = results[(backend, size)]
            if "error" in r:
                rows.append(f"| {backend} | {size} | failed: {r['error']} | | | | |")
                continue
            diff = "-"
            if ref is not None and backend != "eager":
                diff = f"{np.abs(np.load(r['output']) - np.load(ref)).max():.1e}"
            ms, best = 1000 * r["median_s"], 1000 * r["min_s"]
            rows.append(
                f"| {backend} | {size} | {1 / r['median_s']:.2f} | {ms:.0f} ({best:.0f}) "
                f"| {r['peak_mb']:.0f} | {r['setup_s']:.1f} | {diff} |"
            )
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="256,512", help="comma-separated square sizes (px)")
    p.add_argument("--backends", default=",".join(BACKENDS), help=f"any of {BACKENDS}")
    p.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="processes per backend and size, "
        "run in turns so that a change in machine load hits every backend",
    )
    p.add_argument("--child", help=argparse.SUPPRESS)
    for name in ("--size", "--model", "--onnx", "--out"):
        p.add_argument(name, help=argparse.SUPPRESS, type=int if name == "--size" else str)
    args = p.parse_args()
    if args.child:
        return child(args)
    sizes = [int(s) for s in args.sizes.split(",")]
    backends = args.backends.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model, what = prepare_model(folder)
        from colorgan.interfaces.export import export_file

        onnx_file = folder / "model.onnx"
        report = export_file(model, onnx_file)
        print(f"model: {what}\nonnx export: {report.summary()}")
        load = [os.getloadavg()[0]]
        runs: dict[tuple[str, int], list[dict]] = {(b, s): [] for s in sizes for b in backends}
        for _ in range(args.rounds):
            for size in sizes:
                for backend in backends:
                    r = run_child(backend, size, model, onnx_file, folder)
                    runs[(backend, size)].append(r)
                    print(f"  {backend} {size}px: {r}", file=sys.stderr)
                    load.append(os.getloadavg()[0])
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average "
            f"{min(load):.1f}-{max(load):.1f} during the run; batch 1, float32, "
            f"{args.rounds} processes per row\n"
        )
        print(table({k: summarise(v) for k, v in runs.items()}, sizes, backends))


if __name__ == "__main__":
    main()
