"""Losses as small modules. How they are weighted and mixed is the training step's job."""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

from colorgan.core.errors import ColorganError
from colorgan.models.backbones import imagenet_normalize, load_backbone

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
_FEATURE_TAPS = {"vgg16": (3, 8, 15), "mobilenet_v2": (1, 3, 6)}
PERCEPTUAL_NETS = ("auto", *_FEATURE_TAPS)


class PerceptualLoss(nn.Module):
    """Content loss: mean squared distance of frozen ImageNet features of two sRGB batches.

    net="vgg16" is the literature's choice; "auto" uses it when its weights can be loaded
    and otherwise MobileNetV2 (the ImageNet network that ships offline), saying so in the
    log. `self.net_name` tells which one is in use.
    """

    def __init__(self, net: str = "auto", weights: str | None = "imagenet") -> None:
        super().__init__()
        if net not in PERCEPTUAL_NETS:
            raise ColorganError(
                f"unknown perceptual network {net!r}; valid: {', '.join(PERCEPTUAL_NETS)}"
            )
        if net == "auto":
            try:
                backbone, net = load_backbone("vgg16", weights), "vgg16"
            except ColorganError as exc:
                log.warning("perceptual loss: %s; using MobileNetV2 features instead", exc)
                backbone, net = load_backbone("mobilenet_v2", weights), "mobilenet_v2"
        else:
            backbone = load_backbone(net, weights)
        self.net_name = net
        taps = _FEATURE_TAPS[net]
        self.features = backbone.features[: taps[-1] + 1].eval().requires_grad_(False)
        self.taps = set(taps)

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.features.eval()  # frozen: BatchNorm statistics never move
        return self

    def forward(self, pred_rgb: torch.Tensor, target_rgb: torch.Tensor) -> torch.Tensor:
        x = imagenet_normalize(torch.cat([pred_rgb, target_rgb]))
        loss = x.new_zeros(())
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                pred, target = x.chunk(2)
                loss = loss + F.mse_loss(pred, target.detach())
        return loss / len(self.taps)
