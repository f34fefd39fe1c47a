"""What `--restore` adds to colouring a 12 MP scan, side by side in one run:

    python benchmarks/restore_speed.py [--rounds 3]

The bundled B&W example scaled to 4000 x 3000 with synthetic damage (colorgan.training.damage,
seed 0) is coloured by the bundled model (single pass, ONNX Runtime) and repaired by each set
of steps; each line prints the median wall seconds over the rounds (the jobs alternate round
by round) and the repair's share of the colouring time. That damage's grain does not pass
the grain step's gate, so the last line repairs the same scan with white grain of sigma
GRAIN_SIGMA added (seeded): the default steps' slowest case, non-local means over all 12 MP.
Issue 22's goal: the repair adds at most 5 s on a 2-core CPU.
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image
from speed import EXAMPLE, interleaved

from colorgan.core.fastcolor import lightness
from colorgan.io import images
from colorgan.pipeline import restore
from colorgan.pipeline.colorizer import Colorizer
from colorgan.training.damage import damage

STEP_SETS = {
    f"default ({','.join(restore.DEFAULT_STEPS)})": restore.DEFAULT_STEPS,
    "scratches,dust": ("scratches", "dust"),
    "grain": ("grain",),
}
GRAIN_SIGMA = 3.0  # L units (about 8 gray levels)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    gray = Image.open(EXAMPLE).convert("L").resize((4000, 3000), Image.BICUBIC)
    L = lightness(images.read_image(gray).pixels)
    damaged, _ = damage(L, np.random.default_rng(0))
    photo = images.photo_from_array(np.clip(np.round(damaged * 2.55), 0, 255).astype(np.uint8))
    colorizer = Colorizer.load("default")
    restore.default_detector()  # loaded once, as a command does before its first photo
    jobs = {"colorize (no repair)": lambda: colorizer.colorize(photo)}
    for name, steps in STEP_SETS.items():
        jobs[f"repair: {name}"] = lambda steps=steps: restore.repair(damaged, steps)
    noise = np.random.default_rng(1).normal(0, GRAIN_SIGMA, damaged.shape).astype(np.float32)
    grainy = np.clip(damaged + noise, 0, 100)
    assert restore.grain_sigma(grainy) is not None  # the gate lets it through: timed with it
    jobs[f"repair: default, the scan with white grain {GRAIN_SIGMA:g} L"] = lambda: restore.repair(
        grainy
    )
    times = interleaved(jobs, args.rounds)
    base = times["colorize (no repair)"]
    print("| 12 MP scan (4000 x 3000) | seconds | vs colouring |")
    print("|---|---|---|")
    for name, seconds in times.items():
        print(f"| {name} | {seconds:.2f} | {seconds / base:.2f}x |")


if __name__ == "__main__":
    main()
