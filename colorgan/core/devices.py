"""Turning a device name from the user ("auto", "cpu", "cuda", "cuda:1") into a torch.device."""

from __future__ import annotations

import torch

from colorgan.core.errors import ColorganError


def resolve_device(device: str | torch.device) -> torch.device:
    """ "auto" = CUDA when available, else CPU; a bad or unavailable name is a ColorganError."""
    name = str(device)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ColorganError(f"device {name}: CUDA is not available on this machine; use cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ColorganError(f"device {name!r}: use cpu, cuda, cuda:N or auto") from None
