"""The networks of four published colorizers, rebuilt in PyTorch for benchmarks/peers.py.

For timing only: random weights (no trained weights can be fetched offline; the time of a
forward does not depend on them). Each class keeps the authors' layer structure (channels,
kernels, strides, dilations, normalisation, attention, upsampling, heads) and their input
normalisation, and leaves out training and the photo pre/post-processing around the network.
Written from a reading of the authors' code (not copied). What was followed, and the
parameter count of the authors' model (their own code instantiated and counted, torch 2.14):

  eccv16  Zhang, Isola, Efros, "Colorful Image Colorization", ECCV 2016.
          github.com/richzhang/colorization colorizers/eccv16.py (ECCVGenerator),
          colorizers/base_color.py: 32,236,011 parameters (the released
          colorization_release_v2 weights, 129 MB of float32, agree).
  siggraph17  Zhang, Zhu, Isola, Geng, Lin, Yu, Efros, "Real-Time User-Guided Image
          Colorization with Learned Deep Priors", SIGGRAPH 2017.
          colorizers/siggraph17.py (SIGGRAPHGenerator, classes=529): 34,187,027 parameters.
  ddcolor-tiny  Kang et al., "DDColor: Towards Photo-Realistic Image Colorization via Dual
          Decoders", ICCV 2023; the tiny model (ddcolor_paper_tiny).
          github.com/piddnad/DDColor ddcolor/model.py (DDColor, DuelDecoder,
          MultiScaleColorDecoder), basicsr/archs/ddcolor_arch_utils/{convnext,unet,
          transformer_utils,position_encoding}.py, with ddcolor/pipeline.py's
          build_ddcolor_model settings for "tiny" (ConvNeXt-T, 100 colour queries, 3 scales,
          9 decoder layers, 2 outputs, spectral last norm, input 512): 55,006,640 parameters.
  deoldify-artistic  Antic, DeOldify, the "artistic" model (ColorizeArtistic_gen).
          github.com/jantic/DeOldify deoldify/generators.py (gen_inference_deep: ResNet-34,
          nf_factor 1.5, spectral norm, self-attention, blur, y_range (-3, 3)),
          deoldify/unet.py (DynamicUnetDeep, UnetBlockDeep, CustomPixelShuffle_ICNR),
          deoldify/layers.py (custom_conv_layer), fastai/layers.py (fastai v1's conv_layer,
          PixelShuffle_ICNR, res_block, MergeLayer, SelfAttention, SigmoidRange),
          deoldify/visualize.py (render_factor 35 x 16 = 560 px): 63,646,881 parameters.

Ours have the same counts. With the weights of the authors' models (randomly initialised,
BatchNorm statistics randomised) loaded into ours, DDColor-tiny's and DeOldify's outputs
matched their code's at 64, 96, 100 and 128 px (relative difference under 1e-5; DeOldify's
bit for bit). The two Zhang networks' counts also agree with a count by hand of their layer
lists. What differs from their code:
  * siggraph17: the authors' forward computes its conv9-conv10 tail (upsampling to full size
    and the regression output) twice, the second result overwriting the first; it runs once
    here, as the network is drawn in the paper. Their code as published therefore costs more
    than this (about a third more multiply-adds at 256 px). Like their forward, ours leaves
    the 529-class head out unless asked (with_classes=True).
  * ddcolor-tiny: the encoder is torchvision's convnext_tiny (weights=None).features, which
    has the layers, parameters and arithmetic of the authors' ConvNeXt; their forward hooks
    are explicit returns here.
  * deoldify-artistic: the encoder is torchvision's resnet34 (weights=None) cut before its
    pooling, as fastai v1's create_body cuts it; fastai's hooks and SequentialEx are
    explicit code here.
  * ddcolor-tiny, deoldify-artistic: spectral and weight norm are torch's parametrizations
    instead of the old hook API: the same parameters, and in eval the same work per call
    (the weight divided by u.Wv, or g * v/|v|; no power iteration).
"""

from __future__ import annotations

import math

