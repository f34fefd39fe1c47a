"""Colouring a clip's frames in order: the network on keyframes, the colour carried between.

The network and its decoding take most of a frame's time on a CPU (768x576, int8, one
core: ~50 CPU-ms of ~85 with the H.264 encoding). Consecutive frames of one shot differ
little, and the stabiliser already carries each frame's colour to the next along the
optical flow (colorgan.pipeline.temporal). With keyframes (`keyframe_every` N > 1) the
network colours only every Nth frame of a shot, and every frame that starts a shot; the
frames between get the colour of the frame before them carried along the flow, combined
with their own full-resolution L (so the lightness stays exactly the input's), and the
next keyframe's prediction is blended in by the stabiliser as usual. Skin tones on faces
come with the network's decoding (colorgan.pipeline.decode), so faces are looked for on
keyframes only; hints are tracked on every frame and given to the network on keyframes.

A shot starts where the luminance histograms jump (found in order, before the network
runs, so that the cut frame is sent to it at once) or where the flow finds too few points
again (found with the motion, ahead of the colour; such a frame, if planned as carried,
gets the network there and then).

Three stages, so that a pipeline can run them on different threads:
  plan(Ls)       in order, one thread: each frame's flow-size L, hints, keyframe or not;
  predict(plan)  any thread, several at once: the motion from the frame before, and the
                 network on keyframes;
  settle(frames) in order, one thread: the stabiliser (blend or carry) -> each frame's ab.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from colorgan.core import resample
from colorgan.core.errors import ColorganError
from colorgan.pipeline.geometry import working_shape
from colorgan.pipeline.guidance import Guide
from colorgan.pipeline.temporal import (
    Flow,
    HintTracker,
    Motion,
    StabilizerSettings,
    TemporalStabilizer,
    find_motion,
    histogram_distance,
    to_u8,
)

# The network on every 3rd frame. Measured on bikes.mp4 (docs/video.md; the network on every
# frame: flicker 0.539, colourfulness 14.34): every 3rd frame 0.516, 14.26, colour error
# 1.37 ab units; every 4th 0.515, 13.75 (-4 %), 1.59. At 768x576 on 2 cores (docs/speed.md)
# every 3rd frame ran at 1.4-1.6x the frames/s of every frame, and every 4th no faster than
# every 3rd within the noise: the other stages bound the speed there.
KEYFRAME_EVERY = 3
# With keyframes every frame finds its motion with DIS's fast preset (~1 CPU-ms a flow at
# 256 px against ~5 for the medium preset, and each frame takes two); with the network on
# every frame, the medium preset as before. Measured on bikes.mp4 (250 frames, keyframes
# every 3rd, strength 0.8; the network on every frame: flicker 0.539, colourfulness 14.34):
# fast everywhere -> flicker 0.516, colourfulness 14.26, colour error 1.37 ab (worst frame
# 4.11); fast on the carried frames only -> 0.505, 13.97, 1.36 (4.43).
KEYFRAMES_FLOW = cv2.DISOPTICAL_FLOW_PRESET_FAST


def keyframe_interval(requested: int | None, stabilize: bool, mode: str) -> int:
    """The keyframe interval for a clip: `requested` (None: KEYFRAME_EVERY where colour
    can be carried, else 1). Carrying colour is the stabiliser's, on the single pass's
    working-size colour: per-frame colour (no stabiliser) and tiled modes get the network
    on every frame, and asking them for more is an error, not ignored."""
    if requested is None:
        return KEYFRAME_EVERY if stabilize and mode == "single" else 1
    if requested < 1:
        raise ColorganError(f"keyframe_every={requested}: must be 1 or more")
    if requested > 1 and not stabilize:
        raise ColorganError("keyframes carry colour with the stabiliser; drop --no-stabilize")
    if requested > 1 and mode != "single":
        raise ColorganError(f"keyframes need --mode single (not {mode}); use --keyframe-every 1")
    return requested


@dataclass
class Frame:
    """One frame on its way through the stages."""

    L: np.ndarray  # full-resolution lightness in [0, 100]: composed with, never changed
    l_flow: np.ndarray  # L with its long side at the flow size (motion, cuts, the meter)
    small: np.ndarray  # l_flow as uint8, what OpenCV finds the motion on
    prev: np.ndarray | None  # the frame before's `small` (None: the clip's first frame)
    guide: Guide | None
    key: bool  # a keyframe: the network's colour, blended by the stabiliser
    network: bool  # the network runs on it (keyframes; every frame for the meter)
    motion: Motion | None = None  # from the frame before, set by predict()
    predicted: np.ndarray | None = None  # the network's working-size ab, set by predict()


class SequenceColorizer:
    """Lightness of frames in order -> coloured uint8 RGB frames (H, W, 3), through the
    Colorizer's own stages with its options (modes, tiles, vividness, saturation: set by
    Colorizer.using), stabilised over time unless stabilize=False: the stabiliser adjusts
    each frame's working-size colour (Colorizer.colour's `adjust`) before it becomes
    full-size ab. keyframe_every: the network on every Nth frame of a shot, colour carried
    between (keyframe_interval; None: its default). meter: a FlickerMeter
    (colorgan.evaluation.flicker) that is fed per-frame and stabilised colour whatever the
    output is, both rendered with the long side at flow_size, so scores of models with
    different working sizes compare; with it the network runs on every frame (the
    per-frame colour is measured), the output stays the same. guide: the clip's Guide
    (colorizer.guide(hints, reference)); its reference applies to every frame, its hints
    to the first frame, and to the frames after it at where their points moved
    (HintTracker), until a scene cut, where colour restarts from the network."""

    def __init__(
        self,
        colorizer,
        settings: StabilizerSettings,
        stabilize=True,
        meter=None,
        *,
        guide=None,
        keyframe_every: int | None = 1,
    ) -> None:
        self.colorizer = colorizer
        self.settings = settings
        self.stabilize = stabilize
        self.keyframe_every = keyframe_interval(keyframe_every, stabilize, colorizer.mode)
        self.guide = guide
        self._tracker = None
        if guide and guide.hints:
            self._tracker = HintTracker(guide.hints, settings.cut_threshold, settings.flow_size)
        self.stabilizer = TemporalStabilizer(settings) if stabilize or meter else None
        self.meter = meter
        self.shots = 0  # counted by the stabiliser: cuts + 1
        self.measure_seconds = 0.0  # time spent measuring, so fps can leave it out
        self.frames = 0
        self.network_frames = 0  # frames the network coloured (keyframes, and cuts)
        self._prev: np.ndarray | None = None  # the last planned frame's `small`
        self._since_key = 0  # frames planned since the last keyframe

    def __call__(self, Ls: list[np.ndarray]) -> list[np.ndarray]:
        """Full-resolution L (H, W) in [0, 100] of the next frames -> their colour frames."""
        return [self.render(L, ab) for L, ab in zip(Ls, self.colours(Ls), strict=True)]

    def render(self, L: np.ndarray, ab: np.ndarray) -> np.ndarray:
        """A frame's L and its ab from colours() -> uint8 RGB (H, W, 3). Separate from
        colours() so that a pipeline can compose one batch while the network runs the next."""
        return self.colorizer.compose(L, ab)

    def colours(self, Ls: list[np.ndarray]) -> list[np.ndarray]:
        """Full-resolution L (H, W) in [0, 100] of the next frames, in order -> the ab each
        is composed with (working size in "single" mode, which compose upsamples)."""
        return self.settle(self.predict(self.plan(Ls)))

    # --- the three stages ---------------------------------------------------------------------

    def plan(self, Ls: list[np.ndarray]) -> list[Frame]:
        """The next frames, in order (one thread): their flow-size L, their guides (the
        reference on every frame, the hints where their points moved), and which are
        keyframes (the first of a shot by its histogram, then every keyframe_every-th)."""
        reference = self.guide.reference if self.guide else None
        planned = []
        for L in Ls:
            h, w = L.shape
            l_flow = resample.resize(
                L, working_shape(h, w, min(self.settings.flow_size, max(h, w)))
            )
            small, prev = to_u8(l_flow), self._prev
            hints = self._tracker.next(L) if self._tracker else ()
            guide = Guide(hints, reference) if hints or reference is not None else None
            key = self._since_key + 1 >= self.keyframe_every or self._starts_shot(prev, small)
            self._since_key = 0 if key else self._since_key + 1
            network = key or self.meter is not None
            planned.append(Frame(L, l_flow, small, prev, guide, key, network))
            self._prev = small
        self.frames += len(Ls)
        return planned

    def _starts_shot(self, prev, small) -> bool:
        if prev is None or prev.shape != small.shape:
            return True
        return histogram_distance(prev, small) > self.settings.cut_threshold

    def predict(self, frames: list[Frame]) -> list[Frame]:
        """plan()'s frames with their motion (when stabilising or measuring) and, where
        planned, the network's single pass (one call for them all). Safe on several
        threads at once: each frame holds what it needs."""
        if self.stabilizer is not None:
            for f in frames:
                flow = Flow("dis", KEYFRAMES_FLOW) if self.keyframe_every > 1 else None
                f.motion = find_motion(f.prev, f.small, self.settings, flow)
        run = [f for f in frames if f.network]
        if run:
            smalls = self.colorizer.first_pass([f.L for f in run], [f.guide for f in run], len(run))
            for f, small in zip(run, smalls, strict=True):
                f.predicted = small
        return frames

    def settle(self, frames: list[Frame]) -> list[np.ndarray]:
        """predict()'s frames -> each frame's ab, as colours(); batches in order, one thread
        at a time (the stabiliser carries colour from frame to frame)."""
        return [self._ab(f) for f in frames]

    def _ab(self, f: Frame) -> np.ndarray:
        key = f.key or (f.motion is not None and f.motion.cut)
        if key and f.predicted is None:  # a cut only the flow found: the network now
            f.predicted = self.colorizer.first_pass([f.L], [f.guide])[0]
        self.network_frames += key

        def adjust(pred: np.ndarray | None) -> np.ndarray:
            variants = {"per_frame": pred}
            cut = False
            if self.stabilizer is not None:
                ab = pred if key else None
                variants["stabilized"], cut = self.stabilizer.follow(f.small, f.motion, ab)
                self.shots += cut
            if self.meter is not None:
                start = time.perf_counter()
                rendered = {k: self.colorizer.compose(f.l_flow, v) for k, v in variants.items()}
                self.meter.add(f.l_flow, rendered, cut)
                self.measure_seconds += time.perf_counter() - start
            return variants["stabilized" if self.stabilize else "per_frame"]

        if not key:  # carried: working-size colour ("single" mode, see keyframe_interval)
            return np.asarray(adjust(f.predicted), np.float32)
        return self.colorizer.colour(f.L, f.guide, small=f.predicted, adjust=adjust)
