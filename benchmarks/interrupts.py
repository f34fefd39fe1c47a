"""Ctrl-C at random moments of `colorgan colorize`: how do the runs end?

    python benchmarks/interrupts.py                       # 30 runs, ONNX Runtime backend
    python benchmarks/interrupts.py --runs 60 --backend torch

Runs the command once to warm colorgan's cache (in a private HOME), times it, then N times
with SIGINT sent at a uniformly random moment of that time. Counts the endings: exit 130
with "interrupted" as the last line (clean), finished before the signal (exit 0), a
traceback, a cached model blamed ("not a readable"), log lines after "interrupted", or a
crash (killed by a signal other than SIGINT, e.g. a segmentation fault).
Runs killed by SIGINT itself (-2) had the signal before Python installed its handler.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image


def outcome(code: int, err: str) -> str:
    lines = err.strip().splitlines()
    if "not a readable" in err:
        return "blamed a cached model"
    if code == 130 and lines and lines[-1] == "interrupted":
        return "clean (exit 130)"
    if code == 130:
        return "lines after 'interrupted'"
    if code == 0:
        return "finished first (exit 0)"
    if code == -signal.SIGINT:
        return "SIGINT before Python's handler (-2)"
    if code < 0:
        return f"crashed (signal {-code})"
    if "Traceback" in err:
        ours = "colorgan" in err.split("Traceback", 1)[1]
        return "traceback in colorgan" if ours else "traceback before colorgan's code ran"
    return f"exit {code}"


def main() -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--backend", default="onnx")
    parser.add_argument("--model", default="default")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="colorgan-interrupts-"))
    env = dict(os.environ, HOME=str(root), XDG_CACHE_HOME=str(root / "cache"))
    photo = root / "photo.jpg"
    gray = np.random.default_rng(0).integers(0, 255, (300, 400), dtype=np.uint8)
    Image.fromarray(gray).save(photo)
    cmd = [
        sys.executable,
        "-m",
        "colorgan",
        "colorize",
        str(photo),
        "-o",
        str(root / "out"),
        "--overwrite",
        "--model",
        args.model,
        "--backend",
        args.backend,
    ]
    subprocess.run(cmd, env=env, capture_output=True, check=True)  # warms the cache
    start = time.monotonic()
    subprocess.run(cmd, env=env, capture_output=True, check=True)
    seconds = time.monotonic() - start
    rng, counts, examples = random.Random(args.seed), Counter(), {}
    for _ in range(args.runs):
        child = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        time.sleep(rng.uniform(0, seconds))
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=300)
        kind = outcome(child.returncode, err)
        counts[kind] += 1
        examples.setdefault(kind, err.strip().splitlines()[-3:])
    print(f"{args.runs} runs of {seconds:.1f} s, Ctrl-C at a random moment:")
    for kind, n in counts.most_common():
        example = "" if kind.startswith(("clean", "finished")) else f"   e.g. {examples[kind]}"
        print(f"  {n:3d}  {kind}{example}")


if __name__ == "__main__":
    main()
