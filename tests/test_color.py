import numpy as np
import pytest
import torch
from skimage import color as skcolor

from colorgan.core import color
from tests.conftest import make_photo

# kornia and scikit-image both use D65 sRGB; the float32 vs float64 difference stays tiny.
MAX_LAB_ERR = 0.05  # Lab units (L in [0, 100])
MAX_RGB_ERR = 1e-3  # sRGB in [0, 1]


def _random_rgb(n=4, h=17, w=23, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).random((n, 3, h, w))).float()


def _sk_lab(rgb: torch.Tensor) -> torch.Tensor:
    arr = rgb.permute(0, 2, 3, 1).double().numpy()
    return torch.from_numpy(np.stack([skcolor.rgb2lab(a) for a in arr])).permute(0, 3, 1, 2)


@pytest.mark.parametrize("source", ["random", "photo"])
def test_rgb_to_lab_matches_scikit_image(source):
    if source == "random":
        rgb = _random_rgb()
    else:
        rgb = torch.from_numpy(np.asarray(make_photo(3)) / 255.0).permute(2, 0, 1)[None].float()
    ours = color.rgb_to_lab(rgb).double()
    assert (ours - _sk_lab(rgb)).abs().max().item() < MAX_LAB_ERR


def test_lab_to_rgb_matches_scikit_image_and_round_trips():
    rgb = _random_rgb(seed=1)
    lab = color.rgb_to_lab(rgb)
    back = color.lab_to_rgb(lab)
    assert (back - rgb).abs().max().item() < MAX_RGB_ERR
    sk = skcolor.lab2rgb(lab[0].permute(1, 2, 0).double().numpy())
    assert np.abs(back[0].permute(1, 2, 0).numpy() - sk).max() < MAX_RGB_ERR


def test_gamut_clipping_keeps_rgb_in_range():
    lab = torch.tensor([[[[50.0]], [[110.0]], [[-110.0]]]])  # far outside sRGB
    rgb = color.lab_to_rgb(lab)
    assert rgb.min() >= 0 and rgb.max() <= 1


def test_normalisation_ranges_and_inverse():
    rgb = _random_rgb(seed=2)
    l_norm, ab_norm = color.rgb_to_l_ab(rgb)
    assert l_norm.shape == (4, 1, 17, 23) and ab_norm.shape == (4, 2, 17, 23)
    assert l_norm.min() >= -1 and l_norm.max() <= 1
    assert ab_norm.abs().max() <= 1
    assert (color.l_ab_to_rgb(l_norm, ab_norm) - rgb).abs().max() < MAX_RGB_ERR
    white = torch.ones(1, 3, 2, 2)
    l_w, ab_w = color.rgb_to_l_ab(white)
    assert torch.allclose(l_w, torch.ones_like(l_w), atol=1e-4)
    assert ab_w.abs().max() < 1e-3


def test_batch_shapes_preserved():
    rgb = torch.rand(2, 3, 3, 8, 8)  # extra leading dims
    assert color.rgb_to_lab(rgb).shape == rgb.shape


def test_differentiable():
    rgb = torch.rand(1, 3, 8, 8, requires_grad=True)
    l_norm, ab_norm = color.rgb_to_l_ab(rgb)
    (l_norm.sum() + ab_norm.sum()).backward()
    assert torch.isfinite(rgb.grad).all() and rgb.grad.abs().sum() > 0


def test_model_target_and_output_modes():
    rgb = _random_rgb(seed=3)
    l_in, target = color.model_target(rgb, "lab")
    assert target.shape[1] == 2
    out = color.output_to_rgb(l_in, target, "lab")
    assert (out - rgb).abs().max() < MAX_RGB_ERR
    _, target_rgb = color.model_target(rgb, "rgb")
    assert (color.output_to_rgb(l_in, target_rgb, "rgb") - rgb).abs().max() < 1e-6
    with pytest.raises(ValueError, match="valid: lab, rgb"):
        color.model_target(rgb, "hsv")


def test_in_gamut_mapping_keeps_lightness_where_clipping_does_not():
    lab = torch.tensor([[[[60.0, 30.0]], [[100.0, 10.0]], [[90.0, -5.0]]]])  # 1st: out of gamut
    mapped = color.lab_to_rgb_in_gamut(lab)
    clipped = color.lab_to_rgb(lab)
    assert mapped.min() >= 0 and mapped.max() <= 1
    l_mapped = color.rgb_to_lab(mapped)[0, 0, 0]
    l_clipped = color.rgb_to_lab(clipped)[0, 0, 0]
    assert abs(l_mapped[0] - 60.0) < 0.5 < abs(l_clipped[0] - 60.0)
    torch.testing.assert_close(mapped[..., 1], clipped[..., 1])  # in-gamut pixel untouched
