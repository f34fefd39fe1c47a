"""The grain step's gate (GRAIN_MIN, GRAIN_HALF in colorgan/pipeline/restore.py), measured on
the VALIDATION split; never run this on the test split.

    python scripts/grain_gate.py data/offline/val --damage 1

Per photo i, as `colorgan evaluate-restore` does it: synthetic damage
damage(L, default_rng([seed, i])), the detector's marks filled (the default steps without
grain), and the clean photo through the same fill. Printed:
  * the noise estimate and its half-resolution ratio (restore.noise_scales) of every clean
    and damaged photo whose estimate reaches 1.5: texture against grain;
  * for each (bar, ratio) of the grid: the damaged photos the grain step would denoise, the
    mean PSNR gain over the fill alone (all photos), and the clean photos it would touch.
The rule (docs/restore.md, "Grain"): among settings that touch no clean photo, the most gain,
with a margin on both thresholds.
"""

from __future__ import annotations

import argparse

import numpy as np

from colorgan.core.fastcolor import lightness
from colorgan.io import images
from colorgan.pipeline import restore
from colorgan.training import folders, inpainter
from colorgan.training.damage import damage

BARS = (0.5, 0.75, 1.0, 1.5, 2.0)
RATIOS = (0.65, 0.75, 0.8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of two L planes in [0, 100] (the inpainter's measure: peak 100)."""
    return inpainter.psnr_l(a / 50 - 1, b / 50 - 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("val", help="the validation folder (never the test split)")
    p.add_argument("--damage", type=int, default=1, help="the damage seed")
    args = p.parse_args()
    detector = restore.default_detector()
    marks_only = ("scratches", "dust")
    photos = []
    for i, path in enumerate(folders.find_images(args.val)):
        clean = lightness(images.read_image(path).pixels)
        damaged, _ = damage(clean, np.random.default_rng([args.damage, i]))
        filled = restore.repair(damaged, marks_only, detector).L
        clean_filled = restore.repair(clean, marks_only, detector).L
        photos.append((path.name, clean, filled, clean_filled))
    scales = [(restore.noise_scales(f), restore.noise_scales(c)) for _, _, f, c in photos]
    for label, k in (("clean", 1), ("damaged", 0)):
        seen = sorted((round(s[k][1], 2), round(s[k][0], 2)) for s in scales if s[k][0] >= 1.5)
        print(f"{label} photos with an estimate >= 1.5 (ratio, sigma): {seen}")
    base = np.array([psnr(f, c) for _, c, f, _ in photos])
    denoised: dict[int, float] = {}
    print("\n| bar | ratio | damaged denoised | PSNR gain (dB) | clean touched |")
    print("|---|---|---|---|---|")
    for bar in BARS:
        for ratio in RATIOS:
            hit = [i for i, s in enumerate(scales) if s[0][0] >= bar and s[0][1] <= ratio]
            touched = sum(s[1][0] >= bar and s[1][1] <= ratio for s in scales)
            out = base.copy()
            for i in hit:
                if i not in denoised:
                    _, clean, filled, _ = photos[i]
                    denoised[i] = psnr(restore.denoise(filled, scales[i][0][0]), clean)
                out[i] = denoised[i]
            gain = out.mean() - base.mean()
            print(f"| {bar:g} | {ratio:g} | {len(hit)} | {gain:.3f} | {touched} |")


if __name__ == "__main__":
    main()
