"""Generators (by name, see `list_generators`) and the PatchGAN discriminator."""

from __future__ import annotations

from torch import nn

from colorgan.core.color import out_channels
from colorgan.core.config import ConfigError
from colorgan.models import (  # noqa: F401  (imported to register their generators)
    damage_unet,
    encoder_decoder,
    grain_net,
    pretrained_unet,
    residual_unet,
    resnet,
    unet,
)
from colorgan.models.patchgan import PatchGAN, patch_grid
from colorgan.models.registry import (
    build_generator,
    generator_arguments,
    list_generators,
    register_generator,
)

__all__ = [
    "PatchGAN",
    "build_discriminator",
    "build_generator",
    "generator_from_config",
    "list_generators",
    "patch_grid",
    "register_generator",
]


def generator_from_config(model_cfg, size: int, load_pretrained: bool = True) -> nn.Module:
    """Build the generator a ModelConfig describes, for training crops of `size` pixels.

    `load_pretrained=False` skips downloading/loading ImageNet encoder weights: used
    when a checkpoint's own weights are loaded right after.
    """
    name = model_cfg.generator
    args = generator_arguments(name)
    kwargs = dict(
        in_channels=1, out_channels=out_channels(model_cfg.color_space), width=model_cfg.width
    )
    kwargs.update(model_cfg.gen_kwargs)
    if "num_downs" in args and "num_downs" not in kwargs:
        # pix2pix uses 8 downsamplings at 256 px (1x1 bottleneck); other crop sizes get as
        # many as divide them, so training crops always fit.
        kwargs["num_downs"] = max((k for k in range(1, 9) if size % 2**k == 0), default=1)
    if not load_pretrained and "weights" in args:
        kwargs["weights"] = None
    for key, value, plain in (
        ("head", model_cfg.head, "ab"),
        ("guidance", model_cfg.guidance, False),
    ):
        if value == plain:
            continue
        if key not in args:
            raise ConfigError(f"model.{key}={value!r}: generator {name!r} does not support it")
        kwargs[key] = value
    return build_generator(name, **kwargs)


def build_discriminator(model_cfg) -> PatchGAN:
    """PatchGAN conditioned on L: input is L concatenated with the (real or fake) colour."""
    return PatchGAN(
        in_channels=1 + out_channels(model_cfg.color_space),
        width=model_cfg.disc_width,
        n_layers=model_cfg.disc_layers,
    )
