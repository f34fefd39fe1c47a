"""The work of one `colorgan batch` actor (colorgan.interfaces.batch starts a pool of them on
Ray Data): the model loaded once, then each photo of each batch read, coloured through
`Colorizer.colorize` (the same pipeline as `colorgan colorize`), written whole or not at all
(colorgan.io.storage) and reported as one manifest row. A photo that fails is a `failed`
row with its one-line reason; the batch and the job go on.

This module imports no Ray: an actor is a plain class that Ray Data constructs in a worker
process (so it is tested without a cluster too).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import PurePosixPath

from colorgan.core.errors import ColorganError
from colorgan.interfaces.colorize import reason
from colorgan.io import atomic, images, storage

DONE, SKIPPED, FAILED = "done", "skipped", "failed"
# what a bad photo may raise on its way through the pipeline (colorize's list)
FAILURES = (ColorganError, OSError, RuntimeError, ValueError, MemoryError)


def row_schema():
    """The columns of a row (an actor's output; the manifest adds its own)."""
    import pyarrow as pa

    return pa.schema(
        [
            ("input", pa.string()),
            ("output", pa.string()),
            ("status", pa.string()),
            ("error", pa.string()),
            ("seconds", pa.float64()),
        ]
    )


def row(src: str, out: str, status: str, error: str | None = None, seconds: float = 0.0):
    """One result: the manifest's own columns are added by colorgan.interfaces.manifest."""
    return {"input": src, "output": out, "status": status, "error": error, "seconds": seconds}


def read_photo(uri: str, max_pixels: int) -> images.Photo:
    """A local file is read where it lies; an object is fetched whole, then decoded."""
    if storage.is_remote(uri):
        return images.read_image(storage.read_bytes(uri), max_pixels, name=uri)
    return images.read_image(storage.local(uri), max_pixels, name=uri)


def photo_hints(spec: str | None) -> tuple:
    """A manifest row's hints: a JSON list written in the cell, or the URI of a JSON file
    (the format of --hints); none when the cell is empty."""
    from colorgan.pipeline import guidance

    if not spec or not spec.strip():
        return ()
    if spec.lstrip().startswith("["):
        return guidance.hints_from_json(spec, "its hints")
    return guidance.hints_from_json(storage.read_bytes(spec).decode("utf-8"), spec)


class Colourer:
    """A Ray Data actor: map_batches calls it with a pyarrow table of (input, output, hints)
    and gets a table of manifest rows back. Everything but the model is decided by the
    driver (checked there, so a bad option is a usage error before any worker starts)."""

    def __init__(self, *, model, backend, device, threads, options, guide, overwrite, max_pixels):
        from colorgan.pipeline.colorizer import Colorizer

        # options: colorize's colour options (colorgan.pipeline.options, as Colorizer.using
        # takes them; an option added there, such as restore, comes along unchanged)
        loaded = Colorizer.load(model, device=device, backend=backend, threads=threads)
        self.colorizer = loaded.using(**options)
        # the command's hints and reference, made into a Guide by the driver (colorize's
        # checks, the reference read once): the workers need not see the driver's disk
        self.guide = guide
        self.overwrite = overwrite
        self.max_pixels = max_pixels

    def __call__(self, batch):
        import pyarrow as pa

        hints = batch.column("hints").to_pylist() if "hints" in batch.column_names else None
        rows = [
            self.one(src, out, hints[i] if hints else None)
            for i, (src, out) in enumerate(
                zip(
                    batch.column("input").to_pylist(),
                    batch.column("output").to_pylist(),
                    strict=True,
                )
            )
        ]
        return pa.Table.from_pylist(rows, schema=row_schema())

    def one(self, src: str, out: str, hints: str | None = None) -> dict:
        start = time.perf_counter()
        try:
            if not self.overwrite and storage.exists(out):
                return row(src, out, SKIPPED, "result exists (--overwrite replaces it)")
            image = self.colour(read_photo(src, self.max_pixels), photo_hints(hints))
            storage.write_bytes(
                out, images.encoded(PurePosixPath(out), image), overwrite=self.overwrite
            )
        except atomic.TargetExists:  # another writer got there first (a killed run's actor)
            return row(src, out, SKIPPED, "result appeared while this ran")
        except FAILURES as exc:
            return row(src, out, FAILED, reason(src, exc), time.perf_counter() - start)
        return row(src, out, DONE, None, time.perf_counter() - start)

    def colour(self, photo: images.Photo, hints: tuple):
        """The colour picture of one photo: the one place a batch colours, through the same
        Colorizer.colorize as the colorize command's stages."""
        guide = self.guide
        if hints:  # the row's own hints, checked against the model, after the command's
            guide = replace(guide, hints=guide.hints + self.colorizer.guide(hints).hints)
        return self.colorizer.colorize(photo, guide=guide)
