"""colorgan.pipeline.propagate: hints spread over nearby pixels of similar lightness."""

import numpy as np

from colorgan.pipeline.propagate import spread_hints


def _scene():
    L = np.full((40, 40), 30.0, np.float32)
    L[:, 20:] = 80.0  # a dark left half, a bright right half
    hint = np.zeros((3, 40, 40), np.float32)
    hint[:2, 18:21, 5:8] = np.array([0.5, 0.2], np.float32)[:, None, None]
    hint[2, 18:21, 5:8] = 1.0
    return L, hint


def test_no_hint_changes_nothing():
    L, hint = _scene()
    ab = np.random.default_rng(0).uniform(-0.3, 0.3, (2, 40, 40)).astype(np.float32)
    assert spread_hints(ab, L, np.zeros_like(hint)) is ab


def test_a_hint_colours_its_surroundings_of_like_lightness_only():
    L, hint = _scene()
    ab = np.zeros((2, 40, 40), np.float32)
    out = spread_hints(ab, L, hint)
    np.testing.assert_allclose(out[:, 19, 6], [0.5, 0.2], atol=1e-3)  # the hinted pixel
    assert np.linalg.norm(out[:, 10, 12]) > 0.2  # same dark region, a few pixels away
    assert np.linalg.norm(out[:, 19, 30]) < 1e-3  # the bright half keeps the network's colour
    assert np.linalg.norm(out[:, 19, 12]) > np.linalg.norm(out[:, 2, 12])  # fades with distance


def test_two_hints_each_win_near_themselves():
    L, hint = _scene()
    hint[:2, 2:5, 2:5] = np.array([-0.4, 0.3], np.float32)[:, None, None]
    hint[2, 2:5, 2:5] = 1.0
    out = spread_hints(np.zeros((2, 40, 40), np.float32), L, hint)
    assert out[0, 19, 6] > 0.4 and out[0, 3, 3] < -0.3
