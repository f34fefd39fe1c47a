"""What happens between the socket and the Colorizer: bounded work slots, the upload read
with a size limit, and one photo's job in a worker thread (see colorgan/web/server.py)."""

from __future__ import annotations

import asyncio
import re
import shutil
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

from colorgan.core.errors import ColorganError
from colorgan.io import images as imageio
from colorgan.pipeline.colorizer import Colorizer

FORM_OVERHEAD = 64 * 1024  # multipart boundaries and part headers around the photo
RETRY_AFTER_S = 2
OCTET_STREAM = "application/octet-stream"  # what clients send when they do not know the type


@dataclass(frozen=True)
class ServerSettings:
    model: str = "default"  # how /api/health names the model
    max_upload_mb: float = 50.0
    workers: int = 1
    queue: int = 8
    max_pixels: int = imageio.MAX_PIXELS

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


class WorkSlots:
    """A fixed number of slots, workers running + queue waiting. Slots are taken and given
    back on the event loop's thread only, so a plain counter cannot race; the thread pool's
    own queue stays bounded because nothing reaches it without a slot."""

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
        return await asyncio.get_running_loop().run_in_executor(self.pool, partial(fn, *args))


@dataclass
class UploadJob:
    """One photo's work, done in a worker thread (blocking file IO and the network)."""

    colorizer: Colorizer
    upload: BinaryIO
    folder: Path  # this request's own temporary folder
    label: str  # the sanitised client file name: how messages name the photo
    saturation: float
    mode: str | None
    ext: str
    max_pixels: int

    def run(self) -> Path:
        src = self.folder / "upload"
        with open(src, "wb") as out:
            self.upload.seek(0)
            shutil.copyfileobj(self.upload, out, 1 << 20)
        self.upload.close()  # frees the spooled copy now rather than after the answer
        try:
            photo = imageio.read_image(src, max_pixels=self.max_pixels)
        except ColorganError as exc:
            raise HTTPException(400, str(exc).replace(str(src), self.label)) from None
        try:
            image = self.colorizer.colorize(photo, saturation=self.saturation, mode=self.mode)
        except ColorganError as exc:
            raise HTTPException(422, f"{self.label}: {exc}") from None
        return imageio.write_image(self.folder / f"result.{self.ext}", image)


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


# --- reading the upload --------------------------------------------------------------------


class UploadTooLarge(Exception):
    pass


def too_large(settings: ServerSettings) -> HTTPException:
    return HTTPException(413, f"upload over the {settings.max_upload_mb:g} MB limit")


def counted(receive, limit: int):
    """The ASGI receive channel, raising UploadTooLarge once more than `limit` body bytes
    came in: a missing or false Content-Length cannot make the server take more."""
    seen = 0

    async def receive_counted():
        nonlocal seen
        message = await receive()
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
    if length.isdigit() and int(length) > settings.max_upload_bytes + FORM_OVERHEAD:
        raise too_large(settings)


async def read_upload(request: Request, settings: ServerSettings) -> tuple[FormData, UploadFile]:
    limit = settings.max_upload_bytes + FORM_OVERHEAD
    try:
        form = await Request(request.scope, counted(request.receive, limit)).form(
            max_files=1, max_fields=4
        )
    except UploadTooLarge:
        raise too_large(settings) from None
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
