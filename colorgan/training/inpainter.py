"""Training a small inpainting network, to compare with OpenCV's inpainting (issue 22).

The repair fills the marks the detector finds from around them (colorgan.pipeline.restore,
OpenCV's Navier-Stokes). This trains the alternative the issue asks to compare: the
`damage-unet` architecture with two input planes (the damaged L, and the mask of the
pixels to fill, grown by restore.GROW as the fill grows them) and one output, the clean L
there. Every step draws fresh synthetic damage (colorgan.training.damage, grain and JPEG
included, as the repair meets them) on random crops of the training photos; the loss is
the mean absolute error on the masked pixels only (the rest are kept from the input
anyway). Every `train.ckpt_every` steps both fills are scored on fixed damaged crops of
the validation photos, PSNR of the filled crop against the clean one: the network's
weights with the best PSNR are kept in OUT/inpainter.safetensors, the scores in
OUT/inpainter.json (with OpenCV's on the same crops). The test split is never read here.

    python scripts/train_inpainter.py OUT --train DATA/train --val DATA/val
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from colorgan.core.config import Config
from colorgan.models.registry import build_generator
from colorgan.pipeline import restore
from colorgan.training import repair
from colorgan.training.damage import damage
from colorgan.training.detector import CROP_MP
from colorgan.training.repair import crop, fit, start


def build(cfg: Config) -> torch.nn.Module:
    m = cfg.model
    return build_generator(
        m.generator, in_channels=2, out_channels=1, width=m.width, **m.gen_kwargs
    )


def inputs(damaged: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The network's input (2, H, W): the damaged L in [-1, 1] with the hole's pixels set
    to 0 (its content is the damage), and the hole as 1 / -1."""
    x = damaged / np.float32(50) - 1
    return np.stack([np.where(hole, 0, x), np.where(hole, 1, -1)]).astype(np.float32)


def batch(planes, cfg: Config, rng: np.random.Generator):
    """(input (B, 2, s, s), clean L in [-1, 1] (B, 1, s, s), hole (B, 1, s, s)) tensors."""
    d = cfg.data
    xs, ys, holes = [], [], []
    for _ in range(cfg.train.batch_size):
        L = planes[int(rng.integers(len(planes)))]
        clean = crop(L, d.size, rng.uniform(d.scale_min, d.scale_max), rng)
        damaged, mask = damage(clean, rng, least_mp=CROP_MP)
        hole = restore.grow(mask)
        xs.append(inputs(damaged, hole))
        ys.append(clean[None] / np.float32(50) - 1)
        holes.append(hole[None])
    as_t = lambda a: torch.from_numpy(np.stack(a).astype(np.float32))  # noqa: E731
    return as_t(xs), as_t(ys), as_t(holes)


def filled(net, x: torch.Tensor) -> torch.Tensor:
    """The input's L with the hole replaced by the network's answer, in [-1, 1]."""
    hole = x[:, 1:2] > 0
    return torch.where(hole, net(x), x[:, :1])


def psnr_l(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of two L planes given in [-1, 1] (peak: the L range, 100)."""
    mse = float(np.mean(((a - b) * 50) ** 2))
    return 10 * np.log10(100**2 / max(mse, 1e-10))


@torch.inference_mode()
def validate(net, val: list) -> dict:
    """Mean PSNR of the filled crops, the network's and OpenCV's (restore.FILL)."""
    net.eval()
    ours, opencv = [], []
    for x, y, hole in val:
        out = filled(net, x).numpy()
        for i in range(len(x)):
            L = (x[i, 0].numpy() + 1) * 50
            ocv = cv2.inpaint(
                L, hole[i, 0].numpy().astype(np.uint8), restore.FILL_RADIUS, restore.FILL
            )
            ours.append(psnr_l(out[i, 0], y[i, 0].numpy()))
            opencv.append(psnr_l(ocv / 50 - 1, y[i, 0].numpy()))
    net.train()
    return {"psnr": float(np.mean(ours)), "opencv_psnr": float(np.mean(opencv))}


def train(cfg: Config, train_root: str, val_root: str, out: Path) -> dict:
    """Train, keep the best weights on validation; -> the best validation scores."""
    rng, planes, val = start(cfg, train_root, val_root, batch)
    net = build(cfg)

    def step_loss() -> torch.Tensor:
        x, y, hole = batch(planes, cfg, rng)
        return ((net(x) - y).abs() * hole).sum() / hole.sum().clamp(min=1)

    return fit(cfg, net, step_loss, lambda: validate(net, val), out / "inpainter", "psnr")


def load(path: str | Path) -> tuple[torch.nn.Module, Config]:
    """(inpainter in eval mode, its Config) from an inpainter.safetensors file."""
    return repair.load(path, build)
