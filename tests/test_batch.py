"""`colorgan batch`: its actor, manifest and job list in this process (quick), and whole jobs
on a local Ray (one for the whole test session, 2 CPUs) and a local S3 endpoint (moto's
server on 127.0.0.1; never a real cloud), fixtures in conftest.py (integration)."""

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from colorgan.interfaces import batchjobs, cli, manifest
from colorgan.io import atomic, checksum
from tests.conftest import FAKE_AWS, make_photo

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def model(tiny_onnx):
    """The tiny model as an .onnx file: workers load it without torch, in a fraction of a
    second."""
    return tiny_onnx


def batch(*argv) -> int:
    return cli.main(["batch", *map(str, argv)])


def photo_tree(root: Path, n: int, size=(96, 80)) -> list[Path]:
    paths = []
    for i in range(n):
        path = root / f"roll{i % 2}" / f"photo{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        make_photo(i, size).convert("L").save(path)
        paths.append(path)
    return paths


def rows(folder) -> dict:
    """The manifest's latest row per input."""
    table = manifest.latest(manifest.read(str(folder)))
    return {r["input"]: r for r in table.to_pylist()}


def files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_the_actor_makes_one_row_per_photo(model, tmp_path):
    """The Ray Data actor, called here as Ray Data calls it: done, failed and skipped rows;
    a bad file or a row's bad hints fail that row only; nothing existing is written over."""
    from colorgan.interfaces.batchwork import Colourer
    from colorgan.pipeline.guidance import Guide

    good = photo_tree(tmp_path / "in", 1)[0]
    bad = tmp_path / "in" / "bad.png"
    bad.write_bytes(b"not a PNG")
    taken = tmp_path / "out" / "taken.png"
    taken.parent.mkdir()
    taken.write_bytes(b"mine")
    actor = Colourer(
        model=str(model),
        backend="auto",
        device="auto",
        threads=1,
        options={},
        guide=Guide(),
        overwrite=False,
        max_pixels=10**6,
    )
    outs = [tmp_path / "out" / "a" / "good.png", tmp_path / "out" / "bad.png", taken]
    jobs = pa.table({"input": [str(good), str(bad), str(good)], "output": list(map(str, outs))})
    rows = actor(jobs).to_pylist()
    assert [r["status"] for r in rows] == ["done", "failed", "skipped"]
    assert rows[1]["error"].startswith("not an image file") and rows[0]["error"] is None
    assert Image.open(outs[0]).size == (96, 80) and taken.read_bytes() == b"mine"
    assert not outs[1].exists()
    hinted = pa.table(
        {
            "input": [str(good)],
            "output": [str(tmp_path / "h.png")],
            "hints": ['[{"x": 1, "y": 1, "color": "#ff0000"}]'],
        }
    )
    (row,) = actor(hinted).to_pylist()
    assert row["status"] == "failed" and "hints" in row["error"]  # an unguided model


def test_the_manifest_keeps_each_photos_latest_row(tmp_path):
    """Resuming reads it: a photo is left out only by a done row of the same output and
    settings; compaction keeps one row per photo."""
    from colorgan.interfaces import batchwork

    folder = str(tmp_path / "manifest")

    def write(run, rows):
        writer = manifest.Writer(folder, run, "model-sha", "settings-1")
        writer.add(
            pa.Table.from_pylist([batchwork.row(*r) for r in rows], schema=batchwork.row_schema())
        )
        writer.flush()
        return writer

    write("run1", [("a", "A", "failed", "damaged"), ("b", "B", "done")])
    writer = write("run2", [("a", "A", "done")])
    assert manifest.read(folder).num_rows == 3
    latest = manifest.latest(manifest.read(folder))
    assert {r["input"]: r["status"] for r in latest.to_pylist()} == {"a": "done", "b": "done"}
    writer.compact()
    assert len(list((tmp_path / "manifest").glob("part-*.parquet"))) == 1
    assert manifest.read(folder).num_rows == 2
    jobs = pa.table({"input": ["a", "b", "c"], "output": ["A", "B2", "C"]})
    prior = manifest.latest(manifest.read(folder))
    todo = batchjobs.still_to_do(jobs, prior, "settings-1")
    assert todo.column("input").to_pylist() == ["b", "c"]  # b goes elsewhere now; c is new
    assert batchjobs.still_to_do(jobs, prior, "settings-2").num_rows == 3


