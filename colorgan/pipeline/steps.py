"""The pure steps of the colour pipeline (no model, no files): geometry of the working size,
running a network on any H and W, lightness of a photo, upsampling ab, composing the result.
colorgan.pipeline.colorizer puts them together; each is tested on its own.

Ranges: L in [0, 100] (float32, full resolution); network L and ab in [-1, 1]
(colorgan.core.color); results uint8 sRGB.
"""

from __future__ import annotations

import logging

import numpy as np

from colorgan.core import color, fastcolor, resample
from colorgan.core.errors import ColorganError
from colorgan.core.tiling import pad_bottom_right
from colorgan.io import images
from colorgan.pipeline import propagate

log = logging.getLogger("colorgan.pipeline")


# --- geometry ------------------------------------------------------------------------------


def working_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """(h, w) with the long side = size and the aspect ratio kept (rounded, at least 1)."""
    scale = size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def to_working(x: float, y: float, full: tuple[int, int], work: tuple[int, int]):
    """Pixel (x, y) of a full-size image -> the nearest pixel (col, row) of its resized
    version: the same mapping as the resize (pixel centres scale), clamped inside."""
    (height, width), (h, w) = full, work
    col = int(np.floor((x + 0.5) * w / width))
    row = int(np.floor((y + 0.5) * h / height))
    return min(max(col, 0), w - 1), min(max(row, 0), h - 1)


def pad_to_multiple(x: np.ndarray, multiple: int, mode: str = "reflect") -> np.ndarray:
    """Pad bottom/right to multiples of `multiple` (core.tiling.pad_bottom_right)."""
    h, w = x.shape[-2:]
    return pad_bottom_right(x, -h % multiple, -w % multiple, mode)


def run_padded(network, x: np.ndarray, multiple: int, channels=None, scale=1, extra=()):
    """network(x, *extra) for any H, W (numpy in, numpy out): x (and each 4-D extra input,
    with zeros) padded up to `multiple`; the output checked (4-D, 1/scale of the padded size,
    `channels` if given) and cropped back to x's size / scale (rounded up)."""
    h, w = x.shape[-2:]
    padded = pad_to_multiple(x, multiple)
    more = [pad_to_multiple(e, multiple, "zeros") if e.ndim == 4 else e for e in extra]
    out = network(padded, *more)
    expect = (padded.shape[-2] // scale, padded.shape[-1] // scale)
    wrong_channels = channels is not None and out.shape[1] != channels
    if out.ndim != 4 or tuple(out.shape[-2:]) != expect or wrong_channels:
        where = "the input's size" if scale == 1 else f"1/{scale} of the input's size"
        raise ColorganError(
            f"the network returned shape {tuple(out.shape)} for input {tuple(padded.shape)}; "
            f"expected {channels or 'its'} channels at {where}"
        )
    check_finite(out)
    return out[..., : -(-h // scale), : -(-w // scale)]


def check_finite(out) -> None:
    """A network that puts out NaN or Inf (broken weights an .onnx file may carry, or an
    overflow) would colour the photo black without a word: refuse it (cheap: the output is
    at the working size)."""
    if not np.isfinite(out).all():
        raise ColorganError(
            "the network's output holds NaN or Inf: the model is broken (damaged weights, or a "
            "training that diverged); use another model"
        )


def resize(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(..., H, W) bilinear, antialiased when shrinking (no aliasing in the network's view
    of L); core.resample, the same numbers as torch's antialiased bilinear."""
    if tuple(x.shape[-2:]) == tuple(shape):
        return x
    planes = x.reshape(-1, *x.shape[-2:])
    out = np.stack([resample.resize_antialiased(p, shape) for p in planes])
    return out.reshape(*x.shape[:-2], *shape)


def working_l(L: np.ndarray, size: int) -> np.ndarray:
    """Full-res L (H, W) -> the single pass's network input (1, h, w), long side = size."""
    shape = working_shape(*L.shape, size)
    # resized, then normalised: the same numbers (both are linear) on 300x fewer pixels
    return color.normalize_l(resize(L.astype(np.float32, copy=False), shape))[None]


def upsample_ab(ab: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(2,h,w) -> (2,H,W) float32, bilinear (ab is smooth; bicubic would overshoot)."""
    return resample.bilinear(np.asarray(ab, np.float32), shape)


def area_down(ab: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(2,H,W) -> (2,h,w), area average (the inverse of upsample_ab's grid)."""
    return resample.area(ab, shape)


def spread_coarse(ab: np.ndarray, l_work: np.ndarray, hint: np.ndarray) -> np.ndarray:
    """Full-size ab (2,H,W) with the hints spread over the whole photo (propagate) at the
    working size, in place: the change spreading makes on the coarse grid, upsampled, is
    added. hint: the (3,h,w) hint map at the working size, l_work: L (h,w) in [0,100] there."""
    coarse = area_down(ab, hint.shape[-2:])
    ab += upsample_ab(propagate.spread_hints(coarse, l_work, hint) - coarse, ab.shape[-2:])
    return ab


# --- lightness and composition (core.fastcolor, tested against core.color) ------------------


def lightness(photo: images.Photo) -> np.ndarray:
    """CIE L in [0, 100] of the photo at full resolution, float32 (H, W)."""
    return fastcolor.lightness(photo.pixels)


def compose(L: np.ndarray, ab: np.ndarray, saturation: float = 1.0) -> np.ndarray:
    """Full-res L (H,W) in [0,100] + network ab (2,h,w) in [-1,1] at L's size or smaller
    (then upsampled bilinearly on the way) -> uint8 sRGB (H,W,3). Out-of-gamut colours
    lose chroma (same L and hue) instead of being clipped. On the CPU, both cores."""
    return fastcolor.compose(L, np.asarray(ab, np.float32), saturation)


# --- arrays and tensors ----------------------------------------------------------------------


def as_array(x) -> np.ndarray | None:
    """A numpy float32 view of an array or a (CPU or CUDA) torch tensor; None stays None."""
    if x is None:
        return None
    if hasattr(x, "detach"):  # a torch tensor: torch is imported already
        x = x.detach().cpu().numpy()
    return np.asarray(x, np.float32)


def like(out: np.ndarray, given):
    """out as a torch tensor on the CPU when `given` was a tensor, else as it is."""
    if hasattr(given, "detach"):
        import torch

        return torch.from_numpy(np.ascontiguousarray(out))
    return out


def torch_call(network, device, *inputs: np.ndarray) -> np.ndarray:
    """A torch network (module or callable on tensors) on numpy inputs -> numpy output."""
    import torch

    with torch.inference_mode():
        xs = [torch.from_numpy(np.ascontiguousarray(x)).to(device) for x in inputs]
        return network(*xs).float().cpu().numpy()


# --- checks of user values ---------------------------------------------------------------


def check_saturation(value: float) -> float:
    if not value >= 0:  # also NaN
        raise ColorganError(f"saturation={value}: must be >= 0")
    return float(value)


MIN_VIVIDNESS = 0.01  # lower: 1/T overflows float32 for tiny T (a black image), no gain


def check_vividness(value: float) -> float:
    """The distribution head's temperature: [0.01, 1], 1 = the mean, lower = more vivid."""
    if not MIN_VIVIDNESS <= value <= 1:
        raise ColorganError(
            f"vividness={value}: must be in [{MIN_VIVIDNESS}, 1] (1 = faithful, lower = vivid)"
        )
    return float(value)


_warned: set[str] = set()


def warn_once(message: str) -> None:
    """A warning said once per process (not once per photo or frame)."""
    if message not in _warned:
        _warned.add(message)
        log.warning("%s", message)
