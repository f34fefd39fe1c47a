"""`colorgan train`: two-stage pix2pix training (L1 pretraining, then adversarial).

Read top to bottom: building the parts, one training step (a function returning a dict
of losses), validation, the loop (logs whatever the step returns, checkpoints, resume),
and the command-line shell.
"""

from __future__ import annotations

import json
import logging
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from . import checkpoint as ckpt_mod
from . import config as config_mod
from .color import model_target, output_to_rgb
from .data import epochs, make_loaders
from .errors import ColorganError
from .losses import AdversarialLoss, PerceptualLoss
from .models import build_discriminator, generator_from_config
from .runlog import RunLog

log = logging.getLogger(__name__)


class NonFiniteLoss(ColorganError):
    pass


@dataclass
class Parts:
    """Everything one training step touches (a plain container: the functions below act)."""

    cfg: config_mod.Config
    device: torch.device
    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    adversarial: AdversarialLoss
    perceptual: PerceptualLoss | None
    autocast_dtype: torch.dtype | None = None
    scaler: torch.amp.GradScaler | None = None
    extra: dict = field(default_factory=dict)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ColorganError(f"train.device={name!r} but CUDA is not available here")
    return device


def build_parts(cfg: config_mod.Config, device: torch.device) -> Parts:
    torch.manual_seed(cfg.train.seed)
    generator = generator_from_config(cfg.model, cfg.data.size).to(device)
    discriminator = build_discriminator(cfg.model).to(device)
    betas = (cfg.train.beta1, cfg.train.beta2)
    perceptual = None
    if cfg.loss.perceptual > 0:
        perceptual = PerceptualLoss(cfg.loss.perceptual_net).to(device)
        log.info("perceptual loss on %s features", perceptual.net_name)
    # AMP only on CUDA: on CPU bf16 autocast measured 2.5-3x slower than fp32.
    amp = cfg.train.amp and device.type == "cuda"
    dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if amp else None
    return Parts(
        cfg=cfg,
        device=device,
        generator=generator,
        discriminator=discriminator,
        opt_g=torch.optim.Adam(generator.parameters(), lr=cfg.train.lr, betas=betas),
        opt_d=torch.optim.Adam(discriminator.parameters(), lr=cfg.train.lr, betas=betas),
        adversarial=AdversarialLoss(cfg.loss.adv_type),
        perceptual=perceptual,
        autocast_dtype=dtype,
        scaler=torch.amp.GradScaler("cuda") if dtype == torch.float16 else None,
    )


def _autocast(parts: Parts):
    if parts.autocast_dtype is None:
        return nullcontext()
    return torch.autocast(parts.device.type, dtype=parts.autocast_dtype)


def _check_finite(losses: dict[str, torch.Tensor]) -> None:
    for name, value in losses.items():
        if not torch.isfinite(value).all():
            raise NonFiniteLoss(f"loss {name} became {value.item()}")


def _backward_step(parts: Parts, loss: torch.Tensor, opt: torch.optim.Optimizer) -> None:
    opt.zero_grad(set_to_none=True)
    if parts.scaler is None:
        loss.backward()
        opt.step()
    else:
        parts.scaler.scale(loss).backward()
        parts.scaler.step(opt)
        parts.scaler.update()


def generator_losses(parts: Parts, l_in, target, fake, adversarial: bool) -> dict:
    """Weighted generator loss terms; their sum is what the generator minimises."""
    w = parts.cfg.loss
    losses = {}
    if w.l1 > 0:
        losses["g_l1"] = w.l1 * (fake - target).abs().mean()
    if parts.perceptual is not None:
        space = parts.cfg.model.color_space
        fake_rgb = output_to_rgb(l_in, fake.float(), space)
        real_rgb = output_to_rgb(l_in, target, space)
        losses["g_perceptual"] = w.perceptual * parts.perceptual(fake_rgb, real_rgb)
    if adversarial and w.adv > 0:
        logits = parts.discriminator(torch.cat([l_in, fake], 1))
        losses["g_adv"] = w.adv * parts.adversarial(logits, real=True)
    return losses


