"""Reading any image file a user has, and writing results with its metadata.

`read_image` turns a path, PIL image or numpy array into a `Photo`: the pixels the
colourizer takes its lightness from (gray or RGB, 8 or 16 bit, EXIF orientation applied),
the alpha channel and the metadata worth carrying to the result. Every way a file can be
bad (missing, empty, not an image, truncated, a decompression bomb) becomes one
ColorganError line naming the file and the reason.

Modes: 1/L/I;16/I/F are gray; RGB, CMYK, YCbCr, P and sepia/tinted photos are RGB (the
colourizer takes only their lightness); RGBA, LA, PA and P with transparency keep alpha.
16 bit: gray PNG/TIFF keep 16 bit through Pillow; 16-bit RGB TIFF is read with tifffile at
full precision (Pillow reduces it to 8 bit); 16-bit RGB PNG is reduced to 8 bit by Pillow.
Results are written as 8-bit sRGB (plus alpha).

Decompression bombs: a file whose pixel count is over the limit (MAX_PIXELS, 100 megapixels
by default; the COLORGAN_MAX_PIXELS environment variable or `max_pixels=` changes it) is
refused before it is decoded. The limit is enforced through Pillow's own process-wide
`Image.MAX_IMAGE_PIXELS`, which `read_image` sets to it.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from colorgan.core.errors import ColorganError

log = logging.getLogger(__name__)

MAX_PIXELS = int(os.environ.get("COLORGAN_MAX_PIXELS", 100_000_000))
# Files a folder scan picks up; a file named explicitly is always tried.
IMAGE_EXTENSIONS = frozenset(
    ".jpg .jpeg .jpe .jfif .png .apng .webp .tif .tiff .bmp .dib .gif .avif .jp2 .j2k "
    ".ppm .pgm .pbm .pnm .tga".split()
)
# Output formats by suffix; anything else a user asks for with "same" is written as PNG.
SAVE_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
}
ORIENTATION = 0x0112
# TIFF keeps its structure (strip offsets, bit depth...) in the same tags Pillow reports as
# EXIF; only these descriptive tags and the Exif/GPS sub-directories are carried from TIFF.
TIFF_DESCRIPTIVE = (270, 271, 272, 305, 306, 315, 33432)
EXIF_SUB_IFDS = (0x8769, 0x8825)
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, MemoryError)
GRAY_MODES = {"1", "L", "I;16", "I;16L", "I;16B", "I;16N", "I", "F"}


@dataclass
class Photo:
    """An image ready for colourisation; orientation already applied to the pixels."""

    pixels: np.ndarray  # (H, W) gray or (H, W, 3) RGB; uint8, uint16 or float32 in [0, 1]
    alpha: np.ndarray | None = None  # (H, W) uint8
    exif: bytes | None = None  # EXIF to write with the result (orientation reset to 1)
    icc_profile: bytes | None = None  # an RGB ICC profile, carried to the RGB result
    source: str = "<image>"  # how messages name it
    format: str | None = None  # Pillow's format name of the file ("JPEG", ...)

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]


def read_image(src, max_pixels: int | None = None) -> Photo:
    """A path (str/Path), PIL image, numpy array or Photo -> Photo."""
    if isinstance(src, Photo):
        return src
    if isinstance(src, np.ndarray):
        return photo_from_array(src)
    if isinstance(src, Image.Image):
        return photo_from_pil(src, getattr(src, "filename", "") or "<PIL image>")
    if isinstance(src, (str, os.PathLike)):
        return _read_file(Path(src), MAX_PIXELS if max_pixels is None else max_pixels)
    raise ColorganError(f"cannot colorize a {type(src).__name__}: pass a path, PIL image or array")


def _read_file(path: Path, max_pixels: int) -> Photo:
    if not path.exists():
        raise ColorganError(f"{path}: no such file")
    if path.is_dir():
        raise ColorganError(f"{path}: is a folder, not an image")
    if path.stat().st_size == 0:
        raise ColorganError(f"{path}: empty file (0 bytes)")
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            # Pillow only warns between 1x and 2x its limit; here the limit is the limit.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                # read before decoding: recent Pillow turns TIFFs upright while loading them
                orientation = im.getexif().get(ORIENTATION, 1)
                im.load()  # decode now: truncation and corruption surface here, not later
                return photo_from_pil(im, str(path), _tiff16_pixels(im, path, orientation))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ColorganError(
            f"{path}: refused as a possible decompression bomb ({exc}); raise the limit with "
            f"--max-pixels or COLORGAN_MAX_PIXELS"
        ) from None
    except UnidentifiedImageError:
        raise ColorganError(f"{path}: not an image file (or a format Pillow cannot read)") from None
    except DECODE_ERRORS as exc:
        raise ColorganError(f"{path}: damaged or unreadable image ({exc})") from None


def _tiff16_pixels(im: Image.Image, path: Path, orientation: int) -> np.ndarray | None:
    """Full-precision pixels of a 16-bit RGB(A) TIFF, which Pillow would reduce to 8 bit."""
    if im.format != "TIFF" or im.mode not in ("RGB", "RGBA"):
        return None
    bits = im.tag_v2.get(258, (8,))
    if max(bits if isinstance(bits, tuple) else (bits,)) != 16:
        return None
    try:
        import tifffile
    except ImportError:  # an optional extra: without it the 8-bit reduction is still correct
        return None
    arr = tifffile.imread(path, key=0)
    if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[-1] not in (3, 4):
        arr = np.moveaxis(arr, 0, -1)  # planar (separate) storage
    if arr.dtype != np.uint16 or arr.ndim != 3 or arr.shape[-1] not in (3, 4):
        return None
    return _orient_array(arr, orientation)


def _orient_array(arr: np.ndarray, orientation: int) -> np.ndarray:
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


def photo_from_pil(im: Image.Image, source: str = "<PIL image>", pixels16=None) -> Photo:
    """Orientation applied, mode sorted into gray/RGB + alpha, metadata collected."""
    orientation = im.getexif().get(ORIENTATION, 1)
    exif = _exif_to_carry(im)
    icc = _rgb_icc_profile(im.info.get("icc_profile"), source)
    fmt = im.format
    if pixels16 is not None:
        alpha = (pixels16[..., 3] >> 8).astype(np.uint8) if pixels16.shape[-1] == 4 else None
        return Photo(pixels16[..., :3], alpha, exif, icc, source, fmt)
    if orientation != 1:
        im = ImageOps.exif_transpose(im)
    pixels, alpha = _split_mode(im, source)
    return Photo(pixels, alpha, exif, icc, source, fmt)


def _split_mode(im: Image.Image, source: str) -> tuple[np.ndarray, np.ndarray | None]:
    mode = im.mode
    if mode == "P" and "transparency" in im.info or mode == "PA":
        im, mode = im.convert("RGBA"), "RGBA"
    if mode in ("LA", "La"):
        la = np.asarray(im.convert("LA"))
        return np.ascontiguousarray(la[..., 0]), np.ascontiguousarray(la[..., 1])
    if mode in ("RGBA", "RGBa"):
        rgba = np.asarray(im.convert("RGBA"))
        return np.ascontiguousarray(rgba[..., :3]), np.ascontiguousarray(rgba[..., 3])
    if mode in GRAY_MODES:
        return _gray_array(im), None
    try:
        return np.asarray(im.convert("RGB")), None  # P, CMYK, YCbCr, LAB, HSV, RGBX...
    except (ValueError, OSError) as exc:
        raise ColorganError(f"{source}: image mode {mode} is not supported ({exc})") from None


def _gray_array(im: Image.Image) -> np.ndarray:
    if im.mode in ("1", "L"):
        return np.asarray(im.convert("L"))
    arr = np.asarray(im)
    if im.mode == "F":  # float TIFF: [0, 1] if it fits, else the 16-bit range
        arr = arr / (1.0 if arr.max(initial=0) <= 1.0 else 65535.0)
        return np.clip(arr, 0, 1).astype(np.float32)
    # I;16* and 32-bit "I" (how Pillow may open 16-bit PNG): values are 0..65535
    return np.clip(arr, 0, 65535).astype(np.uint16)


def _exif_to_carry(im: Image.Image) -> bytes | None:
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


def _rgb_icc_profile(icc: bytes | None, source: str) -> bytes | None:
    """Keep an RGB profile (the result is RGB); a gray or CMYK profile cannot describe it."""
    if not icc:
        return None
    try:
        space = ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile.xcolor_space.strip()
    except (OSError, ImageCms.PyCMSError, TypeError):
        log.debug("%s: unreadable ICC profile dropped", source)
        return None
    return icc if space == "RGB" else None


def photo_from_array(arr: np.ndarray) -> Photo:
    """(H, W), (H, W, 1), (H, W, 3) or (H, W, 4); uint8, uint16, bool or float in [0, 1]."""
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if not (arr.ndim == 2 or arr.ndim == 3 and arr.shape[-1] in (3, 4)) or min(arr.shape[:2]) < 1:
        raise ColorganError(f"array of shape {arr.shape}: expected (H, W), (H, W, 3) or (H, W, 4)")
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype not in (np.uint8, np.uint16):
        if arr.dtype.kind != "f":
            raise ColorganError(f"array of dtype {arr.dtype}: use uint8, uint16 or float in [0, 1]")
        arr = np.clip(arr, 0.0, 1.0).astype(np.float32)
    alpha = None
    if arr.ndim == 3 and arr.shape[-1] == 4:
        alpha = _to_uint8(arr[..., 3])
        arr = arr[..., :3]
    return Photo(np.ascontiguousarray(arr), alpha, source="<array>")


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    scale = 255.0 / 65535.0 if arr.dtype == np.uint16 else 255.0
    return np.round(arr * scale).astype(np.uint8)


def to_pil(rgb: np.ndarray, photo: Photo) -> Image.Image:
    """8-bit RGB result + the photo's alpha and metadata (in .info, used by write_image)."""
    im = Image.fromarray(rgb, "RGB")
    if photo.alpha is not None:
        im.putalpha(Image.fromarray(photo.alpha, "L"))
    if photo.exif:
        im.info["exif"] = photo.exif
    if photo.icc_profile:
        im.info["icc_profile"] = photo.icc_profile
    return im


