"""Files named by URI: a local path, or `scheme://bucket/key` on object storage through fsspec
(s3:// needs s3fs, gs:// gcsfs, az:// adlfs). Credentials are found the usual way for each
store (for S3: the AWS_* environment variables, ~/.aws, the machine's or pod's role, and
AWS_ENDPOINT_URL for an S3-compatible server); colorgan never takes them as arguments and
never prints them.

Writes keep colorgan.io.atomic's promise on both kinds of storage: a local file goes through
colorgan.io.atomic (hidden temporary name, checked, renamed); an object store makes an
object visible only once its upload has completed, so no reader ever sees part of a file
under its name. Without overwrite a name that exists is never replaced: locally atomic's
hard link refuses it; on object storage the name is checked just before the upload (two jobs
writing the same names at once is the operator's to avoid: docs/archive.md).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from colorgan.core.errors import ColorganError
from colorgan.io import atomic

NO_CLOBBER_PUT = {"s3", "s3a"}  # stores whose PUT takes If-None-Match: * (S3, since 2024)


def is_remote(uri: str) -> bool:
    """Whether uri names an object (`scheme://...`) rather than a local path."""
    scheme, sep, _ = str(uri).partition("://")
    return bool(sep) and scheme != "file" and scheme.isidentifier()


def local(uri: str) -> Path:
    """The absolute local path of a local URI (`file://` or a plain path, ~ expanded): a
    batch's workers do not share the driver's current folder."""
    text = str(uri).removeprefix("file://")
    return Path(os.path.abspath(Path(text).expanduser()))


def canonical(uri: str) -> str:
    """The form a URI is recorded in: absolute local paths, `scheme://bucket/key` without
    a trailing slash."""
    return str(uri).rstrip("/") if is_remote(uri) else str(local(uri))


def join(root: str, rel: str | PurePosixPath) -> str:
    return f"{str(root).rstrip('/')}/{rel}" if is_remote(root) else str(local(root) / rel)


def filesystem(uri: str):
    """(fsspec filesystem, its path) for a remote URI; a one-line error when the store's
    package is missing."""
    import fsspec

    try:
        return fsspec.core.url_to_fs(uri)
    except ImportError as exc:
        raise ColorganError(f"{uri}: {str(exc).splitlines()[0]}") from None
    except ValueError as exc:  # an unknown protocol
        raise ColorganError(f"{uri}: {exc}") from None


def _failure(uri: str, exc: Exception) -> ColorganError:
    if isinstance(exc, FileNotFoundError):
        return ColorganError(f"{uri}: no such file")
    return ColorganError(f"{uri}: {(str(exc) or type(exc).__name__).splitlines()[0]}")


def read_bytes(uri: str) -> bytes:
    """The whole file or object; ColorganError (one line) when it cannot be read."""
    try:
        if is_remote(uri):
            fs, path = filesystem(uri)
            return fs.cat_file(path)
        return local(uri).read_bytes()
    except ColorganError:
        raise
    except Exception as exc:  # fsspec stores raise their own kinds (botocore's, aiohttp's)
        raise _failure(uri, exc) from None


def exists(uri: str) -> bool:
    if is_remote(uri):
        fs, path = filesystem(uri)
        return fs.exists(path)
    return local(uri).exists()


def write_bytes(uri: str, data, *, overwrite: bool = False) -> None:
    """Write data under uri, whole or not at all (see the module docstring); TargetExists
    when the name is taken and overwrite is not allowed."""
    if not is_remote(uri):
        path = local(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(path, data, overwrite=overwrite)
        return
    fs, path = filesystem(uri)
    # S3 refuses the upload itself when the name exists (a conditional PUT): no window
    exclusive = {} if overwrite or _scheme(uri) not in NO_CLOBBER_PUT else {"IfNoneMatch": "*"}
    try:
        if not overwrite and not exclusive and fs.exists(path):
            raise atomic.TargetExists(f"{uri}: exists")
        fs.pipe_file(path, bytes(data), **exclusive)  # one PUT (multipart if big): whole or not
    except FileExistsError:  # s3fs's name for the conditional PUT's 412
        raise atomic.TargetExists(f"{uri}: exists") from None
    except ColorganError:
        raise
    except Exception as exc:
        raise _failure(uri, exc) from None


def _scheme(uri: str) -> str:
    return str(uri).partition("://")[0]


def remove(uri: str) -> None:
    """Remove a file or object of ours if it is there."""
    if is_remote(uri):
        fs, path = filesystem(uri)
        if fs.exists(path):
            fs.rm_file(path)
    else:
        atomic.remove_quietly(local(uri))


def files_under(root: str) -> list[tuple[str, PurePosixPath]]:
    """(URI, path relative to root) of every file below a remote folder (prefix), sorted."""
    fs, base = filesystem(root)
    base = base.rstrip("/")
    try:
        fs.invalidate_cache(base)  # fsspec keeps listings: this process may have written since
        found = fs.find(base)
    except Exception as exc:
        raise _failure(root, exc) from None
    return sorted(
        (fs.unstrip_protocol(path), PurePosixPath(path).relative_to(base))
        for path in found
        if path.startswith(base + "/")
    )


def glob(folder: str, pattern: str) -> list[str]:
    """The URIs of the files in folder (not below) whose names match pattern, sorted."""
    if not is_remote(folder):
        return sorted(str(p) for p in local(folder).glob(pattern) if p.is_file())
    fs, path = filesystem(folder)
    path = path.rstrip("/")
    try:
        fs.invalidate_cache(path)
        return sorted(fs.unstrip_protocol(p) for p in fs.glob(f"{path}/{pattern}"))
    except Exception as exc:
        raise _failure(folder, exc) from None
