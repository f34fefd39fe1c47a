"""`colorgan train`: two-stage pix2pix training (L1 pretraining, then adversarial).

Read top to bottom: building the parts, one training step (a function returning a dict
of losses), validation, the loop (logs whatever the step returns, checkpoints, resume),
and the command-line shell.

Under torchrun the same code trains with DistributedDataParallel (colorgan.training.distributed,
docs/distributed.md): train.batch_size is the global batch, split evenly over the processes,
so a step sees the same images whatever the number of processes and the step counter alone
says where the data stands; rank 0 alone logs and writes.
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from colorgan.core import config as config_mod
from colorgan.core.color import model_target
from colorgan.core.devices import resolve_device
from colorgan.core.errors import ColorganError
from colorgan.core.interrupts import deferred_interrupts
from colorgan.io import modelfile
from colorgan.models import build_discriminator, generator_from_config
from colorgan.training import distributed, rebalance
from colorgan.training import resume as resume_mod
from colorgan.training.data import epochs, make_loaders
from colorgan.training.degrade import degrade_l
from colorgan.training.distributed import DistInfo, unwrap
from colorgan.training.hints import guidance_for
from colorgan.training.losses import (
    AdversarialLoss,
    GeneratorLoss,
    PerceptualLoss,
    as_ab,
    bins_cross_entropy,
)
from colorgan.training.runlog import RunLog

log = logging.getLogger(__name__)

# One GAN step of a width-16 U-Net at 64 px, batch 4, on this project's 2-core CPU
# (`benchmarks/train_precision.py --rounds 31 --threads 1`, two runs): bf16 autocast took
# 1.6-1.8x the CPU time of fp32 (wall time with 2 threads on the busy machine: 1.5-3.1x;
# an earlier measurement: 2.5-3x). So train.amp="auto" leaves autocast off on CPU.
CPU_BF16_MEASURED = "1.6-1.8x slower"


class NonFiniteLoss(ColorganError):
    pass


@dataclass
class Parts:
    """Everything one training step touches (a plain container: the functions below act).
    generator/discriminator are DDP wrappers in a distributed run (`unwrap` gives the module)."""

    cfg: config_mod.Config
    device: torch.device
    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    adversarial: AdversarialLoss
    perceptual: PerceptualLoss | None
    autocast_dtype: torch.dtype | None = None
    scalers: dict[str, torch.amp.GradScaler] = field(default_factory=dict)  # fp16: per optimiser
    channels_last: bool = False
    dist: DistInfo = field(default_factory=DistInfo)
    pretrain_steps: int = 0  # the L1 -> GAN switch: set by resume.start (it may be a saved one)
    bin_weights: torch.Tensor | None = None  # loss.rebalance's weights (training/rebalance.py)

    @property
    def generator_loss(self) -> GeneratorLoss:
        return GeneratorLoss(self.cfg, self.adversarial, self.perceptual, self.bin_weights)


def amp_dtype(choice: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype train.amp asks for on this device (None: fp32)."""
    if choice == "off":
        return None
    if device.type != "cuda":
        if choice == "fp16":
            raise ColorganError("train.amp=fp16 needs CUDA; use bf16 or off on CPU")
        if choice == "bf16":
            log.warning("train.amp=bf16 on CPU: measured %s than fp32 here", CPU_BF16_MEASURED)
            return torch.bfloat16
        return None  # "auto": off on CPU
    # native bf16 from compute capability 8 (Ampere) on; older GPUs only emulate it, slowly
    native_bf16 = torch.cuda.get_device_capability(device)[0] >= 8
    if choice == "bf16" and not native_bf16:
        name = torch.cuda.get_device_name(device)
        raise ColorganError(f"train.amp=bf16: {name} has no native bf16; use fp16 or auto")
    if choice == "fp16" or not native_bf16:
        return torch.float16
    return torch.bfloat16


def init_weights(generator: nn.Module, source: str) -> None:
    """Start from another run's generator weights (fine-tuning). Every tensor of the source
    must fit; parameters the source lacks keep their initial values, and are named."""
    from safetensors.torch import load_file

    file = modelfile.resolve_generator_file(source)
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(file).items()}
    own = generator.state_dict()
    wrong = [k for k, v in state.items() if k not in own or own[k].shape != v.shape]
    if wrong:
        raise ColorganError(
            f"train.init_from={source}: {len(wrong)} tensors do not fit "
            f"this generator (first: {wrong[0]})"
        )
    missing = generator.load_state_dict(state, strict=False).missing_keys
    log.info(
        "generator initialised from %s%s", file, f"; new: {', '.join(missing)}" if missing else ""
    )


