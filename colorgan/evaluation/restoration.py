"""How well `colorgan restore` repairs: synthetic damage (colorgan.training.damage, seeded)
on a folder of clean photos (the test split), repaired, measured against the clean
lightness; and the same repair on the clean photos themselves, which should change nothing.

Per photo i the damage is damage(L, default_rng([seed, i])): the same seed gives the same
damage. Reported over the photos:
  * PSNR and SSIM (colorgan.evaluation.metrics, L / 100) of the damaged L and of each
    repair against the clean L: the default repair, each fill method (FILLS) with the
    detector's mask, the default fill with the true mask (what a perfect detector would
    give), all steps (the default and "grain"), and nothing but the grain step;
  * the detector's pixel precision, recall and F1 on the true mask (summed over photos);
  * on the clean photos: the PSNR of the default steps and of all steps against the input
    and the share of pixels they leave exactly as they were;
  * faded contrast: clean L squeezed to FADE_TO, then the "fading" step alone.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from colorgan.core.fastcolor import lightness
from colorgan.evaluation import metrics
from colorgan.io import images
from colorgan.pipeline import restore
from colorgan.training.damage import damage
from colorgan.training.detector import f1, f1_counts

FILLS = {"telea": restore.cv2.INPAINT_TELEA, "navier-stokes": restore.cv2.INPAINT_NS}
FADE_TO = (30.0, 70.0)  # a faded print: the lightness range squeezed into this
CLEAN = {"default steps": restore.DEFAULT_STEPS, "all steps": restore.STEPS}


def _scores(out: np.ndarray, clean: np.ndarray) -> tuple[float, float]:
    a, b = (torch.from_numpy(np.ascontiguousarray(x) / 100)[None, None] for x in (out, clean))
    return float(metrics.psnr(a.clamp(0, 1), b)[0]), float(metrics.ssim(a.clamp(0, 1), b)[0])


def _repairs(L: np.ndarray, marks: np.ndarray | None = None):
    """steps -> restore.repair(L, steps, marks=marks).L, each set of steps run once: the
    default steps are all of them, so "default" and "all" share one run."""
    runs: dict[tuple, np.ndarray] = {}

    def repaired(steps) -> np.ndarray:
        steps = restore.parse_steps(steps)
        if steps not in runs:
            runs[steps] = restore.repair(L, steps, marks=marks).L
        return runs[steps]

    return repaired


def _variants(damaged: np.ndarray, marks: np.ndarray, truth: np.ndarray) -> dict:
    """The repaired L of each variant for one damaged photo."""
    repaired = _repairs(damaged, marks)
    out = {
        "damaged (no repair)": damaged,
        f"default steps ({', '.join(restore.DEFAULT_STEPS)})": repaired(restore.DEFAULT_STEPS),
    }
    for name, method in FILLS.items():
        out[f"fill {name}, detected mask"] = restore.fill(damaged, marks, method)[0]
    out["fill default, true mask"] = restore.fill(damaged, truth)[0]
    out["all steps"] = repaired(restore.STEPS)
    out["scratches, dust (detected)"] = repaired(("scratches", "dust"))
    out["grain step only"] = repaired(("grain",))
    return out


def evaluate(files: list[Path], seed: int) -> dict:
    """The report (a dict of plain numbers) over the photos."""
    detector = restore.default_detector()
    sums: dict[str, np.ndarray] = {}
    counts = np.zeros(3, np.int64)
    clean_psnr: dict = {}
    unchanged: dict = {}
    fade = []
    start = time.monotonic()
    for i, path in enumerate(files):
        clean = lightness(images.read_image(path).pixels)
        damaged, truth = damage(clean, np.random.default_rng([seed, i]))
        marks = detector.marks(damaged)
        counts += f1_counts(marks, truth, 0.5)
        for name, out in _variants(damaged, marks, truth).items():
            sums[name] = sums.get(name, np.zeros(2)) + _scores(out, clean)
        repaired = _repairs(clean)
        for name, steps in CLEAN.items():
            same = repaired(steps)
            unchanged.setdefault(name, []).append(float(np.mean(same == clean)))
            psnr = min(_scores(same, clean)[0], 100.0)  # identical: inf, shown as 100
            clean_psnr.setdefault(name, []).append(psnr)
        lo, hi = FADE_TO
        faded = lo + clean * (hi - lo) / 100
        fixed = restore.repair(faded, ("fading",)).L
        fade.append([_scores(faded, clean)[0], _scores(fixed, clean)[0]])
    precision, recall, f1_score = f1(counts)
    n = len(files)
    return {
        "photos": n,
        "seed": seed,
        "repair": {k: {"psnr": v[0] / n, "ssim": v[1] / n} for k, v in sums.items()},
        "detector": {
            "precision": precision,
            "recall": recall,
            "f1": f1_score,
            "threshold": detector.threshold,
        },
        "clean": {
            name: {
                "psnr": float(np.mean(clean_psnr[name])),
                "unchanged": float(np.mean(unchanged[name])),
                "lowest_unchanged": float(np.min(unchanged[name])),
            }
            for name in CLEAN
        },
        "fading": {
            "faded_psnr": float(np.mean([f[0] for f in fade])),
            "stretched_psnr": float(np.mean([f[1] for f in fade])),
        },
        "seconds": round(time.monotonic() - start, 1),
    }


def markdown(report: dict) -> str:
    rows = [
        f"Synthetic damage (seed {report['seed']}) on {report['photos']} photos.",
        "",
        "| L against the clean L | PSNR (dB) | SSIM |",
        "|---|---|---|",
    ]
    for name, v in report["repair"].items():
        rows.append(f"| {name} | {v['psnr']:.2f} | {v['ssim']:.4f} |")
    d, c, f = report["detector"], report["clean"], report["fading"]
    rows += [
        "",
        f"Detector (threshold {d['threshold']}): precision {d['precision']:.3f}, "
        f"recall {d['recall']:.3f}, F1 {d['f1']:.3f}.",
        *(
            f"Clean photos through the {name}: {100 * v['unchanged']:.2f} % of pixels "
            f"unchanged (lowest {100 * v['lowest_unchanged']:.2f} %), PSNR {v['psnr']:.2f} dB "
            "against the input (100 = identical)."
            for name, v in c.items()
        ),
        f"Faded to L {FADE_TO[0]:.0f}..{FADE_TO[1]:.0f}: {f['faded_psnr']:.2f} dB; after the "
        f"fading step: {f['stretched_psnr']:.2f} dB.",
    ]
    return "\n".join(rows) + "\n"
