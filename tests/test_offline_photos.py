"""colorgan.datasets.offline_photos: the Qt .rcc reader, the photo list and the set builder."""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import struct
import subprocess
import tarfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorgan.core.errors import ColorganError
from colorgan.datasets import offline_photos as op
from colorgan.training.data import mean_chroma


def write_rcc(files: dict[str, bytes], version: int = 3, compress: bool = True) -> bytes:
    """A Qt binary resource file holding `files` ({"/a/b.png": bytes}), written the way
    Qt's rcc lays it out: breadth-first tree, children of a folder next to each other.
    Name hashes are left 0: readers find entries by name."""
    root: dict = {}
    for path, blob in files.items():
        *folders, name = path.strip("/").split("/")
        node = root
        for folder in folders:
            node = node.setdefault(folder, {})
        node[name] = blob
    nodes, tree, names, data = [("", root)], bytearray(), bytearray(), bytearray()
    for name, item in nodes:  # nodes grows while we walk it: breadth first
        name_offset = len(names)
        names += struct.pack(">HI", len(name), 0) + name.encode("utf-16-be")
        if isinstance(item, dict):
            record = struct.pack(">IHII", name_offset, 0x02, len(item), len(nodes))
            nodes.extend(sorted(item.items()))
        else:
            flags, payload = 0, item
            if compress:
                flags, payload = 0x01, struct.pack(">I", len(item)) + zlib.compress(item)
            record = struct.pack(">IHHHI", name_offset, flags, 0, 1, len(data))
            data += struct.pack(">I", len(payload)) + payload
        tree += record + (struct.pack(">Q", 0) if version >= 2 else b"")
    header_size = 24 if version >= 3 else 20
    data_at, names_at = header_size, header_size + len(data)
    tree_at = names_at + len(names)
    header = b"qres" + struct.pack(">4I", version, tree_at, data_at, names_at)
    header += struct.pack(">I", 1 if compress else 0) if version >= 3 else b""
    return bytes(header + data + names + tree)


def photo_bytes(fmt: str, size=(120, 90), colour=(200, 40, 40)) -> bytes:
    arr = np.zeros((size[1], size[0], 3), np.uint8)
    arr[:, : size[0] // 2] = colour
    arr[:, size[0] // 2 :] = (20, 60, 200)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt)
    return buf.getvalue()


@pytest.mark.parametrize("version", [1, 2, 3])
@pytest.mark.parametrize("compress", [True, False])
def test_rcc_reader_reads_what_the_writer_wrote(tmp_path, version, compress):
    files = {
        "/gcompris/src/a.webp": photo_bytes("WEBP"),
        "/gcompris/src/deep/café.txt": b"unicode name",
        "/gcompris/top.bin": bytes(range(256)) * 10,
    }
    path = tmp_path / "x.rcc"
    path.write_bytes(write_rcc(files, version, compress))
    rcc = op.RccArchive(path)
    assert sorted(rcc.list()) == sorted(files)
    for inner, blob in files.items():
        assert rcc.read(inner) == blob
    with pytest.raises(ColorganError, match="no file '/gcompris/src/missing.webp'"):
        rcc.read("/gcompris/src/missing.webp")
    with pytest.raises(ColorganError, match="no file"):
        rcc.read("/gcompris/src")  # a folder, not a file


def test_rcc_reader_rejects_other_files(tmp_path):
    path = tmp_path / "not.rcc"
    path.write_bytes(b"PK\x03\x04" + bytes(40))
    with pytest.raises(ColorganError, match="not a Qt resource file"):
        op.RccArchive(path)
    with pytest.raises(ColorganError, match="cannot read"):
        op.RccArchive(tmp_path / "missing.rcc")


def _real_erase_rcc(tmp_path: Path) -> Path | None:
    """erase.rcc from an unpacked or, failing that, a downloaded gcompris-qt-data."""
    cache = Path(op.DEFAULT_CACHE).expanduser()
    unpacked = cache / "extracted" / op.GCOMPRIS_RCC_DIR.lstrip("/") / "erase.rcc"
    if unpacked.is_file():
        return unpacked
    debs = sorted(cache.glob("gcompris-qt-data_*.deb"))
    if not debs or shutil.which("dpkg-deb") is None:
        return None
    member = "." + op.GCOMPRIS_RCC_DIR + "/erase.rcc"
    tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(debs[-1])], capture_output=True)
    with tarfile.open(fileobj=io.BytesIO(tar.stdout)) as archive:
        (tmp_path / "erase.rcc").write_bytes(archive.extractfile(member).read())
    return tmp_path / "erase.rcc"


def test_real_gcompris_photo(tmp_path):
    path = _real_erase_rcc(tmp_path)
    if path is None:
        pytest.skip(f"no gcompris-qt-data .deb or unpacked tree in {op.DEFAULT_CACHE}")
    inner = "/gcompris/src/activities/erase/resource/spoonbills.webp"
    rcc = op.RccArchive(path)
    assert inner in rcc.list()
    with Image.open(io.BytesIO(rcc.read(inner))) as im:
        assert (im.format, im.size) == ("WEBP", (1920, 1080))  # as the photo list says
        assert mean_chroma(im.convert("RGB")) > 5.0  # a colour photo


