"""OpenCV's inpainting against a trained inpainter (scripts/train_inpainter.py's run), on
whole photos under synthetic damage: one markdown table.

    python scripts/compare_fill.py RUN --data DATA/val --seed 1

For photo i of --data the damage is damage(L, default_rng([seed, i])) as in `colorgan
evaluate-restore`; both fills get the same holes, the true mask's and the bundled
detector's marks, grown as the repair grows them. Reported: mean PSNR of L against the
clean L (L / 100), and on the filled pixels only the mean absolute error in L units.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from colorgan.pipeline import restore
from colorgan.pipeline.runner import run_padded
from colorgan.training import inpainter
from colorgan.training.damage import damage
from colorgan.training.detector import load_planes


@torch.inference_mode()
def network_fill(net, damaged: np.ndarray, hole: np.ndarray) -> np.ndarray:
    x = inpainter.inputs(damaged, hole)[None]
    run = lambda a: inpainter.filled(net, torch.from_numpy(a)).numpy()  # noqa: E731
    return (run_padded(run, x, net.size_multiple, channels=1)[0, 0] + 1) * 50


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="run folder with inpainter.safetensors")
    p.add_argument("--data", required=True, help="photos (the validation split to choose)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--photos", type=int, help="only the first N (by name)")
    args = p.parse_args()
    net, _ = inpainter.load(Path(args.run) / "inpainter.safetensors")
    detector = restore.default_detector()
    rows: dict[str, list] = {}
    planes = load_planes(args.data)[: args.photos]
    for i, clean in enumerate(planes):
        damaged, truth = damage(clean, np.random.default_rng([args.seed, i]))
        for mask_name, mask in (("true mask", truth), ("detected", detector.marks(damaged))):
            hole = restore.grow(mask)
            fills = {
                "OpenCV Navier-Stokes": restore.fill(damaged, mask)[0],
                "network": network_fill(net, damaged, hole),
            }
            for name, out in fills.items():
                psnr = inpainter.psnr_l(np.clip(out, 0, 100) / 50 - 1, clean / 50 - 1)
                mae = float(np.abs(out - clean)[hole].mean()) if hole.any() else 0.0
                rows.setdefault(f"{name}, {mask_name}", []).append((psnr, mae))
    print(f"{len(planes)} photos of {args.data}, damage seed {args.seed}\n")
    print("| fill | PSNR (dB) | MAE on the filled pixels (L) |\n|---|---|---|")
    for name, values in rows.items():
        psnr, mae = np.mean(values, axis=0)
        print(f"| {name} | {psnr:.2f} | {mae:.2f} |")


if __name__ == "__main__":
    main()
