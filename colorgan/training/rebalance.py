"""Class rebalancing for the distribution head (Zhang et al., ECCV 2016, section 2.2).

Most pixels of most photos are nearly gray (skies, walls, roads), so a network trained on
plain cross-entropy learns that a muted bin is rarely a big mistake, and its distribution
peaks near gray wherever it is unsure: colour comes out faithful but dull. Zhang et al.
weight each pixel's loss by how rare its colour is:

    w = ((1 - mix) * prior + mix / Q) ** -1, normalised so that E_prior[w] = 1,

where `prior` is the empirical distribution of the training pixels over the Q ab bins,
smoothed with a Gaussian (sigma 5 Lab units), and mix = 1/2 keeps rare bins from taking over.
`loss.rebalance` = s in [0, 1] softens this: the weights are w ** s, normalised again, so
s = 0 is plain cross-entropy and s = 1 is Zhang et al.'s weighting.

The prior is counted on the training files only (never validation), from ~64 px copies:
colour statistics need no detail, and 300 photos take a few seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from colorgan.core import abbins, color
from colorgan.core.errors import ColorganError
from colorgan.io import images
from colorgan.training.folders import LOAD_ERRORS, image_to_tensor

log = logging.getLogger(__name__)

PRIOR_SIZE = 64  # the short side the prior's copies are read at
MIX = 0.5  # Zhang et al.'s lambda: the uniform share mixed into the prior


def colour_prior(files: Sequence[str | Path]) -> np.ndarray:
    """(Q,) float32 summing to 1: the share of the files' pixels in each ab bin, each image
    weighted by its pixel count at PRIOR_SIZE, smoothed as abbins.histogram does."""
    total = np.zeros(abbins.num_bins(), np.float64)
    for path in files:
        try:
            im = images.open_rgb(path, min_short=PRIOR_SIZE)
        except LOAD_ERRORS as exc:  # the training loader warns about it again
            log.warning("colour prior: skipping %s (%s)", path, exc)
            continue
        im.thumbnail((PRIOR_SIZE * 4, PRIOR_SIZE))  # short side ~PRIOR_SIZE for landscapes
        _, ab = color.rgb_to_l_ab(image_to_tensor(im))
        total += abbins.histogram(ab.numpy()) * (im.width * im.height)
    if not total.any():
        raise ColorganError("colour prior: none of the training images could be read")
    return (total / total.sum()).astype(np.float32)


def bin_weights(prior: np.ndarray, strength: float) -> np.ndarray:
    """(Q,) float32 loss weights for the bins from their prior; E_prior[weights] = 1."""
    if not 0 <= strength <= 1:
        raise ValueError(f"rebalance strength {strength}: must be in [0, 1]")
    w = 1.0 / ((1 - MIX) * prior.astype(np.float64) + MIX / len(prior))
    w = w**strength
    return (w / (prior * w).sum()).astype(np.float32)


def weights_for(files: Sequence[str | Path], strength: float) -> torch.Tensor | None:
    """The loss weights for a run whose loss.rebalance is `strength` (None when 0)."""
    if strength == 0:
        return None
    w = bin_weights(colour_prior(files), strength)
    log.info("class rebalancing %.2f: bin weights %.2f-%.2f", strength, w.min(), w.max())
    return torch.from_numpy(w)
