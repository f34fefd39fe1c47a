"""Hints given on a video's first frame move with the motion (pipeline.temporal.HintTracker)."""

import numpy as np

from colorgan.pipeline.guidance import Hint
from colorgan.pipeline.temporal import FLOW_SIZE, HintTracker


def texture(width=400, height=300, seed=0) -> np.ndarray:
    """Smooth random lightness in [0, 100] with structure for Lucas-Kanade to follow."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(10, 90, (height // 10 + 2, width // 10 + 2))
    big = np.kron(small, np.ones((10, 10)))
    kernel = np.ones(7) / 7
    for axis in (0, 1):
        big = np.apply_along_axis(np.convolve, axis, big, kernel, mode="same")
    return big.astype(np.float32)


def test_points_follow_the_motion_then_a_cut_drops_them():
    scene = texture(520, 300)
    tracker = HintTracker(
        [Hint(200, 150, "#c82828"), Hint(60, 40, "#2828c8", size=5)], 0.2, FLOW_SIZE
    )
    first = tracker.next(scene[:, :400])
    assert [(h.x, h.y) for h in first] == [(200, 150), (60, 40)]  # the first frame: as given
    for shift in range(3, 31, 3):  # the camera pans right: the scene moves 3 px left a frame
        moved = tracker.next(scene[:, shift : shift + 400])
        assert len(moved) == 2
        for hint, (x, y) in zip(moved, [(200, 150), (60, 40)], strict=True):
            assert abs(hint.x - (x - shift)) < 1.0 and abs(hint.y - y) < 1.0, (shift, hint)
    assert moved[1].color == "#2828c8" and moved[1].size == 5  # colour and size kept
    assert tracker.next(np.full((300, 400), 95, np.float32)) == ()  # a new shot
    assert tracker.next(scene[:, :400]) == ()  # ...and they do not come back


def test_a_point_that_leaves_the_frame_is_dropped():
    scene = texture(700, 300, seed=1)
    tracker = HintTracker([Hint(20, 150, "#c82828"), Hint(300, 150, "#28c828")], 0.2, FLOW_SIZE)
    tracker.next(scene[:, :400])
    for shift in range(6, 61, 6):
        left = tracker.next(scene[:, shift : shift + 400])
    assert [h.color for h in left] == ["#28c828"]  # the first one went out on the left
    assert abs(left[0].x - 240) < 1.0
