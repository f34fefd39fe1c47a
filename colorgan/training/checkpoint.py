"""Checkpoints: weights in safetensors, everything else in JSON, written atomically.

A checkpoint is a folder written under a temporary name and renamed into place, then
`checkpoints/latest` is replaced (also by rename): a run killed at any moment leaves the
previous complete checkpoint as `latest`. Nothing is unpickled on load, so a checkpoint
can never run code. Layout: see docs/architecture.md.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from colorgan.io.atomic import atomic_write_text
from colorgan.io.modelfile import GENERATOR_FILE, save_generator

# --- training checkpoints ---------------------------------------------------------------


def _flatten_optimizer(opt: torch.optim.Optimizer, prefix: str):
    sd = opt.state_dict()
    tensors, plain = {}, {"param_groups": sd["param_groups"], "state": {}}
    for idx, entry in sd["state"].items():
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}.{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                plain["state"].setdefault(str(idx), {})[key] = value
    return tensors, plain


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], plain: dict, prefix: str) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        head, idx, key = name.split(".", 2)
        if head == prefix:
            state.setdefault(int(idx), {})[key] = value
    for idx, entry in plain["state"].items():
        state.setdefault(int(idx), {}).update(entry)
    return {"state": state, "param_groups": plain["param_groups"]}


def save_checkpoint(
    run_dir, step: int, modules: dict, optimizers: dict, state: dict, cfg, keep: int = 3
) -> Path:
    """Write checkpoints/step_XXXXXXXX atomically, point `latest` at it, prune old ones."""
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".tmp-*"):  # left by a run killed while writing
        shutil.rmtree(stale, ignore_errors=True)
    name = f"step_{step:08d}"
    tmp = root / f".tmp-{name}-{os.getpid()}"
    tmp.mkdir()
    for key, module in modules.items():
        if key == "generator":
            save_generator(tmp / GENERATOR_FILE, module, cfg)
        else:
            save_file(
                {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()},
                str(tmp / f"{key}.safetensors"),
            )
    opt_tensors, opt_plain = {}, {}
    for key, opt in optimizers.items():
        tensors, opt_plain[key] = _flatten_optimizer(opt, key)
        opt_tensors.update(tensors)
    save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
    extra_tensors = {k: v for k, v in state.items() if torch.is_tensor(v)}
    save_file(extra_tensors or {"_": torch.zeros(1)}, str(tmp / "state.safetensors"))
    plain = {k: v for k, v in state.items() if not torch.is_tensor(v)}
    (tmp / "state.json").write_text(json.dumps({**plain, "optimizers": opt_plain}, indent=1))
    (tmp / "config.yaml").write_text(cfg.to_yaml())
    final = root / name
    if final.exists():  # same step saved again (e.g. after a resume): replace it whole
        shutil.rmtree(final)
    os.replace(tmp, final)
    atomic_write_text(root / "latest", name)
    for old in sorted(p for p in root.glob("step_*") if p.is_dir())[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(ckpt: Path, modules: dict, optimizers: dict) -> dict:
    """Load weights and optimiser state in place; return the saved state (tensors included)."""
    for key, module in modules.items():
        file = ckpt / (GENERATOR_FILE if key == "generator" else f"{key}.safetensors")
        module.load_state_dict(load_file(str(file)))
    saved = json.loads((ckpt / "state.json").read_text())
    opt_tensors = load_file(str(ckpt / "optimizer.safetensors"))
    for key, opt in optimizers.items():
        opt.load_state_dict(_unflatten_optimizer(opt_tensors, saved["optimizers"][key], key))
    saved.update(load_file(str(ckpt / "state.safetensors")))
    saved.pop("_", None)
    return saved
