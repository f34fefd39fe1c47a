"""What a training checkpoint holds besides weights, and how a run starts or resumes.

A checkpoint (colorgan.training.checkpoint) gets the global step, the images seen, the number of
processes that wrote it, fp16 gradient-scaler state and every rank's RNG state. Resuming
restores all of it; the data position needs nothing more than the step, because
train.batch_size is the global batch (see colorgan.training.train): so a run may resume with a
different number of processes and still continue on exactly the batches an unbroken run
would have seen. Only rank 0 writes; every rank reads.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from pathlib import Path

import numpy as np
import torch

from colorgan.core import config as config_mod
from colorgan.core.errors import ColorganError
from colorgan.io import atomic, modelfile
from colorgan.training import checkpoint as ckpt_mod
from colorgan.training import distributed
from colorgan.training.distributed import unwrap

log = logging.getLogger(__name__)


def start(cfg, out: Path, resume: bool, parts) -> int:
    """Step to start from: 0 for a new run, the saved step when resuming. Every rank checks
    and loads; only rank 0 writes."""
    if not resume:
        if ckpt_mod.candidates(out) or (out / modelfile.GENERATOR_FILE).exists():
            raise ColorganError(
                f"{out} already holds a run; pass --resume to continue it or choose another --out"
            )
        if parts.dist.is_main:
            out.mkdir(parents=True, exist_ok=True)
            atomic.write_text(out / "config.yaml", cfg.to_yaml())
        parts.pretrain_steps = config_mod.pretrain_steps(cfg)
        return 0
    ckpt, saved, skipped = ckpt_mod.load_newest(out, _modules(parts), _optimizers(parts))
    step = int(saved["step"])
    if skipped:  # one line: which checkpoint, and why the newer ones were not used
        log.warning("resuming from %s (step %d); skipped %s", ckpt, step, "; ".join(skipped))
    parts.pretrain_steps = _switch_step(cfg, step, saved.get("pretrain_steps"))
    if parts.dist.is_main:  # the run's config says what it is now (e.g. more train.steps)
        atomic.write_text(out / "config.yaml", cfg.to_yaml())
    _restore_rng(saved, parts, step)
    for name, scaler in parts.scalers.items():
        if f"scaler_{name}" in saved:
            scaler.load_state_dict(saved[f"scaler_{name}"])
    if saved.get("world_size", 1) != parts.dist.world:
        log.info(
            "resuming step %d (%d images seen) of a %d-process run with %d processes",
            step,
            step * cfg.train.batch_size,
            saved.get("world_size", 1),
            parts.dist.world,
        )
    return step


class CheckpointSchedule:
    """When the loop checkpoints: every train.ckpt_every steps, but at most half a run apart
    (a run shorter than ckpt_every was lost whole to a kill), at least every
    train.ckpt_minutes, and at the last step. Under torchrun the clock is compared at
    log steps, which every rank reaches together, and any rank's clock decides for all,
    since a checkpoint is a collective."""

    def __init__(self, train_cfg, distributed_run: bool) -> None:
        self.every = max(1, min(train_cfg.ckpt_every, math.ceil(train_cfg.steps / 2)))
        self.steps = train_cfg.steps
        self.seconds = train_cfg.ckpt_minutes * 60.0
        self.sync_every = train_cfg.log_every if distributed_run else 1
        self.last = time.monotonic()

    def due(self, step: int) -> bool:
        if step % self.every == 0 or step == self.steps:
            return True
        if self.seconds <= 0 or step % self.sync_every:
            return False
        return distributed.any_over_ranks(time.monotonic() - self.last >= self.seconds)

    def saved(self) -> None:
        self.last = time.monotonic()


# What may differ from the saved config when resuming: the rest would change the experiment.
# How it runs (device, precision, memory format, BatchNorm sync for a new process count) may.
RESUME_CHANGEABLE = {
    "train.steps",
    "train.device",
    "data.root",
    "data.workers",
    "train.amp",
    "train.channels_last",
    "train.sync_bn",
}


def resumed_config(out: Path, overrides: dict) -> config_mod.Config:
    """The saved config of the run in `out`, with the overrides a resume may make."""
    saved = Path(out) / "config.yaml"
    if not saved.is_file():
        raise ColorganError(f"nothing to resume in {out}: no config.yaml")
    fixed = sorted(set(overrides) - RESUME_CHANGEABLE)
    if fixed:
        raise ColorganError(
            f"cannot change {', '.join(fixed)} when resuming; "
            f"changeable: {', '.join(sorted(RESUME_CHANGEABLE))}"
        )
    return config_mod.with_overrides(config_mod.load(str(saved)), overrides)


def _switch_step(cfg, step: int, saved: int | None) -> int:
    """The L1 -> GAN switch. A resume with more (or fewer) train.steps moves it with
    pretrain_fraction while the run is still pretraining; once the run has switched, the
    switch stays where it happened (else a longer run would fall back to L1-only steps)."""
    wanted = config_mod.pretrain_steps(cfg)
    if saved is not None and step >= saved and wanted != saved:
        log.info("the run switched to GAN training at step %d; it stays there", saved)
        return int(saved)
    return wanted


def _modules(parts) -> dict:
    return {"generator": unwrap(parts.generator), "discriminator": unwrap(parts.discriminator)}


def _optimizers(parts) -> dict:
    return {"opt_g": parts.opt_g, "opt_d": parts.opt_d}


def save(parts, out: Path, step: int) -> None:
    """Rank 0 writes the checkpoint (with every rank's RNG state); the others wait until it
    is complete on disk, so none can run ahead of it."""
    rng = distributed.gather_objects(_rng_state(parts.device))  # a collective: every rank
    if parts.dist.is_main:
        state = {
            "step": step,
            # with a global batch these fix the data position for any number of processes
            "images_seen": step * parts.cfg.train.batch_size,
            "world_size": parts.dist.world,
            "pretrain_steps": parts.pretrain_steps,
            **distributed.flatten_rank_states(rng),
            **{f"scaler_{k}": v.state_dict() for k, v in parts.scalers.items()},
        }
        ckpt_mod.save_checkpoint(
            out,
            step,
            _modules(parts),
            _optimizers(parts),
            state,
            parts.cfg,
            keep=parts.cfg.train.keep_checkpoints,
        )
    distributed.barrier()


def _rng_state(device: torch.device) -> dict:
    state = {
        "rng_torch": torch.get_rng_state(),
        "rng_python": json.dumps(random.getstate()),
        "rng_numpy": json.dumps(
            [x.tolist() if hasattr(x, "tolist") else x for x in np.random.get_state()]
        ),
    }
    if device.type == "cuda":
        state["rng_cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(saved: dict, device: torch.device) -> None:
    torch.set_rng_state(saved["rng_torch"])
    py = json.loads(saved["rng_python"])
    random.setstate((py[0], tuple(py[1]), py[2]))
    kind, keys, pos, has_gauss, cached = json.loads(saved["rng_numpy"])
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    if device.type == "cuda" and "rng_cuda" in saved:
        torch.cuda.set_rng_state(saved["rng_cuda"], device)


def _restore_rng(saved: dict, parts, step: int) -> None:
    """This rank's saved RNG state; a rank the checkpoint did not have (the run now has more
    processes) gets a fresh stream seeded by (seed, rank, step) instead."""
    mine = distributed.rank_state(saved, parts.dist.rank)
    if "rng_torch" in mine:
        _set_rng_state(mine, parts.device)
    else:
        torch.manual_seed(parts.cfg.train.seed + 1_000_003 * parts.dist.rank + step)