def test_shipped_photo_list():
    photos = op.read_photo_list()
    assert [p.split for p in photos].count("train") == 320
    assert [p.split for p in photos].count("legacy_bw") == 3
    assert len({p.out_name for p in photos}) == len(photos)
    assert all(p.origin for p in photos)
    rcc = [p for p in photos if "gcompris" in p.source]
    assert all(op._split_origin(p.origin)[0].endswith(".rcc") for p in rcc)


@pytest.fixture
def fake_package(tmp_path) -> Path:
    """A cache folder holding one .deb with a JPEG and a GCompris-style .rcc inside."""
    if shutil.which("dpkg-deb") is None or shutil.which("dpkg") is None:
        pytest.skip("dpkg-deb/dpkg not installed (not a Debian system)")
    pkg = tmp_path / "pkg"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN" / "control").write_text(
        "Package: colorgan-test-photos\nVersion: 1.0\nArchitecture: all\n"
        "Maintainer: test <test@example.org>\nDescription: test photos\n"
    )
    (pkg / "usr/share/test").mkdir(parents=True)
    (pkg / "usr/share/doc/colorgan-test-photos").mkdir(parents=True)
    (pkg / "usr/share/doc/colorgan-test-photos/copyright").write_text("Files: *\nLicense: CC0\n")
    (pkg / "usr/share/test/big.jpg").write_bytes(photo_bytes("JPEG", size=(400, 300)))
    rcc_dir = pkg / op.GCOMPRIS_RCC_DIR.lstrip("/")
    rcc_dir.mkdir(parents=True)
    inner = {"/gcompris/src/activities/act/resource/owl.webp": photo_bytes("WEBP")}
    (rcc_dir / "act.rcc").write_bytes(write_rcc(inner))
    cache = tmp_path / "cache"
    cache.mkdir()
    deb = cache / "colorgan-test-photos_1.0_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(pkg), str(deb)],
                   check=True, capture_output=True)  # fmt: skip
    return cache


def test_build_writes_photos_credits_and_list_then_skips(tmp_path, fake_package, monkeypatch):
    row = dict(w="0", h="0", license="CC0-1.0", url="https://example.org/p")
    photos = [
        op.Photo("train", "test", "test__big.png", origin="/usr/share/test/big.jpg",
                 credit="Ann | Bo", **row),
        op.Photo("train", "gcompris-act", "act__owl.png", credit="Cy", **row,
                 origin=f"{op.GCOMPRIS_RCC_DIR}/act.rcc:/gcompris/src/activities/act/resource/owl.webp"),
        op.Photo("legacy_bw", "gcompris", "old__owl.png", credit="Di", **row,
                 origin="/gcompris/src/activities/act/resource/owl.webp"),  # no archive named
        op.Photo("train", "test", "gone.png", origin="/usr/share/test/gone.jpg", credit="", **row),
    ]  # fmt: skip
    out = tmp_path / "out"
    kw = dict(max_side=200, photos=photos, packages=["colorgan-test-photos"])
    report = op.build(out, fake_package, **kw)
    assert (report.written, report.skipped) == (3, 0)
    assert [f for f, _ in report.failed] == ["gone.png"] and "not found" in report.failed[0][1]
    with Image.open(out / "train" / "test__big.jpg") as im:
        assert (im.format, im.size) == ("JPEG", (200, 150))
    assert (out / "legacy_bw" / "old__owl.jpg").is_file()
    rows = list(csv.DictReader((out / op.LIST_NAME).open()))
    assert [r["path"] for r in rows] == ["train/test__big.jpg", "train/act__owl.jpg",
                                         "legacy_bw/old__owl.jpg"]  # fmt: skip
    assert {r["package"] for r in rows} == {"colorgan-test-photos"}
    assert "License: CC0" in (out / "licenses" / "colorgan-test-photos.copyright").read_text()
    credits = (out / "CREDITS.md").read_text()
    assert "Ann \\| Bo" in credits and "https://example.org/p" in credits and "Cy" in credits

    def no_subprocess(*args, **kwargs):
        raise AssertionError("apt-get/dpkg run again")

    monkeypatch.setattr(op, "_run", no_subprocess)
    again = op.build(out, fake_package, **kw)
    assert (again.written, again.skipped, len(again.failed)) == (0, 3, 1)


def test_package_errors_are_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ColorganError, match="apt-get not found"):
        op.fetch_deb("nope", tmp_path)
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/" + name)

    def failed_run(cmd, **kwargs):
        return subprocess.CompletedProcess(
            cmd, 100, "", "Reading lists\nE: Unable to locate package nope"
        )

    monkeypatch.setattr(subprocess, "run", failed_run)
    with pytest.raises(ColorganError, match=r"apt-get download nope .*Unable to locate") as err:
        op.fetch_deb("nope", tmp_path)
    assert "\n" not in str(err.value)


def test_cli_arguments_and_run(tmp_path, monkeypatch, capsys):
    parser = argparse.ArgumentParser(prog="colorgan data")
    op.add_arguments(parser.add_subparsers().add_parser("offline-photos"))
    args = parser.parse_args(["offline-photos", str(tmp_path), "--max-side", "800"])
    assert (args.out_dir, args.cache, args.max_side) == (str(tmp_path), op.DEFAULT_CACHE, 800)
    monkeypatch.setattr(op, "build", lambda *a: op.BuildReport(written=2, failed=[("x", "bad")]))
    assert op.run(args) == 1
    assert "2 photos written" in capsys.readouterr().out
