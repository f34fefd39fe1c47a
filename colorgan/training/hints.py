"""Simulated user guidance for training (Zhang et al., SIGGRAPH 2017, section 3.3).

A person who knows the photo clicks a few points and gives their colours, or shows a photo
whose colours to follow. Training shows the network the same inputs drawn from the truth:
  * points: a geometric number of them (p = 1/8: P(0) = 1/8, mean 7), each a square patch
    of 1-9 pixels whose hint is the patch's MEAN true colour (a person gives one colour for
    a small area), centred on a position drawn from N(centre, size/4) (people click on the
    subject, not the border), clipped to the image;
  * a share `hint_free` of crops gets no point at all, on top of the geometric's own zeros:
    with only the paper's 1/8, the network would see the automatic case too rarely to stay
    as good at it as a network trained without hints;
  * the reference: the crop's own colour distribution over the ab bins (abbins.histogram,
    computed at a quarter of the size) with the flag set, kept for a share `reference_keep`
    of the crops and dropped (all zeros) otherwise.
Everything is drawn from a torch.Generator the caller seeds per step, so a resumed run sees
the same guidance as an unbroken one.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from colorgan.core import abbins

GEOMETRIC_P = 1 / 8
PATCH_SIZES = range(1, 10)


def _rand(gen: torch.Generator) -> float:
    return float(torch.rand((), generator=gen))


def _point(h: int, w: int, gen: torch.Generator) -> tuple[int, int, int]:
    p = PATCH_SIZES[int(torch.randint(len(PATCH_SIZES), (), generator=gen))]
    y = (h - p + 1) / 2 + (h - p + 1) / 4 * float(torch.randn((), generator=gen))
    x = (w - p + 1) / 2 + (w - p + 1) / 4 * float(torch.randn((), generator=gen))
    return int(np.clip(y, 0, h - p)), int(np.clip(x, 0, w - p)), p


def simulate_hints(ab: torch.Tensor, gen: torch.Generator, hint_free: float) -> torch.Tensor:
    """Truth ab (B, 2, H, W), normalised -> hint map (B, 3, H, W): ab of the hint, mask."""
    b, _, h, w = ab.shape
    hint = ab.new_zeros(b, 3, h, w)
    for i in range(b):
        if _rand(gen) < hint_free:
            continue
        while _rand(gen) < 1 - GEOMETRIC_P:
            y, x, p = _point(h, w, gen)
            patch = ab[i, :, y : y + p, x : x + p]
            hint[i, :2, y : y + p, x : x + p] = patch.mean(dim=(1, 2))[:, None, None]
            hint[i, 2, y : y + p, x : x + p] = 1.0
    return hint


def reference_input(ab: torch.Tensor, gen: torch.Generator, keep: float) -> torch.Tensor:
    """Truth ab (B, 2, H, W) -> (B, Q + 1): each crop's own colour distribution and flag 1,
    or zeros (no reference) for a share 1 - keep of the crops."""
    b, _, h, w = ab.shape
    ref = ab.new_zeros(b, abbins.num_bins() + 1)
    small = F.adaptive_avg_pool2d(ab.float(), (max(1, h // 4), max(1, w // 4))).cpu().numpy()
    for i in range(b):
        if _rand(gen) < keep:
            ref[i, :-1] = torch.from_numpy(abbins.histogram(small[i]))
            ref[i, -1] = 1.0
    return ref


def guidance_for(ab: torch.Tensor, seed: int, hint_free: float, reference_keep: float):
    """(hint, ref) for a batch, drawn from a generator seeded by `seed` (e.g. seed and step)."""
    gen = torch.Generator().manual_seed(seed)
    return simulate_hints(ab, gen, hint_free), reference_input(ab, gen, reference_keep)
