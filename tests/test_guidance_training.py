"""Guidance (hints, reference), the distribution head, stamps and a separate val folder in
training; and a tiny model that really learns (validation loss falls)."""

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from colorgan.core import abbins, config
from colorgan.core.errors import ColorganError
from colorgan.models import generator_from_config
from colorgan.training import data, hints, train
from colorgan.training.stamps import Stamps


def _cfg(extra=()):
    base = config.load("guided-distribution")
    return config.with_overrides(
        base, ["model.gen_kwargs={encoder: mobilenet_v2, weights: null}", "model.width=8", *extra]
    )


def test_guided_network_with_no_guidance_is_the_automatic_network():
    torch.manual_seed(0)
    net = generator_from_config(_cfg().model, 64).eval()
    x = torch.rand(2, 1, 64, 64) * 2 - 1
    with torch.no_grad():
        auto = net(x)
        zeros = net(x, torch.zeros(2, 3, 64, 64), torch.zeros(2, abbins.num_bins() + 1))
        assert auto.shape == (2, abbins.num_bins(), 32, 32)  # logits at half size
        torch.testing.assert_close(auto, zeros)
        # the reference branch ends in a zero layer: a fresh network ignores it until trained
        ref = torch.zeros(2, abbins.num_bins() + 1)
        ref[:, 5], ref[:, -1] = 1.0, 1.0
        torch.testing.assert_close(net(x, torch.zeros(2, 3, 64, 64), ref), auto)
        hint = torch.zeros(2, 3, 64, 64)
        hint[:, :, 30:34, 30:34] = 1.0  # hints reach the decoder directly
        assert not torch.allclose(net(x, hint, torch.zeros_like(ref)), auto)


def test_other_generators_refuse_head_and_guidance():
    cfg = config.with_overrides(config.load("pix2pix-unet"), ["model.head=distribution"])
    with pytest.raises(config.ConfigError, match="does not support"):
        generator_from_config(cfg.model, 64)


def test_simulated_hints_follow_the_paper_and_are_reproducible():
    ab = torch.rand(64, 2, 32, 32) * 2 - 1
    a = hints.guidance_for(ab, seed=3, hint_free=0.5, reference_keep=0.25)
    b = hints.guidance_for(ab, seed=3, hint_free=0.5, reference_keep=0.25)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    hint, ref = a
    hinted = hint[:, 2].flatten(1).amax(1) > 0
    assert 0.25 < hinted.float().mean() < 0.7  # half hint-free, and the geometric's own zeros
    # a hint holds the patch's mean true colour: constant over the patch
    i = int(hinted.nonzero()[0])
    mask = hint[i, 2] > 0
    assert torch.all((hint[i, :2][:, mask] >= -1) & (hint[i, :2][:, mask] <= 1))
    kept = ref[:, -1] == 1
    assert 0.05 < kept.float().mean() < 0.5
    assert torch.allclose(ref[kept, :-1].sum(1), torch.ones(int(kept.sum())), atol=1e-4)
    assert torch.all(ref[~kept] == 0)


def test_stamps_are_pasted_with_their_alpha(tmp_path):
    stamp = Image.new("RGBA", (20, 20), (255, 0, 0, 0))
    stamp.paste((255, 0, 0, 255), (5, 5, 15, 15))
    stamp.save(tmp_path / "red.png")
    crop = Image.new("RGB", (40, 40), (0, 0, 255))
    import random

    out = np.asarray(Stamps([tmp_path / "red.png"], prob=1.0).maybe_paste(crop, random.Random(1)))
    red = (out[..., 0] > 200) & (out[..., 2] < 50)
    assert 0 < red.sum() < 40 * 40 * 0.5  # some red, never the transparent border
    assert (out[..., 2] > 200).sum() > 0  # the background shows around it
    untouched = Stamps([tmp_path / "red.png"], prob=0.0).maybe_paste(crop, random.Random(1))
    assert untouched is crop


def _photos(folder, n, colour):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        base = np.asarray(colour, np.float32) * rng.uniform(0.6, 1.0, (48, 48, 1))
        Image.fromarray(base.astype(np.uint8)).save(folder / f"{i}.png")


