"""Model files: the self-describing generator file (safetensors weights + its config in the
metadata) and the one resolver from a model reference ("default", a run dir, a checkpoint dir,
a generator file, an .onnx export) to the file to load. Nothing is unpickled, so loading a
model never runs code.

The bundled model ships twice, both files listed with their SHA-256 in DEFAULT_SHA256
(`sha256sum -c` reads it): as ONNX (DEFAULT_ONNX, what colouring runs, in ONNX Runtime: no
torch) and as the safetensors it was exported from (DEFAULT_MODEL: what `--backend torch`,
CUDA, `colorgan export` and fine-tuning load). scripts/pack_default_model.py writes all three.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from colorgan.core.errors import ColorganError
from colorgan.io import atomic, checksum, modelmeta

if TYPE_CHECKING:  # torch is imported where weights are written: reading needs none
    import torch
    from torch import nn

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_MODEL = ASSETS / "default_model.safetensors"
DEFAULT_ONNX = ASSETS / "default_model.onnx"
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
    atomic.write_bytes(path, safetensors_bytes(tensors, generator_metadata(cfg)), durable=True)


def generator_metadata(cfg) -> dict[str, str]:
    """What makes a generator file self-describing: the config that rebuilds it."""
    return {CONFIG_META_KEY: cfg.to_yaml(), "format": FORMAT}


def safetensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict | None = None) -> bytes:
    """A safetensors file in memory, for io.atomic to write checked."""
    import safetensors.torch  # torch: only where weights are written

    return safetensors.torch.save(tensors, metadata=metadata)


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
    from safetensors import SafetensorError, safe_open  # [train]: only torch models need it

    try:
        with safe_open(str(path), framework="numpy") as f:  # metadata only: no torch
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ColorganError(f"{path}: not a safetensors file ({exc})") from None
    if CONFIG_META_KEY not in meta:
        raise ColorganError(f"{path}: not a colorgan generator (no config in its metadata)")
    return modelmeta.parse_config(meta[CONFIG_META_KEY], path)  # untrusted: checked


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    pointer = Path(run_dir) / "checkpoints" / "latest"
    if not pointer.is_file():
        return None
    ckpt = pointer.parent / pointer.read_text().strip()
    return ckpt if (ckpt / "state.json").is_file() else None


def default_model_path(path: Path | None = None) -> Path:
    """A file of the bundled model (DEFAULT_ONNX unless `path` names another), after checking
    its SHA-256 against the one DEFAULT_SHA256 lists for it."""
    return _verified_default(DEFAULT_ONNX if path is None else path)[0]


def _verified_default(path: Path) -> tuple[Path, str]:
    """(a bundled model file, its SHA-256), checked against the digest listed for it."""
    if not path.is_file():
        raise ColorganError(NO_DEFAULT_MODEL)
    if not DEFAULT_SHA256.is_file():
        raise ColorganError(f"{DEFAULT_SHA256}: missing; cannot verify the bundled model")
    expected = _listed_digests().get(path.name)
    if expected is None:
        raise ColorganError(f"{DEFAULT_SHA256}: lists no digest for {path.name}")
    digest = checksum.file_sha256(path)
    if digest != expected:
        raise ColorganError(
            f"{path}: SHA-256 {digest} does not match {expected}; "
            "the bundled model is damaged, reinstall colorgan"
        )
    return path, digest


def _listed_digests() -> dict[str, str]:
    """File name -> SHA-256, from DEFAULT_SHA256's `sha256sum` lines ("<digest>  <name>")."""
    fields = [line.split() for line in DEFAULT_SHA256.read_text().splitlines()]
    return {f[1].lstrip("*"): f[0].lower() for f in fields if len(f) == 2}


# --- the one model-reference resolver -------------------------------------------------------


@dataclass(frozen=True)
class ModelRef:
    """What a model reference names, resolved once: the file to load and how to read it."""

    path: Path  # the generator .safetensors, or an .onnx file
    kind: str  # "safetensors" or "onnx"
    label: str  # the reference as the user gave it, for messages
    sha256: str | None = None  # known digest (the bundled model's, checked on resolving)
    weights: Path | None = None  # an .onnx file's torch weights, where shipped beside it

    def digest(self) -> str:
        """The file's SHA-256: the known one, else computed now (a cache key, say)."""
        return self.sha256 or checksum.file_sha256(self.path)


def resolve_model(ref: str | Path | ModelRef) -> ModelRef:
    """ "default" (the bundled model, its SHA-256 checked here, once), a run dir, a
    checkpoint dir, a generator .safetensors or an exported .onnx file -> ModelRef.
    Loading it is colorgan.pipeline.loading's (it builds networks; this layer reads files)."""
    if isinstance(ref, ModelRef):
        return ref
    if str(ref) == "default":  # the ONNX file; its weights are checked when torch wants them
        path, digest = _verified_default(DEFAULT_ONNX)
        return ModelRef(path, "onnx", "default", digest, weights=DEFAULT_MODEL)
    path = Path(ref).expanduser()
    if path.suffix.lower() == ".onnx":
        if not path.is_file():
            raise ColorganError(f"ONNX model not found: {path}")
        return ModelRef(path, "onnx", str(ref))
    return ModelRef(resolve_generator_file(path), "safetensors", str(ref))


def torch_weights(ref: ModelRef) -> ModelRef:
    """The safetensors reference a torch model is built from: `ref` itself, or the weights
    shipped beside an .onnx file (the bundled model's, checked here); an .onnx file alone
    has none."""
    if ref.kind == "safetensors":
        return ref
    if ref.weights is None:
        raise ColorganError(f"{ref.label}: an ONNX file has no torch weights; pass the run dir")
    path, digest = _verified_default(ref.weights)
    return ModelRef(path, "safetensors", ref.label, digest)


def size_multiple(network) -> int:
    """What a network's input H and W must be multiples of (1 when it does not say)."""
    return int(getattr(network, "size_multiple", 1))
