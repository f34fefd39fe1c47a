"""Training the grain estimator (colorgan.models.grain_net) of the repair's "grain" step.

Every step takes random crops of the training photos' lightness, half of them cut larger
and shrunk (the preset's data.scale_*), the other half (NATIVE) at the photo's own scale (its fine
texture and the camera's noise are what a clean photo brings, and must read as no grain),
and adds the nuisances of the repair's synthetic damage (colorgan.training.damage's
grain_and_jpeg: no grain 30 % of the time, white or clumped grain of sigma U(0.5, 5) L
otherwise, then JPEG 60 % of the time). The network answers a sigma map; the loss is its
mean absolute error against the grain's sigma (the same over the crop). Every
`train.ckpt_every` steps the crops' mean estimates are scored on fixed validation crops:
the weights with the lowest mean absolute error are kept in OUT/grain.safetensors, the
scores in OUT/grain.json. The test split is never read here.

    python scripts/train_grain.py OUT --train DATA/train --val DATA/val
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from colorgan.core.config import Config
from colorgan.models.registry import build_generator
from colorgan.training import repair
from colorgan.training.damage import grain_and_jpeg
from colorgan.training.repair import crop, fit, start

NATIVE = 0.5  # the share of crops taken at the photo's own scale
NOISE_CROP = 1024  # the classical estimate reads a centre crop of at most this side


def build(cfg: Config) -> torch.nn.Module:
    m = cfg.model
    return build_generator(
        m.generator, in_channels=1, out_channels=1, width=m.width, **m.gen_kwargs
    )


def batch(planes, cfg: Config, rng: np.random.Generator):
    """(grained L in [-1, 1] (B, 1, s, s), the grain's sigma in L units (B,)) tensors."""
    d = cfg.data
    xs, sigmas = [], []
    for _ in range(cfg.train.batch_size):
        L = planes[int(rng.integers(len(planes)))]
        scale = 1.0 if rng.random() < NATIVE else rng.uniform(d.scale_min, d.scale_max)
        grained, sigma = grain_and_jpeg(crop(L, d.size, scale, rng), rng)
        xs.append(grained / np.float32(50) - 1)
        sigmas.append(sigma)
    x = torch.from_numpy(np.stack(xs)[:, None].astype(np.float32))
    return x, torch.tensor(sigmas, dtype=torch.float32)


@torch.inference_mode()
def validate(net, val: list) -> dict:
    """The mean absolute error of each crop's mean estimate (L units), over all crops and
    over the crops without grain (what a clean photo would read; None if none)."""
    net.eval()
    errors, clean = [], []
    for x, sigma in val:
        error = (net.sigma(x).mean(dim=(1, 2, 3)) - sigma).abs()
        errors.append(error)
        clean.append(error[sigma == 0])
    net.train()
    mae, clean = float(torch.cat(errors).mean()), torch.cat(clean)
    clean_mae = float(clean.mean()) if len(clean) else None  # None: every crop had grain
    return {"mae": mae, "clean_mae": clean_mae, "neg_mae": -mae}


def train(cfg: Config, train_root: str, val_root: str, out: Path) -> dict:
    """Train, keep the best weights on validation; -> the best validation scores."""
    rng, planes, val = start(cfg, train_root, val_root, batch)
    net = build(cfg)

    def step_loss() -> torch.Tensor:
        x, sigma = batch(planes, cfg, rng)
        return (net.sigma(x) - sigma[:, None, None, None]).abs().mean()

    return fit(cfg, net, step_loss, lambda: validate(net, val), out / "grain", "neg_mae")


def load(path: str | Path) -> tuple[torch.nn.Module, Config]:
    """(grain estimator in eval mode, its Config) from a grain.safetensors file."""
    return repair.load(path, build)


def classical_sigma(L: np.ndarray) -> float:
    """The classical estimate the grain network replaced (scripts/grain_gate.py and the
    tests compare them): Gaussian noise sigma (L units) from the fine detail, the median
    absolute response to Immerkaer's (1996) Laplacian-difference kernel (edges are few, so
    the median sees noise), over a centre crop of at most NOISE_CROP pixels a side. It reads
    white grain well, a fraction of clumped grain, and fine texture as noise."""
    h, w = L.shape
    y, x = max(0, (h - NOISE_CROP) // 2), max(0, (w - NOISE_CROP) // 2)
    part = L[y : y + NOISE_CROP, x : x + NOISE_CROP].astype(np.float32)
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    response = cv2.filter2D(part, -1, kernel)[1:-1, 1:-1]
    # for Gaussian noise of sigma s the response has sigma 6 s; the median |.| is 0.6745 sigma
    return float(np.median(np.abs(response)) / 0.6745 / 6)
