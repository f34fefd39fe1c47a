"""Keyframes in video (colorgan.pipeline.sequence): the network on every Nth frame of a shot
and at once after a cut, the colour carried along the motion to the frames between."""

import numpy as np
import pytest

from colorgan.core import fastcolor
from colorgan.core.errors import ColorganError
from colorgan.evaluation.flicker import FlickerMeter
from colorgan.pipeline.colorizer import Colorizer
from colorgan.pipeline.sequence import KEYFRAME_EVERY, SequenceColorizer, keyframe_interval
from colorgan.pipeline.temporal import StabilizerSettings

H, W = 96, 128


class Net:
    """A numpy network whose colour is a function of the lightness (so it moves with the
    scene), counting the frames it is run on."""

    numpy_io = True

    def __init__(self) -> None:
        self.frames = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.frames += len(x)
        return np.concatenate([0.5 * x, 0.25 - 0.3 * x], axis=1).astype(np.float32)


def texture(shift: float, seed: int = 0) -> np.ndarray:
    """L (H, W) in [0, 100]: a smooth texture moved `shift` px to the right."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    f = rng.uniform(0.05, 0.2, (3, 2))
    tex = sum(np.sin(a * (x - shift) + b * y + k) for k, (a, b) in enumerate(f)) / 3
    return (50 + 35 * tex).astype(np.float32)


def sequence(net, every, settings=None, meter=None):
    colorizer = Colorizer(net, working_size=64)
    return SequenceColorizer(
        colorizer, settings or StabilizerSettings(), meter=meter, keyframe_every=every
    )


def test_default_interval_and_what_cannot_carry_colour():
    assert keyframe_interval(None, True, "single") == KEYFRAME_EVERY > 1
    assert keyframe_interval(None, False, "single") == 1  # per-frame colour: every frame
    assert keyframe_interval(None, True, "hybrid") == 1
    assert keyframe_interval(4, True, "single") == 4
    for requested, stabilize, mode in [
        (2, False, "single"),
        (2, True, "tiles"),
        (0, True, "single"),
    ]:
        with pytest.raises(ColorganError):
            keyframe_interval(requested, stabilize, mode)


def test_network_on_every_nth_frame_and_at_once_after_a_cut():
    net = Net()
    colour = sequence(net, 3)
    # shot A: 8 frames; shot B (another texture, darker: a histogram cut): 5 frames
    Ls = [texture(2 * i) for i in range(8)] + [0.4 * texture(2 * i, seed=7) for i in range(5)]
    planned = colour.plan(Ls)
    keys = [i for i, f in enumerate(planned) if f.key]
    assert keys == [0, 3, 6, 8, 11]  # the cut frame at once, counting restarts from it
    abs_ = colour.settle(colour.predict(planned))
    assert net.frames == colour.network_frames == len(keys)
    assert colour.shots == 2
    assert all(ab.shape == (2, 48, 64) for ab in abs_)  # the working size, as before
    # every frame through the network, as before keyframes
    every = sequence(Net(), 1)
    assert all(f.key for f in every.plan(Ls))


def test_carried_colour_follows_the_motion_and_the_lightness_is_the_frames_own():
    net = Net()
    colour = sequence(net, 4)
    Ls = [texture(3 * i) for i in range(4)]
    abs_ = colour.colours(Ls)
    assert net.frames == 1  # frames 1-3 carried
    # the network's own colour of the later frames, which the carried colour should match
    truth = colorizer_colour(Ls)
    inner = (slice(None), slice(8, -8), slice(8, -8))  # away from the frame's edges
    for i in (1, 2, 3):
        carried = np.abs(abs_[i] - truth[i])[inner].mean()
        unmoved = np.abs(abs_[0] - truth[i])[inner].mean()
        assert carried < 0.3 * unmoved
    # composed with each frame's own L: the output's lightness is the frame's
    for L, ab in zip(Ls, abs_, strict=True):
        rgb = colour.render(L, ab)
        assert rgb.shape == (H, W, 3)
        assert np.abs(fastcolor.lightness(rgb) - L).max() < 0.5  # 8-bit rounding


def colorizer_colour(Ls):
    colorizer = Colorizer(Net(), working_size=64)
    return colorizer.first_pass(Ls)


def test_a_cut_only_the_flow_finds_gets_the_network_there_and_then():
    net = Net()
    colour = sequence(net, 10)
    # the second shot is the first upside down: the same histogram, no point found again
    Ls = [texture(2 * i) for i in range(3)] + [texture(2 * i)[::-1].copy() for i in range(3)]
    planned = colour.plan(Ls)
    assert [f.key for f in planned] == [True] + [False] * 5
    abs_ = colour.settle(colour.predict(planned))
    assert net.frames == 2 and colour.shots == 2
    np.testing.assert_array_equal(abs_[3], colorizer_colour([Ls[3]])[0])  # restarts from it


def test_measuring_runs_the_network_on_every_frame_and_changes_nothing():
    Ls = [texture(2 * i) for i in range(7)]
    plain, measured_net = Net(), Net()
    out = sequence(plain, 3).colours(Ls)
    measured = sequence(measured_net, 3, meter=FlickerMeter())
    assert all(np.array_equal(a, b) for a, b in zip(out, measured.colours(Ls), strict=True))
    assert plain.frames == 3 and measured_net.frames == 7
    assert measured.meter.summary()["measured"]["pairs"] == 6