def test_a_cluster_that_does_not_answer_is_a_usage_error(model, tmp_path, capsys):
    photo_tree(tmp_path / "in", 1)
    with socket.socket() as unused:  # a port nothing listens on
        unused.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{unused.getsockname()[1]}"
    assert batch(tmp_path / "in", tmp_path / "out", "--model", model, "--address", address) == 2
    said = capsys.readouterr().err.strip().splitlines()
    assert said == [f"error: cannot reach the Ray cluster at {address}: Connection refused"]
    assert not (tmp_path / "out").exists()


@pytest.mark.integration  # a local Ray: its own processes
def test_folder_to_folder_colours_like_colorize_and_records_bad_files(
    ray_address, model, tmp_path, capsys
):
    src, out = tmp_path / "scans", tmp_path / "out"
    photos = photo_tree(src, 5)
    (src / "roll0" / "torn.jpg").write_bytes(b"\xff\xd8 not really a JPEG")
    (src / "empty.png").write_bytes(b"")
    assert batch(src, out, "--model", model) == 1  # some photos failed: exit 1, not a crash
    said = capsys.readouterr()
    assert "colorized 5 images" in said.out and "2 failed" in said.out
    assert f"error: {src / 'empty.png'}: empty file" in said.err
    table = rows(out / "_manifest")
    assert len(table) == 7
    digest = checksum.file_sha256(model)
    for photo in photos:
        row = table[str(photo)]
        result = out / photo.relative_to(src).parent / f"{photo.stem}_color.png"
        assert row["status"] == "done" and row["output"] == str(result)
        assert row["error"] is None and row["seconds"] > 0 and row["model"] == digest
    assert table[str(src / "roll0" / "torn.jpg")]["status"] == "failed"
    assert "not an image" in table[str(src / "roll0" / "torn.jpg")]["error"]
    assert table[str(src / "empty.png")]["error"] == "empty file (0 bytes)"
    # the very pixels `colorgan colorize` makes of the same folder (one pipeline)
    assert (
        cli.main(["colorize", str(src), "-r", "-o", str(tmp_path / "c"), "--model", str(model)])
        == 1
    )
    for photo in photos:
        rel = photo.relative_to(src).parent / f"{photo.stem}_color.png"
        a = np.asarray(Image.open(out / rel), np.int16)
        b = np.asarray(Image.open(tmp_path / "c" / rel), np.int16)
        assert a.shape == b.shape == (80, 96, 3) and np.abs(a - b).max() <= 1
    # a rerun does only what is not done: the two bad files again, nothing else
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*_color.png")}
    assert batch(src, out, "--model", model) == 1
    assert "colorized 0 images" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*_color.png")} == before
    assert len(pq.read_table(out / "_manifest")) == 7  # compacted: one row per photo
    assert len(list((out / "_manifest").glob("part-*.parquet"))) == 1


@pytest.mark.integration  # a local Ray: its own processes
def test_overwrite_rules(ray_address, model, tmp_path, capsys):
    src, out = tmp_path / "scans", tmp_path / "out"
    first, second = photo_tree(src, 2)
    mine = out / "roll0" / "photo0_color.png"  # the user's own file under a result's name
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"mine")
    assert batch(src, out, "--model", model) == 0
    assert mine.read_bytes() == b"mine"
    table = rows(out / "_manifest")
    assert table[str(first)]["status"] == "skipped" and "exists" in table[str(first)]["error"]
    assert table[str(second)]["status"] == "done"
    done = out / "roll1" / "photo1_color.png"
    stamp = done.stat().st_mtime_ns
    # --overwrite with the same settings: what this job did stays done (idempotent rerun)
    assert batch(src, out, "--model", model, "--overwrite") == 0
    assert done.stat().st_mtime_ns == stamp and mine.read_bytes() != b"mine"
    # other settings: the results are made again
    gray = done.read_bytes()
    assert batch(src, out, "--model", model, "--overwrite", "--saturation", "0") == 0
    assert done.read_bytes() != gray
    assert set(r["status"] for r in rows(out / "_manifest").values()) == {"done"}


