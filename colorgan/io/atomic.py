"""Every file colorgan writes goes through here: checked, atomic, and never clobbering.

The bytes go to a hidden temporary file beside the target (`.NAME.tmp-PID`), written with
`os.write` in a loop whose every count is checked (a short write is not success: Pillow's
JPEG encoder once wrote a whole file with one write() that came back short, and the
truncated file was renamed into place). The file is then fsynced (network filesystems and
quotas may report a full disk only there), its size checked against what was meant, and
only then renamed to its name. A full disk (ENOSPC, EDQUOT, EFBIG) is `DiskFull`, any
other failure a `ColorganError`, both one line naming the file; either way the temporary
file is removed and whatever had the name before is untouched.

Writers that need a path to write to (FFmpeg) use `writing()`; a folder written as a whole
(a checkpoint) is built under a temporary name with these functions and renamed with
`place()`. `remove_stale` deletes temporary files that killed runs left behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import threading
import time
from pathlib import Path

from colorgan.core.errors import ColorganError, DiskFull

CHUNK = 1 << 24  # bytes per os.write call: large, but bounded (some kernels cap at 2 GB)
NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
# `.NAME.tmp-PID`, `.NAME.tmp-PID-N` (a second writer in one process), the video writer's
# `.STEM.partial-PID.EXT` and a checkpoint folder's `.tmp-step_X-PID`.
TEMP_NAME = re.compile(r"^\..+[.-](?:tmp|partial)-(?P<pid>\d+)(?:-\d+)?(?:\.[A-Za-z0-9]+)?$")
# A temporary file is stale when its process is gone AND it has not changed for this long:
# a PID only names a process on this machine, and another computer writing into a shared
# folder keeps touching its file while it works.
STALE_AFTER_S = 60.0

_cleaned: set[Path] = set()
_cleaned_lock = threading.Lock()


class TargetExists(ColorganError):
    """The name was taken (and overwrite not allowed): nothing was written over."""


def temp_path(path: Path, kind: str = "tmp") -> Path:
    """The hidden name a file is written under before it gets its own."""
    path = Path(path)
    if kind == "partial":  # keeps the suffix: FFmpeg tools recognise the container by it
        return path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    return path.with_name(f".{path.name}.{kind}-{os.getpid()}")


def _open_temp(path: Path) -> tuple[int, Path]:
    """O_EXCL: two threads of one process writing the same name never share a temp file."""
    base = temp_path(path)
    for n in range(1, 1000):
        tmp = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
    raise ColorganError(f"{path}: cannot write (too many temporary files beside it)")


def failure(path: Path, exc: OSError, done: int | None = None, total: int | None = None):
    """The one-line error for an OSError while writing path (DiskFull when out of room)."""
    reason = (exc.strerror or str(exc) or type(exc).__name__).lower()
    counts = f" ({done:,} of {total:,} bytes written)" if total is not None else ""
    if exc.errno in NO_ROOM:
        return DiskFull(f"{path}: cannot write: {reason}{counts}; free some space and retry")
    return ColorganError(f"{path}: cannot write ({reason}){counts}")


def _write_all(fd: int, data, path: Path) -> None:
    view = memoryview(data).cast("B")
    done = 0
    try:
        while done < len(view):
            n = os.write(fd, view[done : done + CHUNK])
            if n <= 0:  # no progress and no error: treat as the full disk it usually is
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            done += n
        os.fsync(fd)
        size = os.fstat(fd).st_size
    except OSError as exc:
        raise failure(path, exc, done, len(view)) from None
    if size != len(view):
        raise DiskFull(f"{path}: cannot write: {size:,} of {len(view):,} bytes reached the disk")


def write_bytes(path, data, *, overwrite: bool = True, durable: bool = False) -> Path:
    """Write data (bytes-like) to path, checked and atomic (see the module docstring).
    overwrite=False: TargetExists if the name is taken, even by a file that appears while
    this writes. durable: also fsync the folder, so the new name survives a power cut."""
    path = Path(path)
    remove_stale_once(path.parent)
    try:
        fd, tmp = _open_temp(path)
    except OSError as exc:
        raise failure(path, exc) from None
    try:
        try:
            _write_all(fd, data, path)
        finally:
            os.close(fd)
        place(tmp, path, overwrite)
        if durable:
            fsync_folder(path.parent)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return path


def write_text(path, text: str, *, overwrite: bool = True, durable: bool = False) -> Path:
    return write_bytes(path, text.encode("utf-8"), overwrite=overwrite, durable=durable)


atomic_write_text = write_text  # the name callers used before the checks existed


@contextlib.contextmanager
def writing(path, *, overwrite: bool = True, kind: str = "tmp"):
    """For a writer that needs a path (FFmpeg): yields the temporary path; when the block
    ends without an exception, the file is fsynced, checked to exist and not be empty, and
    renamed to path. On any exception the temporary file is removed."""
    path = Path(path)
    remove_stale_once(path.parent)
    tmp = temp_path(path, kind)
    try:
        yield tmp
        try:
            fsync_file(tmp)
        except OSError as exc:
            raise failure(path, exc) from None
        if tmp.stat().st_size == 0:
            raise ColorganError(f"{path}: cannot write (nothing was written)")
        place(tmp, path, overwrite)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def place(tmp: Path, path: Path, overwrite: bool) -> None:
    """Give the finished tmp (file or folder) its name. Without overwrite a hard link, which
    fails if the name appeared meanwhile (say, another run), so nothing is clobbered."""
    try:
        if overwrite or tmp.is_dir():
            if not overwrite and path.exists():
                raise TargetExists(f"{path}: exists")
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise TargetExists(f"{path}: exists") from None
        except OSError:  # no hard links here (FAT, some shares): check, then rename
            if path.exists():
                raise TargetExists(f"{path}: exists") from None
            os.replace(tmp, path)
    except TargetExists:
        raise
    except OSError as exc:
        raise failure(path, exc) from None


def remove_quietly(path: Path) -> None:
    """Remove a file of ours if it is there (another process may have removed it first)."""
    with contextlib.suppress(OSError):
        Path(path).unlink()


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_folder(folder: Path) -> None:
    """Make renames inside folder durable (not possible on every OS/filesystem: skipped)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


# --- what killed runs left behind ------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_stale(folder: Path, pattern: re.Pattern = TEMP_NAME) -> list[Path]:
    """Delete the temporary files and folders of runs that were killed while writing into
    folder: names matching pattern (ours, with a `pid` group) whose process is gone and
    which have not changed for a while. Returns what was removed; anything it cannot
    remove is left (and not an error)."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        match = pattern.match(entry.name)
        if not match or int(match["pid"]) == os.getpid() or _alive(int(match["pid"])):
            continue
        with contextlib.suppress(OSError):
            if now - entry.stat(follow_symlinks=False).st_mtime < STALE_AFTER_S:
                continue
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
    return removed


def remove_stale_once(folder: Path) -> None:
    """remove_stale the first time this process writes into folder (a batch of thousands
    of photos into one folder scans it once)."""
    key = Path(os.path.abspath(folder))
    with _cleaned_lock:
        if key in _cleaned:
            return
        _cleaned.add(key)
    remove_stale(key)
