"""Guided colour under `colorgan evaluate`'s protocol: simulated user hints and the photo's own
truth as reference (`--hints N [--hint-seed S] [--hint-size P]`, `--reference self`).

Hints follow the protocol of Zhang et al., "Real-Time User-Guided Image Colorization with
Learned Deep Priors" (SIGGRAPH 2017; their test_sweep.py and add_color_patches_rand_gt):
N square patches of P x P pixels (P = 6) at positions drawn from a normal distribution
centred on the crop (mean (S - P + 1) / 2, standard deviation (S - P + 1) / 4 per axis,
clipped to the crop), each holding the MEAN ab of the ground truth over the patch, mask 1.
The generator is seeded per image from (the seed, the image's name), so every model, every
run and every order of the files sees the same points on the same photo.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch

from colorgan.core import color
from colorgan.pipeline.guidance import reference_from_rgb

HINT_PATCH = 6  # SIGGRAPH 2017's test protocol: random 6x6 patches


def sample_hints(truth_ab: torch.Tensor, n: int, rng: np.random.Generator, patch=HINT_PATCH):
    """(3, H, W) hint map: n patches of the truth's mean ab (normalised) and their mask."""
    _, height, width = truth_ab.shape
    out = torch.zeros(3, height, width)
    for _ in range(n):
        rows = _start(rng, height, patch)
        cols = _start(rng, width, patch)
        area = (slice(rows, rows + patch), slice(cols, cols + patch))
        out[:2, area[0], area[1]] = truth_ab[:, area[0], area[1]].mean(dim=(1, 2))[:, None, None]
        out[2, area[0], area[1]] = 1.0
    return out


def _start(rng: np.random.Generator, side: int, patch: int) -> int:
    span = side - patch + 1
    return int(np.clip(rng.normal(span / 2.0, span / 4.0), 0, side - patch))


def image_rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def guidance_inputs(truth: torch.Tensor, names: list[str], settings, bins=None):
    """(hint maps (B,3,H,W) or None, references (B,Q+1) or None) for a batch of ground-truth
    crops (B,3,H,W) sRGB, as settings.hints / hint_seed / hint_size / reference ask."""
    hints = refs = None
    if settings.hints:
        ab = color.rgb_to_l_ab(truth.float().cpu())[1]
        hints = torch.stack(
            [
                sample_hints(
                    a, settings.hints, image_rng(settings.hint_seed, name), settings.hint_size
                )
                for a, name in zip(ab, names, strict=True)
            ]
        )
    if settings.reference == "self" and bins is not None:  # None: no guided model to use it
        refs = torch.stack(
            [torch.from_numpy(reference_from_rgb(t.float().cpu(), bins)) for t in truth]
        )
    return hints, refs


def hint_ciede2000(pred: torch.Tensor, hint: torch.Tensor) -> torch.Tensor:
    """Per image, the mean CIEDE2000 between the output and the hinted colour over the hinted
    pixels (the hint's ab with the output's own L: a hint gives a colour, not a lightness).
    pred (B,3,H,W) sRGB in [0, 1], hint (B,3,H,W); NaN for an image without hints."""
    from skimage.color import deltaE_ciede2000  # the formula metrics.ciede2000 uses

    lab = color.rgb_to_lab(pred.float().cpu())
    want = torch.cat([lab[:, :1], color.denormalize_ab(hint[:, :2].float().cpu())], dim=1)
    to_np = lambda x: x.permute(0, 2, 3, 1).double().numpy()  # noqa: E731
    delta = torch.from_numpy(deltaE_ciede2000(to_np(want), to_np(lab), channel_axis=-1))
    delta = delta.float().reshape(len(pred), -1)
    mask = (hint[:, 2] > 0).reshape(len(pred), -1).cpu()
    hinted = mask.sum(1)
    total = (delta * mask).sum(1)
    return torch.where(
        hinted > 0, total / hinted.clamp_min(1), torch.full_like(total, float("nan"))
    )
