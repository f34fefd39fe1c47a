"""Training the repair's networks on synthetic damage: the damage detector
(colorgan.training.detector), the inpainter compared with OpenCV's fill
(colorgan.training.inpainter) and the grain estimator (colorgan.training.grain), a few steps
each on a folder of small photos."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from colorgan.core import config
from colorgan.pipeline import restore
from colorgan.training import detector, grain, inpainter

TINY = [
    "data.size=32",
    "model.width=4",
    "model.gen_kwargs={depth: 2, block: 2, norm: batch}",
    "train.steps=2",
    "train.batch_size=2",
    "train.ckpt_every=2",
    "train.val_batches=1",
]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(3):
        y, x = np.mgrid[0:48, 0:64]
        rgb = np.stack([x * 3, y * 4, (x + y) * 2], -1) + rng.integers(0, 30, (48, 64, 3))
        Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(folder / f"p{i}.png")
    return folder


def test_inpainter_input_hides_the_hole_and_the_fill_keeps_the_rest():
    damaged = np.full((8, 8), 50.0, np.float32)
    damaged[3, :] = 100.0  # a bright scratch
    hole = np.zeros((8, 8), bool)
    hole[3, :] = True
    x = inpainter.inputs(damaged, hole)
    assert x.shape == (2, 8, 8)
    assert (x[0][hole] == 0).all() and (x[1][hole] == 1).all() and (x[1][~hole] == -1).all()
    assert np.allclose(x[0][~hole], 0.0)  # L 50 -> 0 in [-1, 1]
    net = inpainter.build(config.with_overrides(config.load("inpainter"), TINY)).eval()
    out = inpainter.filled(net, torch.from_numpy(x)[None])
    assert torch.equal(out[0, 0][torch.from_numpy(~hole)], torch.from_numpy(x[0][~hole]))
    grown = restore.grow(hole)
    assert grown[2:5].all() and not grown[0].any()  # one pixel each side, as restore.fill


@pytest.mark.parametrize("which", ["detector", "inpainter", "grain"])
def test_a_short_training_keeps_the_best_weights_on_validation(which, photos, tmp_path):
    module = {"detector": detector, "inpainter": inpainter, "grain": grain}[which]
    preset = {"detector": "damage-detector", "inpainter": "inpainter", "grain": "grain-estimator"}
    tiny = TINY if which != "grain" else [*TINY[:2], "model.gen_kwargs={depth: 2}", *TINY[3:]]
    cfg = config.with_overrides(config.load(preset[which]), tiny)
    best = module.train(cfg, str(photos), str(photos), tmp_path)
    scores = json.loads((tmp_path / f"{which}.json").read_text())
    assert scores["step"] == 2 and scores == best
    net, loaded = module.load(tmp_path / f"{which}.safetensors")
    assert loaded.model.width == 4 and not net.training
    if which == "detector":
        assert 0 <= scores["f1"] <= 1 and scores["threshold"] in detector.THRESHOLDS
    elif which == "inpainter":
        assert np.isfinite(scores["psnr"]) and np.isfinite(scores["opencv_psnr"])
    else:
        assert scores["neg_mae"] == -scores["mae"]  # what fit() maximises: the error, negated
        assert scores["clean_mae"] is None or scores["clean_mae"] >= 0
