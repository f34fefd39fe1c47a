"""A stand-in guided distribution-head network (numpy, no torch) that follows the guided
network contract plainly, so tests can see what hints, references and vividness do:
automatic colour is unsure between a brown (shifting with L) and a blue, so T = 1 gives a
muted mean and a low T the brown; a hint pins the colour around its point (a few pixels
beyond its patch); a reference moves both colours most of the way to its mean colour."""

from __future__ import annotations

import numpy as np

from colorgan.core import abbins
from colorgan.pipeline.colorizer import Colorizer

BROWN = np.float32([0.08, 0.2])  # normalised ab of the likelier automatic colour (mid gray)
BLUE = np.float32([-0.05, -0.3])  # and of the other one
SHARP = 100.0  # how peaked the distributions are (1 / variance in normalised ab^2)
REACH = 3  # half-size pixels a hint reaches beyond its patch


class GuidedStub:
    numpy_io = True  # the Colorizer hands numpy arrays in and expects numpy out

    def __call__(self, l_norm, hint, ref):
        b, _, h, w = l_norm.shape
        small = l_norm.reshape(b, h // 2, 2, w // 2, 2).mean((2, 4))  # (B, h/2, w/2)
        brown = BROWN[:, None, None, None] + 0.1 * small[None]  # (2, B, h/2, w/2)
        blue = np.broadcast_to(BLUE[:, None, None, None], brown.shape)
        # a reference: both modes move most of the way to the reference's mean colour
        flag = (ref[:, -1] > 0).astype(np.float32)[None, :, None, None]
        ref_mean = (ref[:, :-1] @ abbins.centers()).T[:, :, None, None]  # (2, B, 1, 1)
        brown, blue = (m + 0.7 * flag * (ref_mean - m) for m in (brown, blue))
        # unsure between two colours: the mean (T = 1) is muted, low T picks brown
        logits = np.logaddexp(np.log(0.6) + peak(brown), np.log(0.4) + peak(blue))
        hint_small = hint.reshape(b, 3, h // 2, 2, w // 2, 2).mean((3, 5))
        hinted = hint_small[:, 2] > 0
        ab = hint_small[:, :2] / np.maximum(hint_small[:, 2:], 1e-6)
        pinned = peak(spread_values(ab, hinted))
        return np.where(spread(hinted)[:, None], pinned, logits).astype(np.float32)


def peak(ab: np.ndarray) -> np.ndarray:
    """(2, B, h, w) ab -> (B, Q, h, w) logits of a distribution peaked there."""
    dist = ((abbins.centers()[:, :, None, None, None] - ab[None]) ** 2).sum(1)
    return -SHARP * dist.transpose(1, 0, 2, 3)


def spread(mask: np.ndarray) -> np.ndarray:
    """(B, h, w) bool, grown by REACH pixels in every direction."""
    out = mask.copy()
    for dy in range(-REACH, REACH + 1):
        for dx in range(-REACH, REACH + 1):
            out |= np.roll(mask, (dy, dx), (1, 2))
    return out


def spread_values(ab: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(B, 2, h, w) ab of the hinted pixels carried to their neighbours (as `spread`),
    -> (2, B, h, w)."""
    out = np.zeros_like(ab)
    for dy in range(-REACH, REACH + 1):
        for dx in range(-REACH, REACH + 1):
            moved = np.roll(mask, (dy, dx), (1, 2))
            out = np.where(moved[:, None], np.roll(ab, (dy, dx), (2, 3)), out)
    return out.transpose(1, 0, 2, 3)


def guided_colorizer(working_size: int = 64, temperature: float = 0.5) -> Colorizer:
    return Colorizer(
        GuidedStub(),
        size_multiple=2,
        working_size=working_size,
        head="distribution",
        guided=True,
        temperature=temperature,
    )
