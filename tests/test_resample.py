"""colorgan.core.resample against the torch calls it replaces on the torch-free path."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from colorgan.core import resample, tiling

SHAPES = [
    ((37, 53), (8, 11)),
    ((5, 300), (5, 20)),
    ((100, 1), (7, 1)),
    ((9, 9), (20, 30)),
    ((300, 400), (192, 256)),
    ((1, 1), (3, 2)),
]


def _planes(shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (2, *shape)).astype(np.float32)


@pytest.mark.parametrize("src, dst", SHAPES)
def test_bilinear_matches_torch(src, dst):
    x = _planes(src)
    ref = F.interpolate(torch.from_numpy(x)[None], size=dst, mode="bilinear", align_corners=False)
    np.testing.assert_allclose(resample.bilinear(x, dst), ref[0].numpy(), atol=1e-5)


@pytest.mark.parametrize("src, dst", SHAPES)
def test_area_matches_torch(src, dst):
    x = _planes(src, 1)
    ref = F.interpolate(torch.from_numpy(x)[None], size=dst, mode="area")
    np.testing.assert_allclose(resample.area(x, dst), ref[0].numpy(), atol=1e-5)


@pytest.mark.parametrize("src, dst", [s for s in SHAPES if s[0][1] > 1])  # torch: see module
def test_resize_antialiased_matches_torch(src, dst):
    x = _planes(src, 2)[0]
    ref = F.interpolate(
        torch.from_numpy(x)[None, None],
        size=dst,
        mode="bilinear",
        align_corners=False,
        antialias=True,
    )
    np.testing.assert_allclose(resample.resize_antialiased(x, dst), ref[0, 0].numpy(), atol=1e-5)


@pytest.mark.parametrize(
    "src, dst, exact",
    [
        ((1500, 2000), (192, 256), True),
        ((2000, 1500), (256, 192), True),
        ((1080, 1920), (144, 256), True),
        ((1200, 900), (1199, 17), False),
        ((2000, 700), (90, 256), False),
        ((3000, 900), (1500, 300), False),
    ],
)
def test_resize_antialiased_in_bands_matches_pillows_one_resize(src, dst, exact, monkeypatch):
    """Big planes: Pillow's horizontal pass on row bands on the block threads, then its
    vertical pass. Aspect-kept shrinks (the pipeline's working sizes) give exactly Pillow's
    numbers; where Pillow would start with the vertical pass, float rounding apart."""
    x = np.random.default_rng(3).uniform(0, 100, src).astype(np.float32)
    calls = []
    real = resample.parallel.parallel
    monkeypatch.setattr(
        resample.parallel, "parallel", lambda fn, items: calls.append(1) or real(fn, items)
    )
    banded = resample.resize_antialiased(x, dst)
    assert calls, "the banded path did not run"
    monkeypatch.setattr(resample, "BANDED_PIXELS", x.size + 1)
    whole = resample.resize_antialiased(x, dst)
    assert len(calls) == 1  # the second resize was Pillow's own
    if exact:
        np.testing.assert_array_equal(banded, whole)
    np.testing.assert_allclose(banded, whole, rtol=1e-6, atol=1e-5)


def test_resize_antialiased_of_a_one_pixel_wide_photo_is_not_constant():
    x = np.arange(10, dtype=np.float32)[:, None]
    out = resample.resize_antialiased(x, (5, 1))[:, 0]
    np.testing.assert_allclose(out, [1, 3, 5, 7, 9], atol=0.75)


def _torch_pad(x: torch.Tensor, bottom: int, right: int) -> torch.Tensor:
    """The torch padding the Colorizer used: F.pad reflect, repeated while the pad is wider
    than the image, replicate for 1-pixel sides."""
    while bottom > 0 or right > 0:
        h, w = x.shape[-2:]
        pb, pr = min(bottom, max(h - 1, 1)), min(right, max(w - 1, 1))
        x = F.pad(x, (0, pr, 0, pb), mode="reflect" if min(h, w) > 1 else "replicate")
        bottom, right = bottom - pb, right - pr
    return x


@pytest.mark.parametrize("shape", [(5, 7), (1, 9), (9, 1), (3, 3), (16, 16), (1, 1)])
@pytest.mark.parametrize("pad", [(0, 0), (3, 0), (11, 13), (40, 2)])
def test_pad_bottom_right_matches_torch(shape, pad):
    x = _planes(shape, 3)[None]
    ours = tiling.pad_bottom_right(x, *pad)
    assert ours.shape == (1, 2, shape[0] + pad[0], shape[1] + pad[1])
    np.testing.assert_array_equal(ours, _torch_pad(torch.from_numpy(x), *pad).numpy())
    zeros = tiling.pad_bottom_right(x, *pad, mode="zeros")
    assert (zeros[..., shape[0] :, :] == 0).all() and (zeros[..., shape[1] :] == 0).all()
