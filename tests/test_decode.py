"""The distribution head's decoding with spatial context (colorgan.pipeline.decode) and the
skin pull on faces (colorgan.pipeline.skin), on logits whose right answer is known."""

import functools
import logging

import numpy as np
import pytest

from colorgan.core import abbins
from colorgan.core.errors import ColorganError
from colorgan.pipeline import decode, skin

UNCACHED_DETECTOR = skin.detector.__wrapped__
BLUE, GREEN, GRAY = (0, -40), (-40, 20), (0, 0)  # Lab a, b of three bins


def bin_index(ab) -> int:
    return int(abbins.nearest_bins(np.asarray(ab, np.float32)[:, None] / abbins.AB_SCALE)[0])


def two_mode_logits(h=96, w=96, seed=0):
    """Every pixel unsure between blue and green, which one leads chosen per pixel at random,
    blue at two pixels in three (a surface that is likely blue, could be green): (1, Q, h, w)."""
    rng = np.random.default_rng(seed)
    z = np.full((1, abbins.Q, h, w), -8.0, np.float32)
    lead = rng.random((h, w)) < 2 / 3
    z[0, bin_index(BLUE)] = np.where(lead, 2.3, 2.0)
    z[0, bin_index(GREEN)] = np.where(lead, 2.0, 2.3)
    return z


def hue_spread(ab: np.ndarray) -> float:
    """Standard deviation of the hue angle (radians) over the pixels."""
    return float(np.std(np.arctan2(ab[1], ab[0])))


@pytest.fixture(autouse=True)
def no_faces(monkeypatch):
    monkeypatch.setattr(skin, "detector", lambda: None)  # these logits have no faces


def test_one_surface_gets_one_colour_not_blotches():
    z, L = two_mode_logits(), np.full((1, 192, 192), 50.0, np.float32)
    per_pixel = abbins.annealed_mean(z, 0.2)[0]
    smoothed = decode.decode(z, L, 0.2, 0.5, unsure_power=0)[0]
    assert hue_spread(per_pixel) > 0.5  # blue and green blotches
    assert hue_spread(smoothed) < 0.1 * hue_spread(per_pixel)


def test_edges_of_lightness_stay_colour_edges():
    z = np.full((1, abbins.Q, 32, 32), -8.0, np.float32)
    z[0, bin_index(BLUE), :, :16] = 3.0  # a blue left half, a green right half
    z[0, bin_index(GREEN), :, 16:] = 3.0
    L = np.full((1, 64, 64), 30.0, np.float32)
    L[..., 32:] = 80.0  # the same edge in L
    ab = decode.decode(z, L, 0.2, 0.5, unsure_power=0)[0] * abbins.AB_SCALE
    np.testing.assert_allclose(ab[:, :, 14].mean(1), np.array(BLUE) * decode.gain(0.5), atol=3)
    np.testing.assert_allclose(ab[:, :, 17].mean(1), np.array(GREEN) * decode.gain(0.5), atol=3)


def test_less_colour_where_the_model_leans_to_gray():
    z = np.full((1, abbins.Q, 8, 16), -8.0, np.float32)
    z[0, bin_index(BLUE)] = 3.0
    z[0, bin_index(GRAY), :, 8:] = 2.8  # the right half: nearly as likely colourless
    L = np.full((1, 16, 32), 50.0, np.float32)
    sure, unsure = (decode.decode(z, L, 0.2, 0.5, radius=0, unsure_power=p)[0] for p in (0, 1))
    chroma = lambda ab: np.hypot(*ab)  # noqa: E731
    np.testing.assert_allclose(chroma(unsure[:, :, :8]), chroma(sure[:, :, :8]), rtol=1e-3)
    assert chroma(unsure[:, :, 8:]).max() < 0.6 * chroma(sure[:, :, 8:]).min()


def test_vividness_is_monotonic_and_bounded():
    z, L = two_mode_logits(), np.full((1, 192, 192), 50.0, np.float32)
    chroma = [np.hypot(*decode.decode(z, L, 0.2, v)[0]).mean() for v in (0, 0.25, 0.5, 1)]
    assert chroma == sorted(chroma) and chroma[-1] > 2 * chroma[0]
    for bad in (-0.01, 1.01, float("nan")):
        with pytest.raises(ColorganError, match="vividness"):
            decode.gain(bad)


