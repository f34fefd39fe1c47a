"""Orientation and metadata of image files: which EXIF orientation turns a picture upright,
and which EXIF/ICC metadata is carried from a photo to its coloured result."""

from __future__ import annotations

import io
import logging

import numpy as np
from PIL import Image, ImageCms

log = logging.getLogger(__name__)

ORIENTATION = 0x0112
# TIFF keeps its structure (strip offsets, bit depth...) in the same tags Pillow reports as
# EXIF; only these descriptive tags and the Exif/GPS sub-directories are carried from TIFF.
TIFF_DESCRIPTIVE = (270, 271, 272, 305, 306, 315, 33432)
EXIF_SUB_IFDS = (0x8769, 0x8825)
T = Image.Transpose  # EXIF orientation -> the turn that shows the picture upright
TRANSPOSE = {
    2: T.FLIP_LEFT_RIGHT,
    3: T.ROTATE_180,
    4: T.FLIP_TOP_BOTTOM,
    5: T.TRANSPOSE,
    6: T.ROTATE_270,
    7: T.TRANSVERSE,
    8: T.ROTATE_90,
}


def orient_array(arr: np.ndarray, orientation: int) -> np.ndarray:
    """EXIF orientation on a numpy array (hand-written: Pillow has no 16-bit RGB image type
    to call ImageOps.exif_transpose on). Same results as Pillow, checked in the tests."""
    swap = np.swapaxes(arr, 0, 1)
    ops = {
        2: lambda: arr[:, ::-1],
        3: lambda: arr[::-1, ::-1],
        4: lambda: arr[::-1],
        5: lambda: swap,
        6: lambda: swap[:, ::-1],
        7: lambda: swap[::-1, ::-1],
        8: lambda: swap[::-1],
    }
    return np.ascontiguousarray(ops[orientation]()) if orientation in ops else arr


def exif_to_carry(im: Image.Image) -> bytes | None:
    if not im.getexif():
        return None
    exif = Image.Exif()  # a copy: the image's own EXIF (orientation!) is left as it is
    exif.load(im.getexif().tobytes())
    if im.format == "TIFF":
        kept = Image.Exif()
        for tag in TIFF_DESCRIPTIVE:
            if tag in exif:
                kept[tag] = exif[tag]
        for tag in EXIF_SUB_IFDS:
            if exif.get_ifd(tag):
                kept[tag] = exif.get_ifd(tag)
        exif = kept
    if not exif:
        return None
    exif[ORIENTATION] = 1  # the pixels are already turned the right way up
    try:
        return exif.tobytes()
    except Exception as exc:  # noqa: BLE001  (odd maker tags Pillow cannot re-encode)
        log.warning("EXIF of this image is not carried over (%s)", exc)
        return None


def rgb_icc_profile(icc: bytes | None, source: str) -> bytes | None:
    """Keep an RGB profile (the result is RGB); a gray or CMYK profile cannot describe it."""
    if not icc:
        return None
    try:
        space = ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile.xcolor_space.strip()
    except (OSError, ImageCms.PyCMSError, TypeError):
        log.debug("%s: unreadable ICC profile dropped", source)
        return None
    return icc if space == "RGB" else None
