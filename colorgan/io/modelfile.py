"""Model files: the self-describing generator file (safetensors weights + its config in the
metadata) and the one resolver from a model reference ("default", a run dir, a checkpoint dir,
a generator file) to that file. Nothing is unpickled, so loading a model never runs code.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
import yaml
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from colorgan.core import config as config_mod
from colorgan.core.errors import ColorganError

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_MODEL = ASSETS / "default_model.safetensors"
DEFAULT_SHA256 = ASSETS / "default_model.sha256"
NO_DEFAULT_MODEL = (
    "no default model is bundled yet; train one with `colorgan train` and pass its path"
)

GENERATOR_FILE = "generator.safetensors"
CONFIG_META_KEY = "colorgan_config"
FORMAT = "colorgan-generator/1"


def save_generator(path: Path, generator: nn.Module, cfg, dtype: torch.dtype | None = None):
    """A self-describing generator file: weights plus the config needed to rebuild it."""
    path = Path(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    if dtype is not None:
        tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
    meta = {CONFIG_META_KEY: cfg.to_yaml(), "format": FORMAT}
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)


def resolve_generator_file(path: str | Path) -> Path:
    """A run dir, a checkpoint dir or a .safetensors file -> the generator file."""
    path = Path(path).expanduser()
    if path.is_file():
        return path
    if not path.is_dir():
        raise ColorganError(f"model not found: {path}")
    if (path / GENERATOR_FILE).is_file():
        return path / GENERATOR_FILE
    ckpt = latest_checkpoint(path)
    if ckpt is None:
        raise ColorganError(f"{path}: no {GENERATOR_FILE} and no complete checkpoint in it")
    return ckpt / GENERATOR_FILE


def read_generator_config(path: Path):
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ColorganError(f"{path}: not a safetensors file ({exc})") from None
    if CONFIG_META_KEY not in meta:
        raise ColorganError(f"{path}: not a colorgan generator (no config in its metadata)")
    return config_mod.from_dict(yaml.safe_load(meta[CONFIG_META_KEY]))


def load_generator(path: str | Path, device: str | torch.device = "cpu"):
    """(generator in eval mode, Config) from a run dir, checkpoint dir or generator file."""
    from colorgan.models import generator_from_config  # models import torch.nn layers

    file = resolve_generator_file(path)
    cfg = read_generator_config(file)
    generator = generator_from_config(cfg.model, cfg.data.size, load_pretrained=False)
    state = load_file(str(file))
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        generator.load_state_dict(state)
    except RuntimeError as exc:
        raise ColorganError(f"{file}: weights do not fit {cfg.model.generator} ({exc})") from None
    return generator.to(device).eval(), cfg


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    pointer = Path(run_dir) / "checkpoints" / "latest"
    if not pointer.is_file():
        return None
    ckpt = pointer.parent / pointer.read_text().strip()
    return ckpt if (ckpt / "state.json").is_file() else None


def default_model_path() -> Path:
    """The bundled model, after checking its SHA-256 against the one shipped beside it."""
    if not DEFAULT_MODEL.is_file():
        raise ColorganError(NO_DEFAULT_MODEL)
    if not DEFAULT_SHA256.is_file():
        raise ColorganError(f"{DEFAULT_SHA256}: missing; cannot verify the bundled model")
    expected = DEFAULT_SHA256.read_text().split()[0].lower()
    digest = hashlib.sha256()
    with open(DEFAULT_MODEL, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise ColorganError(
            f"{DEFAULT_MODEL}: SHA-256 {digest.hexdigest()} does not match {expected}; "
            "the bundled model is damaged, reinstall colorgan"
        )
    return DEFAULT_MODEL
