"""Colour space conversion and the network's normalisation, defined once.

Every other module goes through these functions; no other file knows the Lab
ranges or the scaling to [-1, 1].

Ranges (all tensors are float, shape (..., C, H, W), any batch shape):
  * sRGB            : [0, 1], C = 3
  * Lab (CIE, D65)  : L in [0, 100], a and b roughly in [-110, 110], C = 3
  * network L       : [-1, 1], C = 1  (L / 50 - 1)
  * network ab      : [-1, 1], C = 2  (ab / 110, the sRGB gamut fits inside +-110)
  * network RGB     : [-1, 1], C = 3  (the RGB comparison mode: rgb * 2 - 1)

The conversion itself is kornia's (differentiable, runs on CPU and CUDA, checked
against scikit-image in tests/test_color.py).
"""

from __future__ import annotations

import torch
from kornia.color import lab_to_rgb as _kornia_lab_to_rgb
from kornia.color import rgb_to_lab as _kornia_rgb_to_lab

L_MAX = 100.0
AB_SCALE = 110.0

COLOR_SPACES = ("lab", "rgb")


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] -> CIE Lab (L in [0, 100]), differentiable."""
    return _kornia_rgb_to_lab(rgb)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """CIE Lab -> sRGB in [0, 1]; colours outside the sRGB gamut are clipped."""
    return _kornia_lab_to_rgb(lab, clip=True)


def normalize_l(L: torch.Tensor) -> torch.Tensor:
    return L / (L_MAX / 2) - 1.0


def denormalize_l(l_norm: torch.Tensor) -> torch.Tensor:
    return (l_norm + 1.0) * (L_MAX / 2)


def normalize_ab(ab: torch.Tensor) -> torch.Tensor:
    return ab / AB_SCALE


def denormalize_ab(ab_norm: torch.Tensor) -> torch.Tensor:
    return ab_norm * AB_SCALE


def rgb_to_l_ab(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """sRGB [0, 1] -> (network L, network ab), both in [-1, 1]."""
    lab = rgb_to_lab(rgb)
    return normalize_l(lab[..., :1, :, :]), normalize_ab(lab[..., 1:, :, :])


def l_ab_to_rgb(l_norm: torch.Tensor, ab_norm: torch.Tensor) -> torch.Tensor:
    """(network L, network ab) -> sRGB [0, 1] with gamut clipping."""
    lab = torch.cat([denormalize_l(l_norm), denormalize_ab(ab_norm)], dim=-3)
    return lab_to_rgb(lab)


def rgb_to_norm(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB [0, 1] -> [-1, 1] (target of the RGB comparison mode)."""
    return rgb * 2.0 - 1.0


def norm_to_rgb(x: torch.Tensor) -> torch.Tensor:
    return ((x + 1.0) / 2.0).clamp(0.0, 1.0)


def model_target(rgb: torch.Tensor, color_space: str) -> tuple[torch.Tensor, torch.Tensor]:
    """What the generator sees and what it must predict, for a batch of sRGB images.

    Returns (input L in [-1, 1], target in [-1, 1]: ab for "lab", RGB for "rgb").
    """
    l_norm, ab_norm = rgb_to_l_ab(rgb)
    if color_space == "lab":
        return l_norm, ab_norm
    if color_space == "rgb":
        return l_norm, rgb_to_norm(rgb)
    raise ValueError(f"unknown color space {color_space!r}; valid: {', '.join(COLOR_SPACES)}")


def output_to_rgb(l_norm: torch.Tensor, out: torch.Tensor, color_space: str) -> torch.Tensor:
    """Generator output -> sRGB [0, 1]. In "lab" mode the input L is kept exactly."""
    if color_space == "lab":
        return l_ab_to_rgb(l_norm, out)
    if color_space == "rgb":
        return norm_to_rgb(out)
    raise ValueError(f"unknown color space {color_space!r}; valid: {', '.join(COLOR_SPACES)}")


def out_channels(color_space: str) -> int:
    if color_space not in COLOR_SPACES:
        raise ValueError(f"unknown color space {color_space!r}; valid: {', '.join(COLOR_SPACES)}")
    return 2 if color_space == "lab" else 3
