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


def test_hint_patches_are_scipys_connected_components():
    """propagate labels patches in numpy (scipy is not in the light install): the same
    components, in the same order, as scipy.ndimage.label (4-neighbour), on random masks
    and on one long snake of overlapping hints (where one step per round would crawl)."""
    from scipy import ndimage

    from colorgan.pipeline.propagate import _patches

    rng = np.random.default_rng(0)
    masks = [rng.random(rng.integers(1, 60, 2)) < rng.uniform(0.05, 0.7) for _ in range(100)]
    snake = np.zeros((64, 64), bool)
    snake[::2] = True
    snake[1::4, -1] = snake[3::4, 0] = True
    for mask in [*masks, snake, np.zeros((5, 5), bool)]:
        labels, n = ndimage.label(mask)
        expected = [np.nonzero(labels == i) for i in range(1, n + 1)]
        found = _patches(mask)
        assert len(found) == n
        for (ys, xs), (want_ys, want_xs) in zip(found, expected, strict=True):
            assert np.array_equal(ys, want_ys) and np.array_equal(xs, want_xs)
