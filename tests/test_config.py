import dataclasses

import pytest

from colorgan.core import config
from colorgan.core.config import ConfigError


def test_every_preset_loads():
    names = config.list_presets()
    assert {"pix2pix-unet", "pretrained-unet", "rgb-unet", "encoder-decoder"} <= set(names)
    for name in names:
        cfg = config.load(name)
        assert cfg.preset == name


def test_overrides_make_new_object_and_parse_types():
    cfg = config.load("pix2pix-unet")
    new = config.with_overrides(cfg, ["train.lr=1e-4", "data.size=64", "loss.adv_type=lsgan"])
    assert new.train.lr == 1e-4 and new.data.size == 64 and new.loss.adv_type == "lsgan"
    assert cfg.train.lr == 2e-4 and cfg.data.size == 256  # untouched
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train.lr = 1.0  # frozen


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.lrr=1", "unknown key train.lrr; valid keys: steps"),
        ("optim.lr=1", "unknown section"),
        ("train.steps=abc", "train.steps: expected int"),
        ("train.steps=0", "train.steps must be >= 1"),
        ("loss.adv_type=wgan", "valid: vanilla, lsgan"),
        ("model.color_space=hsv", "valid: lab, rgb"),
        ("train.pretrain_fraction=2", "pretrain_fraction"),
        ("trainlr", "section.key=value"),
    ],
)
def test_bad_values_give_clear_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        config.with_overrides(config.load("pix2pix-unet"), [override])


def test_unknown_preset_lists_valid_names(tmp_path):
    with pytest.raises(ConfigError, match="valid presets: .*pix2pix-unet"):
        config.load("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2")
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.load(str(bad))


def test_yaml_round_trip(tmp_path):
    cfg = config.with_overrides(config.load("pretrained-unet"), ["data.size=64"])
    path = tmp_path / "c.yaml"
    path.write_text(cfg.to_yaml())
    assert config.load(str(path)) == cfg