def train_step(parts: Parts, rgb: torch.Tensor, stage: str) -> dict[str, float]:
    """One optimiser step on a batch of sRGB images; stage is "pretrain" or "gan"."""
    l_in, target = model_target(
        rgb.to(parts.device, non_blocking=True), parts.cfg.model.color_space
    )
    out: dict[str, float] = {}
    with _autocast(parts):
        fake = parts.generator(l_in)
        if stage == "gan":
            parts.discriminator.requires_grad_(True)
            real_logits = parts.discriminator(torch.cat([l_in, target], 1))
            fake_logits = parts.discriminator(torch.cat([l_in, fake.detach()], 1))
            d_losses = {
                "d_real": parts.adversarial(real_logits, real=True),
                "d_fake": parts.adversarial(fake_logits, real=False),
            }
    if stage == "gan":
        _check_finite(d_losses)
        _backward_step(parts, 0.5 * (d_losses["d_real"] + d_losses["d_fake"]), parts.opt_d)
        parts.discriminator.requires_grad_(False)  # no D gradients from the G step
        out.update({k: v.item() for k, v in d_losses.items()})
    with _autocast(parts):
        g_losses = generator_losses(parts, l_in, target, fake, adversarial=stage == "gan")
    _check_finite(g_losses)
    total = sum(g_losses.values())
    _backward_step(parts, total, parts.opt_g)
    out.update({k: v.item() for k, v in g_losses.items()})
    out["g_total"] = total.item()
    return out


@torch.no_grad()
def validate(parts: Parts, loader: DataLoader | None, max_batches: int) -> dict[str, float]:
    """Mean L1 of the generator output on held-out images (unweighted, in [-1, 1] units)."""
    if loader is None:
        return {}
    parts.generator.eval()
    total, count = 0.0, 0
    for i, rgb in enumerate(loader):
        if i >= max_batches:
            break
        l_in, target = model_target(rgb.to(parts.device), parts.cfg.model.color_space)
        with _autocast(parts):
            fake = parts.generator(l_in)
        total += (fake.float() - target).abs().mean().item() * len(rgb)
        count += len(rgb)
    parts.generator.train()
    return {"val_l1": total / max(count, 1)}


# --- the loop ------------------------------------------------------------------------------


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


def _loaders(cfg: config_mod.Config, device: torch.device):
    train, val, report = make_loaders(
        cfg.data, cfg.train.batch_size, cfg.train.seed, pin_memory=device.type == "cuda"
    )
    source = (val or train).dataset
    fixed = torch.stack([source[i] for i in range(min(4, len(source)))])  # sample-grid rows
    return train, val, fixed, report


def _start(cfg, out: Path, resume: bool, parts: Parts) -> int:
    """Step to start from: 0 for a new run, the saved step when resuming."""
    latest = ckpt_mod.latest_checkpoint(out)
    if not resume:
        if latest is not None or (out / ckpt_mod.GENERATOR_FILE).exists():
            raise ColorganError(
                f"{out} already holds a run; pass --resume to continue it or choose another --out"
            )
        out.mkdir(parents=True, exist_ok=True)
        ckpt_mod.atomic_write_text(out / "config.yaml", cfg.to_yaml())
        return 0
    if latest is None:
        raise ColorganError(f"nothing to resume in {out}: no complete checkpoint")
    saved = ckpt_mod.load_checkpoint(latest, _modules(parts), _optimizers(parts))
    _set_rng_state(saved, parts.device)
    return int(saved["step"])


def _modules(parts: Parts) -> dict:
    return {"generator": parts.generator, "discriminator": parts.discriminator}


def _optimizers(parts: Parts) -> dict:
    return {"opt_g": parts.opt_g, "opt_d": parts.opt_d}


def _save(parts: Parts, out: Path, step: int) -> Path:
    state = {"step": step, **_rng_state(parts.device)}
    return ckpt_mod.save_checkpoint(
        out,
        step,
        _modules(parts),
        _optimizers(parts),
        state,
        parts.cfg,
        keep=parts.cfg.train.keep_checkpoints,
    )


def run(cfg: config_mod.Config, out_dir: str | Path, resume: bool = False) -> Path:
    """Train as `cfg` says into `out_dir`; returns the final generator file."""
    out = Path(out_dir)
    device = resolve_device(cfg.train.device)
    train_loader, val_loader, fixed, report = _loaders(cfg, device)
    parts = build_parts(cfg, device)
    step = _start(cfg, out, resume, parts)
    total, n_pre = cfg.train.steps, config_mod.pretrain_steps(cfg)
    runlog = RunLog(out, total, step)
    runlog.message(f"{report.summary()}; {total} steps ({n_pre} L1 pretraining) on {device}")
    try:
        _loop(parts, train_loader, val_loader, fixed, runlog, out, step)
    except NonFiniteLoss as exc:
        last = ckpt_mod.latest_checkpoint(out)
        where = f"the last good checkpoint is {last}" if last else "no checkpoint was written"
        raise ColorganError(f"{exc}; training stopped, {where}") from None
    finally:
        runlog.close()
    final = out / ckpt_mod.GENERATOR_FILE
    ckpt_mod.save_generator(final, parts.generator, cfg)
    return final


