"""Which pip extra of colorgan brings which third-party module, and the one line a command
prints when one is missing (colorgan.interfaces.cli turns every ModuleNotFoundError into it).

The base install colours photos in ONNX Runtime (numpy, Pillow, onnxruntime, PyYAML, tqdm,
tifffile: pyproject.toml); the extras below add the rest. docs/install.md says what each
costs on disk.
"""

from __future__ import annotations

from colorgan.core.errors import ColorganError

TRAIN = """torch torchvision kornia torchmetrics tensorboard skimage safetensors h5py
torch_fidelity matplotlib scipy imagehash onnx onnxscript""".split()
# top-level module -> extra (pyproject.toml's [project.optional-dependencies])
EXTRAS = {
    **dict.fromkeys(["fastapi", "starlette", "uvicorn", "multipart", "python_multipart"], "web"),
    **dict.fromkeys(["av", "cv2"], "video"),
    **dict.fromkeys(TRAIN, "train"),
    **dict.fromkeys(["ray", "pyarrow", "fsspec", "s3fs"], "batch"),
    **dict.fromkeys(["pytest", "httpx", "playwright", "moto", "boto3"], "test"),
}


def install_command(module: str | None) -> str:
    """The pip command that installs `module` with colorgan: its extra's, else the base
    install's (a module of the base missing means a broken install)."""
    top = (module or "").split(".")[0]
    extra = EXTRAS.get(top)
    return f"pip install 'colorgan[{extra}]'" if extra else "pip install --force-reinstall colorgan"


def missing(module: str | None, what: str) -> ColorganError:
    """The one-line error for `what` (a command, a feature) needing a module not installed."""
    return ColorganError(
        f"{what} needs the package {module!r}, which is not installed: {install_command(module)}"
    )
