"""`colorgan serve`: a web page and a REST API that colour photos on this computer.

    colorgan serve                                   # http://127.0.0.1:7860, bundled model
    curl -F image=@grandma.jpg "http://127.0.0.1:7860/api/colorize?saturation=1.2" -o out.png

Endpoints:
  GET  /                the page (colorgan/web/static: plain HTML/JS/CSS, no build step; its
                        Content-Security-Policy lets it load nothing from any other site)
  POST /api/colorize    multipart/form-data, the photo in the file field `image`; query
                        parameters saturation (0-4, default 1), vividness (0-1, default
                        options.DEFAULT_VIVIDNESS), size (working size in px, default the
                        model's), format (png|jpg|webp), mode (single|hybrid|tiles), restore
                        (repair first: "default" = "all" = scratches, dust, grain, fading,
                        or some of them; colorgan.pipeline.restore). Guided models
                        also take the form field `hints` (JSON [{"x","y","color","size"}],
                        the photo's own pixels) and the file field `reference` (a photo
                        whose colours to follow; colorgan.interfaces.web.guidance_form).
                        Answers the colour photo at full resolution, as a download.
  POST /api/suggest     the same form, query x, y, k: the k most likely colours at that
                        point, [{"color": "#rrggbb", "p": 0.31}, ...] (distribution head)
  GET  /api/health      model (its head, whether guided), limits and how busy the server is
  GET  /openapi.json    the OpenAPI description. FastAPI's /docs and /redoc are switched off:
                        they load Swagger UI / ReDoc from cdn.jsdelivr.net, which fails offline
                        and tells a third party about every visit.
Errors are JSON {"error": "..."}: 400 empty, damaged or not an image (plain text "Invalid
host header" for a Host the server does not answer, see --allowed-host); 408 upload too slow
(then the connection is closed); 413 a photo or reference over --max-upload-mb or
--max-pixels; 415 not multipart/form-data or not an image type; 422 bad parameters, hints or
reference (naming the bad value); 503 (with Retry-After) when every slot is taken; 507 the
server's disk is full; 500 anything else, without internals.

Why FastAPI + uvicorn and not Gradio: Gradio runs on FastAPI + uvicorn itself and adds about
twenty more direct dependencies (pandas, huggingface-hub, websockets, orjson, ...) plus a large
prebuilt JS frontend we can neither trim nor test; until mid-2026 that frontend fetched Google
Fonts and a cdnjs script and did not load offline (gradio issue #1450, fixed by PR #13463).
A page of three small files that we own loads offline, is tested in a real browser, and talks
to the same REST API that scripts use.

Serving: the model is loaded once, before the socket opens. A request's upload is read
whole first, bounded in size (a Content-Length over the limit is refused up front, but never
trusted: bytes are counted as they stream in) and in time (--upload-timeout: a client that
sends nothing for that long, or averages under 16 KiB/s after it, gets 408 and is dropped;
one that never finishes its headers is disconnected, colorgan.interfaces.web.connections).
Only then does the photo take a slot, held until its colour is computed: at most --workers
photos are coloured at once (in worker threads, so the event loop keeps answering) and
--queue more wait; any further photo gets 503 at once. So slow or idle clients never hold
a slot. Each job's freed memory goes back to the system afterwards (malloc_trim). Uploads
are parsed by Starlette into anonymous spooled temporary files, copied into a per-request
folder inside the server's private temporary folder, and that folder is removed once the
answer is sent (the whole temporary folder at shutdown). A client's file name never becomes
a path; it only names the download, sanitised.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import socket
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from colorgan import __version__
from colorgan.core.errors import ColorganError, shown
from colorgan.interfaces import args as args_mod
from colorgan.interfaces.web import guidance_form
from colorgan.interfaces.web.connections import header_timeout
from colorgan.interfaces.web.work import (
    MIN_UPLOAD_RATE,
    SERVE_MAX_PIXELS,
    UPLOAD_TIMEOUT_S,
    FolderFileResponse,
    ServerSettings,
    UploadJob,
    WorkSlots,
    check_headers,
    private_temp_folder,
    read_upload,
    reference_upload,
    safe_name,
)
from colorgan.pipeline import options
from colorgan.pipeline.colorizer import VIVIDNESS_IGNORED, Colorizer

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
PAGE_HEADERS = {
    # The page may talk to this server only: no CDN, fonts or analytics can sneak in.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}


class PageFiles(StaticFiles):
    """The page's own files, with the page's headers (its CSP whichever URL loads it)."""

    def file_response(self, *args, **kwargs):
        response = super().file_response(*args, **kwargs)
        response.headers.update(PAGE_HEADERS)
        return response


class ErrorBody(BaseModel):
    error: str


# --- endpoints -----------------------------------------------------------------------------

ERRORS = {code: {"model": ErrorBody} for code in (400, 408, 413, 415, 422, 503, 507)}


def query(option: options.Option, description: str | None = None):
    """A query parameter from its spec in colorgan.pipeline.options (bounds, default, help)."""
    return Query(
        option.default, ge=option.low, le=option.high, description=description or option.help
    )


async def colorize(
    request: Request,
    saturation: float = query(options.SATURATION),
    vividness: float | None = query(
        options.VIVIDNESS,
        options.VIVIDNESS.help + " (GET /api/health: head; the answer's X-Colorgan-Warning "
        "says when it is ignored)",
    ),
    size: int | None = query(options.SIZE),
    format: Literal["png", "jpg", "webp"] = Query("png"),
    mode: Literal[options.MODES] | None = query(options.MODE),
    restore: str | None = Query(
        None,
        description="repair damage first (colorgan.pipeline.restore): 'default' (faded "
        "contrast), 'all', or some of scratches,dust,grain,fading, comma-separated; "
        "default: no repair",
    ),
):
    """Colour one photo; the answer is the colour photo at the upload's full resolution.
    Guided models also take colour hints (the form field `hints`) and a reference photo
    (the file field `reference`)."""
    values = dict(
        size=size, saturation=saturation, vividness=vividness, mode=mode, restore=restore or None
    )
    started = time.perf_counter()
    result, folder, label = await photo_job(request, values, {"ext": format})
    headers = {"X-Colorgan-Seconds": f"{time.perf_counter() - started:.2f}"}
    headers["X-Content-Type-Options"] = "nosniff"
    if vividness is not None and request.app.state.colorizer.head != "distribution":
        headers["X-Colorgan-Warning"] = VIVIDNESS_IGNORED
    name = f"{Path(label).stem or 'photo'}_color.{format}"
    return FolderFileResponse(
        result, folder, media_type=MEDIA_TYPES[format], filename=name, headers=headers
    )


async def suggest(
    request: Request,
    x: float = Query(ge=0.0, description="the point's column in the photo's own pixels"),
    y: float = Query(ge=0.0, description="the point's row in the photo's own pixels (down)"),
    k: int = query(options.SUGGESTIONS),
    size: int | None = query(options.SIZE),
) -> list[guidance_form.Suggestion]:
    """The k most likely colours at pixel (x, y) of the photo, most likely first, from a
    distribution-head model's prediction there (given the `hints` and `reference`, if any),
    each at the photo's own lightness there."""
    result, folder, _ = await photo_job(request, {"size": size}, {"suggest_at": (x, y, k)})
    shutil.rmtree(folder, ignore_errors=True)
    return result


