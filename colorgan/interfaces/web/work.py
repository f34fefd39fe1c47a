"""What happens between the socket and the Colorizer: the upload read with a size limit and
a pace it must keep, then bounded work slots, and one photo's job in a worker thread (see
colorgan/interfaces/web/server.py)."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import re
import shutil
import tempfile
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse

from colorgan.core.errors import ColorganError, DiskFull
from colorgan.interfaces.web import guidance_form
from colorgan.io import atomic, images
from colorgan.pipeline.colorizer import Colorizer

FORM_OVERHEAD = 64 * 1024  # multipart boundaries, part headers and the hints field
FILES_PER_REQUEST = 2  # the photo and a reference photo, each up to max_upload_mb
RETRY_AFTER_S = 2
OCTET_STREAM = "application/octet-stream"  # what clients send when they do not know the type
# Per request: at ~38 bytes of working memory per pixel, 40 MP (a big camera's photo) peaks at
# ~1.5 GB and keeps a worker a few seconds; 100 MP (the command line's limit) took 3.8 GB and
# 55 s of the only worker.
SERVE_MAX_PIXELS = min(images.MAX_PIXELS, 40_000_000)
# An upload (and a request's headers) may go this long without sending anything, and must
# average MIN_UPLOAD_RATE after it: idle and trickling clients are dropped, slow real ones
# (16 KiB/s is a bad mobile uplink) are not.
UPLOAD_TIMEOUT_S = 5.0
MIN_UPLOAD_RATE = 16 * 1024


@dataclass(frozen=True)
class ServerSettings:
    model: str = "default"  # how /api/health names the model
    max_upload_mb: float = 50.0
    workers: int = 1
    queue: int = 8
    max_pixels: int = SERVE_MAX_PIXELS
    upload_timeout_s: float = UPLOAD_TIMEOUT_S
    # Host header values answered (a port is ignored); others get 400, so a page on another
    # site cannot reach this server by pointing its own name at 127.0.0.1 (DNS rebinding).
    allowed_hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "[::1]")

    @property
    def max_upload_bytes(self) -> int:
        """The most one file (the photo, or the reference photo) may hold."""
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_body_bytes(self) -> int:
        """The most a whole request may send: a photo and a reference at their limit."""
        return FILES_PER_REQUEST * self.max_upload_bytes + FORM_OVERHEAD


class WorkSlots:
    """A fixed number of slots, workers running + queue waiting, for photos whose upload is
    complete: a slow client holds none. Slots are taken and given back on the event loop's
    thread only, so a plain counter cannot race; the thread pool's own queue stays bounded
    because nothing reaches it without a slot."""

    def __init__(self, workers: int, queue: int) -> None:
        self.capacity = workers + queue
        self.taken = 0
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="colorgan-work")

    def take(self) -> None:
        if self.taken >= self.capacity:
            raise HTTPException(
                503,
                f"busy: {self.taken} photos are being coloured or waiting; try again shortly",
                {"Retry-After": str(RETRY_AFTER_S)},
            )
        self.taken += 1

    def release(self) -> None:
        self.taken -= 1

    async def run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(
            self.pool, partial(released, fn, *args)
        )


def released(fn, *args):
    """fn(*args), then the memory it freed goes back to the system: glibc keeps freed heap
    pages of big arrays for reuse, so one large photo (size=2048) held ~1 GB for good."""
    try:
        return fn(*args)
    finally:
        trim = _malloc_trim()
        if trim is not None:
            trim(0)


_trim_fn: list = []


def _malloc_trim():
    """glibc's malloc_trim, or None (another C library: nothing to do)."""
    if not _trim_fn:
        try:
            _trim_fn.append(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim)
        except (OSError, AttributeError):
            _trim_fn.append(None)
    return _trim_fn[0]


