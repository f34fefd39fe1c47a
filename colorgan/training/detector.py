"""Training the damage detector (colorgan.models.damage_unet) on synthetic damage.

Every step draws fresh damage (colorgan.training.damage) on random crops of the training
photos' lightness; the loss is binary cross-entropy plus soft Dice on the exact damage mask
(Dice because marks cover a few per cent of the pixels and what matters is their F1). Every
`train.ckpt_every` steps the detector is scored on fixed damaged crops of the validation
photos (the same seeds every time): the weights with the best F1 (at the best threshold of
THRESHOLDS) are kept, with that threshold, in OUT/detector.safetensors (self-describing:
the config in its metadata) and OUT/detector.json. The test split is never read here.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from colorgan.core.config import Config
from colorgan.models.registry import build_generator
from colorgan.pipeline.runner import run_padded
from colorgan.training import repair
from colorgan.training.damage import damage
from colorgan.training.repair import crop, fit, load_planes, start

log = logging.getLogger(__name__)
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
# Marks per crop: as many as on a photo of this many megapixels. ~1 % of a 128-pixel crop is
# then marked, as on whole photos (~0.1-2 %); the first detector was trained on 64-pixel
# crops with 0.125 (~7 % marked) and marked real texture on whole photos far too often.
CROP_MP = 0.04


def build(cfg: Config) -> torch.nn.Module:
    m = cfg.model
    return build_generator(
        m.generator, in_channels=1, out_channels=1, width=m.width, **m.gen_kwargs
    )


def batch(planes, cfg: Config, rng: np.random.Generator, crop_mp: float = CROP_MP):
    """(damaged L in [-1, 1], mask) tensors (B, 1, size, size) of random crops."""
    d = cfg.data
    xs, ms = [], []
    for _ in range(cfg.train.batch_size):
        L = planes[int(rng.integers(len(planes)))]
        clean = crop(L, d.size, rng.uniform(d.scale_min, d.scale_max), rng)
        damaged, mask = damage(clean, rng, least_mp=crop_mp)
        xs.append(damaged / 50 - 1)
        ms.append(mask)
    as_t = lambda a: torch.from_numpy(np.stack(a)[:, None].astype(np.float32))  # noqa: E731
    return as_t(xs), as_t(ms)


def loss_fn(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    bce = F.binary_cross_entropy_with_logits(logits, mask)
    p = torch.sigmoid(logits)
    dice = 1 - (2 * (p * mask).sum() + 1) / (p.sum() + mask.sum() + 1)
    return bce + dice


def best_threshold(counts: dict) -> dict:
    """The threshold of the highest F1 among {threshold: (tp, fp, fn)}, with its scores."""
    scores = {t: f1(c) for t, c in counts.items()}
    best = max(scores, key=lambda t: scores[t][2])
    precision, recall, score = scores[best]
    return {"threshold": best, "precision": precision, "recall": recall, "f1": score}


def f1_counts(prob: np.ndarray, mask: np.ndarray, threshold: float) -> np.ndarray:
    """(true positives, predicted, actual) pixel counts."""
    pred = prob >= threshold
    return np.array([np.sum(pred & mask), np.sum(pred), np.sum(mask)], np.int64)


def f1(counts: np.ndarray) -> tuple[float, float, float]:
    """(precision, recall, F1) of f1_counts' counts."""
    tp, pred, actual = (float(c) for c in counts)
    precision, recall = tp / max(pred, 1), tp / max(actual, 1)
    return precision, recall, 2 * precision * recall / max(precision + recall, 1e-9)


@torch.inference_mode()
def validate(net, val: list) -> dict:
    """F1 at each threshold over the fixed validation crops; the best one."""
    net.eval()
    counts = {t: np.zeros(3, np.int64) for t in THRESHOLDS}
    for x, m in val:
        prob = torch.sigmoid(net.logits(x)).numpy()
        for t in THRESHOLDS:
            counts[t] += f1_counts(prob, m.numpy() > 0.5, t)
    net.train()
    return best_threshold(counts)


def train(cfg: Config, train_root: str, val_root: str, out: Path, crop_mp=CROP_MP) -> dict:
    """Train, keep the best weights on validation; -> the best validation scores."""
    crops = lambda *a: batch(*a, crop_mp)  # noqa: E731
    rng, planes, val = start(cfg, train_root, val_root, crops)
    net = build(cfg)

    def step_loss() -> torch.Tensor:
        x, m = batch(planes, cfg, rng, crop_mp)
        return loss_fn(net.logits(x), m)

    return fit(cfg, net, step_loss, lambda: validate(net, val), out / "detector", "f1")


def load(path: str | Path) -> tuple[torch.nn.Module, Config]:
    """(detector in eval mode, its Config) from a detector.safetensors file."""
    return repair.load(path, build)


def torch_probability(net):
    """The damaged L (H, W) -> P(damaged) (H, W) of a torch detector, read over the repair's
    views (colorgan.pipeline.restore.VIEWS) as the bundled one is."""
    from colorgan.pipeline import restore  # OpenCV: the repair's extra

    @torch.inference_mode()
    def one_view(L: np.ndarray) -> np.ndarray:
        x = (L / np.float32(50) - 1)[None, None].astype(np.float32)
        run = lambda a: torch.sigmoid(net.logits(torch.from_numpy(a))).numpy()  # noqa: E731
        return run_padded(run, x, net.size_multiple, channels=1)[0, 0]

    return lambda L: restore.over_views(one_view, L)


WHOLE_THRESHOLDS = tuple(round(0.1 + 0.05 * i, 2) for i in range(18))  # 0.1 .. 0.95


def choose_threshold(probability, val_root: str | Path, seed: int, limit=None) -> dict:
    """The threshold with the best F1 on whole validation photos (all, or the first `limit`
    by name) under synthetic damage damage(L, default_rng([seed, i])): the crops the weights
    were chosen on hold more marks than whole photos, whose threshold is wanted.
    probability: damaged L (H, W) -> P(damaged) (H, W), as the repair reads it
    (restore.Detector.probability, or torch_probability's for weights not yet exported)."""
    counts = {t: np.zeros(3, np.int64) for t in WHOLE_THRESHOLDS}
    for i, L in enumerate(load_planes(val_root)[:limit]):
        damaged, mask = damage(L, np.random.default_rng([seed, i]))
        prob = probability(damaged)
        for t in WHOLE_THRESHOLDS:
            counts[t] += f1_counts(prob, mask, t)
    return {**best_threshold(counts), "photos": i + 1}
