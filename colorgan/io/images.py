"""Reading any image file a user has, and writing results with its metadata.

`read_image` turns a path, PIL image or numpy array into a `Photo`: the pixels the
colourizer takes its lightness from (gray or RGB, 8 or 16 bit, EXIF orientation applied),
the alpha channel and the metadata worth carrying to the result. Every way a file can be
bad (missing, empty, not an image, truncated, a decompression bomb) becomes one
ColorganError line naming the file and the reason.

The policy, decided here once for every reader of the package (inference, evaluation,
training data, the data builder):
  * modes: 1/L/I;16/I/F are gray; RGB, CMYK, YCbCr, P and sepia/tinted photos are RGB (the
    colourizer takes only their lightness); RGBA, LA, PA and P with transparency have alpha.
  * alpha: `read_image` keeps it beside the pixels (the result gets it back); `open_rgb`
    (training, evaluation, the data builder: they need a plain RGB photo) composites the
    photo over white, the background a transparent cut-out is usually shown on.
  * bit depth: integer gray is scaled by the FORMAT's depth, never guessed from the largest
    value (a dark 16-bit scan is not an 8-bit one): I;16* is 16 bit; "I" is the TIFF's
    BitsPerSample where the file says it, else 16 bit (Pillow opens 16-bit PNG/PGM that way,
    PGM rescaled to 65535); "F" (float) holds [0, 1] and is clipped to it.
    `read_image` keeps 16-bit gray (and 16-bit RGB TIFF, through tifffile) at full
    precision; `open_rgb` reduces everything to 8 bit. 16-bit RGB PNG is 8 bit already in
    Pillow. Results are written as 8-bit sRGB (plus alpha).

Decompression bombs: a file whose pixel count is over the limit (MAX_PIXELS, 100 megapixels
by default; the COLORGAN_MAX_PIXELS environment variable or `max_pixels=` changes it) is
refused before it is decoded: Image.open reads only the header, and `opened` compares the
size found there with the caller's limit. Nothing process-wide is changed for it, so
threads reading with different limits (the CLI's readers, the server's workers) cannot
disturb one another. Pillow's own guard (its process-wide `Image.MAX_IMAGE_PIXELS`, left as
the application has it) still refuses files over twice its value, and warns between once
and twice it, whatever the limit given here.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePath

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from colorgan.core.errors import ColorganError
from colorgan.io import atomic, imagemeta

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


def read_image(src, max_pixels: int | None = None, name: str | None = None) -> Photo:
    """A path (str/Path), a file's bytes (fetched from object storage, say; `name`, its
    URI, names it in messages), PIL image, numpy array or Photo -> Photo."""
    if isinstance(src, Photo):
        return src
    if isinstance(src, np.ndarray):
        return photo_from_array(src)
    if isinstance(src, Image.Image):
        return photo_from_pil(src, getattr(src, "filename", "") or "<PIL image>")
    limit = MAX_PIXELS if max_pixels is None else max_pixels
    if isinstance(src, (str, os.PathLike)):
        return _read_file(Path(src), limit, name or str(Path(src)))
    if isinstance(src, (bytes, bytearray, memoryview)):
        return _read_file(bytes(src), limit, name or "<image data>")
    raise ColorganError(f"cannot colorize a {type(src).__name__}: pass a path, PIL image or array")


def _read_file(src: Path | bytes, max_pixels: int, name: str) -> Photo:
    with opened(src, max_pixels, name) as im:
        # read before decoding: recent Pillow turns TIFFs upright while loading them
        orientation = im.getexif().get(imagemeta.ORIENTATION, 1)
        # decode now (either way): truncation and corruption surface here, not later
        pixels = _decoded_into_array(im)
        if pixels is not None:
            return photo_from_pil(im, name, imagemeta.orient_array(pixels, orientation))
        im.load()
        return photo_from_pil(im, name, _tiff16_pixels(im, src, orientation))


def _decoded_into_array(im: Image.Image) -> np.ndarray | None:
    """An 8-bit gray or RGB JPEG, decoded by Pillow straight into a numpy array: (H, W), or
    (H, W, 3) as a view of an (H, W, 4) array (RGBX, the layout Pillow keeps RGB in). None
    for other files, which are left to load as Pillow does.

    Why: Pillow decodes into fresh memory of its own, whose pages are faulted in anew for
    every photo, and the pixels were then copied out of it; a 12 MP colour JPEG end to end
    took 0.288-0.305 s that way and 0.244-0.250 s this way (measured side by side, against
    a Pillow round trip of 0.084 s). How: an image mapped onto the array (Image.frombuffer)
    is the file's memory before it loads, and Pillow decodes into image memory that is
    already there. A Pillow that allocates its own anyway leaves the array unused (None:
    the file is then loaded the usual way, and the same pixels come out)."""
    if im.format != "JPEG" or im.mode not in ("L", "RGB"):
        return None
    if im.mode == "L":
        pixels = buffer = np.empty((im.height, im.width), np.uint8)
        target = Image.frombuffer("L", im.size, buffer, "raw", "L", 0, 1).im
    else:
        buffer = np.empty((im.height, im.width, 4), np.uint8)
        pixels = buffer[..., :3]
        target = Image.frombuffer("RGB", im.size, buffer, "raw", "RGBX", 0, 1).im
    im.im = target
    im.load()
    return pixels if im.im is target else None


@contextlib.contextmanager
def opened(src, max_pixels: int | None = None, name: str | None = None):
    """The PIL image of a path, bytes or binary file, with every way it can be bad (missing,
    empty, not an image, damaged, a decompression bomb) turned into one ColorganError line
    naming it. Decoding inside the `with` block is covered too."""
    if isinstance(src, bytes):
        src = io.BytesIO(src)
    path = Path(src) if isinstance(src, (str, os.PathLike)) else None
    name = name or (str(path) if path is not None else "<image data>")
    if path is not None:
        if not path.exists():
            raise ColorganError(f"{name}: no such file")
        if path.is_dir():
            raise ColorganError(f"{name}: is a folder, not an image")
        if path.stat().st_size == 0:
            raise ColorganError(f"{name}: empty file (0 bytes)")
    limit = MAX_PIXELS if max_pixels is None else max_pixels
    try:
        with Image.open(src) as im:
            if im.width * im.height > limit:  # the header's size: nothing decoded yet
                raise too_many_pixels(name, im.width * im.height, limit)
            yield im
    except Image.DecompressionBombError as exc:  # Pillow's own guard (see the docstring)
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise too_many_pixels(name, int(found.group(1)) if found else None, limit) from None
    except UnidentifiedImageError:
        raise ColorganError(f"{name}: not an image file (or a format Pillow cannot read)") from None
    except DECODE_ERRORS as exc:
        raise ColorganError(f"{name}: damaged or unreadable image ({exc})") from None


class ImageTooLarge(ColorganError):
    """More pixels than the limit (refused before decoding): the web server's 413."""


