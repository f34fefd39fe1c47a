"""What a `colorgan batch` job has to do: SOURCE listed into (input, output[, hints]) rows
with `colorgan colorize`'s names, rows that cannot be written found before any work, and the
rows a run with the same settings already did left out (colorgan.interfaces.manifest)."""

from __future__ import annotations

import os
from pathlib import PurePosixPath

from colorgan.core.errors import ColorganError
from colorgan.interfaces import batchwork, colorize
from colorgan.io import storage

# --- SOURCE -> the photos and their results --------------------------------------------------


def is_manifest(source: str) -> bool:
    return PurePosixPath(source).suffix.lower() in (".csv", ".parquet")


def list_jobs(source: str, dest: str, fmt: str):
    """A pyarrow Table (input, output[, hints]) of every photo of SOURCE, URIs canonical
    (local paths absolute: the workers do not share this process's current folder)."""
    import pyarrow as pa

    if is_manifest(source):
        return _from_manifest(source, dest, fmt)
    if storage.is_remote(source):
        below = storage.canonical(dest) + "/"
        found = [
            (uri, rel)
            for uri, rel in storage.files_under(source)
            if colorize.is_image_name(rel) and not uri.startswith(below)
        ]
    else:
        root = storage.local(source)
        if not root.is_dir():
            raise ColorganError(f"{source}: no such folder (or .csv/.parquet manifest)")
        exclude = None if storage.is_remote(dest) else storage.local(dest).resolve()
        found = [(str(p), p.relative_to(root)) for p in colorize.images_in(root, True, exclude)]
    if not found:
        raise ColorganError(f"{source}: no images below it")
    outputs = [storage.join(dest, colorize.result_name(rel, fmt)) for _, rel in found]
    return pa.table({"input": [uri for uri, _ in found], "output": outputs})


def _from_manifest(source: str, dest: str, fmt: str):
    """A manifest's photos: `input` (needed), `output` and `hints` (optional) columns."""
    import pyarrow as pa
    import pyarrow.csv
    import pyarrow.parquet as pq

    data = pa.BufferReader(storage.read_bytes(source))
    try:
        if source.lower().endswith(".csv"):
            table = pyarrow.csv.read_csv(data)
        else:
            table = pq.read_table(data)
    except (pa.ArrowException, OSError) as exc:
        raise ColorganError(f"{source}: not a readable manifest ({exc})") from None
    if "input" not in table.column_names:
        raise ColorganError(f"{source}: no `input` column (found: {', '.join(table.column_names)})")
    inputs = [str(u).strip() if u is not None else "" for u in table.column("input").to_pylist()]
    if not all(inputs):
        raise ColorganError(f"{source}: row {inputs.index('') + 1} has no input")
    inputs = [storage.canonical(u) for u in inputs]
    if "output" in table.column_names:
        given = table.column("output").to_pylist()
        names = _relative_names(inputs)
        outputs = [
            storage.canonical(o) if o else storage.join(dest, colorize.result_name(rel, fmt))
            for o, rel in zip(given, names, strict=True)
        ]
    else:
        outputs = [
            storage.join(dest, colorize.result_name(r, fmt)) for r in _relative_names(inputs)
        ]
    columns = {"input": inputs, "output": outputs}
    if "hints" in table.column_names:
        columns["hints"] = [h if h is None else str(h) for h in table.column("hints").to_pylist()]
    return pa.table(columns)


def _relative_names(uris: list[str]) -> list[PurePosixPath]:
    """Each URI's path below the folder all of them share (so results keep the tree)."""
    parts = [
        PurePosixPath(u.partition("://")[2] if storage.is_remote(u) else u).parts for u in uris
    ]
    parts = [p[1:] if p and p[0] == "/" else p for p in parts]
    common = os.path.commonprefix([p[:-1] for p in parts])
    return [PurePosixPath(*p[len(common) :]) for p in parts]


def clashes(jobs) -> dict[int, str]:
    """Rows whose output cannot be written: onto one of the inputs, or onto another row's
    output (the first row keeps it) -> {row: reason}."""
    inputs = set(jobs.column("input").to_pylist())
    claimed: dict[str, str] = {}
    bad = {}
    for i, (src, out) in enumerate(
        zip(jobs.column("input").to_pylist(), jobs.column("output").to_pylist(), strict=True)
    ):
        if out in inputs:
            bad[i] = f"its output {out} is one of the inputs; not written"
        elif out in claimed:
            bad[i] = f"output {out} is also {claimed[out]}'s; not written"
        else:
            claimed[out] = src
    return bad


def still_to_do(jobs, prior, settings: str):
    """The jobs without a `done` row of the same output and settings in the manifest."""
    import pyarrow.compute as pc

    done = prior.filter(
        pc.and_(
            pc.equal(prior.column("status"), batchwork.DONE),
            pc.equal(prior.column("settings"), settings),
        )
    )
    finished = set(
        zip(done.column("input").to_pylist(), done.column("output").to_pylist(), strict=True)
    )
    keep = [
        (src, out) not in finished
        for src, out in zip(
            jobs.column("input").to_pylist(), jobs.column("output").to_pylist(), strict=True
        )
    ]
    return jobs.filter(keep)