@pytest.mark.parametrize("r", [1, 2, 3, 6, 12])  # windows of 3..25: each power-of-two mix
def test_box_mean_and_guided_filter(r):
    rng = np.random.default_rng(1)
    x = rng.random((3, 9, 7), dtype=np.float32)
    k = 2 * r + 1  # r = 12: wider than the array, the extended edges fill the window
    padded = np.pad(x, ((0, 0), (r, r), (r, r)), mode="edge")
    brute = np.stack(
        [
            [[padded[c, i : i + k, j : j + k].mean() for j in range(7)] for i in range(9)]
            for c in range(3)
        ]
    )
    np.testing.assert_allclose(decode.box_mean(x, r), brute, atol=1e-5)
    flat = np.full((2, 9, 7), 0.25, np.float32)  # a constant stays that constant
    np.testing.assert_allclose(decode.guided_filter(x[0], flat, r, 0.01), flat, atol=1e-5)


def test_faces_are_pulled_to_skin_and_the_rest_is_not():
    olive = np.zeros((2, 40, 40), np.float32)
    olive[0], olive[1] = -10 / abbins.AB_SCALE, 25 / abbins.AB_SCALE
    out = skin.pull_to_skin(olive, np.array([[0.25, 0.2, 0.5, 0.5]], np.float32))
    centre = out[:, 21, 20]
    np.testing.assert_allclose(centre, olive[:, 0, 0] + skin.PULL * (skin.SKIN_AB - olive[:, 0, 0]))
    np.testing.assert_array_equal(out[:, 2, 2], olive[:, 2, 2])  # far from the face


def test_without_a_face_detector_it_says_so_once(caplog, monkeypatch):
    monkeypatch.setattr(skin, "_cascades", lambda: None)  # no OpenCV, or OpenCV 5
    monkeypatch.setattr(skin, "detector", functools.lru_cache(maxsize=1)(UNCACHED_DETECTOR))
    z, L = two_mode_logits(8, 8), np.full((1, 16, 16), 50.0, np.float32)
    with caplog.at_level(logging.WARNING):
        decode.decode(z, L, 0.2, 0.5)
        decode.decode(z, L, 0.2, 0.5)
    assert sum("skin tones on faces need OpenCV" in r.message for r in caplog.records) == 1


def test_only_small_softmax_buffers_are_kept_for_the_thread(monkeypatch):
    monkeypatch.setattr(decode, "SCRATCH_MOST", 12)
    kept = decode._buffer("test_small", (3, 4))
    assert np.shares_memory(kept, decode._buffer("test_small", (3, 4)))
    big = decode._buffer("test_big", (3, 5))  # over the bound: a fresh array every time
    assert not np.shares_memory(big, decode._buffer("test_big", (3, 5)))


def test_the_runner_uses_the_faces_it_looked_for_while_the_network_ran(monkeypatch):
    """The runner looks for faces on a pool thread during the network's run: the colour is
    what decoding with the faces found first gives (the same bytes), with the face pulled."""
    from colorgan import Colorizer
    from colorgan.core import color, resample

    runner = Colorizer.load("default").model
    x = np.random.default_rng(0).uniform(-1, 1, (1, 1, 64, 64)).astype(np.float32)
    box = np.array([[0.25, 0.25, 0.5, 0.5]], np.float32)
    monkeypatch.setattr(skin, "detector", lambda: "cascades")
    monkeypatch.setattr(skin, "faces", lambda L, cascades: box)
    got = runner._predict(x, vividness=0.5)
    logits, L = runner._forward(x), color.denormalize_l(x[:, 0])

    def serial(faces):
        ab = decode.decode(logits, L, runner.temperature, 0.5, runner.bins.centers(), faces=faces)
        return resample.bilinear(ab, x.shape[-2:])

    np.testing.assert_array_equal(got, serial(True))
    assert np.abs(got - serial(False))[:, :, 24:40, 24:40].min() > 0  # the face was pulled
