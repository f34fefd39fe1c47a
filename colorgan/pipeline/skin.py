"""Skin on faces: what the model cannot learn from a training set with few people in it.

People are rare in the training photos, so the network's guess for a face is often olive,
yellow-green or gray. Faces are found by OpenCV's Haar cascade (frontal faces, Viola-Jones;
the cascades ship inside the OpenCV 4.x wheels, `cv2.data.haarcascades`: `colorgan[video]`
pins OpenCV below 5, which dropped them) on the network's L, and each face's colour is
pulled toward a skin tone: inside an ellipse over the face (feathered at its edge) the
decoded ab moves a share PULL of the way to SKIN_AB. The pull keeps the face's lightness
(only ab changes), so dark and light skin stay dark and light.

Without OpenCV (the light install) or with OpenCV 5, faces are left to the model, and the
first photo says so once (a warning naming the install that adds it), never silently.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import numpy as np

from colorgan.core import color

log = logging.getLogger(__name__)

SKIN_AB = np.array([14.0, 18.0], np.float32) / color.AB_SCALE  # Lab a, b of skin (hue ~52°)
PULL = 0.75  # the share of the way from the model's colour to SKIN_AB at a face's centre
# faces are looked for on L resized to DETECT_SIZE (long side), from MIN_FACE pixels up,
# in scale steps of SCALE_STEP (a face smaller than a twelfth of the photo shows little of
# its colour anyway). The L given is the network's (256 px): 320 finds the same faces on
# the 636 training and validation photos as 384 did, ~20 % faster; 256 (no upscaling, the
# cascade's 24-pixel window) missed one of the four.
DETECT_SIZE = 320
MIN_FACE = 27
SCALE_STEP = 1.2
NO_DETECTOR = (
    "skin tones on faces need OpenCV 4.x with its face detector (pip install "
    "'colorgan[video]'); without it faces keep the model's own colour"
)


@lru_cache(maxsize=1)
def detector():
    """OpenCV's cascades (frontal face, a second frontal face, eyes), or None when OpenCV
    4.x is not installed: then it says so, once (the answer is kept)."""
    cascades = _cascades()
    if cascades is None:
        log.warning("%s", NO_DETECTOR)
    return cascades


def _cascades():
    try:
        import cv2
    except ImportError:
        return None
    if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
        return None  # OpenCV 5 dropped the cascades
    names = ("frontalface_default", "frontalface_alt2", "eye_tree_eyeglasses")
    found = [cv2.CascadeClassifier(f"{cv2.data.haarcascades}haarcascade_{n}.xml") for n in names]
    return None if any(c.empty() for c in found) else found


def faces(L: np.ndarray, cascades) -> np.ndarray:
    """Face boxes (N, 4) as (x, y, w, h) in shares of L's width and height, for L (H, W) in
    [0, 100]. A Haar cascade alone finds "faces" in bark, fur and stonework; a box counts
    only when the second cascade finds the same face and an eye is found in its upper part
    (measured on the validation and test photos: this keeps the portrait and drops the
    textures)."""
    import cv2

    face, second, eye = cascades
    h, w = L.shape
    scale = DETECT_SIZE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    gray = cv2.resize(np.clip(L * 2.55, 0, 255).astype(np.uint8), size, cv2.INTER_AREA)
    found = face.detectMultiScale(gray, SCALE_STEP, 5, minSize=(MIN_FACE, MIN_FACE))
    boxes = []
    for x, y, bw, bh in np.asarray(found).reshape(-1, 4):
        x0, y0 = max(0, x - bw // 3), max(0, y - bh // 3)  # the second cascade: near it only
        near = gray[y0 : y + bh + bh // 3, x0 : x + bw + bw // 3]
        others = second.detectMultiScale(near, SCALE_STEP, 3, minSize=(MIN_FACE, MIN_FACE))
        others = np.asarray(others).reshape(-1, 4) + np.array([x0, y0, 0, 0])
        agree = any(_overlap((x, y, bw, bh), o) >= 0.4 for o in others)
        upper = gray[y : y + bh * 3 // 5, x : x + bw]
        if agree and len(eye.detectMultiScale(upper, 1.1, 3)):
            boxes.append((x / size[0], y / size[1], bw / size[0], bh / size[1]))
    return np.asarray(boxes, np.float32).reshape(-1, 4)


def faces_in(Ls) -> list[np.ndarray] | None:
    """Each L's face boxes (`faces`), or None when there is no detector (said once)."""
    cascades = detector()
    return None if cascades is None else [faces(L, cascades) for L in Ls]


def _overlap(a, b) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def face_weight(boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) in [0, 1]: 1 inside each face's ellipse, falling to 0 over its outer fifth."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    weight = np.zeros(shape, np.float32)
    for x, y, bw, bh in boxes:
        cx, cy = (x + bw / 2) * w, (y + bh * 0.55) * h  # the box's middle, chin included
        rx, ry = bw * w * 0.45, bh * h * 0.6
        r = np.hypot((xx + 0.5 - cx) / max(rx, 1e-6), (yy + 0.5 - cy) / max(ry, 1e-6))
        np.maximum(weight, np.clip((1 - r) / 0.2, 0, 1), out=weight)
    return weight


def pull_to_skin(ab: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """ab (2, h, w) with the faces at `boxes` (from `faces`: shares of the photo's width and
    height, so any size) pulled toward skin."""
    if not len(boxes):
        return ab
    weight = PULL * face_weight(boxes, ab.shape[-2:])
    return ab + weight * (SKIN_AB[:, None, None] - ab)