def build_parts(cfg: config_mod.Config, device: torch.device, dist: DistInfo | None = None):
    """Networks, optimisers and losses on `device` (DDP-wrapped when dist is a real group)."""
    dist = dist or DistInfo()
    torch.manual_seed(cfg.train.seed)  # the same initial weights on every rank
    generator = generator_from_config(cfg.model, cfg.data.size)
    if cfg.train.init_from:
        init_weights(generator, cfg.train.init_from)
    discriminator = build_discriminator(cfg.model)
    if cfg.train.sync_bn and dist.world > 1 and device.type == "cuda":
        generator = nn.SyncBatchNorm.convert_sync_batchnorm(generator)
        discriminator = nn.SyncBatchNorm.convert_sync_batchnorm(discriminator)
    elif cfg.train.sync_bn:
        log.warning("train.sync_bn applies to distributed CUDA runs only; ignored here")
    fmt = torch.channels_last if cfg.train.channels_last else torch.contiguous_format
    generator = generator.to(device, memory_format=fmt)
    discriminator = discriminator.to(device, memory_format=fmt)
    betas = (cfg.train.beta1, cfg.train.beta2)
    perceptual = None
    if cfg.loss.perceptual > 0:
        perceptual = PerceptualLoss(cfg.loss.perceptual_net).to(device)
        log.info("perceptual loss on %s features", perceptual.net_name)
    dtype = amp_dtype(cfg.train.amp, device)
    scalers = {}
    if dtype == torch.float16:  # separate scales: a D overflow must not shrink G's scale
        scalers = {name: torch.amp.GradScaler("cuda") for name in ("opt_g", "opt_d")}
    parts = Parts(
        cfg=cfg,
        device=device,
        generator=distributed.wrap(generator, device),
        discriminator=distributed.wrap(discriminator, device),
        opt_g=torch.optim.Adam(generator.parameters(), lr=cfg.train.lr, betas=betas),
        opt_d=torch.optim.Adam(discriminator.parameters(), lr=cfg.train.lr, betas=betas),
        adversarial=AdversarialLoss(cfg.loss.adv_type),
        perceptual=perceptual,
        autocast_dtype=dtype,
        scalers=scalers,
        channels_last=cfg.train.channels_last,
        dist=dist,
    )
    if dist.rank:  # its own dropout noise on each rank (rank 0 keeps a plain run's stream)
        torch.manual_seed(cfg.train.seed + dist.rank)
    return parts


def _autocast(parts: Parts):
    if parts.autocast_dtype is None:
        return nullcontext()
    return torch.autocast(parts.device.type, dtype=parts.autocast_dtype)


def _check_finite(losses: dict[str, torch.Tensor]) -> None:
    bad = [f"loss {k} became {v.item()}" for k, v in losses.items() if not torch.isfinite(v).all()]
    # all ranks stop together: one rank raising alone would leave the others in DDP's all-reduce
    if distributed.any_over_ranks(bool(bad)):
        raise NonFiniteLoss(bad[0] if bad else "a loss became non-finite on another process")


def _backward_step(loss: torch.Tensor, opt: torch.optim.Optimizer, scaler=None) -> None:
    opt.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        opt.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()


def _forward(parts: Parts, generator, l_in, target, seed: int | None):
    """The generator on a batch; with model.guidance, hints and a reference simulated from
    the truth (seed: per step in training, so a resumed run draws the same; None: none)."""
    if not parts.cfg.model.guidance:
        return generator(l_in)
    if seed is None:
        return generator(l_in)  # all-zero guidance: the automatic case
    t = parts.cfg.train
    hint, ref = guidance_for(target.detach(), seed, t.hint_free, t.reference_keep)
    return generator(l_in, hint.to(l_in), ref.to(l_in))


def learning_rate(cfg: config_mod.Config, step: int) -> float:
    """The learning rate of `step`: a function of the step alone, so a resumed run (and one
    resumed with more train.steps, which stretches the cosine) needs no scheduler state."""
    t = cfg.train
    if t.lr_decay == "none":
        return t.lr
    return 0.5 * t.lr * (1.0 + math.cos(math.pi * min(step, t.steps) / t.steps))