def test_val_root_gives_the_validation_set(tmp_path):
    _photos(tmp_path / "train", 8, (200, 40, 40))
    _photos(tmp_path / "val", 3, (40, 40, 200))
    cfg = config.DataConfig(
        root=str(tmp_path / "train"), val_root=str(tmp_path / "val"), size=32, workers=0
    )
    train_loader, val_loader, report = data.make_loaders(cfg, 4, seed=0)
    assert len(report.train) == 8 and len(report.val) == 3
    assert all("val" in str(p) for p in report.val)


@pytest.mark.integration
def test_a_tiny_distribution_model_learns(tmp_path):
    """60 steps on photos made here (reddish top, bluish bottom) must bring the validation
    losses clearly below their step-0 values: training learns, not just runs."""
    for split in ("train", "val"):
        folder = tmp_path / split
        folder.mkdir()
        rng = np.random.default_rng(len(split))
        for i in range(12):
            im = np.zeros((64, 64, 3), np.float32)
            im[:32] = (220, 60, 40)
            im[32:] = (40, 80, 220)
            im *= rng.uniform(0.5, 1.0, (64, 64, 1))
            Image.fromarray(im.astype(np.uint8)).save(folder / f"{i}.png")
    cfg = _cfg(
        [
            f"data.root={tmp_path / 'train'}",
            f"data.val_root={tmp_path / 'val'}",
            "data.size=32",
            "data.workers=0",
            "data.stamp_prob=0",
            "data.scale_max=1.0",
            "data.hflip=false",
            "train.batch_size=8",
            "train.lr=2e-3",
            "train.lr_decay=none",
            "train.steps=60",
        ]
    )
    parts = train.build_parts(cfg, torch.device("cpu"))
    train_loader, val_loader, _ = data.make_loaders(cfg.data, 8, seed=0)
    before = train.validate(parts, val_loader, 4)
    batches = data.epochs(train_loader)
    for step in range(60):
        train.train_step(parts, next(batches)[1], "pretrain", step)
    after = train.validate(parts, val_loader, 4)
    assert after["val_ce"] < 0.95 * before["val_ce"]  # from ~ln(262) = 5.57: 5.69 -> 5.14 seen
    assert after["val_l1"] < 0.85 * before["val_l1"]  # 0.32 -> 0.23 seen


def test_hint_path_makes_a_hinted_pixel_take_the_hint_colour(tmp_path):
    torch.manual_seed(0)
    cfg = _cfg(["model.gen_kwargs={encoder: mobilenet_v2, weights: null, hint_path: true}"])
    net = generator_from_config(cfg.model, 64).eval()
    x = torch.rand(1, 1, 64, 64) * 2 - 1
    green = torch.tensor([-0.5, 0.4])
    hint = torch.zeros(1, 3, 64, 64)
    hint[0, :2, 20:26, 20:26] = green[:, None, None]
    hint[0, 2, 20:26, 20:26] = 1.0
    with torch.no_grad():
        auto = abbins.annealed_mean(net(x).numpy())[0, :, 11, 11]
        hinted = abbins.annealed_mean(net(x, hint).numpy())[0, :, 11, 11]  # logits at half size
    # an untrained network: the direct path alone pulls the hinted pixel most of the way
    assert np.linalg.norm(hinted - green.numpy()) < 0.4 * np.linalg.norm(auto - green.numpy())


def test_init_from_loads_what_fits_and_names_what_is_new(tmp_path, caplog):
    from colorgan.io import modelfile

    plain = _cfg()
    modelfile.save_generator(
        tmp_path / "g.safetensors", generator_from_config(plain.model, 64), plain
    )
    cfg = _cfg(
        [
            "model.gen_kwargs={encoder: mobilenet_v2, weights: null, hint_path: true}",
            f"train.init_from={tmp_path / 'g.safetensors'}",
        ]
    )
    with caplog.at_level("INFO"):
        parts = train.build_parts(cfg, torch.device("cpu"))
    assert "new: hint_logits.gain" in caplog.text
    source = load_file(str(tmp_path / "g.safetensors"))
    own = parts.generator.state_dict()
    assert all(torch.equal(own[k], v.float()) for k, v in source.items() if v.is_floating_point())
    narrow = _cfg(["model.width=4"])
    modelfile.save_generator(
        tmp_path / "n.safetensors", generator_from_config(narrow.model, 64), narrow
    )
    other = config.with_overrides(cfg, [f"train.init_from={tmp_path / 'n.safetensors'}"])
    with pytest.raises(ColorganError, match="do not fit"):
        train.build_parts(other, torch.device("cpu"))
