"""Finding training photos in a folder tree: what counts as a photo, which are near-grayscale
or unreadable (a cached, threaded scan of small thumbnails), and the train/val split.

Near-grayscale photos teach a colorizer to leave things gray, so the scan leaves them out
and reports them by name, as it does unreadable files. Big photos are decoded reduced:
PIL's JPEG `draft` decodes at 1/2, 1/4 or 1/8 scale.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from colorgan.core.color import rgb_to_lab
from colorgan.core.config import DataConfig
from colorgan.core.errors import ColorganError
from colorgan.io import atomic, images
from colorgan.io.cache import cache_dir
from colorgan.io.images import DECODE_ERRORS, IMAGE_EXTENSIONS  # one list of what counts as a photo

log = logging.getLogger(__name__)

THUMB_SIZE = 64  # side of the thumbnail the gray check looks at
RESAMPLE = Image.Resampling.BICUBIC
REDUCING_GAP = 3.0  # box-reduce first while the image is > 3x the target: fast, no aliasing
SCAN_PROGRESS_MIN = 50  # show a progress bar when scanning more files than this
LOAD_ERRORS = (*DECODE_ERRORS, Image.DecompressionBombError, ColorganError)  # what open_rgb raises


def find_images(root: str | Path) -> list[Path]:
    """All image files under root (any depth), sorted. Hidden files and folders are skipped
    (".thumbnails", macOS "._x.jpg" forks are not photos)."""
    if not str(root).strip():
        raise ColorganError("no data folder given (set data.root)")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ColorganError(f"data folder not found: {root}")
    files = sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in IMAGE_EXTENSIONS
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
        and p.is_file()
    )
    if not files:
        exts = ", ".join(sorted(e[1:] for e in IMAGE_EXTENSIONS))
        raise ColorganError(f"no images ({exts}) found under {root}")
    return files


# --- train/val split -------------------------------------------------------------------------
def group_by_regex(pattern: str) -> Callable[[Path], str]:
    """A group_fn for split_files: the first capture group of pattern on the file stem.

    group_by_regex(r"(.*)_crop\\d+$") puts "cat_crop1.jpg" and "cat_crop2.jpg" together;
    stems that do not match are their own group.
    """
    regex = re.compile(pattern)

    def group(path: Path) -> str:
        match = regex.match(Path(path).stem)
        return str(Path(path).parent / match.group(1)) if match else str(path)

    return group


def split_files(
    files: Sequence[Path],
    val_fraction: float,
    seed: int,
    group_fn: Callable[[Path], str] | None = None,
) -> tuple[list[Path], list[Path]]:
    """Deterministic (train, val) split by group, so crops of one photo stay on one side.

    Each group's side is decided by a hash of (seed, group name) alone: a group is val when
    its hash, read as a number in [0, 1), is below val_fraction. Adding photos to a folder
    therefore does not move an old photo from val into train, with one exception: with
    val_fraction > 0 and two or more groups both sides get at least one group, so in a small
    folder where no hash falls below val_fraction the lowest-hash group is taken, and a new
    photo with a lower hash takes its place.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ColorganError(f"val_fraction={val_fraction}: must be in [0, 1)")
    group_fn = group_fn or str
    groups: dict[str, list[Path]] = {}
    for f in files:
        groups.setdefault(group_fn(Path(f)), []).append(Path(f))
    if val_fraction == 0.0 or len(groups) < 2:
        return sorted(map(Path, files)), []
    digest = lambda name: hashlib.sha256(f"{seed}:{name}".encode()).digest()[:8]  # noqa: E731
    u = {name: int.from_bytes(digest(name), "big") / 2**64 for name in groups}
    order = sorted(groups, key=u.get)
    val_names = {name for name in order if u[name] < val_fraction}
    if not val_names:
        val_names = {order[0]}
    if len(val_names) == len(order):
        val_names.discard(order[-1])
    val = sorted(p for name in val_names for p in groups[name])
    train = sorted(p for name in groups if name not in val_names for p in groups[name])
    return train, val


