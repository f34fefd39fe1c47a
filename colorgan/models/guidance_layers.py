"""User guidance inputs for a generator (Zhang et al., SIGGRAPH 2017), as small modules.

Local hints: a map (B, 3, H, W) at the network input's size: channels a, b (normalised ab
of the hinted colour) and a mask (1 where the user gave a colour). Global reference:
(B, Q + 1), a colour distribution over the Q ab bins of colorgan.core.abbins plus a flag
(1 when a reference is given). All zeros means "no guidance": the network must then
colour on its own. The hint stem and the reference branch end in zero-initialised layers,
so at the start of training they leave the encoder's ImageNet features exactly as they
were; the decoder stages read the pooled hint map directly (all zero without hints).

Where the hints enter: at the encoder's first stage (stride 2), so the encoder's
receptive field spreads a point's colour over the region it belongs to, and again at each
decoder stage (pooled to its resolution), so the output can follow a hint precisely.
The reference enters at the bottleneck (stride 32), where a global palette belongs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from colorgan.core import abbins

HINT_CHANNELS = 3


def _zero_init(layer: nn.Conv2d | nn.Linear) -> nn.Module:
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class HintStem(nn.Module):
    """Hint map at full size -> a residual for the encoder's stride-2 features."""

    def __init__(self, out_channels: int, hidden: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(HINT_CHANNELS, hidden, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.ReLU(inplace=True),
            _zero_init(nn.Conv2d(hidden, out_channels, 1)),
        )

    def forward(self, hint: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        out = self.net(hint)
        if out.shape[-2:] != like.shape[-2:]:
            out = F.interpolate(out, size=like.shape[-2:], mode="bilinear", align_corners=False)
        return out


def pool_hints(hint: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The hint map at a coarser size: mean hinted ab over the hinted pixels of each cell
    (not diluted by the unhinted ones) and the share of hinted pixels as the mask."""
    if tuple(hint.shape[-2:]) == tuple(size):
        return hint
    ab, mask = hint[:, :2], hint[:, 2:]
    pooled_mask = _mean_pool(mask, size)
    pooled_ab = _mean_pool(ab * mask, size) / pooled_mask.clamp_min(1e-6)
    return torch.cat([pooled_ab * (pooled_mask > 0), pooled_mask], dim=1)


def _mean_pool(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Cell means at `size`. When the size divides the input (the network's own strides,
    on inputs padded to its size multiple) an average pool with a fixed kernel: the ONNX
    export then holds for any H and W, where adaptive pooling to a traced size cannot be
    exported with dynamic shapes."""
    (h, w), (sh, sw) = map(int, x.shape[-2:]), map(int, size)  # ints: constants when traced
    if h % sh == 0 and w % sw == 0:
        return F.avg_pool2d(x, (h // sh, w // sw))
    return F.adaptive_avg_pool2d(x, size)


class ReferenceEncoder(nn.Module):
    """(B, Q + 1) colour distribution + flag -> a residual (B, C, 1, 1) for the bottleneck."""

    def __init__(self, bins: int, out_channels: int, hidden: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(bins + 1, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            _zero_init(nn.Linear(hidden, out_channels)),
        )

    def forward(self, ref: torch.Tensor) -> torch.Tensor:
        return self.net(ref)[:, :, None, None]


def soft_encode(ab: torch.Tensor, centers: torch.Tensor, sigma: float = 5.0) -> torch.Tensor:
    """Normalised ab (B, 2, h, w) -> soft one-hot (B, Q, h, w) over the bins whose centres
    (Q, 2) are given: a Gaussian of `sigma` Lab units around the colour (Zhang et al. use its
    5 nearest bins with sigma 5; bins further than ~2 sigma get weights below 2 %)."""
    # computed channels-last: ONNX Runtime's Softmax over axis 1 of NCHW transposes inside
    # and took 56 % of the bundled model's time; over the last axis it is 1.8x faster whole
    x = ab.permute(0, 2, 3, 1)  # (B, h, w, 2)
    d2 = x.square().sum(-1, keepdim=True) - 2 * (x @ centers.T) + centers.square().sum(1)
    z = torch.softmax(-d2 * (abbins.AB_SCALE**2 / (2 * sigma**2)), dim=-1)
    return z.permute(0, 3, 1, 2)


class HintLogits(nn.Module):
    """A direct path from the hints to a distribution head's logits: where a hint lies, add
    gain * log(soft one-hot of the hinted colour), so the hinted colour dominates there from
    the first step of training (the learned path must still spread it over the region).
    Without it, a network trained on this project's budget followed single points only
    weakly (val photos, 10 random 6x6 hints: +0.05 dB; the whole image hinted: +2.3 dB)."""

    def __init__(self, gain: float = 1.0) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.tensor(float(gain)))

    def forward(self, logits: torch.Tensor, hint: torch.Tensor) -> torch.Tensor:
        # computed at the hinted cells only (those of any image in the batch; where an image
        # has no hint its mask is 0 there, so it adds exactly 0): the same numbers as over the
        # whole (B, Q, h, w) map, which cost the bundled model most of its time in ONNX
        # Runtime on a photo with few hints or none (a soft-max and a log per pixel and bin)
        b, q, h, w = logits.shape
        small = pool_hints(hint, (h, w)).flatten(2)  # (B, 3, h*w)
        where = torch.nonzero(small[:, 2].amax(0) > 0)[:, 0]  # (N,) flat positions
        picked = small.index_select(2, where)  # (B, 3, N)
        centers = torch.from_numpy(abbins.centers().copy()).to(logits)
        prior = torch.log(soft_encode(picked[:, :2, None], centers) + 1e-3)[:, :, 0]
        flat = logits.flatten(2)  # (B, Q, h*w)
        near = flat.index_select(2, where) + self.gain * picked[:, 2:] * prior
        index = where.expand(b, q, -1)
        return flat.scatter(2, index, near).view(b, q, h, w)


def empty_guidance(x: torch.Tensor, bins: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All-zero hints and reference for a batch like x (B, 1, H, W): automatic colour."""
    b, _, h, w = x.shape
    return x.new_zeros(b, HINT_CHANNELS, h, w), x.new_zeros(b, bins + 1)
