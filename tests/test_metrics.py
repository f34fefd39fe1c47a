import math
import urllib.error

import numpy as np
import pytest
import scipy.linalg
import torch
import torchvision
from skimage.color import deltaE_ciede2000, rgb2lab
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from torch import nn

from colorgan.core.color import rgb_to_l_ab
from colorgan.evaluation import metrics

from .conftest import make_photo


def photos(seeds, size=(48, 40)) -> torch.Tensor:
    return (
        torch.stack(
            [torch.from_numpy(np.array(make_photo(s, size))).permute(2, 0, 1) for s in seeds]
        )
        .float()
        .div(255)
    )


def as_numpy_image(x: torch.Tensor) -> np.ndarray:
    return x.permute(1, 2, 0).double().numpy()


@pytest.fixture
def no_downloads(tmp_path, monkeypatch):
    """An empty torch hub cache and no network: the "weights absent" situation, fast."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network in this test")

    monkeypatch.setattr(torch.hub, "urlopen", offline)


# --- pixel metrics against scikit-image and hand-computed cases -------------------------------
def test_psnr_and_ssim_match_scikit_image():
    truth = photos([1, 2, 3])
    pred = torch.cat([photos([4]), (truth[1:] + 0.05 * torch.randn_like(truth[1:])).clamp(0, 1)])
    psnr, ssim = metrics.psnr(pred, truth), metrics.ssim(pred, truth)
    for i in range(3):
        p, t = as_numpy_image(pred[i]), as_numpy_image(truth[i])
        ref_psnr = peak_signal_noise_ratio(t, p, data_range=1.0)
        ref_ssim = structural_similarity(
            t,
            p,
            data_range=1.0,
            channel_axis=2,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        assert psnr[i].item() == pytest.approx(ref_psnr, abs=1e-3)
        assert ssim[i].item() == pytest.approx(ref_ssim, abs=1e-4)
    assert ssim[0] < 0.5 < ssim[1]  # a different photo vs. a noisy copy


def test_identical_images_are_perfect():
    x = photos([5, 6])
    values = metrics.pixel_metrics(x, x, eps=(0.02,))
    for key in ("mae_rgb", "mae_ab", "ciede2000", "delta_colorfulness"):
        assert torch.all(values[key] == 0), key
    assert torch.all(values["acc_ab@0.02"] == 1)
    assert torch.all(torch.isinf(values["psnr"]))
    torch.testing.assert_close(values["ssim"], torch.ones(2))


def test_mae_and_eps_accuracy_hand_case():
    truth_ab = torch.zeros(1, 2, 1, 2)
    pred_ab = torch.tensor([0.01, 0.03, -0.04, 0.2]).view(1, 2, 1, 2)
    assert metrics.mae_ab(pred_ab, truth_ab).item() == pytest.approx(0.07)
    assert metrics.eps_accuracy(pred_ab, truth_ab, 0.02).item() == 0.25
    assert metrics.eps_accuracy(pred_ab, truth_ab, 0.05).item() == 0.75
    black, white = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
    assert metrics.mae_rgb(black, white).item() == pytest.approx(255.0)
    half = torch.cat([torch.zeros(1, 3, 1, 2), torch.full((1, 3, 1, 2), 0.2)], -2)
    assert metrics.mae_rgb(half, black).item() == pytest.approx(25.5)


def test_colorfulness_of_known_images():
    # rg = R - G, yb = (R + G) / 2 - B on [0, 255]; M = sigma_rgyb + 0.3 mu_rgyb
    gray = torch.full((1, 3, 4, 4), 0.4)
    red = torch.zeros(1, 3, 4, 4)
    red[:, 0] = 1.0
    half = red.clone()
    half[..., 2:] = 0.0  # left half red, right half black
    c = metrics.colorfulness(torch.cat([gray, red, half]))
    assert c[0].item() == pytest.approx(0.0, abs=1e-4)
    # solid red: rg = 255, yb = 127.5 everywhere: sigma 0, mu = sqrt(255^2 + 127.5^2)
    assert c[1].item() == pytest.approx(0.3 * math.hypot(255, 127.5), rel=1e-5)  # 85.53
    # half red: rg in {255, 0}, yb in {127.5, 0}: sigma_rg = mu_rg = 127.5, sigma_yb = mu_yb
    # = 63.75, so M = 1.3 * hypot(127.5, 63.75)
    assert c[2].item() == pytest.approx(1.3 * math.hypot(127.5, 63.75), rel=1e-5)  # 185.31


def test_ciede2000_reproduces_sharma_test_data():
    # Sharma, Wu & Dalal (2005), pairs 1, 7, 17, 25 of their table, with published Delta E00
    pairs = [
        ((50, 2.6772, -79.7751), (50, 0, -82.7485), 2.0425),
        ((50, 0, 0), (50, -1, 2), 2.3669),
        ((50, 2.5, 0), (73, 25, -18), 27.1492),
        ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ]
    for lab1, lab2, expected in pairs:
        a = torch.tensor(lab1, dtype=torch.float64).view(1, 3, 1, 1)
        b = torch.tensor(lab2, dtype=torch.float64).view(1, 3, 1, 1)
        assert metrics.ciede2000_lab(a, b).item() == pytest.approx(expected, abs=1e-4)


def test_ciede2000_of_rgb_matches_scikit_image_on_random_colours():
    gen = torch.Generator().manual_seed(0)
    pred, truth = torch.rand(2, 3, 8, 8, generator=gen), torch.rand(2, 3, 8, 8, generator=gen)
    ours = metrics.ciede2000(pred, truth)
    for i in range(2):
        ref = deltaE_ciede2000(rgb2lab(as_numpy_image(truth[i])), rgb2lab(as_numpy_image(pred[i])))
        assert ours[i].item() == pytest.approx(ref.mean(), rel=1e-3)


def test_ab_metrics_use_colorgan_lab():
    x = photos([7])
    shifted = (x + torch.tensor([0.05, -0.05, 0.0]).view(1, 3, 1, 1)).clamp(0, 1)
    values = metrics.pixel_metrics(shifted, x, eps=(0.05,))
    expected = (rgb_to_l_ab(shifted)[1] - rgb_to_l_ab(x)[1]).abs().mean()
    assert values["mae_ab"].item() == pytest.approx(expected.item(), rel=1e-5)


# --- Frechet distance ---------------------------------------------------------------------------
def test_frechet_distance_hand_cases():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 6))
    cov = np.cov(a.T)
    assert metrics.frechet_distance(a.mean(0), cov, a.mean(0), cov) == pytest.approx(0, abs=1e-9)
    # Gaussians shifted by d with the same covariance: distance |d|^2
    d = np.array([1.0, -2.0, 0.5, 0, 0, 3.0])
    assert metrics.frechet_distance(np.zeros(6), cov, d, cov) == pytest.approx(14.25)
    # diagonal covariances: sum (sqrt(s1) - sqrt(s2))^2 = (1 - 2)^2 + (3 - 1)^2
    s1, s2 = np.diag([1.0, 9.0]), np.diag([4.0, 1.0])
    assert metrics.frechet_distance(np.zeros(2), s1, np.zeros(2), s2) == pytest.approx(5.0)


def test_frechet_distance_matches_scipy_sqrtm():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(50, 8)), rng.normal(1.0, 2.0, size=(40, 8)) @ rng.normal(size=(8, 8))
    m1, c1, m2, c2 = x.mean(0), np.cov(x.T), y.mean(0), np.cov(y.T)
    ref = ((m1 - m2) ** 2).sum() + np.trace(c1 + c2 - 2 * scipy.linalg.sqrtm(c1 @ c2).real)
    assert metrics.frechet_distance(m1, c1, m2, c2) == pytest.approx(ref, rel=1e-6)


def test_small_sets_use_the_exact_low_rank_form():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(5, 12)), rng.normal(0.5, 1.5, size=(7, 12))
    small, other = metrics.FeatureStats(), metrics.FeatureStats()
    small.add(torch.from_numpy(x[:3]))
    small.add(torch.from_numpy(x[3:]))
    other.add(torch.from_numpy(y))
    assert small.rows is not None  # 5 vectors of 12 features: kept
    full = metrics.frechet_distance(*small.mean_cov(), *other.mean_cov())
    assert small.distance(other) == pytest.approx(full, rel=1e-6)
    big = metrics.FeatureStats()
    big.add(torch.from_numpy(rng.normal(size=(20, 12))))
    assert big.rows is None  # more vectors than features: only the sums
    full = metrics.frechet_distance(*small.mean_cov(), *big.mean_cov())
    assert small.distance(big) == pytest.approx(full, rel=1e-6)


class TinyFeatures(nn.Module):
    """A stand-in for Inception: 8-bit images -> 16 features (pooled random convolution)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.float() / 255).mean((2, 3))