async def photo_job(request: Request, values: dict, job_options: dict):
    """Reads the request (photo, hints, reference), then runs its UploadJob in a work slot
    with the Colorizer set to the colour option `values`; -> (the job's result, the
    request's temporary folder, the photo's label)."""
    state = request.app.state
    check_headers(request, state.settings)
    # The whole upload first (bounded in size and time): only a photo that is here waits
    # for a worker, so slow or idle clients cannot take the slots of others.
    form, upload = await read_upload(request, state.settings)
    try:
        hints = await guidance_form.hints_field(form)
        reference = reference_upload(form, state.settings)
        guidance_form.check_model(state.colorizer, hints, reference)
        try:
            colorizer = state.colorizer.using(**values)
        except ColorganError as exc:
            raise HTTPException(422, str(exc)) from None
        if "suggest_at" in job_options and state.colorizer.head != "distribution":
            raise HTTPException(422, guidance_form.NO_SUGGESTIONS)
        state.slots.take()
    except HTTPException:
        await form.close()
        raise
    try:
        folder = Path(tempfile.mkdtemp(dir=state.tmp.name))
        label = safe_name(upload.filename)
        job = UploadJob(
            colorizer=colorizer,
            upload=upload.file,
            folder=folder,
            label=label,
            max_pixels=state.settings.max_pixels,
            hints=hints,
            reference=reference and reference.file,
            reference_label=reference and f"reference {safe_name(reference.filename)}",
            **job_options,
        )
        try:
            result = await state.slots.run(job.run)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    finally:
        await form.close()
        state.slots.release()
    return result, folder, label