import torch
import torchvision
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm, weight_norm
from torchvision.models.convnext import LayerNorm2d

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _gray_rgb(size: int) -> tuple[torch.Tensor]:
    """A gray photo as the DDColor and DeOldify pipelines hand it in: 3 equal channels, [0, 1]."""
    return (torch.rand(1, 1, size, size).expand(1, 3, size, size).contiguous(),)


# --- Zhang et al.: ECCV 2016 and SIGGRAPH 2017 --------------------------------------------


def _zhang_block(channels, *, dilation=1, last_stride=1, relu_first=False) -> nn.Sequential:
    """Their conv block: 3x3 convs with bias, each followed by ReLU, then one BatchNorm."""
    layers = [nn.ReLU(True)] if relu_first else []
    for i in range(1, len(channels)):
        stride = last_stride if i == len(channels) - 1 else 1
        conv = nn.Conv2d(channels[i - 1], channels[i], 3, stride, dilation, dilation)
        layers += [conv, nn.ReLU(True)]
    return nn.Sequential(*layers, nn.BatchNorm2d(channels[-1]))


class Eccv16(nn.Module):
    """L (B,1,H,W) in [0, 100] -> (logits over 313 ab bins at H/4, ab at H after x4 bilinear)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _zhang_block([1, 64, 64], last_stride=2),
            _zhang_block([64, 128, 128], last_stride=2),
            _zhang_block([128, 256, 256, 256], last_stride=2),
            _zhang_block([256, 512, 512, 512]),
            _zhang_block([512] * 4, dilation=2),
            _zhang_block([512] * 4, dilation=2),
            _zhang_block([512] * 4),
            nn.ConvTranspose2d(512, 256, 4, 2, 1),
            nn.ReLU(True),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.ReLU(True),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.ReLU(True),
            nn.Conv2d(256, 313, 1),
        )
        self.to_ab = nn.Conv2d(313, 2, 1, bias=False)  # the bins' ab: their annealed mean's T=1

    @staticmethod
    def example(size: int) -> tuple[torch.Tensor]:
        return (torch.rand(1, 1, size, size) * 100,)

    def forward(self, L):
        logits = self.body((L - 50) / 100)
        ab = self.to_ab(logits.softmax(1))
        return logits, F.interpolate(ab, scale_factor=4, mode="bilinear") * 110


class Siggraph17(nn.Module):
    """L (B,1,H,W) in [0, 100], ab hints (B,2,H,W), hint mask (B,1,H,W) -> ab (B,2,H,W);
    with_classes: also the 529-way ab classification at H/4 (the distribution the authors'
    interactive demo suggests colours from; their PyTorch forward does not compute it)."""

    def __init__(self, classes: int = 529) -> None:
        super().__init__()
        self.conv1 = _zhang_block([4, 64, 64])
        self.conv2 = _zhang_block([64, 128, 128])
        self.conv3 = _zhang_block([128, 256, 256, 256])
        self.middle = nn.Sequential(
            _zhang_block([256, 512, 512, 512]),
            _zhang_block([512] * 4, dilation=2),
            _zhang_block([512] * 4, dilation=2),
            _zhang_block([512] * 4),
        )
        # decoder: each level upsamples, adds a 3x3 conv of the encoder's map at that size
        self.up8 = nn.ConvTranspose2d(512, 256, 4, 2, 1)
        self.skip8 = nn.Conv2d(256, 256, 3, padding=1)
        self.conv8 = _zhang_block([256, 256, 256], relu_first=True)
        self.up9 = nn.ConvTranspose2d(256, 128, 4, 2, 1)
        self.skip9 = nn.Conv2d(128, 128, 3, padding=1)
        self.conv9 = _zhang_block([128, 128], relu_first=True)
        self.up10 = nn.ConvTranspose2d(128, 128, 4, 2, 1)
        self.skip10 = nn.Conv2d(64, 128, 3, padding=1)
        self.conv10 = nn.Sequential(
            nn.ReLU(True), nn.Conv2d(128, 128, 3, padding=1), nn.LeakyReLU(0.2)
        )
        self.classes = nn.Conv2d(256, classes, 1)
        self.to_ab = nn.Sequential(nn.Conv2d(128, 2, 1), nn.Tanh())

    @staticmethod
    def example(size: int) -> tuple[torch.Tensor, ...]:
        """L, and no hints (the authors' default when none are given: zeros)."""
        L = torch.rand(1, 1, size, size) * 100
        return L, torch.zeros(1, 2, size, size), torch.zeros(1, 1, size, size)

    def forward(self, L, ab_hints, mask, with_classes: bool = False):
        x1 = self.conv1(torch.cat([(L - 50) / 100, ab_hints / 110, mask], 1))
        x2 = self.conv2(x1[:, :, ::2, ::2])  # their subsampling: every other pixel
        x3 = self.conv3(x2[:, :, ::2, ::2])
        x = self.middle(x3[:, :, ::2, ::2])
        x8 = self.conv8(self.up8(x) + self.skip8(x3))
        x = self.conv9(self.up9(x8) + self.skip9(x2))
        x = self.conv10(self.up10(x) + self.skip10(x1))
        ab = self.to_ab(x) * 110
        return (ab, self.classes(x8)) if with_classes else ab


# --- fastai v1's layers, as DDColor and DeOldify use them ---------------------------------


def _conv(cin, cout, ks=3, *, relu=True, bn=False, norm="spectral") -> nn.Sequential:
    """custom_conv_layer / conv_layer: conv (spectral or weight norm; a bias only without
    BatchNorm), ReLU, then BatchNorm, in that order."""
    conv = nn.Conv2d(cin, cout, ks, padding=(ks - 1) // 2, bias=not bn)
    layers = [spectral_norm(conv) if norm == "spectral" else weight_norm(conv)]
    if relu:
        layers.append(nn.ReLU(True))
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    return nn.Sequential(*layers)


class _Shuffle(nn.Module):
    """PixelShuffle_ICNR: 1x1 conv to cout*scale^2, ReLU, pixel shuffle, then a 2x2 blur.
    fastai v1 and DeOldify blur whatever their `blur` flag (they test `if self.blur`, a
    module); DDColor asks for the blur."""

    def __init__(self, cin, cout, scale=2, *, bn=False, norm="spectral") -> None:
        super().__init__()
        self.conv = _conv(cin, cout * scale * scale, 1, relu=False, bn=bn, norm=norm)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x):
        x = self.shuffle(F.relu(self.conv(x)))
        return F.avg_pool2d(F.pad(x, (1, 0, 1, 0), mode="replicate"), 2, stride=1)


class _SelfAttention(nn.Module):
    """fastai v1's SAGAN self-attention: spectral-norm 1x1 Conv1d query and key (C/8) and
    value (C), no bias; softmax over the first position axis as theirs; gamma residual."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.query, self.key, self.value = (
            spectral_norm(nn.Conv1d(channels, n, 1, bias=False))
            for n in (channels // 8, channels // 8, channels)
        )
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        flat = x.flatten(2)
        f, g, h = self.query(flat), self.key(flat), self.value(flat)
        beta = torch.softmax(torch.bmm(f.transpose(1, 2), g), dim=1)
        return (self.gamma * torch.bmm(h, beta) + flat).view_as(x)


# --- DDColor-tiny ------------------------------------------------------------------------


class _DDColorUp(nn.Module):
    """UnetBlockWide: upsample (shuffle, BatchNorm), BatchNorm the skip, concatenate, ReLU,
    3x3 conv (spectral) + ReLU + BatchNorm."""

    def __init__(self, cin: int, cskip: int, cout: int) -> None:
        super().__init__()
        self.shuffle = _Shuffle(cin, cout, bn=True)
        self.bn = nn.BatchNorm2d(cskip)
        self.conv = _conv(cout + cskip, cout, bn=True)

    def forward(self, x, skip):
        return self.conv(F.relu(torch.cat([self.shuffle(x), self.bn(skip)], 1)))


def _sine_positions(h: int, w: int, dim: int) -> torch.Tensor:
    """DETR's normalised sine position encoding, (h*w, dim): dim/2 features of y, then of x."""
    n = dim // 2
    freqs = 10000 ** (2 * (torch.arange(n) // 2) / n)

    def encode(length: int) -> torch.Tensor:  # positions 1..length scaled to (0, 2 pi]
        e = torch.arange(1, length + 1) / (length + 1e-6) * 2 * math.pi
        e = e[:, None] / freqs
        return torch.stack([e[:, 0::2].sin(), e[:, 1::2].cos()], 2).flatten(1)

    y, x = encode(h)[:, None].expand(h, w, n), encode(w)[None].expand(h, w, n)
    return torch.cat([y, x], 2).reshape(h * w, dim)


class _ColorQueryLayer(nn.Module):
    """One layer of MultiScaleColorDecoder, post-norm: the colour queries cross-attend to one
    scale's pixels, then to each other, then an FFN; each with a residual and a LayerNorm."""

    def __init__(self, dim: int = 256, heads: int = 8, ffn: int = 2048) -> None:
        super().__init__()
        self.cross = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn), nn.ReLU(), nn.Linear(ffn, dim))
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(3))

    def forward(self, q, q_pos, memory, pos):
        # need_weights left at its default, as theirs: the same attention code path
        q = self.norms[0](q + self.cross(q + q_pos, memory + pos, memory)[0])
        k = q + q_pos
        q = self.norms[1](q + self.self_attn(k, k, q)[0])
        return self.norms[2](q + self.ffn(q))