def test_fid_with_injected_network_matches_torchmetrics():
    from torchmetrics.image.fid import FrechetInceptionDistance

    net = metrics.inception_network(TinyFeatures())
    real_imgs, fake_imgs = photos(range(0, 24)), photos(range(24, 48)) * 0.8
    real, fake, same = metrics.FeatureStats(), metrics.FeatureStats(), metrics.FeatureStats()
    real.add(net(real_imgs))
    same.add(net(real_imgs))
    fake.add(net(fake_imgs))
    reference = FrechetInceptionDistance(feature=net, normalize=True)
    reference.update(real_imgs, real=True)
    reference.update(fake_imgs, real=False)
    assert real.distance(fake) == pytest.approx(reference.compute().item(), rel=1e-4)
    assert real.distance(fake) > 0.01
    assert real.distance(same) == pytest.approx(0.0, abs=1e-6)


def test_fd_mobilenetv2_uses_the_shipped_weights():
    net = metrics.mobilenet_network()
    x, y = photos(range(6), (32, 32)), photos(range(6, 12), (32, 32))
    fx, fy = net(x), net(y)
    assert fx.shape == (6, 1280)
    a, b, c = metrics.FeatureStats(), metrics.FeatureStats(), metrics.FeatureStats()
    a.add(fx), b.add(net(x.clone())), c.add(fy)
    assert a.distance(b) == pytest.approx(0.0, abs=1e-4)
    assert a.distance(c) > 1.0