def too_many_pixels(name: str, pixels: int | None, limit: int) -> ImageTooLarge:
    """The refusal, quoting the caller's limit (Pillow's message names twice its own)."""
    size = f"{pixels:,} pixels" if pixels else "more pixels than allowed"
    return ImageTooLarge(
        f"{name}: {size}, over the limit of {limit:,}; refused as a possible decompression "
        "bomb (--max-pixels or COLORGAN_MAX_PIXELS raise the limit)"
    )


def open_rgb(src, min_short: int | None = None, max_pixels: int | None = None, name=None):
    """A path, bytes or binary file -> 8-bit RGB PIL image, EXIF orientation applied, alpha
    composited over white, integer gray scaled by its real depth (the module's policy).
    min_short: a JPEG is decoded at a reduced DCT scale (1/2, 1/4, 1/8: several times faster
    for big photos) as long as its short side stays >= min_short. Errors: ColorganError."""
    with opened(src, max_pixels, name) as im:
        if min_short and im.format == "JPEG" and min_short < min(im.size):
            factor = min_short / min(im.size)
            im.draft("RGB", (math.ceil(im.width * factor), math.ceil(im.height * factor)))
        im.load()  # decoding errors surface here, inside `opened`
        rgb = to_rgb8(im)  # before turning: the turned copy forgets the format's bit depth
        turn = imagemeta.TRANSPOSE.get(im.getexif().get(imagemeta.ORIENTATION, 1))
        return rgb if turn is None else rgb.transpose(turn)


def to_rgb8(im: Image.Image) -> Image.Image:
    """Any PIL mode -> 8-bit RGB by the module's policy (alpha over white, real bit depth)."""
    if im.mode in GRAY_MODES and im.mode not in ("1", "L"):
        gray = _gray_array(im)
        top = 65535.0 if gray.dtype == np.uint16 else 1.0
        im = Image.fromarray((gray.astype(np.float32) * (255.0 / top) + 0.5).astype(np.uint8))
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im if im.mode == "RGB" else im.convert("RGB")


def _tiff16_pixels(im: Image.Image, src: Path | bytes, orientation: int) -> np.ndarray | None:
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
    arr = tifffile.imread(io.BytesIO(src) if isinstance(src, bytes) else src, key=0)
    if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[-1] not in (3, 4):
        arr = np.moveaxis(arr, 0, -1)  # planar (separate) storage
    if arr.dtype != np.uint16 or arr.ndim != 3 or arr.shape[-1] not in (3, 4):
        return None
    return imagemeta.orient_array(arr, orientation)


