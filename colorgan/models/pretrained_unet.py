"""U-Net whose encoder is an ImageNet classifier from torchvision (MobileNetV2 or ResNet-18).

The "pretrained encoder" colourisation recipe (as in the fastai DynamicUnet that DeOldify
uses): a classifier that already knows objects and textures gives the generator semantics
a from-scratch encoder has to learn from the training photos alone.

Encoder: the classifier's feature stages at strides 2, 4, 8, 16 and 32 (the classification
head is dropped); loaded by models.backbones ("imagenet", a local .pth, or None = random).
The network's L in [-1, 1] is turned into the classifier's input convention inside the
module: L -> sRGB gray through colorgan.core.color (replicated to 3 channels), then the ImageNet
mean/std of backbones.imagenet_normalize.
Decoder: at each of strides 16, 8, 4, 2 and 1, upsample x2 (bilinear), concatenate the
encoder feature of that stride (the raw input at stride 1) and apply two conv3x3-BN-ReLU.
Decoder channels are 4w, 2w, w, w/2, w/2 for width w; a 1x1 conv and tanh give the output.

head="distribution": instead of ab, logits over the Q quantised ab bins (colorgan.core.abbins)
from the stride-2 decoder stage, i.e. at half the input's size (Zhang et al. 2016 predict at
a quarter): colour is low-frequency and the full-size stage is the costliest one, so it is
skipped. guidance=True: forward(x, hint, ref) also takes user hints and a reference colour
distribution (colorgan.models.guidance_layers); absent or all-zero guidance = automatic colour.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from colorgan.core import abbins, color
from colorgan.models.backbones import imagenet_normalize, load_backbone
from colorgan.models.efficientnet_lite import VARIANTS as EFFICIENTNET_LITE
from colorgan.models.guidance_layers import (
    HintLogits,
    HintStem,
    ReferenceEncoder,
    empty_guidance,
    pool_hints,
)
from colorgan.models.layers import DoubleConv, require
from colorgan.models.registry import register_generator

ENCODERS = ("mobilenet_v2", "resnet18", *EFFICIENTNET_LITE)
HEADS = ("ab", "distribution")


def _stages(encoder: str, model: nn.Module) -> tuple[list[nn.Module], list[int]]:
    """The classifier cut into five stages ending at strides 2..32, and their channels."""
    if encoder in EFFICIENTNET_LITE:  # its 1x1 head to 1280 channels is dropped too
        return model.stages()
    if encoder == "mobilenet_v2":
        f = model.features
        # features[18] (1x1 conv to 1280 channels) only feeds the classifier: dropped
        cuts = [(0, 2), (2, 4), (4, 7), (7, 14), (14, 18)]
        return [f[a:b] for a, b in cuts], [16, 24, 32, 96, 320]
    m = model
    stem = nn.Sequential(m.conv1, m.bn1, m.relu)
    stages = [stem, nn.Sequential(m.maxpool, m.layer1), m.layer2, m.layer3, m.layer4]
    return stages, [64, 64, 128, 256, 512]


class PretrainedUNet(nn.Module):
    size_multiple = 32

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int,
        encoder: str,
        weights: str | None,
        freeze_encoder: bool,
        head: str = "ab",
        guidance: bool = False,
        hint_path: bool = False,
    ) -> None:
        super().__init__()
        require(encoder in ENCODERS, f"pretrained-unet: encoder={encoder!r}; valid: {ENCODERS}")
        require(in_channels in (1, 3), f"pretrained-unet: in_channels={in_channels} not 1 or 3")
        require(width >= 2, f"pretrained-unet: width={width} must be >= 2")
        require(head in HEADS, f"pretrained-unet: head={head!r}; valid: {HEADS}")
        classifier = load_backbone(encoder, weights)
        stages, enc_ch = _stages(encoder, classifier)
        self.encoder = nn.ModuleList(stages)
        self.in_channels = in_channels
        self.freeze_encoder = freeze_encoder
        self.head_kind, self.guidance, self.bins = head, guidance, abbins.num_bins()
        dec_ch = [4 * width, 2 * width, width, width // 2, width // 2]
        skip_ch = enc_ch[3::-1] + [in_channels]  # strides 16, 8, 4, 2, then the input
        if head == "distribution":  # stop at stride 2: logits at half size
            dec_ch, skip_ch = dec_ch[:4], skip_ch[:4]
        extra = 3 if guidance else 0  # the hint map, pooled to each decoder stage
        prev = enc_ch[4]
        self.decoder = nn.ModuleList()
        for skip, out in zip(skip_ch, dec_ch, strict=True):
            self.decoder.append(DoubleConv(prev + skip + extra, out))
            prev = out
        if head == "distribution":
            self.head = nn.Conv2d(prev, self.bins, 1)
        else:
            self.head = nn.Sequential(nn.Conv2d(prev, out_channels, 1), nn.Tanh())
        if guidance:
            self.hint_stem = HintStem(enc_ch[0])
            self.reference = ReferenceEncoder(self.bins, enc_ch[4])
        require(
            not hint_path or (guidance and head == "distribution"),
            "pretrained-unet: hint_path needs guidance and the distribution head",
        )
        self.hint_logits = HintLogits() if hint_path else None
        if freeze_encoder:
            self.encoder.requires_grad_(False)

    def train(self, mode: bool = True) -> PretrainedUNet:
        super().train(mode)
        if self.freeze_encoder:  # frozen BatchNorm statistics stay the ImageNet ones
            self.encoder.eval()
        return self

    def imagenet_input(self, x: torch.Tensor) -> torch.Tensor:
        """Network input in [-1, 1] -> the classifier's normalised RGB."""
        if self.in_channels == 1:
            rgb = color.l_ab_to_rgb(x, torch.zeros_like(x).expand(-1, 2, -1, -1))
        else:
            rgb = color.norm_to_rgb(x)
        return imagenet_normalize(rgb)

    def forward(
        self, x: torch.Tensor, hint: torch.Tensor | None = None, ref: torch.Tensor | None = None
    ) -> torch.Tensor:
        if self.guidance and (hint is None or ref is None):
            no_hint, no_ref = empty_guidance(x, self.bins)
            hint = no_hint if hint is None else hint
            ref = no_ref if ref is None else ref
        feats = []
        h = self.imagenet_input(x)
        for i, stage in enumerate(self.encoder):
            h = stage(h)
            if i == 0 and self.guidance:
                h = h + self.hint_stem(hint, h)
            feats.append(h)
        skips = (feats[3::-1] + [x])[: len(self.decoder)]
        h = feats[4]
        if self.guidance:
            h = h + self.reference(ref)
        for block, skip in zip(self.decoder, skips, strict=True):
            h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            parts = [h, skip] + ([pool_hints(hint, skip.shape[-2:])] if self.guidance else [])
            h = block(torch.cat(parts, dim=1))
        out = self.head(h)
        return out if self.hint_logits is None else self.hint_logits(out, hint)


@register_generator("pretrained-unet")
def pretrained_unet(
    in_channels: int = 1,
    out_channels: int = 2,
    width: int = 64,
    encoder: str = "mobilenet_v2",
    weights: str | None = "imagenet",
    freeze_encoder: bool = False,
    head: str = "ab",
    guidance: bool = False,
    hint_path: bool = False,
) -> PretrainedUNet:
    """U-Net on a torchvision classifier. weights: "imagenet", None (random) or a .pth path;
    head "ab" or "distribution"; guidance: also take hints and a reference (see above);
    hint_path: a direct path from hints to the logits (guidance_layers.HintLogits)."""
    return PretrainedUNet(
        in_channels,
        out_channels,
        width,
        encoder,
        weights,
        freeze_encoder,
        head,
        guidance,
        hint_path,
    )
