"""Turning a device name from the user ("auto", "cpu", "cuda", "cuda:1") into a torch.device,
or into its name without importing torch where the answer is certain (the ONNX path).
Without torch installed (the light install: ONNX Runtime only), "auto" is the CPU."""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import TYPE_CHECKING

from colorgan.core.errors import ColorganError

if TYPE_CHECKING:
    import torch


def resolve_device(device: str | torch.device) -> torch.device:
    """ "auto" = CUDA when available, else CPU; a bad or unavailable name is a ColorganError."""
    import torch

    name = str(device)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ColorganError(f"device {name}: CUDA is not available on this machine; use cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ColorganError(f"device {name!r}: use cpu, cuda, cuda:N or auto") from None


def no_cuda_here() -> bool:
    """True where CUDA certainly cannot be used, known without importing torch (seconds):
    torch not installed (colorgan runs CUDA through torch only), macOS, or Linux without the
    NVIDIA kernel driver (CUDA needs it). False means "maybe"."""
    if sys.platform == "darwin" or importlib.util.find_spec("torch") is None:
        return True
    return sys.platform.startswith("linux") and not os.path.exists("/proc/driver/nvidia/version")


def device_name(device: str | torch.device) -> str:
    """The resolved device as a string ("cpu", "cuda", "cuda:1"): "cpu" and "auto" on a
    machine without CUDA are answered without importing torch, the rest by resolve_device."""
    name = str(device)
    if name == "cpu" or (name == "auto" and no_cuda_here()):
        return "cpu"
    return str(resolve_device(name))