def output_suffix(src: Path, fmt: str) -> str:
    """The result's suffix: "png", "jpg", or "same" as the input where that format is writable
    (GIF -> PNG: a 256-colour palette would band the colours)."""
    if fmt == "same":
        suffix = src.suffix.lower()
        return suffix if suffix in SAVE_FORMATS else ".png"
    return {"png": ".png", "jpg": ".jpg", "jpeg": ".jpg"}[fmt]


def _place(tmp: Path, path: Path, overwrite: bool) -> None:
    """Move the finished temp file to its name. Without overwrite, a hard link: it fails if
    the name appeared meanwhile (say, another run), so nothing is ever clobbered."""
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # no hard links on this filesystem (FAT, some shares): check, rename
        if path.exists():
            raise FileExistsError(path) from None
        os.replace(tmp, path)


def write_image(path: str | Path, image: Image.Image, overwrite: bool = False) -> Path:
    """Save with the metadata in image.info; atomic (temp file + rename), never clobbering an
    existing file unless overwrite. JPEG/BMP cannot hold alpha: it is dropped with a warning."""
    path = Path(path)
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ColorganError(
            f"{path}: cannot write {path.suffix or 'files without a suffix'}; "
            f"use one of {', '.join(sorted(SAVE_FORMATS))}"
        )
    if path.exists() and not overwrite:
        raise ColorganError(f"{path}: exists (use --overwrite to replace it)")
    if image.mode == "RGBA" and fmt in ("JPEG", "BMP"):
        log.warning("%s: %s has no alpha channel; transparency dropped", path, fmt)
        image = image.convert("RGB")
    options = {
        "JPEG": {"quality": 95},
        "WEBP": {"quality": 95},
        "TIFF": {"compression": "tiff_lzw"},
    }
    kwargs = dict(options.get(fmt, {}))
    for key in ("exif", "icc_profile"):
        if image.info.get(key) and fmt != "BMP":
            kwargs[key] = image.info[key]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        image.save(tmp, format=fmt, **kwargs)
        _place(tmp, path, overwrite)
    except FileExistsError:
        raise ColorganError(f"{path}: exists (use --overwrite to replace it)") from None
    except (OSError, ValueError) as exc:  # Pillow raises ValueError for some bad metadata
        raise ColorganError(f"{path}: cannot write ({exc})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path