class _ColorDecoder(nn.Module):
    """MultiScaleColorDecoder: learned colour queries refined against three decoder scales in
    turn (1/16, 1/8, 1/4), then an MLP to colour embeddings, dotted with every pixel's
    full-resolution features: one map per query."""

    def __init__(self, in_channels=(512, 512, 256), dim=256, queries=100, layers=9) -> None:
        super().__init__()
        self.project = nn.ModuleList(nn.Conv2d(c, dim, 1) for c in in_channels)
        self.level = nn.Embedding(len(in_channels), dim)
        self.query_feat = nn.Embedding(queries, dim)
        self.query_pos = nn.Embedding(queries, dim)
        self.layers = nn.ModuleList(_ColorQueryLayer(dim) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.embed = nn.Sequential(
            nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim)
        )

    def forward(self, scales, pixels):
        memories, positions = [], []
        for i, f in enumerate(scales):
            positions.append(_sine_positions(*f.shape[-2:], self.level.embedding_dim)[None])
            memories.append(self.project[i](f).flatten(2).transpose(1, 2) + self.level.weight[i])
        b = pixels.shape[0]
        q = self.query_feat.weight.expand(b, -1, -1)
        q_pos = self.query_pos.weight.expand(b, -1, -1)
        for i, layer in enumerate(self.layers):
            level = i % len(scales)
            q = layer(q, q_pos, memories[level], positions[level])
        colours = self.embed(self.norm(q))
        return torch.einsum("bqc,bchw->bqhw", colours, pixels)