def train_step(parts: Parts, rgb: torch.Tensor, stage: str, step: int = 0) -> dict[str, float]:
    """One optimiser step on a batch of sRGB images; stage is "pretrain" or "gan"."""
    cfg = parts.cfg
    for opt in (parts.opt_g, parts.opt_d):
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg, step)
    l_in, target = model_target(rgb.to(parts.device, non_blocking=True), cfg.model.color_space)
    seed = cfg.train.seed * 1_000_003 + step
    l_in = degrade_l(l_in, seed, cfg.data.degrade)
    if parts.channels_last:
        l_in = l_in.contiguous(memory_format=torch.channels_last)
    out: dict[str, float] = {}
    with _autocast(parts):
        fake = _forward(parts, parts.generator, l_in, target, seed)
        if stage == "gan":
            colour = as_ab(fake, cfg.model.head, target.shape[-2:])
            parts.discriminator.requires_grad_(True)
            real_logits = parts.discriminator(torch.cat([l_in, target], 1))
            fake_logits = parts.discriminator(torch.cat([l_in, colour.detach()], 1))
            d_losses = {
                "d_real": parts.adversarial(real_logits, real=True),
                "d_fake": parts.adversarial(fake_logits, real=False),
            }
    if stage == "gan":
        _check_finite(d_losses)
        d_total = 0.5 * (d_losses["d_real"] + d_losses["d_fake"])
        _backward_step(d_total, parts.opt_d, parts.scalers.get("opt_d"))
        parts.discriminator.requires_grad_(False)  # no D gradients from the G step
        out.update({k: v.item() for k, v in d_losses.items()})
    # The frozen D is called unwrapped: through its DDP wrapper this forward would arm
    # DDP's gradient hooks for parameters that get no gradient in this step.
    critic = unwrap(parts.discriminator) if stage == "gan" else None
    with _autocast(parts):
        g_losses = parts.generator_loss(l_in, target, fake, critic)
    _check_finite(g_losses)
    total = sum(g_losses.values())
    _backward_step(total, parts.opt_g, parts.scalers.get("opt_g"))
    out.update({k: v.item() for k, v in g_losses.items()})
    out["g_total"] = total.item()
    return out


@torch.no_grad()
def validate(parts: Parts, loader: DataLoader | None, max_batches: int) -> dict[str, float]:
    """On held-out images, automatic colour (no guidance): mean L1 of the colour in [-1, 1]
    units (for the distribution head: of its mean), and the bins' cross-entropy."""
    if loader is None:
        return {}
    generator = unwrap(parts.generator)
    generator.eval()
    totals, count = {}, 0
    head = parts.cfg.model.head
    for i, rgb in enumerate(loader):
        if i >= max_batches:
            break
        l_in, target = model_target(rgb.to(parts.device), parts.cfg.model.color_space)
        with _autocast(parts):
            out = _forward(parts, generator, l_in, target, seed=None)
        values = {"val_l1": (as_ab(out.float(), head, target.shape[-2:]) - target).abs().mean()}
        if head == "distribution":
            values["val_ce"] = bins_cross_entropy(out, target)
        for key, value in values.items():
            totals[key] = totals.get(key, 0.0) + value.item() * len(rgb)
        count += len(rgb)
    generator.train()
    return {key: value / max(count, 1) for key, value in totals.items()}


# --- the loop ------------------------------------------------------------------------------


def _loaders(cfg: config_mod.Config, device: torch.device, dist: DistInfo):
    per_rank = distributed.global_batch_split(cfg.train.batch_size, dist.world)
    if dist.active and not dist.is_main:
        distributed.barrier()  # rank 0 scans the folder first; the others read its cache
    train, val, report = make_loaders(
        cfg.data,
        per_rank,
        cfg.train.seed,
        distributed=dist.active,
        pin_memory=device.type == "cuda",
    )
    if dist.active and dist.is_main:
        distributed.barrier()
    source = (val or train).dataset
    fixed = torch.stack([source[i] for i in range(min(4, len(source)))])  # sample-grid rows
    return train, val, fixed, report


def run(cfg: config_mod.Config, out_dir: str | Path, resume: bool = False) -> Path:
    """Train as `cfg` says into `out_dir`; returns the final generator file. Under torchrun
    every process calls this; they train one model together."""
    dist, device = distributed.setup(cfg.train.device)
    try:
        return _run(cfg, Path(out_dir), resume, dist, device or resolve_device(cfg.train.device))
    finally:
        distributed.teardown(dist)


