"""Measuring colour flicker of a coloured clip (`colorgan video --report`).

The flicker score (FlickerMeter) uses Farneback flow, a different estimator from the
stabiliser's (colorgan.pipeline.temporal uses DIS), so the score does not just reward
agreeing with the stabiliser's own flow. numpy and OpenCV only: `video --report` works in
the light install (no torch); tests/test_video.py checks it against the torch metrics.
"""

from __future__ import annotations

import numpy as np

from colorgan.core import fastcolor
from colorgan.pipeline.temporal import Flow, reliability, to_u8, warp

VARIANTS = ["per_frame", "stabilized"]


class FlickerMeter:
    """Flicker score of one or more renderings of the same clip (same L, different ab).

    Score = mean Euclidean |ab_t - warp(ab_{t-1})| in Lab units over pixels whose flow
    (Farneback, forward-backward checked, L warp error small) is reliable, over all
    consecutive pairs except scene-cut transitions. Also the mean colourfulness (Hasler &
    Suesstrunk).
    """

    def __init__(self, names=tuple(VARIANTS), l_tolerance: float = 4.0):
        self.names = list(names)
        self.flow = Flow("farneback")
        self.l_tolerance = l_tolerance
        self._prev: tuple[np.ndarray, dict] | None = None
        self._sum = dict.fromkeys(names, 0.0)
        self._colorfulness_sum = dict.fromkeys(names, 0.0)
        self.pixels = 0
        self.frames = 0
        self.pairs = 0
        self.cuts = 0

    def add(self, L: np.ndarray, rgbs: dict[str, np.ndarray], cut: bool) -> None:
        """L (H, W) in [0, 100]; rgbs: name -> uint8 sRGB (H, W, 3) rendered with that L."""
        rgb = np.stack([rgbs[n] for n in self.names]).astype(np.float32)  # (N, H, W, 3)
        lab = fastcolor.rgb_to_lab(np.moveaxis(rgb / 255.0, -1, -3))  # (N, 3, H, W)
        ab = np.ascontiguousarray(np.moveaxis(lab[:, 1:], 1, -1))  # (N, H, W, 2)
        for name, c in zip(self.names, colorfulness(rgb).tolist(), strict=True):
            self._colorfulness_sum[name] += c
        self.frames += 1
        cur = to_u8(L)
        if self._prev is not None and not cut and self._prev[0].shape == cur.shape:
            self._add_pair(cur, ab)
        elif self._prev is not None:
            self.cuts += 1
        self._prev = (cur, ab)

    def _add_pair(self, cur: np.ndarray, ab: np.ndarray) -> None:
        prev, prev_ab = self._prev
        back, fwd = self.flow(cur, prev), self.flow(prev, cur)
        mask = reliability(cur, prev, back, fwd, self.l_tolerance) >= 1.0
        self.pairs += 1
        self.pixels += int(mask.sum())
        for i, name in enumerate(self.names):
            warped, _ = warp(np.ascontiguousarray(prev_ab[i]), back)
            diff = np.linalg.norm(ab[i] - warped, axis=-1)
            self._sum[name] += float(diff[mask].sum())

    def summary(self) -> dict:
        """name -> {"flicker", "colorfulness"}, plus counts of what was measured."""
        out: dict = {
            name: {
                "flicker": self._sum[name] / self.pixels if self.pixels else None,
                "colorfulness": self._colorfulness_sum[name] / self.frames if self.frames else None,
            }
            for name in self.names
        }
        out["measured"] = {
            "frames": self.frames,
            "pairs": self.pairs,
            "scene_cuts": self.cuts,
            "reliable_pixel_fraction": self.pixels / max(1, self.pairs * self._area()),
        }
        return out

    def _area(self) -> int:
        return 0 if self._prev is None else self._prev[0].size


def colorfulness(rgb: np.ndarray) -> np.ndarray:
    """Hasler & Suesstrunk (2003) M3 of each image of (N, H, W, 3) RGB in [0, 255]:
    colorgan.evaluation.metrics.colorfulness (torch, (B, 3, H, W) in [0, 1]) in numpy."""
    r, g, b = np.moveaxis(rgb.astype(np.float64), -1, 0)
    rg = (r - g).reshape(len(rgb), -1)
    yb = (0.5 * (r + g) - b).reshape(len(rgb), -1)
    sigma = np.sqrt(rg.var(1) + yb.var(1))
    mu = np.sqrt(rg.mean(1) ** 2 + yb.mean(1) ** 2)
    return sigma + 0.3 * mu


def report_line(report: dict) -> str:
    """One line: flicker and colourfulness, per-frame -> stabilised, with relative change."""
    pf, st = report["per_frame"], report["stabilized"]
    if pf["flicker"] is None:
        return "flicker: not measured (no two consecutive frames within one shot)"
    less = 100.0 * (1.0 - st["flicker"] / pf["flicker"]) if pf["flicker"] else 0.0
    cf_pf, cf_st = pf["colorfulness"], st["colorfulness"]
    change = 100.0 * (cf_st / cf_pf - 1.0) if cf_pf else 0.0
    return (
        f"flicker (mean |delta ab| along the flow): per-frame {pf['flicker']:.3f}, stabilised "
        f"{st['flicker']:.3f} ({less:.0f}% less); colourfulness {cf_pf:.2f} -> {cf_st:.2f} "
        f"({change:+.1f}%)"
    )
