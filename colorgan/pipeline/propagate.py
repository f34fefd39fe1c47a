"""Spreading user hints over the region they belong to (edge-aware), after the network.

The network takes the hints (Zhang et al., SIGGRAPH 2017) and, through its direct hint path,
gives each hinted pixel the hinted colour; spreading a point's colour over the whole object
is what it learns slowest, and on this project's training budget it learned it only weakly
(MODEL_CARD.md measures both). So the pipeline also spreads each hint itself, in the
spirit of Levin et al. 2004 ("Colorization using optimization": neighbouring pixels of
similar lightness get similar colours), as a cheap closed form instead of a sparse solve
(and the hinted pixels themselves keep exactly the colour given):

    w_i(p) = exp(-|p - p_i|^2 / (2 s^2)) * exp(-(L(p) - L_i)^2 / (2 r^2))
    ab(p)  = (1 - c(p)) * ab_net(p) + c(p) * sum_i w_i(p) ab_i / sum_i w_i(p)
    c(p)   = 1 - prod_i (1 - w_i(p))

s is a share of the image's diagonal (a hint speaks for its surroundings, not the far side
of the photo), r is in L units (a hint on a dark coat does not colour the white shirt next
to it), L_i the mean lightness under the hint. Pure numpy on the working-size arrays:
O(hints x pixels), about 1 ms per hint at 256 px.
"""

from __future__ import annotations

import numpy as np

from colorgan.core import resample

# Chosen on the validation split (57 photos, 256 px, 1/5/10 random 6x6 hints of the truth)
# among s in {0.08, 0.12, 0.2, 0.3} and r in {6, 8, 10}: the widest spread won at every count.
SPATIAL_SHARE = 0.3  # s as a share of the working image's diagonal
LIGHTNESS_SIGMA = 8.0  # r, in L units (L in [0, 100])


def spread_hints(
    ab: np.ndarray,
    L: np.ndarray,
    hint: np.ndarray,
    spatial_share: float = SPATIAL_SHARE,
    lightness_sigma: float = LIGHTNESS_SIGMA,
) -> np.ndarray:
    """ab (2, H, W) from the network, L (H, W) in [0, 100] and the hint map (3, H, W) (a, b,
    mask; colorgan.models.guidance_layers), all at the same size -> ab (2, H, W) with each hint's
    colour spread over nearby pixels of similar lightness. No hint: ab unchanged."""
    mask = hint[2] > 0
    if not mask.any():
        return ab
    labels = _patches(mask)
    h, w = L.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    s2 = 2 * (spatial_share * float(np.hypot(h, w))) ** 2
    r2 = 2 * lightness_sigma**2
    total = np.zeros((h, w), np.float32)
    colour = np.zeros((2, h, w), np.float32)
    keep = np.ones((h, w), np.float32)  # prod (1 - w_i)
    for region in labels:
        ys, xs = region
        cy, cx, cl = ys.mean(), xs.mean(), float(L[ys, xs].mean())
        hint_ab = hint[:2, ys, xs].mean(axis=1)
        wgt = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / s2 - (L - cl) ** 2 / r2)
        total += wgt
        colour += wgt[None] * hint_ab[:, None, None]
        keep *= 1.0 - wgt
    c = 1.0 - keep
    spread = colour / np.maximum(total, 1e-12)[None]
    out = ((1.0 - c)[None] * ab + c[None] * spread).astype(np.float32)
    out[:, mask] = hint[:2, mask]  # a hinted pixel has the colour the user gave it
    return out


def spread_over_full_size(ab: np.ndarray, l_work: np.ndarray, hint: np.ndarray) -> np.ndarray:
    """Full-size ab (2,H,W) with the hints spread at the working size, in place: the change
    spreading makes on the coarse grid (area average), upsampled, is added. hint: the
    (3,h,w) hint map at the working size, l_work: L (h,w) in [0,100] there."""
    coarse = resample.area(ab, hint.shape[-2:])
    ab += resample.bilinear(spread_hints(coarse, l_work, hint) - coarse, ab.shape[-2:])
    return ab


def _patches(mask: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The hint patches of a mask: connected components (4-neighbour) as (ys, xs) arrays, in
    the order of their first pixel (row by row), as scipy.ndimage.label numbers them. In
    numpy, not scipy (110 MB installed, for this alone on the colouring path): every hinted
    pixel holds the index of a pixel of its patch, and takes the smallest among its own and
    its neighbours', then the one that pixel holds (a jump: long chains of overlapping
    hints take a few rounds, not one per pixel), until nothing changes."""
    h, w = mask.shape
    none = h * w  # above every index
    labels = np.where(mask, np.arange(h * w).reshape(h, w), none)
    while True:
        padded = np.pad(labels, 1, constant_values=none)
        neighbours = [padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]]
        smallest = np.where(mask, np.minimum.reduce([labels, *neighbours]), none)
        smallest = np.append(smallest.ravel(), none)[smallest]
        if np.array_equal(smallest, labels):
            return [np.nonzero(labels == i) for i in np.unique(labels[mask])]
        labels = smallest