# --- LPIPS and FID: weights present (stand-in) and absent (clear reason) -----------------------
def vgg16_trunk_random() -> nn.Module:
    """torchvision's VGG16 `features` layout with random weights: LPIPS's real code path."""
    torch.manual_seed(0)
    return torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])


@pytest.mark.integration
def test_lpips_with_injected_trunk_is_a_distance():
    lpips = metrics.lpips_network(vgg16_trunk_random())
    x, y = photos([1, 2], (32, 32)), photos([3, 4], (32, 32))
    same, different = lpips(x, x), lpips(x, y)
    assert same.shape == (2,) and different.shape == (2,)
    torch.testing.assert_close(same, torch.zeros(2))
    assert torch.all(different > 0)
    assert torch.all(lpips(x, (x + 0.02).clamp(0, 1)) < different)


@pytest.mark.integration
def test_lpips_without_weights_says_why(no_downloads, tmp_path):
    with pytest.raises(metrics.MetricUnavailable, match="vgg16 .*not available.*URLError"):
        metrics.lpips_network()
    with pytest.raises(metrics.MetricUnavailable, match="not found.*missing.pth"):
        metrics.lpips_network(weights=str(tmp_path / "missing.pth"))


def test_fid_without_weights_says_why(no_downloads, tmp_path):
    with pytest.raises(metrics.MetricUnavailable, match="torch-fidelity|Inception-v3 FID weights"):
        metrics.inception_network()
    with pytest.raises(metrics.MetricUnavailable, match="torch-fidelity|missing.pth"):
        metrics.inception_network(weights=str(tmp_path / "missing.pth"))


def test_the_flicker_reports_numpy_colour_measures_match_the_torch_metrics():
    """`video --report` measures in numpy (no torch in the light install): its colourfulness
    and Lab are those of colorgan.evaluation.metrics and colorgan.core.color."""
    from colorgan.core import color, fastcolor
    from colorgan.evaluation import flicker

    rgb = photos(range(4))  # (4, 3, H, W) in [0, 1]
    u8 = (rgb * 255).round().to(torch.uint8)
    as_numpy = u8.permute(0, 2, 3, 1).numpy().astype(np.float32)  # (N, H, W, 3) in [0, 255]
    np.testing.assert_allclose(
        flicker.colorfulness(as_numpy), metrics.colorfulness(u8.float() / 255).numpy(), rtol=1e-4
    )
    lab = fastcolor.rgb_to_lab(np.moveaxis(as_numpy / 255.0, -1, -3))
    np.testing.assert_allclose(lab, color.rgb_to_lab(u8.float() / 255).numpy(), atol=2e-3)
