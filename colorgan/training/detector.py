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

import argparse
import json
import logging
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from colorgan.core import config
from colorgan.core.config import Config
from colorgan.core.errors import ColorganError
from colorgan.core.fastcolor import lightness
from colorgan.io import atomic, images, modelfile
from colorgan.models.registry import build_generator
from colorgan.pipeline.runner import run_padded
from colorgan.training.damage import damage
from colorgan.training.folders import find_images

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


def load_planes(folder: str | Path) -> list[np.ndarray]:
    """The lightness (H, W) float32 of every photo in the folder."""
    files = find_images(folder)
    if not files:
        raise ColorganError(f"{folder}: no images")
    return [lightness(images.read_image(f).pixels) for f in files]


def crop(L: np.ndarray, size: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """A random square of scale * size pixels (or the largest that fits), shrunk to size."""
    side = max(size, min(int(size * scale), *L.shape))
    y = int(rng.integers(0, L.shape[0] - side + 1)) if L.shape[0] >= side else 0
    x = int(rng.integers(0, L.shape[1] - side + 1)) if L.shape[1] >= side else 0
    piece = L[y : y + side, x : x + side]
    if piece.shape != (side, side):  # a photo smaller than the crop: reflect it out
        piece = np.pad(piece, [(0, side - piece.shape[0]), (0, side - piece.shape[1])], "reflect")
    if side != size:
        piece = cv2.resize(piece, (size, size), interpolation=cv2.INTER_AREA)
    return piece if rng.random() < 0.5 else piece[:, ::-1]


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


def start(cfg: Config, train_root: str, val_root: str, batch) -> tuple:
    """What each repair network's training starts from (this detector's, the inpainter's,
    the grain estimator's), seeded by cfg.train.seed: (the random generator of its batches,
    the training photos' lightness, the fixed validation batches: the same every time)."""
    torch.manual_seed(cfg.train.seed)
    planes, val_planes = load_planes(train_root), load_planes(val_root)
    val_rng = np.random.default_rng(10_000 + cfg.train.seed)
    val = [batch(val_planes, cfg, val_rng) for _ in range(cfg.train.val_batches)]
    return np.random.default_rng(cfg.train.seed), planes, val


def script(doc: str, preset: str) -> argparse.ArgumentParser:
    """The command line the repair networks' training scripts share (scripts/train_*.py):
    OUT --train DIR --val DIR [--preset NAME] [--set SECTION.KEY=VALUE]; see settings."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("out", help="run folder")
    p.add_argument("--train", required=True, help="training photos")
    p.add_argument("--val", required=True, help="validation photos (chooses the weights)")
    p.add_argument("--preset", default=preset)
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    return p


def settings(args: argparse.Namespace) -> Config:
    """The config script()'s arguments name; progress logged from here on."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    return config.with_overrides(config.load(args.preset), args.set)


def train(cfg: Config, train_root: str, val_root: str, out: Path, crop_mp=CROP_MP) -> dict:
    """Train, keep the best weights on validation; -> the best validation scores."""
    crops = lambda *a: batch(*a, crop_mp)  # noqa: E731
    rng, planes, val = start(cfg, train_root, val_root, crops)
    net = build(cfg)

    def step_loss() -> torch.Tensor:
        x, m = batch(planes, cfg, rng, crop_mp)
        return loss_fn(net.logits(x), m)

    return fit(cfg, net, step_loss, lambda: validate(net, val), out / "detector", "f1")


def fit(cfg: Config, net, step_loss, scores, out: Path, key: str) -> dict:
    """The loop the repair's networks train in (this detector, colorgan.training.inpainter):
    Adam with a cosine schedule over cfg.train.steps of step_loss() (a fresh batch's loss);
    every ckpt_every steps scores() on validation, and the weights with the highest
    scores()[key] kept in OUT.safetensors (self-describing: the config in its metadata),
    their scores in OUT.json; -> those scores, with the minutes taken."""
    opt = torch.optim.Adam(net.parameters(), cfg.train.lr, betas=(cfg.train.beta1, 0.999))
    steps = cfg.train.steps
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + np.cos(np.pi * s / steps)))
    best: dict = {key: -np.inf}
    start = time.monotonic()
    report = out.with_suffix(".json")
    for step in range(1, steps + 1):
        loss = step_loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % cfg.train.log_every == 0:
            rate = step * cfg.train.batch_size / (time.monotonic() - start)
            log.info("step %d/%d loss %.4f (%.1f crops/s)", step, steps, loss.item(), rate)
        if step % cfg.train.ckpt_every == 0 or step == steps:
            now = {"step": step, **scores()}
            log.info("validation at step %d: %s", step, json.dumps(now))
            if now[key] > best[key]:
                best = now
                out.parent.mkdir(parents=True, exist_ok=True)
                modelfile.save_generator(out.with_suffix(".safetensors"), net, cfg)
                atomic.write_text(report, json.dumps(best, indent=2) + "\n")
    best["minutes"] = round((time.monotonic() - start) / 60, 1)
    atomic.write_text(report, json.dumps(best, indent=2) + "\n")
    return best


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


def load(path: str | Path, build=build) -> tuple[torch.nn.Module, Config]:
    """(network in eval mode, its Config) from a .safetensors file `fit` saved (build: the
    repair network's own, for the inpainter)."""
    from safetensors.torch import load_file

    path = Path(path)
    cfg = modelfile.read_generator_config(path)
    net = build(cfg)
    net.load_state_dict(load_file(str(path)))
    return net.eval(), cfg


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
