"""Checkpoints: weights in safetensors, everything else in JSON, written atomically.

A checkpoint is a folder written under a temporary name (every file checked and fsynced,
MANIFEST.json with each file's size and SHA-256 last) and renamed into place, then
`checkpoints/latest` is replaced (also by rename): a run killed at any moment leaves the
previous complete checkpoint as `latest`. Resuming walks back from the newest checkpoint
to the newest one that verifies against its manifest and loads (`load_newest`), so a
damaged file costs the steps since the checkpoint before, not the run. Nothing is
unpickled on load, so a checkpoint can never run code. Layout: see docs/architecture.md.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from colorgan.core.errors import ColorganError
from colorgan.io import atomic, modelfile
from colorgan.io.checksum import file_sha256
from colorgan.io.modelfile import GENERATOR_FILE

MANIFEST = "MANIFEST.json"
MANIFEST_FORMAT = "colorgan-checkpoint/1"
REQUIRED = (GENERATOR_FILE, "optimizer.safetensors", "state.safetensors", "state.json")
# What a damaged file raises while loading (truncated safetensors/JSON, missing keys,
# tensors of the wrong shape).
# RecursionError: JSON nested thousands deep (json recurses per level)
LOAD_ERRORS = (
    SafetensorError,
    OSError,
    ValueError,
    KeyError,
    TypeError,
    RuntimeError,
    RecursionError,
)

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
    atomic.remove_stale(root)  # folders of a run killed while writing
    name = f"step_{step:08d}"
    files = {}
    for key, module in modules.items():
        weights = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
        meta = modelfile.generator_metadata(cfg) if key == "generator" else None
        file = GENERATOR_FILE if key == "generator" else f"{key}.safetensors"
        files[file] = modelfile.safetensors_bytes(weights, meta)
    opt_tensors, opt_plain = {}, {}
    for key, opt in optimizers.items():
        tensors, opt_plain[key] = _flatten_optimizer(opt, key)
        opt_tensors.update(tensors)
    files["optimizer.safetensors"] = modelfile.safetensors_bytes(opt_tensors)
    extra_tensors = {k: v for k, v in state.items() if torch.is_tensor(v)}
    files["state.safetensors"] = modelfile.safetensors_bytes(extra_tensors or {"_": torch.zeros(1)})
    plain = {k: v for k, v in state.items() if not torch.is_tensor(v)}
    files["state.json"] = json.dumps({**plain, "optimizers": opt_plain}, indent=1).encode()
    files["config.yaml"] = cfg.to_yaml().encode()
    final = write_folder(root / name, files)
    atomic.write_text(root / "latest", name, durable=True)
    for old in sorted(p for p in root.glob("step_*") if p.is_dir())[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def write_folder(final: Path, files: dict[str, bytes]) -> Path:
    """The files, each written checked and fsynced, then MANIFEST (their sizes and SHA-256)
    last, in a hidden folder renamed to `final` at the end: a kill at any moment leaves no
    folder under a step name, and a damaged one (a disk that lied) fails verify()."""
    tmp = atomic.temp_path(final)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        manifest = {"format": MANIFEST_FORMAT, "files": {}}
        for name, data in files.items():
            atomic.write_bytes(tmp / name, data)
            digest = hashlib.sha256(data).hexdigest()
            manifest["files"][name] = {"bytes": len(data), "sha256": digest}
        atomic.write_text(tmp / MANIFEST, json.dumps(manifest, indent=1))
        atomic.fsync_folder(tmp)
        if final.exists():  # same step saved again (e.g. after a resume): replace it whole
            shutil.rmtree(final)
        atomic.place(tmp, final, overwrite=True)
        atomic.fsync_folder(final.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def verify(ckpt: Path) -> str | None:
    """None when the checkpoint folder is whole, else why not (one phrase). A folder of an
    older version without a MANIFEST passes when its files are there; loading tests it."""
    if not ckpt.is_dir():
        return "its folder does not exist"
    manifest_file = ckpt / MANIFEST
    if not manifest_file.is_file():
        missing = [f for f in REQUIRED if not (ckpt / f).is_file()]
        return f"{', '.join(missing)} missing" if missing else None
    try:
        listed = json.loads(manifest_file.read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return f"its {MANIFEST} is damaged"
    entry = {"bytes": int, "sha256": str}
    if not isinstance(listed, dict) or not all(
        isinstance(w, dict) and all(type(w.get(k)) is t for k, t in entry.items())
        for w in listed.values()
    ):
        return f"its {MANIFEST} is damaged"
    for name, want in listed.items():
        file = ckpt / name
        if not file.is_file():
            return f"{name} is missing"
        size = file.stat().st_size
        if size != want["bytes"]:
            return f"{name} has {size:,} bytes, {want['bytes']:,} were written"
        if file_sha256(file) != want["sha256"]:
            return f"{name} does not match its checksum"
    return None


def candidates(run_dir: Path) -> list[Path]:
    """Checkpoint folders, newest step first; the one `latest` names comes first even when
    it is missing (then verify says so)."""
    root = Path(run_dir) / "checkpoints"
    found = sorted((p for p in root.glob("step_*") if p.is_dir()), reverse=True)
    pointer = root / "latest"
    named = root / pointer.read_text().strip() if pointer.is_file() else None
    if named is not None and named.name.startswith("step_") and named not in found:
        found.insert(0, named)
    return found


def load_newest(run_dir: Path, modules: dict, optimizers: dict) -> tuple[Path, dict, list[str]]:
    """Load the newest checkpoint that verifies and loads; (its folder, its saved state,
    "step_X: why it was skipped" for each newer one). ColorganError when none does."""
    skipped = []
    for ckpt in candidates(run_dir):
        if ckpt.exists() and not ckpt.is_dir():  # resuming would retrain its steps, then
            # fail to save them, every time
            raise ColorganError(
                f"{ckpt} is a file where a checkpoint folder belongs; move it away to resume"
            )
        problem = verify(ckpt)
        if problem is None:
            try:
                return ckpt, load_checkpoint(ckpt, modules, optimizers), skipped
            except LOAD_ERRORS as exc:  # an older checkpoint without a manifest, damaged
                problem = f"it does not load ({_first_line(exc)})"
        skipped.append(f"{ckpt.name}: {problem}")
    why = f" ({'; '.join(skipped)})" if skipped else ""
    raise ColorganError(f"nothing to resume in {run_dir}: no complete checkpoint{why}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def load_checkpoint(ckpt: Path, modules: dict, optimizers: dict) -> dict:
    """Load weights and optimiser state in place; return the saved state (tensors included)."""
    for key, module in modules.items():
        file = ckpt / (GENERATOR_FILE if key == "generator" else f"{key}.safetensors")
        module.load_state_dict(load_file(str(file)))
    saved = json.loads((ckpt / "state.json").read_text())
    step = saved.get("step") if isinstance(saved, dict) else None
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"state.json: step={str(step)[:40]!r} is not a step number")
    opt_tensors = load_file(str(ckpt / "optimizer.safetensors"))
    for key, opt in optimizers.items():
        opt.load_state_dict(_unflatten_optimizer(opt_tensors, saved["optimizers"][key], key))
    saved.update(load_file(str(ckpt / "state.safetensors")))
    saved.pop("_", None)
    return saved