def _loop(parts, loader, val_loader, fixed, runlog, out, step) -> None:
    cfg = parts.cfg.train
    n_pre = config_mod.pretrain_steps(parts.cfg)
    parts.generator.train()
    window = {"t0": time.perf_counter(), "data": 0.0, "images": 0}
    batches = epochs(loader, start_step=step)
    epoch = None
    while step < cfg.steps:
        t_wait = time.perf_counter()
        new_epoch, rgb = next(batches)
        window["data"] += time.perf_counter() - t_wait
        if epoch is not None and new_epoch != epoch:
            _validate_and_log(parts, val_loader, runlog, step, epoch)
        epoch = new_epoch
        losses = train_step(parts, rgb, "pretrain" if step < n_pre else "gan")
        step += 1
        window["images"] += len(rgb)
        if step % cfg.log_every == 0 or step == cfg.steps:
            losses.update(_throughput(window))
            runlog.scalars(step, losses)
            runlog.progress(step, losses)
        if step % cfg.sample_every == 0:
            runlog.samples(
                step, parts.generator, fixed.to(parts.device), parts.cfg.model.color_space
            )
        if step % cfg.ckpt_every == 0 or step == cfg.steps:
            _save(parts, out, step)
    _validate_and_log(parts, val_loader, runlog, step, epoch)


def _validate_and_log(parts, val_loader, runlog, step, epoch) -> None:
    """Validation loss at each epoch end and at the end of training."""
    val = validate(parts, val_loader, parts.cfg.train.val_batches)
    if val:
        runlog.scalars(step, val, prefix="val")
        runlog.message(f"step {step} (epoch {epoch}): val_l1 {val['val_l1']:.4f}")


def _throughput(window: dict) -> dict[str, float]:
    """Images/s and the share of wall time spent waiting for data since the last log."""
    now = time.perf_counter()
    elapsed = max(now - window["t0"], 1e-9)
    result = {"img_per_s": window["images"] / elapsed, "data_share": window["data"] / elapsed}
    window.update(t0=now, data=0.0, images=0)
    return result


# --- command line ------------------------------------------------------------------------

# What may differ from the saved config when resuming: the rest would change the experiment.
RESUME_CHANGEABLE = {"train.steps", "train.device", "data.root", "data.workers"}


def add_arguments(p) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--preset", help=f"one of: {', '.join(config_mod.list_presets())}")
    src.add_argument("--config", help="a YAML config file")
    p.add_argument("--data", help="folder of colour images (data.root)")
    p.add_argument("--out", required=True, help="run directory (created; never overwritten)")
    p.add_argument("--size", type=int, help="training crop size (data.size)")
    p.add_argument("--steps", type=int, help="total steps, both stages (train.steps)")
    p.add_argument("--batch-size", type=int, help="train.batch_size")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N (train.device)")
    p.add_argument("--workers", type=int, help="data loader workers (data.workers)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="any config value, e.g. --set loss.adv_type=lsgan (repeatable)",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out")


def _overrides(args) -> dict:
    flags = {
        "data.root": args.data,
        "data.size": args.size,
        "train.steps": args.steps,
        "train.batch_size": args.batch_size,
        "train.device": args.device,
        "data.workers": args.workers,
    }
    values = {k: v for k, v in flags.items() if v is not None}
    for text in args.set:
        section, key, value = config_mod.parse_override(text)
        values[f"{section}.{key}"] = value
    return values


def resolve_config(args) -> config_mod.Config:
    overrides = _overrides(args)
    if args.resume:
        saved = Path(args.out) / "config.yaml"
        if not saved.is_file():
            raise ColorganError(f"nothing to resume in {args.out}: no config.yaml")
        if args.preset or args.config:
            raise ColorganError("--resume uses the run's saved config; drop --preset/--config")
        fixed = sorted(set(overrides) - RESUME_CHANGEABLE)
        if fixed:
            raise ColorganError(
                f"cannot change {', '.join(fixed)} when resuming; "
                f"changeable: {', '.join(sorted(RESUME_CHANGEABLE))}"
            )
        return config_mod.with_overrides(config_mod.load(str(saved)), overrides)
    if not (args.preset or args.config):
        raise ColorganError("say what to train: --preset NAME or --config FILE")
    cfg = config_mod.with_overrides(config_mod.load(args.preset or args.config), overrides)
    if not cfg.data.root:
        raise ColorganError("no training data: pass --data DIR")
    return cfg


def run_cli(args) -> int:
    cfg = resolve_config(args)
    final = run(cfg, args.out, resume=args.resume)
    print(f"trained generator: {final}")
    return 0
