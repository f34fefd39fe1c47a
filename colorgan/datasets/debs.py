"""Debian packages as a data source: download (resumable, checked), unpack, who owns a file.

`apt-get download NAME` fetches a package's .deb into the current folder without root or
dependencies; `dpkg-deb -X` unpacks it anywhere. A .deb already in the cache is reused only
when its size and SHA-256 match what apt's index says, so a download cut short is redone.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from tqdm import tqdm

from colorgan.core.errors import ColorganError
from colorgan.io import atomic
from colorgan.io.checksum import file_sha256

log = logging.getLogger(__name__)

PACKAGES = (
    "gcompris-qt-data",
    "tuxpaint-data",
    "mate-backgrounds",
    "lxqt-themes",
    "lomiri-wallpapers-16.04",
    "lomiri-wallpapers-20.04",
    "plasma-workspace-wallpapers",
    "scratch",
    "stellarium-data",
    "enlightenment-data",
    "tuxpaint-stamps-default",
    "endless-sky-data",
    "jigzo-data",
    "puzzle-jigsaw",
    "libjxl-testdata",
    "scribus-template",
)


def _run(cmd: list[str], cwd: Path, what: str) -> str:
    if shutil.which(cmd[0]) is None:
        raise ColorganError(f"{cmd[0]} not found: building the offline set needs a Debian system")
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["(no message)"]
        raise ColorganError(f"{what} failed: {lines[-1]}")
    return done.stdout


def apt_record(name: str, cache_dir: Path) -> dict[str, str]:
    """Size and SHA256 (and Version) of the candidate version in apt's index."""
    text = _run(
        ["apt-cache", "show", "--no-all-versions", name],
        cache_dir,
        f"apt-cache show {name} (is the package known? run apt-get update)",
    )
    record = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key in ("Version", "Size", "SHA256") and key not in record:
            record[key] = value.strip()
    if "Size" not in record or "SHA256" not in record:
        raise ColorganError(f"apt-cache show {name}: no Size/SHA256 in apt's index")
    return record


def _matches(path: Path, record: dict[str, str]) -> bool:
    if path.stat().st_size != int(record["Size"]):
        return False
    return file_sha256(path) == record["SHA256"]


def fetch_deb(name: str, cache_dir: Path) -> Path:
    """The package's .deb in cache_dir: a cached one that matches apt's size and SHA-256,
    else freshly downloaded (a partial or stale file is removed first)."""
    record = apt_record(name, cache_dir)
    for cached in sorted(cache_dir.glob(f"{name}_*.deb")):
        if _matches(cached, record):
            return cached
        log.info("%s: does not match apt's size/SHA-256; downloading again", cached.name)
        cached.unlink()
    _run(["apt-get", "download", name], cache_dir, f"apt-get download {name}")
    found = [p for p in sorted(cache_dir.glob(f"{name}_*.deb")) if _matches(p, record)]
    if not found:
        raise ColorganError(f"apt-get download {name} left no matching {name}_*.deb")
    return found[-1]


def extract_deb(deb: Path, root: Path) -> list[str]:
    """Unpack deb into root (as if installed there); returns the files it holds ("/usr/...").

    `dpkg-deb -X` is `dpkg -x` that also lists what it unpacked. The list is kept in a stamp
    file, written last, so each .deb is unpacked once and an interrupted unpack is redone.
    """
    stamp = root / f".extracted-{deb.name}"
    if not stamp.exists():
        root.mkdir(parents=True, exist_ok=True)
        listing = _run(["dpkg-deb", "-X", str(deb), str(root)], root, f"dpkg -x {deb.name}")
        atomic.write_text(stamp, listing)
    lines = (line.strip() for line in stamp.read_text().splitlines())
    return ["/" + line.removeprefix("./") for line in lines if line and not line.endswith("/")]


def prepare_packages(cache_dir: Path, packages: Sequence[str] = PACKAGES) -> Path:
    """Every package fetched and unpacked; returns the root the origins are relative to."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    root = cache_dir / "extracted"
    for name in tqdm(packages, desc="packages", unit="pkg", leave=False):
        extract_deb(fetch_deb(name, cache_dir), root)
    return root


def owners(root: Path, files: Iterable[str]) -> list[str]:
    """The packages (from the unpack stamps under root) that hold any of `files`."""
    wanted, found = set(files), set()
    for stamp in sorted(root.glob(".extracted-*.deb")):
        package = stamp.name.removeprefix(".extracted-").split("_")[0]
        lines = (line.strip() for line in stamp.read_text().splitlines())
        if any("/" + line.removeprefix("./") in wanted for line in lines):
            found.add(package)
    return sorted(found)
