"""colorgan.core.abbins: the bin table against colorgan.core.color, and the decoding maths."""

import numpy as np
import pytest
import torch

from colorgan.core import abbins, color
from colorgan.training.losses import bins_cross_entropy, expected_ab, soft_encode


def _srgb_cube_ab(levels: int = 32) -> np.ndarray:
    g = torch.linspace(0, 1, levels)
    r, gg, b = torch.meshgrid(g, g, g, indexing="ij")
    lab = color.rgb_to_lab(torch.stack([r, gg, b]).reshape(1, 3, 1, -1))[0, :, 0]
    return lab[1:].numpy() / color.AB_SCALE  # (2, N) normalised


def test_bins_cover_the_srgb_gamut_and_nothing_far_outside():
    ab = _srgb_cube_ab()
    nearest = abbins.centers()[abbins.nearest_bins(ab)]  # (N, 2)
    # every sRGB colour lies inside its bin's square (half a grid step in a and in b)
    half = abbins.GRID / 2 / abbins.AB_SCALE + 1e-6
    assert np.abs(nearest - ab.T).max() <= half
    # and (nearly) every bin holds some sRGB colour: no bin far outside the gamut
    used = np.unique(abbins.nearest_bins(_srgb_cube_ab(48)))
    assert len(used) >= abbins.num_bins() - 6  # a few edge bins need a finer grid
    assert abbins.num_bins() == 262


def test_annealed_mean_between_mean_and_mode():
    q = abbins.num_bins()
    logits = np.full((q, 1, 1), -10.0, np.float32)
    red, green = np.argmax(abbins.centers()[:, 0]), np.argmin(abbins.centers()[:, 0])
    logits[red], logits[green] = 2.0, 1.5
    mean = abbins.annealed_mean(logits, 1.0)[:, 0, 0]
    vivid = abbins.annealed_mean(logits, 0.2)[:, 0, 0]
    mode = abbins.centers()[red]
    assert np.linalg.norm(vivid - mode) < np.linalg.norm(mean - mode)
    assert np.linalg.norm(vivid) > np.linalg.norm(mean)  # lower T: more colourful
    with pytest.raises(ValueError):
        abbins.annealed_mean(logits, 0.0)


def test_numpy_decode_matches_the_training_twin():
    logits = torch.randn(2, abbins.num_bins(), 3, 4)
    torch_mean = expected_ab(logits).numpy()
    np.testing.assert_allclose(abbins.annealed_mean(logits.numpy(), 1.0), torch_mean, atol=1e-5)


def test_soft_encoding_peaks_at_the_true_colour_and_ce_prefers_the_truth():
    ab = torch.tensor([0.3, -0.2]).view(1, 2, 1, 1).expand(1, 2, 4, 4).contiguous()
    target = soft_encode(ab)
    assert torch.allclose(target.sum(1), torch.ones(1, 4, 4))
    top = target[0, :, 0, 0].argmax().item()
    assert top == abbins.nearest_bins(ab[0, :, :1, 0].numpy())[0]
    right = torch.log(target + 1e-8)  # logits that reproduce the target
    wrong = torch.roll(right, 40, dims=1)
    assert bins_cross_entropy(right, ab) < bins_cross_entropy(wrong, ab)


def test_histogram_and_top_colors():
    ab = np.zeros((2, 8, 8), np.float32)
    ab[0, :, :4] = 0.5  # half the image reddish, half gray
    hist = abbins.histogram(ab, sigma=0)
    assert hist.sum() == pytest.approx(1.0)
    assert sorted(hist)[-2:] == pytest.approx([0.5, 0.5])
    smooth = abbins.histogram(ab)
    assert (smooth > 0).sum() > (hist > 0).sum()  # spread to neighbouring bins
    logits = np.log(hist + 1e-6)
    (first, p1), (second, p2) = abbins.top_colors(logits, k=2)
    assert p1 == pytest.approx(0.5, abs=1e-3) and p2 == pytest.approx(0.5, abs=1e-3)
    assert {round(float(first[0]), 2), round(float(second[0]), 2)} == {0.0, 0.45}
