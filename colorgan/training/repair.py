"""What the repair's networks share in training (colorgan.training.detector, .inpainter and
.grain): the training photos' lightness and random crops of it, a seeded start, the loop
that keeps the best weights on validation, loading them, and the scripts' command line
(scripts/train_detector.py, train_inpainter.py, train_grain.py).
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

from colorgan.core import config
from colorgan.core.config import Config
from colorgan.core.errors import ColorganError
from colorgan.core.fastcolor import lightness
from colorgan.io import atomic, images, modelfile
from colorgan.training.folders import find_images

log = logging.getLogger(__name__)


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


def start(cfg: Config, train_root: str, val_root: str, batch) -> tuple:
    """What each repair network's training starts from, seeded by cfg.train.seed: (the
    random generator of its batches, the training photos' lightness, the fixed validation
    batches: the same every time)."""
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


def fit(cfg: Config, net, step_loss, scores, out: Path, key: str) -> dict:
    """The loop the repair's networks train in (the detector, the inpainter, the grain
    estimator): Adam with a cosine schedule over cfg.train.steps of step_loss() (a fresh
    batch's loss); every ckpt_every steps scores() on validation, and the weights with the
    highest scores()[key] kept in OUT.safetensors (self-describing: the config in its metadata),
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


def load(path: str | Path, build) -> tuple[torch.nn.Module, Config]:
    """(network in eval mode, its Config) from a .safetensors file `fit` saved (build: the
    repair network's own, for the inpainter)."""
    from safetensors.torch import load_file

    path = Path(path)
    cfg = modelfile.read_generator_config(path)
    net = build(cfg)
    net.load_state_dict(load_file(str(path)))
    return net.eval(), cfg