# --- reading images ---------------------------------------------------------------------------
def image_to_tensor(im: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float tensor (3, H, W) in [0, 1]."""
    # numpy, not torch ops: torch's intra-op threads cost ~10 ms per image here when the
    # cores are busy (measured on 2 shared cores), numpy's single-threaded divide ~0.3 ms.
    arr = np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / np.float32(255.0)
    return torch.from_numpy(np.ascontiguousarray(arr))


def mean_chroma(path_or_image: str | Path | Image.Image) -> float:
    """Mean Lab chroma sqrt(a^2 + b^2) of a small thumbnail (0 for a gray image)."""
    im = path_or_image
    if not isinstance(im, Image.Image):
        im = images.open_rgb(im, min_short=THUMB_SIZE)
    im = images.to_rgb8(im).copy()
    im.thumbnail((THUMB_SIZE, THUMB_SIZE), RESAMPLE, reducing_gap=REDUCING_GAP)
    lab = rgb_to_lab(image_to_tensor(im))
    return float(lab[1:].square().sum(0).sqrt().mean())


def is_near_grayscale(path_or_image: str | Path | Image.Image, threshold: float) -> bool:
    return mean_chroma(path_or_image) < threshold


# --- scanning a folder: gray and unreadable files ---------------------------------------------
def _cache_file(files: Sequence[Path]) -> Path:
    common = os.path.commonpath([str(Path(f).resolve().parent) for f in files])
    return cache_dir() / f"chroma-{hashlib.sha256(common.encode()).hexdigest()[:16]}.json"


def _chroma_or_error(path: Path) -> float | str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL's EXIF/ICC chatter is not the user's problem
            return mean_chroma(path)
    except LOAD_ERRORS as exc:
        return f"{type(exc).__name__}: {exc}"


def scan_chroma(files: Sequence[Path], cache: Path | None = None) -> dict[Path, float | str]:
    """Mean chroma of each file, or an error message for one that cannot be read.

    Results are cached by (path, size, mtime), so a second run over the same folder only
    reads new or changed files. Threads work here: PIL releases the GIL while decoding.
    """
    cache = cache or _cache_file(files)
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    stamps, gone = {}, {}
    for f in map(Path, files):
        try:
            st = f.stat()
        except OSError as exc:  # deleted since it was listed
            gone[f] = f"{type(exc).__name__}: {exc}"
            continue
        stamps[f] = f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    todo = [f for f in stamps if stamps[f] not in known]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        results = pool.map(_chroma_or_error, todo)
        bar = tqdm(
            results,
            total=len(todo),
            desc="scanning images",
            unit="img",
            disable=len(todo) <= SCAN_PROGRESS_MIN,
            leave=False,
        )
        found = dict(zip(todo, bar, strict=True))
    known.update({stamps[f]: v for f, v in found.items() if isinstance(v, float)})
    keep = {stamps[f]: known[stamps[f]] for f in stamps if stamps[f] in known}  # drop the gone
    try:  # write-and-rename: ranks of a distributed run may scan the same folder at once
        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(cache, json.dumps(keep))
    except (OSError, ColorganError) as exc:  # a read-only home only costs the next run a rescan
        log.debug("chroma cache not written to %s: %s", cache, exc)
    found.update(gone)
    return {f: found[f] if f in found else known[stamps[f]] for f in map(Path, files)}


def _names(paths: Sequence[Path], limit: int = 20) -> str:
    shown = ", ".join(str(p) for p in paths[:limit])
    return shown + (f" ... and {len(paths) - limit} more" if len(paths) > limit else "")


# --- loaders --------------------------------------------------------------------------------------
@dataclass
class DataReport:
    """What make_loaders found under data.root, and what it left out and why."""

    root: str
    found: int
    train: list[Path] = field(default_factory=list)
    val: list[Path] = field(default_factory=list)
    gray: list[Path] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.root}: {self.found} images found, {len(self.train)} train, "
            f"{len(self.val)} val, {len(self.gray)} near-grayscale left out, "
            f"{len(self.unreadable)} unreadable"
        )


def _usable(root: str, threshold: float) -> tuple[list[Path], list[Path], list, list[Path]]:
    """(all files, usable colour files, unreadable (file, reason), near-gray files)."""
    files = find_images(root)
    chroma = scan_chroma(files)
    unreadable = [(f, v) for f, v in chroma.items() if isinstance(v, str)]
    colour = {f: v for f, v in chroma.items() if not isinstance(v, str)}
    gray = [f for f, v in colour.items() if v < threshold]
    usable = [f for f, v in colour.items() if v >= threshold]
    for f, reason in unreadable:
        log.warning("skipping unreadable image %s (%s)", f, reason)
    if gray:
        log.warning(
            "left out %d near-grayscale images (mean chroma < %g): %s",
            len(gray),
            threshold,
            _names(gray),
        )
    if not usable:
        n = len(files)
        why = f"all {n} images are near-grayscale (mean chroma < {threshold}, data.gray_threshold)"
        if unreadable:
            why = f"of {n} images {len(gray)} are near-grayscale, {len(unreadable)} unreadable"
        raise ColorganError(f"no usable colour images under {root}: {why}")
    return files, usable, unreadable, gray


def scan_folder(data_cfg: DataConfig, group_fn: Callable[[Path], str] | None = None) -> DataReport:
    """Find, check and split the images under data_cfg.root; warns about what is left out.
    With data.val_root the validation photos are that folder's (a fixed split made by the
    data builder); otherwise a hash split of data.root (group_fn, see split_files, is given
    paths relative to the root)."""
    files, usable, unreadable, gray = _usable(data_cfg.root, data_cfg.gray_threshold)
    if data_cfg.val_root:
        _, val, bad_val, gray_val = _usable(data_cfg.val_root, data_cfg.gray_threshold)
        report = DataReport(str(data_cfg.root), len(files), sorted(usable), sorted(val))
        report.gray, report.unreadable = gray + gray_val, unreadable + bad_val
        return report
    # Split on paths relative to the root, so moving the folder keeps the same split.
    root = Path(data_cfg.root).expanduser()
    relative = [f.relative_to(root) for f in usable]
    train, val = split_files(relative, data_cfg.val_fraction, data_cfg.split_seed, group_fn)
    train, val = [root / f for f in train], [root / f for f in val]
    return DataReport(str(data_cfg.root), len(files), train, val, gray, unreadable)