def _run(cfg, out: Path, resume: bool, dist: DistInfo, device: torch.device) -> Path:
    if not dist.is_main:  # one copy of the progress messages, from rank 0
        logging.getLogger("colorgan").setLevel(logging.WARNING)
    train_loader, val_loader, fixed, report = _loaders(cfg, device, dist)
    parts = build_parts(cfg, device, dist)
    parts.bin_weights = rebalance.weights_for(train_loader.dataset.files, cfg.loss.rebalance)
    step = resume_mod.start(cfg, out, resume, parts)
    distributed.barrier()  # the run directory exists before anyone goes on
    total, n_pre = cfg.train.steps, parts.pretrain_steps
    runlog = RunLog(out, total, step, enabled=dist.is_main)
    batch = f"batch {cfg.train.batch_size}"
    if dist.world > 1:
        batch = f"global {batch} = {dist.world} processes x {cfg.train.batch_size // dist.world}"
    runlog.message(f"{report.summary()}; {total} steps ({n_pre} L1 pretraining), {batch}, {device}")
    try:
        _loop(parts, train_loader, val_loader, fixed, runlog, out, step)
    except NonFiniteLoss as exc:
        last = modelfile.latest_checkpoint(out)
        where = f"the last good checkpoint is {last}" if last else "no checkpoint was written"
        raise ColorganError(f"{exc}; training stopped, {where}") from None
    finally:
        runlog.close()
    final = out / modelfile.GENERATOR_FILE
    if dist.is_main:
        modelfile.save_generator(final, unwrap(parts.generator), cfg)
    distributed.barrier()
    return final


def _loop(parts, loader, val_loader, fixed, runlog, out, step) -> None:
    cfg = parts.cfg.train
    n_pre = parts.pretrain_steps  # set by resume_mod.start
    parts.generator.train()
    window = {"t0": time.perf_counter(), "data": 0.0, "images": 0}
    # Step s takes items [s * B, (s + 1) * B) of epoch order (B the global batch), split over
    # the ranks; so the global step alone is the data position, for any number of processes.
    batches = epochs(loader, start_step=step)
    epoch, saved_at = None, step
    schedule = resume_mod.CheckpointSchedule(cfg, parts.dist.active)
    # Ctrl-C lands between steps (a step cut half-way would leave Adam's update half-applied),
    # and the run is checkpointed there: hours of training are not lost to the last periodic
    # checkpoint. Not under torchrun: each rank would see it at its own step, and a
    # checkpoint is a collective; there the periodic checkpoints are what a resume finds.
    between_steps = nullcontext if parts.dist.active else deferred_interrupts
    try:
        while step < cfg.steps:
            with between_steps():
                t_wait = time.perf_counter()
                new_epoch, rgb = next(batches)
                window["data"] += time.perf_counter() - t_wait
                if epoch is not None and new_epoch != epoch:
                    _validate_and_log(parts, val_loader, runlog, step, epoch)
                epoch = new_epoch
                losses = train_step(parts, rgb, "pretrain" if step < n_pre else "gan", step)
                step += 1
                window["images"] += cfg.batch_size  # all ranks together
                if step % cfg.log_every == 0 or step == cfg.steps:
                    losses.update(_throughput(window))
                    losses = distributed.mean_over_ranks(losses)
                    runlog.scalars(step, losses)
                    runlog.progress(step, losses)
                if step % cfg.sample_every == 0:
                    generator = unwrap(parts.generator)
                    runlog.samples(step, generator, fixed.to(parts.device), parts.cfg.model)
                if schedule.due(step):
                    resume_mod.save(parts, out, step)
                    schedule.saved()
                    saved_at = step
    except KeyboardInterrupt:
        if parts.dist.active or step == 0:
            raise
        if step > saved_at:
            with deferred_interrupts():  # a second Ctrl-C while saving still stops at once
                resume_mod.save(parts, out, step)
        runlog.message(
            f"interrupted at step {step}, checkpointed: `colorgan train --out {out} --resume` "
            "goes on from there"
        )
        raise
    _validate_and_log(parts, val_loader, runlog, step, epoch)


def _validate_and_log(parts, val_loader, runlog, step, epoch) -> None:
    """Validation loss at each epoch end and at the end of training (rank 0: the val set is
    not split, so one process sees all of it)."""
    if not parts.dist.is_main:
        return
    val = validate(parts, val_loader, parts.cfg.train.val_batches)
    if val:
        runlog.scalars(step, val, prefix="val")
        shown = ", ".join(f"{k} {v:.4f}" for k, v in val.items())
        runlog.message(f"step {step} (epoch {epoch}): {shown}")


def _throughput(window: dict) -> dict[str, float]:
    """Images/s and the share of wall time spent waiting for data since the last log."""
    now = time.perf_counter()
    elapsed = max(now - window["t0"], 1e-9)
    result = {"img_per_s": window["images"] / elapsed, "data_share": window["data"] / elapsed}
    window.update(t0=now, data=0.0, images=0)
    return result