def photo_from_pil(im: Image.Image, source: str = "<PIL image>", decoded=None) -> Photo:
    """Orientation applied, mode sorted into gray/RGB + alpha, metadata collected.
    decoded: the pixels when they were decoded outside Pillow's image, orientation applied
    (a 16-bit RGB(A) TIFF through tifffile, alpha as its 4th channel; an 8-bit gray or RGB
    JPEG decoded into an array)."""
    orientation = im.getexif().get(imagemeta.ORIENTATION, 1)
    exif = imagemeta.exif_to_carry(im)
    icc = imagemeta.rgb_icc_profile(im.info.get("icc_profile"), source)
    fmt = im.format
    if decoded is not None:
        alpha = None
        if decoded.ndim == 3 and decoded.shape[-1] == 4:
            alpha, decoded = (decoded[..., 3] >> 8).astype(np.uint8), decoded[..., :3]
        return Photo(decoded, alpha, exif, icc, source, fmt)
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
    try:  # P, CMYK, YCbCr, LAB, HSV, RGBX...; RGB as it is (convert would copy 36 MB/12 MP)
        return _rgb_array(im if mode == "RGB" else im.convert("RGB")), None
    except (ValueError, OSError) as exc:
        raise ColorganError(f"{source}: image mode {mode} is not supported ({exc})") from None


def _rgb_array(im: Image.Image, rows: int = 64) -> np.ndarray:
    """An RGB image as (H, W, 3) uint8, copied band by band: np.asarray of a whole 12 MP
    image goes through tobytes' 36 MB of joined chunks (0.055 s); bands that stay in the
    CPU's caches take 0.017 s (measured on a 12 MP JPEG; the same bytes)."""
    if im.height <= rows:
        return np.array(im)  # writable, as the banded copy is
    out = np.empty((im.height, im.width, 3), np.uint8)
    for top in range(0, im.height, rows):
        band = im.crop((0, top, im.width, min(top + rows, im.height)))
        out[top : top + band.height] = np.asarray(band)
    return out


def bit_depth(im: Image.Image) -> int:
    """Bits per sample of an integer gray image, from its format (see the module's policy)."""
    if im.mode.startswith("I;16"):
        return 16
    if im.mode == "I" and im.format == "TIFF":
        bits = im.tag_v2.get(258, (16,))
        return int(max(bits) if isinstance(bits, tuple) else bits)
    return 16 if im.mode == "I" else 8


def _gray_array(im: Image.Image) -> np.ndarray:
    """uint8 (1, L), uint16 (16-bit and deeper integers, scaled to 0..65535) or float32."""
    if im.mode in ("1", "L"):
        return np.asarray(im if im.mode == "L" else im.convert("L"))
    arr = np.asarray(im)
    if im.mode == "F":  # float gray holds [0, 1]
        return np.clip(arr, 0, 1).astype(np.float32)
    bits = bit_depth(im)
    signed = im.format == "TIFF" and im.tag_v2.get(339, (1,)) in (2, (2,))
    if bits == 32 and not signed and arr.dtype == np.int32:
        arr = arr.view(np.uint32)  # Pillow's "I" is signed: unsigned 32-bit wraps around
    top = 2 ** (bits - signed) - 1
    if top == 65535:
        return np.clip(arr, 0, 65535).astype(np.uint16)
    return np.round(np.clip(arr.astype(np.float64), 0, top) * (65535 / top)).astype(np.uint16)


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
    # not Image.fromarray: it fills the new image with zeros before copying the pixels in,
    # one pass too many over fresh memory (12 MP end to end measured 4-10 ms less); its
    # type check stays (frombytes would take any bytes)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise TypeError(f"to_pil takes uint8 (H, W, 3) pixels, not {rgb.dtype} {rgb.shape}")
    im = Image.new("RGB", (rgb.shape[1], rgb.shape[0]), None)
    im.frombytes(np.ascontiguousarray(rgb))
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


def encode_image(image: Image.Image, path: Path, fmt: str, options: dict) -> memoryview:
    """The file's bytes, encoded in memory: Pillow writes some formats (JPEG) to a real
    file with unchecked write() calls; io.atomic writes these bytes checked."""
    buf = io.BytesIO()
    try:
        image.save(buf, format=fmt, **options)
    except (OSError, ValueError) as exc:  # Pillow raises ValueError for some bad metadata
        raise ColorganError(f"{path}: cannot write ({exc})") from None
    return buf.getbuffer()


def write_image(path: str | Path, image: Image.Image, overwrite: bool = False) -> Path:
    """Save with the metadata in image.info; checked and atomic (colorgan.io.atomic), never
    clobbering an existing file unless overwrite. JPEG/BMP cannot hold alpha: it is dropped
    with a warning."""
    path = Path(path)
    save_format(path)
    if path.exists() and not overwrite:
        raise ColorganError(f"{path}: exists (use --overwrite to replace it)")
    data = encoded(path, image)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        atomic.write_bytes(path, data, overwrite=overwrite)
    except atomic.TargetExists:
        raise ColorganError(f"{path}: exists (use --overwrite to replace it)") from None
    return path


def save_format(path: PurePath) -> str:
    """Pillow's format name for writing path (by its suffix); ColorganError if none."""
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ColorganError(
            f"{path}: cannot write {path.suffix or 'files without a suffix'}; "
            f"use one of {', '.join(sorted(SAVE_FORMATS))}"
        )
    return fmt


def encoded(path: PurePath, image: Image.Image) -> memoryview:
    """The bytes of the file write_image writes for path (a local path or an object's
    name: the format by its suffix, the metadata in image.info)."""
    fmt = save_format(path)
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
    return encode_image(image, path, fmt, kwargs)
