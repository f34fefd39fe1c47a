"""The result manifest of `colorgan batch`: a Parquet dataset (a folder of part files, local
or on object storage) with one row per photo and attempt:

    input     the photo's URI                    output   its result's URI
    status    done | skipped | failed           error    the one-line reason (else null)
    seconds   time spent on it by its worker     model    the model file's SHA-256
    settings  a digest of everything that decides the result (model, options, guidance)
    run       the id of the run that wrote it    finished when (UTC)

Rows are written as the job goes, a part file every FLUSH_S seconds, each part whole or not
at all (colorgan.io.storage), so a job killed at any moment loses at most the last few
seconds of rows (those photos' results exist and a rerun records them as skipped). At the
end of a run the parts are compacted into one, the latest row of each photo; the compacted
part is written before the others are removed, so a kill during compaction leaves
duplicates that `latest` resolves the same way.

Any Parquet reader reads it: `pandas.read_parquet("OUT/_manifest")`.
"""

from __future__ import annotations

import io
import time
from datetime import datetime, timezone

from colorgan.io import storage

FLUSH_S = 5.0
COLUMNS = ("input", "output", "status", "error", "seconds", "model", "settings", "run", "finished")
PART = "part-{run}-{seq:06d}.parquet"


def schema():
    """An actor's row (batchwork.row_schema) and what the manifest adds: the model, the
    settings' digest, the run and when the row was written."""
    import pyarrow as pa

    from colorgan.interfaces.batchwork import row_schema

    added = [
        ("model", pa.string()),
        ("settings", pa.string()),
        ("run", pa.string()),
        ("finished", pa.timestamp("ms", tz="UTC")),
    ]
    return pa.schema(list(row_schema()) + [pa.field(*f) for f in added])


def _parts(folder: str) -> list[str]:
    """The URIs of the manifest's part files (never the hidden temporary ones)."""
    return storage.glob(folder, "part-*.parquet")


def read(folder: str):
    """Every row of the manifest (a pyarrow Table; empty when there is none yet)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [pq.read_table(io.BytesIO(storage.read_bytes(uri))) for uri in _parts(folder)]
    if not tables:
        return schema().empty_table()
    return pa.concat_tables([t.select(list(COLUMNS)).cast(schema()) for t in tables])


def latest(table):
    """The latest row of each input (by `finished`; the last written among equals)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return table
    order = pa.array(range(table.num_rows))
    table = table.append_column("_order", order)
    table = table.sort_by(
        [("input", "ascending"), ("finished", "ascending"), ("_order", "ascending")]
    )
    inputs = table.column("input")
    last = pc.not_equal(inputs.slice(0, table.num_rows - 1), inputs.slice(1))
    keep = pa.concat_arrays([pc.fill_null(last, True).combine_chunks(), pa.array([True])])
    return table.filter(keep).drop_columns(["_order"])


class Writer:
    """Appends rows to the manifest folder as the job goes (see the module docstring)."""

    def __init__(self, folder: str, run: str, model: str, settings: str) -> None:
        self.folder, self.run, self.model, self.settings = folder, run, model, settings
        self.pending: list = []
        self.seq = 0
        self.started = self.flushed = time.monotonic()

    def add(self, rows) -> None:
        """rows: a pyarrow Table of colorgan.interfaces.batchwork rows."""
        import pyarrow as pa

        n = rows.num_rows
        now = datetime.now(timezone.utc)
        for name, value, kind in (
            ("model", self.model, pa.string()),
            ("settings", self.settings, pa.string()),
            ("run", self.run, pa.string()),
            ("finished", now, pa.timestamp("ms", tz="UTC")),
        ):
            rows = rows.append_column(name, pa.array([value] * n, kind))
        self.pending.append(rows.select(list(COLUMNS)).cast(schema()))
        if time.monotonic() - self.flushed >= FLUSH_S:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa

        self.flushed = time.monotonic()
        if not self.pending:
            return
        table = pa.concat_tables(self.pending)
        self.pending = []
        self.seq += 1
        self._write(table, PART.format(run=self.run, seq=self.seq))

    def _write(self, table, name: str) -> str:
        import pyarrow.parquet as pq

        buf = io.BytesIO()
        pq.write_table(table, buf)
        uri = storage.join(self.folder, name)
        storage.write_bytes(uri, buf.getbuffer())
        return uri

    def compact(self) -> None:
        """One part holding the latest row of each input, the others removed."""
        parts = _parts(self.folder)
        if len(parts) <= 1:
            return
        kept = self._write(latest(read(self.folder)), PART.format(run=self.run, seq=0))
        for uri in parts:
            if uri != kept:
                storage.remove(uri)