class DDColorTiny(nn.Module):
    """Gray RGB (B,3,H,W) in [0, 1], H and W multiples of 32 -> ab (B,2,H,W)."""

    def __init__(self) -> None:
        super().__init__()
        features = torchvision.models.convnext_tiny(weights=None).features
        # (stem or downsampling, blocks) per stage; each stage's output, LayerNormed, is a skip
        self.stages = nn.ModuleList(nn.Sequential(*features[2 * i : 2 * i + 2]) for i in range(4))
        self.norms = nn.ModuleList(LayerNorm2d(c, eps=1e-6) for c in (96, 192, 384, 768))
        self.pooled_norm = nn.LayerNorm(768, eps=1e-6)
        self.ups = nn.ModuleList(
            [_DDColorUp(768, 384, 512), _DDColorUp(512, 192, 512), _DDColorUp(512, 96, 256)]
        )
        self.last_shuffle = _Shuffle(256, 256, scale=4)  # 1/4 -> full size, per-pixel features
        self.colour_decoder = _ColorDecoder()
        self.refine = _conv(100 + 3, 2, 1, relu=False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    example = staticmethod(_gray_rgb)

    def forward(self, rgb):
        x = (rgb - self.mean) / self.std
        skips, h = [], x
        for stage, norm in zip(self.stages, self.norms, strict=True):
            h = stage(h)
            skips.append(norm(h))
        self.pooled_norm(h.mean((-2, -1)))  # their encoder computes it and drops it: so here
        out0 = self.ups[0](skips[3], skips[2])
        out1 = self.ups[1](out0, skips[1])
        out2 = self.ups[2](out1, skips[0])
        maps = self.colour_decoder([out0, out1, out2], self.last_shuffle(out2))
        return self.refine(torch.cat([maps, x], 1))


# --- DeOldify artistic -------------------------------------------------------------------


class _DeOldifyUp(nn.Module):
    """UnetBlockDeep: upsample to half the channels (shuffle, BatchNorm), BatchNorm the skip,
    concatenate, ReLU, two 3x3 convs (spectral, ReLU, BatchNorm) widened by nf_factor."""

    def __init__(self, cin, cskip, *, final=False, attention=False, nf_factor=1.5) -> None:
        super().__init__()
        self.shuffle = _Shuffle(cin, cin // 2, bn=True)
        self.bn = nn.BatchNorm2d(cskip)
        ni = cin // 2 + cskip
        self.out_channels = int((ni // 2 if final else ni) * nf_factor)
        self.conv1 = _conv(ni, self.out_channels, bn=True)
        self.conv2 = _conv(self.out_channels, self.out_channels, bn=True)
        self.attention = _SelfAttention(self.out_channels) if attention else nn.Identity()

    def forward(self, x, skip):
        up = self.shuffle(x)
        if up.shape[-2:] != skip.shape[-2:]:  # 560 px: 18 px at the bottom, 35 above it
            up = F.interpolate(up, skip.shape[-2:], mode="nearest")
        x = self.conv2(self.conv1(F.relu(torch.cat([up, self.bn(skip)], 1))))
        return self.attention(x)


class DeOldifyArtistic(nn.Module):
    """Gray RGB (B,3,H,W) in [0, 1] -> RGB (B,3,H,W) in (-3, 3), ImageNet-normalised."""

    def __init__(self, nf_factor: float = 1.5) -> None:
        super().__init__()
        r = torchvision.models.resnet34(weights=None)
        self.stem = nn.Sequential(r.conv1, r.bn1, r.relu)  # its output: the 1/2 skip
        self.encoder = nn.ModuleList([nn.Sequential(r.maxpool, r.layer1), r.layer2, r.layer3])
        self.layer4 = r.layer4
        self.middle = nn.Sequential(
            nn.BatchNorm2d(512), nn.ReLU(), _conv(512, 1024, bn=True), _conv(1024, 512, bn=True)
        )
        ups, cin = [], 512
        for i, cskip in enumerate((256, 128, 64, 64)):  # layer3, layer2, layer1, stem
            # the attention sits in the third block from the end (1/8 size), as theirs
            ups.append(_DeOldifyUp(cin, cskip, final=i == 3, attention=i == 1, nf_factor=nf_factor))
            cin = ups[-1].out_channels
        self.ups = nn.ModuleList(ups)
        self.last_shuffle = _Shuffle(cin, cin, norm="weight")  # fastai's default: weight norm
        n = cin + 3  # MergeLayer(dense=True): the input image concatenated
        self.res = nn.Sequential(_conv(n, n), _conv(n, n))  # res_block: adds its input
        self.out = _conv(n, 3, 1, relu=False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    example = staticmethod(_gray_rgb)

    def forward(self, rgb):
        x = (rgb - self.mean) / self.std
        skips = [self.stem(x)]
        for layer in self.encoder:
            skips.append(layer(skips[-1]))
        h = self.middle(self.layer4(skips[-1]))
        for up, skip in zip(self.ups, reversed(skips), strict=True):
            h = up(h, skip)
        h = torch.cat([self.last_shuffle(h), x], 1)
        h = h + self.res(h)
        return torch.sigmoid(self.out(h)) * 6 - 3  # SigmoidRange(-3, 3)


# name: (class, the size the authors run it at, their model's parameter count)
PEERS = {
    "eccv16": (Eccv16, 256, 32_236_011),
    "siggraph17": (Siggraph17, 256, 34_187_027),
    "ddcolor-tiny": (DDColorTiny, 512, 55_006_640),
    "deoldify-artistic": (DeOldifyArtistic, 560, 63_646_881),
}


def parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