@dataclass(kw_only=True)
class UploadJob:
    """One photo's work, done in a worker thread (blocking file IO, decoding and the
    network): its colour, written to a file in `folder`, or with `suggest_at` = (x, y, k)
    the suggested colours at that point."""

    colorizer: Colorizer  # set to the request's options (Colorizer.using)
    upload: BinaryIO
    folder: Path  # this request's own temporary folder
    label: str  # the sanitised client file name: how messages name the photo
    max_pixels: int
    ext: str = "png"
    hints: tuple = ()  # colorgan.pipeline.guidance.Hint, checked already
    reference: BinaryIO | None = None  # the reference photo's upload
    reference_label: str = "reference"
    suggest_at: tuple[float, float, int] | None = None

    def run(self):
        photo = self.read_photo()
        guide = guidance_form.make_guide(
            self.colorizer, self.hints, self.reference, self.reference_label, self.max_pixels
        )
        try:
            if self.suggest_at is not None:
                x, y, k = self.suggest_at
                return guidance_form.suggestions(self.colorizer, photo, x, y, k, guide)
            image = self.colorizer.colorize(photo, guide=guide)
        except ColorganError as exc:
            raise HTTPException(422, f"{self.label}: {exc}") from None
        result = self.folder / f"result.{self.ext}"
        try:
            return images.write_image(result, image)
        except ColorganError as exc:
            raise write_error(exc, result, f"the result for {self.label}") from None

    def read_photo(self) -> images.Photo:
        src = self.folder / "upload"
        try:
            with open(src, "wb") as out:
                self.upload.seek(0)
                shutil.copyfileobj(self.upload, out, 1 << 20)
        except OSError as exc:
            raise write_error(atomic.failure(src, exc), src, self.label) from None
        self.upload.close()  # frees the spooled copy now rather than after the answer
        try:
            return images.read_image(src, max_pixels=self.max_pixels)
        except ColorganError as exc:
            code = 413 if isinstance(exc, images.ImageTooLarge) else 400
            raise HTTPException(code, str(exc).replace(str(src), self.label)) from None


def write_error(exc: ColorganError, path: Path, label: str) -> HTTPException:
    """A failed write on the server: 507 Insufficient Storage when out of room, else 500;
    JSON like every other error, naming the photo and not the private temporary path."""
    return HTTPException(
        507 if isinstance(exc, DiskFull) else 500, str(exc).replace(str(path), label)
    )


class FolderFileResponse(FileResponse):
    """Sends a file, then removes its folder even when sending failed (client gone), which
    Starlette's background tasks would skip."""

    def __init__(self, path: Path, folder: Path, **kwargs) -> None:
        super().__init__(path, **kwargs)
        self.folder = folder

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def safe_name(client_name: str | None) -> str:
    """The base name of the client's file in ASCII letters, digits and ._- only: never used
    as a path, safe in a Content-Disposition header and in messages."""
    base = PurePosixPath((client_name or "").replace("\\", "/")).name
    text = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")[:100] or "photo"


SERVE_TEMP = re.compile(r"^colorgan-serve-(?P<pid>\d+)-\w+$")  # private_temp_folder's names


def private_temp_folder() -> tempfile.TemporaryDirectory:
    """The server's own temporary folder, named with its PID: the folders of servers that
    were killed (uploads, results: other people's photos) are removed when the next starts."""
    atomic.remove_stale(Path(tempfile.gettempdir()), SERVE_TEMP)
    return tempfile.TemporaryDirectory(prefix=f"colorgan-serve-{os.getpid()}-")


# --- reading the upload --------------------------------------------------------------------


class UploadTooLarge(Exception):
    pass


class UploadTooSlow(Exception):
    pass


def too_large(settings: ServerSettings) -> HTTPException:
    return HTTPException(413, f"upload over the {settings.max_upload_mb:g} MB limit")