async def health(request: Request) -> dict:
    state = request.app.state
    colorizer = state.colorizer
    return {
        "status": "ok",
        "model": state.settings.model,
        "working_size": state.colorizer.working_size,
        "device": str(state.colorizer.device),
        "precision": colorizer.precision,
        "workers": state.settings.workers,
        "queue": state.settings.queue,
        "busy": state.slots.taken,
        "max_upload_mb": state.settings.max_upload_mb,
        "sizes": [options.SIZE.low, options.SIZE.high],
        # what the page offers: points and a reference (guided), the vividness slider and
        # suggested colours (distribution head), the slider's starting value (vividness)
        "head": colorizer.head,
        "guided": colorizer.guided,
        "vividness": options.DEFAULT_VIVIDNESS if colorizer.head == "distribution" else None,
        "formats": list(MEDIA_TYPES),
    }


async def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)


async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
    return JSONResponse({"error": str(exc.detail)}, exc.status_code, headers=exc.headers)


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = [f"{e['loc'][-1]}={shown(e.get('input'))}: {e['msg']}" for e in exc.errors()]
    return JSONResponse({"error": "; ".join(problems)}, 422)


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    # Starlette logs the traceback after this answer; the client gets no internals.
    return JSONResponse({"error": "internal error; the server log has the details"}, 500)


@asynccontextmanager
async def lifespan(app: FastAPI):
    yield
    app.state.slots.pool.shutdown(wait=False, cancel_futures=True)
    app.state.tmp.cleanup()


def create_app(colorizer: Colorizer, settings: ServerSettings | None = None) -> FastAPI:
    """The ASGI app around an already loaded Colorizer (tests pass stand-in networks)."""
    settings = settings or ServerSettings()
    app = FastAPI(
        title="colorgan",
        summary="Colour black-and-white photos",
        version=__version__,
        docs_url=None,  # both load their JS from a CDN: see the module docstring
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.colorizer = colorizer
    app.state.settings = settings
    app.state.slots = WorkSlots(settings.workers, settings.queue)
    app.state.tmp = private_temp_folder()
    app.add_api_route(
        "/api/colorize",
        colorize,
        methods=["POST"],
        openapi_extra=guidance_form.form_body("the photo; hints and a reference for guided models"),
        responses={200: {"content": {t: {} for t in MEDIA_TYPES.values()}}, **ERRORS},
        response_class=FileResponse,
    )
    app.add_api_route(
        "/api/suggest",
        suggest,
        methods=["POST"],
        responses=ERRORS,
        openapi_extra=guidance_form.form_body("the photo; the other hints and a reference, if any"),
    )
    app.add_api_route("/api/health", health, methods=["GET"])
    app.add_api_route("/", index, methods=["GET", "HEAD"], include_in_schema=False)
    app.mount("/static", PageFiles(directory=STATIC), name="static")
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(settings.allowed_hosts))
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, internal_error)
    return app


