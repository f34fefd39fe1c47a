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
import torch.nn.functional as F

from colorgan.pipeline import restore
from colorgan.training import inpainter
from colorgan.training.damage import damage
from colorgan.training.detector import load_planes


@torch.inference_mode()
def network_fill(net, damaged: np.ndarray, hole: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(inpainter.inputs(damaged, hole))[None]
    h, w = damaged.shape
    m = net.size_multiple
    x = F.pad(x, (0, -w % m, 0, -h % m), mode="reflect")
    out = inpainter.filled(net, x)[0, 0, :h, :w].numpy()
    return (out + 1) * 50


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
            hole = inpainter.grown(mask)
            fills = {
                "OpenCV Navier-Stokes": restore.fill(damaged, mask)[0],
                "network": network_fill(net, damaged, hole),
            }
            for name, out in fills.items():
                err = np.abs(out - clean)
                mse = float(np.mean((np.clip(out, 0, 100) - clean) ** 2))
                psnr = 10 * np.log10(100**2 / max(mse, 1e-10))
                mae = float(err[hole].mean()) if hole.any() else 0.0
                rows.setdefault(f"{name}, {mask_name}", []).append((psnr, mae))
    print(f"{len(planes)} photos of {args.data}, damage seed {args.seed}\n")
    print("| fill | PSNR (dB) | MAE on the filled pixels (L) |\n|---|---|---|")
    for name, values in rows.items():
        psnr, mae = np.mean(values, axis=0)
        print(f"| {name} | {psnr:.2f} | {mae:.2f} |")


if __name__ == "__main__":
    main()