def too_slow(settings: ServerSettings) -> HTTPException:
    return HTTPException(
        408,
        f"upload too slow: nothing for {settings.upload_timeout_s:g} s, or under "
        f"{MIN_UPLOAD_RATE // 1024} KiB/s on average; send the whole photo at once",
        {"Connection": "close"},  # the rest of the body is not read: the connection goes
    )


def counted(receive, limit: int, timeout_s: float = UPLOAD_TIMEOUT_S):
    """The ASGI receive channel, raising UploadTooLarge once more than `limit` body bytes
    came in (a missing or false Content-Length cannot make the server take more) and
    UploadTooSlow when nothing came for timeout_s or the body falls behind MIN_UPLOAD_RATE
    (its deadline: start + timeout_s + bytes so far / MIN_UPLOAD_RATE)."""
    seen, start = 0, time.monotonic()

    async def receive_counted():
        nonlocal seen
        left = start + timeout_s + seen / MIN_UPLOAD_RATE - time.monotonic()
        try:
            message = await asyncio.wait_for(receive(), min(timeout_s, max(left, 0.0)))
        except asyncio.TimeoutError:
            raise UploadTooSlow from None
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise UploadTooLarge
        return message

    return receive_counted


def check_headers(request: Request, settings: ServerSettings) -> None:
    """Refusals that need no body: wrong content type, declared size over the limit."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise HTTPException(
            415,
            "send the photo as multipart/form-data in the file field 'image' "
            "(curl -F image=@photo.jpg ...)",
        )
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > settings.max_body_bytes:
        raise too_large(settings)


async def read_upload(request: Request, settings: ServerSettings) -> tuple[FormData, UploadFile]:
    receive = counted(request.receive, settings.max_body_bytes, settings.upload_timeout_s)
    try:
        # the photo, a reference photo and the hints (a field, or a file: curl -F hints=@F)
        form = await Request(request.scope, receive).form(max_files=3, max_fields=4)
    except UploadTooLarge:
        raise too_large(settings) from None
    except UploadTooSlow:
        raise too_slow(settings) from None
    except OSError as exc:  # spooling the upload to the temporary folder failed
        code = 507 if exc.errno in atomic.NO_ROOM else 500
        raise HTTPException(
            code, f"cannot store the upload on the server ({exc.strerror})"
        ) from None
    except ClientDisconnect:  # a closed tab mid-upload: nobody to answer, nothing to log
        raise HTTPException(400, "the upload was interrupted") from None
    upload = form.get("image")
    problem = None
    if not isinstance(upload, UploadFile):
        problem = HTTPException(400, "no photo: send it in the multipart file field 'image'")
    elif (upload.size or 0) > settings.max_upload_bytes:
        problem = too_large(settings)
    else:
        declared = (upload.content_type or "").split(";")[0].strip().lower()
        if declared and not (declared.startswith("image/") or declared == OCTET_STREAM):
            name = safe_name(upload.filename)
            problem = HTTPException(415, f"{name}: {declared} is not an image type")
    if problem is not None:
        await form.close()
        raise problem
    return form, upload


def reference_upload(form: FormData, settings: ServerSettings) -> UploadFile | None:
    """The form's `reference` file part (a photo whose colours to follow), its size and
    declared type checked like the photo's; None when absent. Unusable: 422 (413 when over
    the size limit)."""
    value = form.get("reference")
    if value is None:
        return None
    if not isinstance(value, UploadFile):
        raise HTTPException(422, "reference: send a photo in the multipart file field 'reference'")
    name = f"reference {safe_name(value.filename)}"
    if (value.size or 0) > settings.max_upload_bytes:
        raise HTTPException(413, f"{name}: over the {settings.max_upload_mb:g} MB upload limit")
    if not value.size:
        raise HTTPException(422, f"{name}: empty file (0 bytes)")
    declared = (value.content_type or "").split(";")[0].strip().lower()
    if declared and not (declared.startswith("image/") or declared == OCTET_STREAM):
        raise HTTPException(422, f"{name}: {declared} is not an image type")
    return value
