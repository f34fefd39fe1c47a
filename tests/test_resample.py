"""colorgan.core.resample against the torch calls it replaces on the torch-free path."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from colorgan.core import resample

SHAPES = [((37, 53), (8, 11)), ((5, 300), (5, 20)), ((100, 1), (7, 1)), ((9, 9), (20, 30)),
          ((300, 400), (192, 256)), ((1, 1), (3, 2))]  # fmt: skip


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
        torch.from_numpy(x)[None, None], size=dst, mode="bilinear", align_corners=False,
        antialias=True,
    )  # fmt: skip
    np.testing.assert_allclose(resample.resize_antialiased(x, dst), ref[0, 0].numpy(), atol=1e-5)


def test_resize_antialiased_of_a_one_pixel_wide_photo_is_not_constant():
    x = np.arange(10, dtype=np.float32)[:, None]
    out = resample.resize_antialiased(x, (5, 1))[:, 0]
    np.testing.assert_allclose(out, [1, 3, 5, 7, 9], atol=0.75)


@pytest.mark.parametrize("shape", [(5, 7), (1, 9), (9, 1), (3, 3), (16, 16)])
@pytest.mark.parametrize("multiple", [1, 4, 16])
def test_pad_to_multiple_matches_the_torch_loop(shape, multiple):
    from colorgan.pipeline.colorizer import pad_to_multiple as torch_pad

    x = _planes(shape, 3)[None]
    ours = resample.pad_to_multiple(x, multiple)
    assert ours.shape[-2] % multiple == 0 and ours.shape[-1] % multiple == 0
    np.testing.assert_array_equal(ours, torch_pad(torch.from_numpy(x), multiple).numpy())
