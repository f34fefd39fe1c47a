"""The grain step's settings (GRAIN_QUANTILE, GRAIN_MIN, GRAIN_SIGMA, GRAIN_H in
colorgan/pipeline/restore.py), measured on the VALIDATION split; never run this on the test
split.

    python scripts/grain_gate.py data/offline/val --damage 1 --clean data/offline/train

Per photo i, as `colorgan evaluate-restore` does it: synthetic damage
damage(L, default_rng([seed, i])), and the detector's marks filled (the default steps without
grain); the grain is read on the photo before the fill, as restore.repair reads it, and
denoising is scored on the filled photo. Printed:
  * how well the grain estimator and the classical estimate (grain.classical_sigma) read the
    grain that was added (its sigma, as damage.grain_and_jpeg drew it);
  * the estimates of the clean photos (those of --clean folders too), highest first: the
    texture a bar must stay above;
  * for each (quantile, bar, strength) of the grid: the damaged photos the grain step would
    denoise, the mean PSNR gain over the fill alone (all photos), and the clean photos it
    would touch (validation, then --clean).
The rule (docs/restore.md, "Grain"): among settings that touch no clean photo, the most gain;
then, of those within MARGIN dB of it, the highest bar.
"""

from __future__ import annotations

import argparse
from itertools import product

import numpy as np

from colorgan.core.fastcolor import lightness
from colorgan.io import images
from colorgan.pipeline import restore
from colorgan.training import folders, grain, inpainter
from colorgan.training.damage import damage, grain_and_jpeg

QUANTILES = (0.05, 0.1, 0.25, 0.5)  # read by the estimates printed
GATES = (0.05, 0.1)  # quantiles the bar is compared with
BARS = (1.0, 1.5, 2.0, 2.5)
SIGMAS = (0.05, 0.5)  # quantiles the strength is taken from
STRENGTHS = (1.0, 1.3, 1.6, 2.0)
MARGIN = 0.05  # dB of gain given up for a safer (higher) bar


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of two L planes in [0, 100] (the inpainter's measure: peak 100)."""
    return inpainter.psnr_l(a / 50 - 1, b / 50 - 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("val", help="the validation folder (never the test split)")
    p.add_argument("--damage", type=int, default=1, help="the damage seed")
    p.add_argument("--clean", action="append", default=[], help="more clean photos (train)")
    args = p.parse_args()
    detector, estimator = restore.default_detector(), restore.default_grain_estimator()
    marks_only = ("scratches", "dust")
    photos, added, read = [], [], []
    for i, path in enumerate(folders.find_images(args.val)):
        clean = lightness(images.read_image(path).pixels)
        # damage() as it draws it: the marks, then the grain (whose sigma is kept) and JPEG
        rng = np.random.default_rng([args.damage, i])
        marked, _ = damage(clean, rng, grain=False)
        damaged, sigma = grain_and_jpeg(marked, rng)
        filled = restore.repair(damaged, marks_only, detector).L
        read_at = estimator.levels(damaged, QUANTILES), estimator.levels(clean, QUANTILES)
        photos.append((clean, filled, *read_at))
        added.append(sigma)
        read.append(grain.classical_sigma(damaged))
    others = [
        estimator.levels(lightness(images.read_image(f).pixels), QUANTILES)
        for folder in args.clean
        for f in folders.find_images(folder)
    ]
    added = np.array(added)
    print(
        f"grain added (sigma, L): {np.mean(added > 0.3):.0%} of the photos, mean {added.mean():.2f}"
    )
    for q, quantile in enumerate(QUANTILES):
        error = np.abs(np.array([ph[2][q] for ph in photos]) - added).mean()
        print(f"estimator at quantile {quantile}: mean absolute error {error:.2f}")
    print(f"classical estimate: mean absolute error {np.abs(np.array(read) - added).mean():.2f}")
    for q, quantile in enumerate(QUANTILES):
        top = sorted((float(ph[3][q]) for ph in photos), reverse=True)[:5]
        more = sorted((float(o[q]) for o in others), reverse=True)[:5]
        print(
            f"clean photos' highest at quantile {quantile}: val {np.round(top, 2).tolist()}"
            f", --clean {np.round(more, 2).tolist()}"
        )
    base = np.array([psnr(f, c) for c, f, _, _ in photos])
    cache: dict = {}
    rows = []
    print(
        "\n| gate quantile | bar | sigma quantile | strength | damaged denoised | PSNR gain (dB) "
        "| clean touched |"
    )
    print("|---|---|---|---|---|---|---|")
    at = {quantile: q for q, quantile in enumerate(QUANTILES)}
    for gate, bar, by, strength in product(GATES, BARS, SIGMAS, STRENGTHS):
        out = base.copy()
        hit = [i for i, ph in enumerate(photos) if ph[2][at[gate]] >= bar]
        for i in hit:
            clean, filled, level, _ = photos[i]
            key = (i, round(float(level[at[by]]) * strength, 3))
            if key not in cache:
                sigma = key[1] / restore.GRAIN_H  # denoise() applies GRAIN_H
                cache[key] = psnr(restore.denoise(filled, sigma), clean)
            out[i] = cache[key]
        touched = (
            sum(ph[3][at[gate]] >= bar for ph in photos),
            sum(o[at[gate]] >= bar for o in others),
        )
        gain = out.mean() - base.mean()
        rows.append((gain, bar, gate, by, strength, sum(touched)))
        print(
            f"| {gate:g} | {bar:g} | {by:g} | {strength:g} | {len(hit)} | {gain:.3f} | "
            f"{touched[0]}, {touched[1]} |"
        )
    safe = [r for r in rows if r[-1] == 0]
    if safe:
        best = max(r[0] for r in safe)
        gain, bar, gate, by, strength, _ = max(
            (r for r in safe if r[0] >= best - MARGIN), key=lambda r: (r[1], r[0])
        )
        print(
            f"\nchosen: gate quantile {gate:g}, bar {bar:g}, sigma quantile {by:g}, strength "
            f"{strength:g} (gain {gain:.3f} dB; the most without touching a clean photo: "
            f"{best:.3f})"
        )
    else:
        print("\nno setting leaves every clean photo alone")


if __name__ == "__main__":
    main()