# --- command line --------------------------------------------------------------------------


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, handed to uvicorn: a busy port is a one-line error here, port 0
    (any free port) is known before the server starts, and browsers that connect while the
    model loads wait in the backlog instead of being refused."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ColorganError(
            f"--host {host} --port {port}: cannot listen ({exc.strerror})"
        ) from None
    return sock


def uvicorn_server(app: FastAPI, settings: ServerSettings, log_level: str = "info"):
    import uvicorn

    config = uvicorn.Config(
        app,
        http=header_timeout(settings.upload_timeout_s),
        log_level=log_level,
        # uvicorn's own plain 503 beyond this many open connections: a backstop against
        # idle clients piling up; the JSON 503 of the work slots comes long before it.
        limit_concurrency=max(64, 4 * (settings.workers + settings.queue)),
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    number = args_mod.number
    parser.description = "Serve a web page and a REST API that colour photos."
    arg = parser.add_argument
    arg("--host", default="127.0.0.1", help="address to listen on (default: this computer only)")
    arg("--port", type=number(int, 0, 65535), default=7860, help="TCP port (default: 7860)")
    arg(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests addressed to this host name (the Host header; '*' = any); "
        "by default only localhost, 127.0.0.1, [::1] and --host are, so that no web page "
        "elsewhere can reach this server through a name of its own (DNS rebinding)",
    )
    args_mod.add_model(arg)
    arg(
        "--max-upload-mb",
        type=number(float, 0.001),
        default=50.0,
        metavar="N",
        help="refuse a photo (or reference photo) over N MB (default: 50)",
    )
    arg(
        "--workers",
        type=number(int, 1),
        default=1,
        metavar="N",
        help="photos coloured at the same time (default: 1)",
    )
    arg(
        "--queue",
        type=number(int, 0),
        default=8,
        metavar="N",
        help="photos that may wait for a worker; beyond that the server answers 503 (default: 8)",
    )
    arg(
        "--max-pixels",
        type=number(int, 1),
        default=SERVE_MAX_PIXELS,
        metavar="N",
        help=f"refuse photos with more pixels, answering 413 (default {SERVE_MAX_PIXELS:,}: "
        "memory and time grow with the pixels, ~1.5 GB at the default)",
    )
    arg(
        "--upload-timeout",
        type=number(float, 0.1),
        default=UPLOAD_TIMEOUT_S,
        metavar="S",
        help=f"drop a client that sends nothing for S seconds, or its photo at under "
        f"{MIN_UPLOAD_RATE // 1024} KiB/s on average after the first S "
        f"(default {UPLOAD_TIMEOUT_S:g})",
    )


def run_cli(args: argparse.Namespace) -> int:
    bound = f"[{args.host}]" if ":" in args.host else args.host
    hosts = (*ServerSettings.allowed_hosts, bound, *args.allowed_host)
    settings = ServerSettings(
        str(args.model),
        args.max_upload_mb,
        args.workers,
        args.queue,
        args.max_pixels,
        args.upload_timeout,
        tuple(dict.fromkeys(h.lower() for h in hosts)),
    )
    sock = bind(args.host, args.port)
    try:
        colorizer = Colorizer.load(
            args.model, device=args.device, backend=args.backend, precision=args.precision
        )
    except BaseException:
        sock.close()
        raise
    if args.host not in LOCAL_HOSTS:
        log.warning("listening on %s: anyone who can reach it can use it (no login)", args.host)
        if not args.allowed_host:
            log.warning(
                "requests are answered only when addressed to %s; name the host "
                "names clients use with --allowed-host",
                ", ".join(settings.allowed_hosts),
            )
    host, port = sock.getsockname()[:2]
    log.info("colorgan: open http://%s:%d in a browser (Ctrl+C stops)", host, port)
    uvicorn_server(create_app(colorizer, settings), settings).run(sockets=[sock])
    return 0
