"""`colorgan batch`: colour an archive (a folder tree, or a CSV/Parquet list of photos) on Ray.

SOURCE is a folder (local or `s3://bucket/prefix`: every image below it) or a manifest file
(.csv or .parquet) with an `input` column of photo URIs, optionally `output` (the result's
URI) and `hints` (a JSON list of hints, or the URI of a --hints file, for that photo).
Results go under DEST with colorize's names (<relative folders>/<stem>_color.<ext>), each
written whole or not at all; a result that exists is kept unless --overwrite. Every photo
gets a row in a Parquet manifest (DEST/_manifest by default): a rerun skips what a run with
the same model and options has done, so a killed job is resumed by running it again.
Exit code: 0 all done, 1 some photos failed (their rows say why), 2 usage errors.

The work runs on Ray Data: the list of photos, map_batches over a pool of actors that each
hold one model (colorgan.interfaces.batchwork), the rows streamed back here to the manifest
and the progress bar. Ray is the local one this command starts on this machine's cores, or
an existing cluster (--address auto, or RAY_ADDRESS).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import math
import os
import secrets
import socket
import sys
import time
import warnings
from datetime import datetime, timezone

import pyarrow as pa  # the [batch] extra: without it `colorgan batch` says what to install

from colorgan.core.errors import ColorganError
from colorgan.interfaces import args as args_mod
from colorgan.interfaces import batchjobs, batchwork, manifest
from colorgan.io import images, storage

log = logging.getLogger(__name__)

MANIFEST_NAME = "_manifest"  # ignored by Parquet dataset readers reading DEST itself
MAX_BLOCKS = 4096  # Ray blocks of photos: a block is one actor's unit of work
ERRORS_SHOWN = 20  # failed photos printed one per line; the manifest has them all
LOCAL_OBJECT_STORE = 256 << 20  # a local Ray's object store: rows of URIs need little
CONNECT_TIMEOUT_S = 10
RETRIES = 2  # a lost actor's restarts and its batch's retries (see _map)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[1].replace("\n", " ")
    arg = parser.add_argument
    arg("source", metavar="SOURCE", help="a folder or URI prefix, or a .csv/.parquet manifest")
    arg("dest", metavar="DEST", help="output folder or URI prefix (s3://bucket/out)")
    arg("--manifest", metavar="URI", help=f"result manifest folder (default: DEST/{MANIFEST_NAME})")
    arg(
        "--format",
        choices=("png", "jpg", "same"),
        default="same",
        help="output format (default: same as the input; other formats become PNG)",
    )
    arg(
        "--overwrite",
        action="store_true",
        help="replace existing results not made by an earlier run with the same settings",
    )
    arg(
        "--max-pixels",
        type=args_mod.positive_int,
        default=images.MAX_PIXELS,
        metavar="N",
        help="refuse images with more pixels (decompression-bomb guard)",
    )
    args_mod.add_model(arg)
    # colorize's colour options: they reach every actor through args_mod.colour_options and
    # Colorizer.using (and the manifest's settings digest), so one added to colorize (such as
    # --restore) needs only its add_ call here
    args_mod.add_size(arg)
    args_mod.add_tiles(arg)
    args_mod.add_colour(arg)
    args_mod.add_guidance(arg)
    ray = parser.add_argument_group("Ray")
    ray.add_argument(
        "--address",
        help="an existing Ray cluster ('auto', or ray://HOST:PORT; "
        "default: RAY_ADDRESS, else a local Ray on this machine's cores)",
    )
    ray.add_argument(
        "--actors",
        type=args_mod.positive_int,
        metavar="N",
        help="model-holding actors (default: the cluster's CPUs / --threads)",
    )
    ray.add_argument(
        "--threads",
        type=args_mod.positive_int,
        default=1,
        metavar="N",
        help="CPUs (ONNX Runtime threads) per actor (default 1)",
    )
    ray.add_argument(
        "--batch-size",
        type=args_mod.positive_int,
        default=8,
        metavar="N",
        help="photos an actor takes at a time (default 8)",
    )


# --- what was done before ----------------------------------------------------------------------


def settings_digest(model_hash: str, options: dict, guide) -> str:
    """What decides a result, hashed: a done row counts for a rerun only when it matches."""
    reference = guide.reference
    what = {
        "model": model_hash,
        "options": options,
        "hints": [repr(h) for h in guide.hints],
        "reference": None if reference is None else hashlib.sha256(reference.tobytes()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


# --- Ray -------------------------------------------------------------------------------------


@contextlib.contextmanager
def ray_session(address: str | None):
    """Ray, connected: to the cluster at address (or RAY_ADDRESS), to the Ray this process
    already runs (a test's, a notebook's), or to a local one started here and stopped at
    the end."""
    try:
        import ray
        import ray.data
    except ModuleNotFoundError as exc:
        raise ColorganError(f"batch needs {exc.name!r}: pip install 'colorgan[batch]'") from None
    quiet = dict(logging_level=logging.WARNING, log_to_driver=False)
    address = address or os.environ.get("RAY_ADDRESS")
    _check_reachable(address)
    started = not ray.is_initialized()
    if started and address:
        try:
            ray.init(address=address, **quiet)
        except (ConnectionError, RuntimeError) as exc:  # none there, or not let in
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ColorganError(f"cannot reach the Ray cluster at {address}: {reason}") from None
    elif started:
        ray.init(
            address="local",  # a new one: never a `ray start` cluster found on this machine
            num_cpus=len(os.sched_getaffinity(0)),
            include_dashboard=False,
            object_store_memory=LOCAL_OBJECT_STORE,
            # the workers import the colorgan this process runs (a checkout, say)
            runtime_env={"env_vars": {"PYTHONPATH": _code_path()}},
            **quiet,
        )
    try:
        with _quiet(ray.data.DataContext.get_current(), logging.getLogger("ray.data")):
            yield ray
    finally:
        if started:
            ray.shutdown()


@contextlib.contextmanager
def _quiet(context, logger):
    """Ray Data without its progress bars (this command draws its own), its INFO lines and
    its warning that the bars are off, for the job only: a process that runs the command
    keeps its own settings after it."""
    quiet = {
        "enable_progress_bars": False,
        "print_on_execution_start": False,
        "enable_auto_log_stats": False,
    }
    before = {name: getattr(context, name) for name in quiet}
    level = logger.level
    try:
        for name, value in quiet.items():
            setattr(context, name, value)
        logger.setLevel(logging.ERROR)
        yield
    finally:
        for name, value in before.items():
            setattr(context, name, value)
        logger.setLevel(level)


def _check_reachable(address: str | None) -> None:
    """A HOST:PORT that nothing answers on is a usage error now: Ray itself would retry for
    many minutes before saying so."""
    host, sep, port = (address or "").rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return  # "auto", ray://..., or none: Ray finds or starts it
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise ColorganError(f"cannot reach the Ray cluster at {address}: {reason}") from None


def _code_path() -> str:
    import colorgan

    here = os.path.dirname(os.path.dirname(os.path.abspath(colorgan.__file__)))
    return os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)


def colour_on_ray(ray, jobs, colourer: dict, args):
    """The rows of every job, streamed back batch by batch as the actors finish them."""
    cpus = int(ray.cluster_resources().get("CPU", 1))
    # no more actors than batches: each costs a process start and a model load
    actors = min(
        args.actors or max(1, cpus // args.threads), math.ceil(jobs.num_rows / args.batch_size)
    )
    # blocks of batch_size rows (a block goes to one actor: small blocks balance the load),
    # fewer and bigger for huge jobs (each block costs the scheduler a little)
    per_block = max(
        math.ceil(jobs.num_rows / MAX_BLOCKS),
        min(args.batch_size, math.ceil(jobs.num_rows / actors)),
    )
    blocks = [jobs.slice(i, per_block) for i in range(0, jobs.num_rows, per_block)]
    with warnings.catch_warnings():  # Ray 2.60 has no other spelling of max_restarts
        warnings.filterwarnings("ignore", "`ray_remote_args` is deprecated")
        dataset = _map(ray, blocks, colourer, actors, args)
    log.debug(
        "%d photos on %d actors of %d CPUs, batches of %d",
        jobs.num_rows,
        actors,
        args.threads,
        args.batch_size,
    )
    return dataset.iter_batches(batch_format="pyarrow", batch_size=None)


def _map(ray, blocks, colourer: dict, actors: int, args):
    return ray.data.from_arrow(blocks).map_batches(
        batchwork.Colourer,
        fn_constructor_kwargs=colourer,
        batch_size=args.batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=args.threads,
        num_gpus=1 if str(args.device).startswith("cuda") else 0,
        # a lost actor (a node gone) is replaced and its batch retried, a few times: not
        # forever (Ray Data's default), as a photo that kills its worker would loop
        max_restarts=RETRIES,
        max_task_retries=RETRIES,
    )


# --- the command -------------------------------------------------------------------------------


def _prepare(args):
    """(colourer kwargs, model hash, settings digest): the model loaded once here, so a bad
    model, option, hint or reference is a usage error before any worker starts."""
    from colorgan.io import modelfile
    from colorgan.pipeline.colorizer import Colorizer

    model = args.model if args.model == "default" else str(storage.local(args.model))
    options = args_mod.colour_options(args)
    colorizer = Colorizer.load(model, device=args.device, backend=args.backend)
    guide = colorizer.using(**options).guide(args_mod.hints_from(args), args.reference)
    model_hash = modelfile.resolve_model(model).digest()
    colourer = dict(
        model=model,
        backend=args.backend,
        device=args.device,
        threads=args.threads,
        options=options,
        guide=guide,
        overwrite=args.overwrite,
        max_pixels=args.max_pixels,
    )
    return colourer, model_hash, settings_digest(model_hash, options, guide)


def run_cli(args: argparse.Namespace) -> int:
    started = time.monotonic()
    source, dest = storage.canonical(args.source), storage.canonical(args.dest)
    folder = storage.canonical(args.manifest or storage.join(dest, MANIFEST_NAME))
    jobs = batchjobs.list_jobs(source, dest, args.format)
    log.debug("%.1f s: %d photos listed", time.monotonic() - started, jobs.num_rows)
    colourer, model_hash, settings = _prepare(args)
    log.debug("%.1f s: model loaded", time.monotonic() - started)
    todo = batchjobs.still_to_do(jobs, manifest.latest(manifest.read(folder)), settings)
    before = jobs.num_rows - todo.num_rows
    bad = batchjobs.clashes(todo)
    run = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
    writer = manifest.Writer(folder, run, model_hash, settings)
    counts = {batchwork.DONE: 0, batchwork.SKIPPED: 0, batchwork.FAILED: 0}
    if bad:
        rows = [
            batchwork.row(
                todo["input"][i].as_py(), todo["output"][i].as_py(), batchwork.FAILED, why
            )
            for i, why in bad.items()
        ]
        _record(writer, pa.Table.from_pylist(rows, schema=batchwork.row_schema()), counts, None)
        todo = todo.filter([i not in bad for i in range(todo.num_rows)])
    if todo.num_rows:
        with ray_session(args.address) as ray:
            log.debug("%.1f s: Ray ready", time.monotonic() - started)
            _stream(colour_on_ray(ray, todo, colourer, args), writer, counts, todo.num_rows)
    writer.flush()
    writer.compact()
    _summary(counts, before, dest, folder, time.monotonic() - started)
    return 1 if counts[batchwork.FAILED] else 0


def _stream(batches, writer, counts: dict, total: int) -> None:
    """Each batch of rows into the manifest, the counts and the progress bar; the rows so
    far are flushed to the manifest however this ends (Ctrl-C included)."""
    from ray.exceptions import RayError
    from tqdm import tqdm

    bar = tqdm(total=total, unit="img", desc="colorizing", file=sys.stderr, disable=None)
    try:
        for i, rows in enumerate(batches):
            if i == 0:
                log.debug("first results after %.1f s", time.monotonic() - writer.started)
            _record(writer, rows, counts, bar)
    except RayError as exc:  # a worker lost past its retries: the manifest has the rest
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ColorganError(f"the job stopped ({reason}); run it again to go on") from None
    finally:
        bar.close()
        writer.flush()


def _record(writer, rows, counts: dict, bar) -> None:
    writer.add(rows)
    say = print if bar is None else bar.write
    for src, status, error in zip(
        rows.column("input").to_pylist(),
        rows.column("status").to_pylist(),
        rows.column("error").to_pylist(),
        strict=True,
    ):
        counts[status] += 1
        if status == batchwork.FAILED and counts[status] <= ERRORS_SHOWN:
            say(f"error: {src}: {error}", file=sys.stderr)
    if bar is not None:
        bar.update(rows.num_rows)


def _summary(counts: dict, before: int, dest: str, folder: str, seconds: float) -> None:
    done, skipped, failed = (
        counts[s] for s in (batchwork.DONE, batchwork.SKIPPED, batchwork.FAILED)
    )
    print(
        f"colorized {done} image{'s' * (done != 1)} into {dest}"
        + (f", {before} done before" if before else "")
        + (f", {skipped} skipped (results exist)" if skipped else "")
        + (f", {failed} failed" if failed else "")
        + f" in {seconds:.1f} s ({done / max(seconds, 1e-9):.2f} images/s); manifest {folder}"
    )
