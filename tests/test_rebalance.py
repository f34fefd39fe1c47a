"""Class rebalancing of the distribution head's cross-entropy (Zhang et al. 2016, eq. 4)."""

import logging

import numpy as np
import pytest
import torch
from PIL import Image

from colorgan.core import abbins, config
from colorgan.training import losses, rebalance, train
from colorgan.training.losses import bins_cross_entropy


def _bin_of(rgb: tuple[int, int, int]) -> int:
    from colorgan.core.color import rgb_to_l_ab

    _, ab = rgb_to_l_ab(torch.tensor(rgb, dtype=torch.float32).view(3, 1, 1) / 255)
    return int(abbins.nearest_bins(ab.numpy().reshape(2, 1))[0])


def test_weights_follow_zhang_et_al_and_average_to_one():
    rng = np.random.default_rng(0)
    prior = rng.dirichlet(np.full(abbins.num_bins(), 0.3)).astype(np.float32)
    assert np.allclose(rebalance.bin_weights(prior, 0.0), 1.0)
    full = rebalance.bin_weights(prior, 1.0)
    expect = 1 / (0.5 * prior + 0.5 / len(prior))  # mix 1/2, then E_prior[w] = 1
    assert np.allclose(full, expect / (prior * expect).sum(), rtol=1e-5)
    for s in (0.5, 1.0):
        w = rebalance.bin_weights(prior, s)
        assert (prior * w).sum() == pytest.approx(1.0, abs=1e-5)
        order = np.argsort(prior)
        assert np.all(np.diff(w[order]) <= 1e-6)  # the rarer the bin, the larger its weight
    # softening: the half-strength weights span less than the full ones
    half = rebalance.bin_weights(prior, 0.5)
    assert half.max() / half.min() < full.max() / full.min()
    with pytest.raises(ValueError):
        rebalance.bin_weights(prior, 1.5)


def test_prior_counts_the_training_pixels_and_skips_a_bad_file(tmp_path, caplog):
    gray, red = (128, 128, 128), (200, 30, 30)
    Image.new("RGB", (300, 200), gray).save(tmp_path / "gray.png")
    Image.new("RGB", (60, 30), red).save(tmp_path / "red.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    files = sorted(tmp_path.iterdir())
    with caplog.at_level(logging.WARNING):
        prior = rebalance.colour_prior(files)
    assert "bad.png" in caplog.text
    assert prior.sum() == pytest.approx(1.0, abs=1e-5)
    g, r = _bin_of(gray), _bin_of(red)
    assert prior.argmax() == g
    # each image counts by its pixels at short side <= 64: 96x64 gray, 60x30 red as it is
    assert prior[g] / prior[r] == pytest.approx(96 * 64 / (60 * 30), rel=0.05)


def test_weighted_cross_entropy_weights_each_pixel_by_its_true_bin():
    ab = torch.zeros(1, 2, 8, 8)
    ab[:, 0, :, 4:] = 60 / 110  # right half: a strong a* (a rare colour), left half gray
    logits = torch.randn(1, abbins.num_bins(), 8, 8)
    plain = bins_cross_entropy(logits, ab)
    assert torch.allclose(
        bins_cross_entropy(logits, ab, torch.full((abbins.num_bins(),), 3.0)), 3 * plain
    )
    w = torch.ones(abbins.num_bins())
    rare = int(abbins.nearest_bins(np.array([[60 / 110], [0.0]], np.float32))[0])
    w[rare] = 5.0
    left = bins_cross_entropy(logits[..., :4], ab[..., :4])
    right = bins_cross_entropy(logits[..., 4:], ab[..., 4:])
    assert torch.allclose(bins_cross_entropy(logits, ab, w), (left + 5 * right) / 2)


def test_rebalance_needs_the_distribution_head_and_a_range():
    with pytest.raises(config.ConfigError, match="needs model.head distribution"):
        config.with_overrides(config.load("pix2pix-unet"), ["loss.rebalance=0.5"])
    with pytest.raises(config.ConfigError, match="loss.ce > 0"):
        config.with_overrides(
            config.load("guided-distribution"), ["loss.rebalance=0.5", "loss.ce=0"]
        )
    with pytest.raises(config.ConfigError, match=r"in \[0, 1\]"):
        config.with_overrides(config.load("guided-distribution"), ["loss.rebalance=2"])


@pytest.mark.integration
def test_a_rebalanced_run_trains_with_its_weights(tmp_path, caplog, monkeypatch):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(6):
        im = np.full((40, 40, 3), 120, np.uint8)
        im[:10] = (30, 60 + 20 * i, 200)  # a little blue sky over gray
        Image.fromarray(im).save(folder / f"{i}.png")
    cfg = config.with_overrides(
        config.load("guided-distribution"),
        [
            "model.gen_kwargs={encoder: mobilenet_v2, weights: null}",
            "model.width=4",
            f"data.root={folder}",
            "data.size=32",
            "data.workers=0",
            "data.val_fraction=0.34",
            "train.batch_size=2",
            "train.steps=2",
            "loss.rebalance=1.0",
        ],
    )
    given = []
    real = losses.bins_cross_entropy
    monkeypatch.setattr(
        losses,
        "bins_cross_entropy",
        lambda logits, ab, w=None: given.append(w) or real(logits, ab, w),
    )
    with caplog.at_level(logging.INFO):
        final = train.run(cfg, tmp_path / "run")
    assert final.exists()
    assert "class rebalancing 1.00" in caplog.text
    # the training steps' cross-entropy got the weights (validation's stays unweighted)
    weighted = [w for w in given if w is not None]
    assert len(weighted) == 2 and weighted[0].shape == (abbins.num_bins(),)
    assert float(weighted[0].max()) > 2 * float(weighted[0].min())