def test_never_onto_an_input_nor_two_onto_one(model, tmp_path, capsys):
    """Found before any work (no Ray is started for rows that cannot be written)."""
    first, second = photo_tree(tmp_path / "scans", 2)
    listing = tmp_path / "list.csv"
    listing.write_text(
        f"input,output\n{first},{first}\n{second},{tmp_path}/x/../scans/roll0/photo0.png\n"
    )
    before = first.read_bytes()
    assert batch(listing, tmp_path / "out", "--model", model) == 1
    assert first.read_bytes() == before
    table = rows(tmp_path / "out" / "_manifest")
    assert {r["status"] for r in table.values()} == {"failed"}
    assert all("is one of the inputs; not written" in r["error"] for r in table.values())
    assert "2 failed" in capsys.readouterr().out
    jobs = pa.table({"input": ["a", "b", "c"], "output": ["o1", "o2", "o1"]})
    assert batchjobs.clashes(jobs) == {2: "output o1 is also a's; not written"}


@pytest.mark.integration  # a local Ray: its own processes
def test_s3_bucket_with_a_csv_manifest(ray_address, s3_endpoint, model, tmp_path, monkeypatch):
    import fsspec

    for key, value in FAKE_AWS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    fs.mkdir("archive")
    for i in range(3):
        make_photo(i).convert("L").save(tmp_path / f"p{i}.jpg")
        fs.put_file(str(tmp_path / f"p{i}.jpg"), f"archive/scans/box{i}/p{i}.jpg")
    fs.pipe_file("archive/scans/box0/broken.png", b"\x89PNG truncated")
    fs.pipe_file("archive/scans/.hidden.jpg", b"not listed")
    assert batch("s3://archive/scans", "s3://archive/out", "--model", model, "--format", "png") == 1
    fs.invalidate_cache()
    found = sorted(fs.find("archive/out"))
    results = [p for p in found if "_manifest" not in p]
    assert results == [f"archive/out/box{i}/p{i}_color.png" for i in range(3)]
    assert Image.open(fs.open(results[0])).size == (96, 80)
    table = rows("s3://archive/out/_manifest")
    assert len(table) == 4 and table["s3://archive/scans/box0/broken.png"]["status"] == "failed"
    # a CSV manifest on S3: per-photo hints (this model takes none: that row fails, alone)
    fs.pipe_file(
        "archive/list.csv",
        b"input,hints\n"
        b's3://archive/scans/box1/p1.jpg,"[{""x"": 1, ""y"": 1, ""color"": ""#ff0000""}]"\n'
        b"s3://archive/scans/box2/p2.jpg,\n",
    )
    assert batch("s3://archive/list.csv", "s3://archive/again", "--model", model) == 1
    table = rows("s3://archive/again/_manifest")
    hinted = table["s3://archive/scans/box1/p1.jpg"]
    assert hinted["status"] == "failed" and "hints" in hinted["error"]
    assert (
        table["s3://archive/scans/box2/p2.jpg"]["output"] == "s3://archive/again/box2/p2_color.jpg"
    )
    assert fs.exists("archive/again/box2/p2_color.jpg")


@pytest.mark.integration  # a local Ray: its own processes
def test_resume_after_sigkill_does_each_photo_exactly_once(ray_address, model, tmp_path):
    src, out = tmp_path / "scans", tmp_path / "out"
    photos = photo_tree(src, 48, size=(240, 180))  # enough that a fast machine is still busy
    env = dict(os.environ, PYTHONPATH=str(REPO))
    argv = [sys.executable, "-m", "colorgan", "batch", str(src), str(out), "--model", str(model)]
    argv += ["--address", ray_address, "--actors", "1", "--batch-size", "1"]
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not list(out.rglob("*_color.png")) and time.monotonic() < deadline:
        assert child.poll() is None, "the job ended before writing anything"
        time.sleep(0.05)
    time.sleep(random.uniform(0, 0.2))  # a random moment while it works (16 photos were
    # all done 0.5 s after the first on a quiet machine: the kill came too late)
    child.send_signal(signal.SIGKILL)
    child.wait()
    made = list(out.rglob("*_color.png"))
    assert 0 < len(made) < len(photos), "the kill came too late to test resuming"
    assert batch(src, out, "--model", model) == 0
    results = {str(p.relative_to(src).parent / f"{p.stem}_color.png") for p in photos}
    left = files(out) - results
    assert all(
        p.startswith("_manifest/part-") or atomic.TEMP_NAME.match(Path(p).name) for p in left
    )
    for name in results:  # every result whole
        Image.open(out / name).load()
    table = rows(out / "_manifest")
    assert sorted(table) == sorted(map(str, photos))
    assert {r["status"] for r in table.values()} <= {"done", "skipped"}
