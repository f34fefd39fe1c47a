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
against scikit-image in tests/test_color.py). This module is the reference: the image-size
path without torch, colorgan.core.fastcolor, is tested against it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from colorgan.core.lab import AB_SCALE, L_MAX  # the numbers, defined there without torch

if TYPE_CHECKING:
    import torch

# torch and kornia are imported by the functions that need them: the normalisation helpers
# below are plain arithmetic on numpy arrays too, and the ONNX inference path (numpy only)
# uses them without paying for importing torch (seconds).

COLOR_SPACES = ("lab", "rgb")
GAMUT_STEPS = 12  # bisection steps on chroma: within 0.03 % of the gamut boundary


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] -> CIE Lab (L in [0, 100]), differentiable."""
    from kornia.color import rgb_to_lab as kornia_rgb_to_lab

    return kornia_rgb_to_lab(rgb)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """CIE Lab -> sRGB in [0, 1]; colours outside the sRGB gamut are clipped."""
    from kornia.color import lab_to_rgb as kornia_lab_to_rgb

    return kornia_lab_to_rgb(lab, clip=True)


def _outside_gamut(rgb: torch.Tensor) -> torch.Tensor:
    # lab_to_rgb clamps to [0, 1]: a channel exactly at a bound was clipped (or sits on
    # the boundary, where keeping a hair less chroma costs nothing).
    return ((rgb <= 0.0) | (rgb >= 1.0)).any(dim=1)


def lab_to_rgb_in_gamut(lab: torch.Tensor) -> torch.Tensor:
    """Lab (B,3,H,W) -> sRGB; out-of-gamut pixels keep L and hue and lose just enough chroma
    (bisection on a chroma factor), where clipping RGB would change their lightness."""
    import torch

    rgb = lab_to_rgb(lab)
    bad = _outside_gamut(rgb)
    if not bool(bad.any()):
        return rgb
    px = lab.permute(0, 2, 3, 1)[bad]  # (N, 3)
    lo = torch.zeros(px.shape[0], 1, dtype=px.dtype, device=px.device)
    hi = torch.ones_like(lo)

    def convert(factor: torch.Tensor) -> torch.Tensor:
        trial = torch.cat([px[:, :1], px[:, 1:] * factor], dim=1)
        return lab_to_rgb(trial.T[None, :, :, None])[0, :, :, 0].T  # (N, 3)

    for _ in range(GAMUT_STEPS):
        mid = (lo + hi) / 2
        inside = ~_outside_gamut(convert(mid)[:, :, None])  # (N, 1)
        lo, hi = torch.where(inside, mid, lo), torch.where(inside, hi, mid)
    rgb = rgb.permute(0, 2, 3, 1).clone()
    rgb[bad] = convert(lo)
    return rgb.permute(0, 3, 1, 2)


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
    import torch

    lab = torch.cat([denormalize_l(l_norm), denormalize_ab(ab_norm)], dim=-3)
    return lab_to_rgb(lab)


def rgb_to_norm(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB [0, 1] -> [-1, 1] (target of the RGB comparison mode)."""
    return rgb * 2.0 - 1.0


def norm_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> sRGB [0, 1], clamped (a tensor or a numpy array)."""
    rgb = (x + 1.0) / 2.0
    return rgb.clip(0.0, 1.0)


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
