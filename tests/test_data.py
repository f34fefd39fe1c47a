"""colorgan.training.data on small images made here: finding, splitting, gray and bad files."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from colorgan.core.config import DataConfig
from colorgan.core.errors import ColorganError
from colorgan.training import data, folders


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """The chroma cache goes to a temp folder, not the user's ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def halves(w: int = 48, h: int = 40, left=(220, 30, 30), right=(30, 30, 220)) -> Image.Image:
    """Left half one colour, right half another: a flip is visible at a glance."""
    arr = np.zeros((h, w, 3), np.uint8)
    arr[:, : w // 2], arr[:, w // 2 :] = left, right
    return Image.fromarray(arr)


def top_bottom(size: int = 40) -> Image.Image:
    arr = np.zeros((size, size, 3), np.uint8)
    arr[: size // 2], arr[size // 2 :] = (30, 200, 30), (200, 30, 200)
    return Image.fromarray(arr)


def gray(w: int = 48, h: int = 40) -> Image.Image:
    return Image.fromarray(np.tile(np.linspace(0, 255, w, dtype=np.uint8), (h, 1)))


def save(im: Image.Image, path: Path, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, **kwargs)
    return path


@pytest.fixture
def folder(tmp_path) -> Path:
    """Nested colour photos in odd modes and extensions, two gray ones, two broken ones."""
    root = tmp_path / "photos"
    save(halves(), root / "a.JPG", quality=95)
    save(halves(left=(250, 200, 0)), root / "sub" / "b.Jpeg", quality=95)
    save(halves().convert("RGBA"), root / "sub" / "deep" / "c.png")
    save(halves(left=(0, 160, 90)).convert("CMYK"), root / "d.jpg")
    save(halves(), root / "e.TIFF")
    save(halves(right=(240, 240, 0)), root / "f.webp", quality=90)
    save(halves(left=(90, 60, 30)), root / "g.bmp")
    save(gray(), root / "gray.png")
    sixteen = (np.tile(np.linspace(0, 65535, 48), (40, 1))).astype(np.uint16)
    save(Image.fromarray(sixteen), root / "sub" / "gray16.png")
    (root / "broken.jpg").write_bytes(b"this is not a jpeg")
    (root / "truncated.png").write_bytes((root / "gray.png").read_bytes()[:60])
    (root / "notes.txt").write_text("not an image")
    save(halves(), root / ".thumbnails" / "hidden.jpg")
    return root


def test_find_images_nested_any_case_sorted(folder):
    names = [p.relative_to(folder).as_posix() for p in folders.find_images(folder)]
    assert names == sorted(names)
    assert "sub/deep/c.png" in names and "a.JPG" in names and "e.TIFF" in names
    assert "notes.txt" not in names and not any("hidden" in n for n in names)
    assert len(names) == 11


def test_find_images_missing_or_empty_folder_names_it(tmp_path):
    with pytest.raises(ColorganError, match="data.root"):
        folders.find_images("")
    with pytest.raises(ColorganError, match="nowhere"):
        folders.find_images(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ColorganError, match="empty"):
        folders.find_images(tmp_path / "empty")


def test_split_is_deterministic_and_seed_dependent():
    files = [Path(f"img{i:03d}.jpg") for i in range(60)]
    a = folders.split_files(files, 0.2, seed=1)
    assert a == folders.split_files(list(reversed(files)), 0.2, seed=1)
    assert 4 <= len(a[1]) <= 20 and sorted(a[0] + a[1]) == files
    assert a != folders.split_files(files, 0.2, seed=2)


def test_split_keeps_old_assignments_when_files_are_added():
    files = [Path(f"img{i:03d}.jpg") for i in range(100)]
    train, val = folders.split_files(files, 0.1, seed=0)
    new = [Path(f"new{i:03d}.jpg") for i in range(100)]
    more_train, more_val = folders.split_files(files + new, 0.1, seed=0)
    assert set(train) <= set(more_train) and set(val) <= set(more_val)


def test_split_by_source_group_never_straddles():
    files = [Path(f"photo{i}_crop{j}.png") for i in range(10) for j in range(4)]
    group = folders.group_by_regex(r"(.*)_crop\d+$")
    train, val = folders.split_files(files, 0.3, seed=0, group_fn=group)
    assert {group(f) for f in train}.isdisjoint({group(f) for f in val})
    assert val and len(val) % 4 == 0  # whole photos of 4 crops each


def test_split_small_sets():
    two = [Path("a.jpg"), Path("b.jpg")]
    train, val = folders.split_files(two, 0.01, seed=0)
    assert len(train) == 1 and len(val) == 1
    assert folders.split_files(two, 0.0, seed=0) == (two, [])
    assert folders.split_files([Path("a.jpg")], 0.5, seed=0) == ([Path("a.jpg")], [])


@pytest.mark.parametrize("name", ["a.JPG", "sub/deep/c.png", "d.jpg", "e.TIFF", "f.webp", "g.bmp"])
@pytest.mark.parametrize("train", [True, False])
def test_dataset_shapes_and_range_for_every_mode(folder, name, train):
    ds = data.ImageFolderDataset([folder / name], 32, scale_min=1.0, scale_max=1.5, train=train)
    x = ds[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.std() > 0.1


def test_resize_mode_keeps_the_whole_image(tmp_path):
    path = save(halves(w=80, h=40), tmp_path / "wide.png")
    ds = data.ImageFolderDataset([path], 32, crop="resize", hflip=False)
    x = ds[0]
    assert x.shape == (3, 32, 32)
    assert x[0, :, :8].mean() > 0.8 and x[2, :, -8:].mean() > 0.8  # both halves still there


def test_eval_is_a_deterministic_centre_crop(tmp_path):
    path = save(halves(w=96, h=32), tmp_path / "wide.png")
    ds = data.ImageFolderDataset([path], 32, train=False)
    assert torch.equal(ds[0], ds[0])
    x = ds[0]  # the centre third of the image: the red/blue edge is in the middle
    assert x[0, :, :12].mean() > 0.8 and x[2, :, -12:].mean() > 0.8


@pytest.mark.parametrize("flag, dim, make", [("hflip", -1, halves), ("vflip", -2, top_bottom)])
def test_flips_happen_and_only_when_asked(tmp_path, flag, dim, make):
    path = save(make(40, 40) if make is halves else make(40), tmp_path / "im.png")
    plain = data.ImageFolderDataset([path], 40, hflip=False, vflip=False, train=False)[0]
    torch.manual_seed(0)
    ds = data.ImageFolderDataset([path], 40, hflip=flag == "hflip", vflip=flag == "vflip")
    outcomes = [torch.allclose(ds[0], plain.flip(dim), atol=0.02) for _ in range(40)]
    assert any(outcomes) and not all(outcomes)
    ds_off = data.ImageFolderDataset([path], 40, hflip=False, vflip=False)
    assert all(torch.allclose(ds_off[0], plain, atol=0.02) for _ in range(5))


def test_random_crops_are_a_function_of_the_seed(tmp_path):
    path = save(
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (90, 120, 3), np.uint8)),
        tmp_path / "noise.png",
    )
    ds = data.ImageFolderDataset([path], 32, scale_min=1.0, scale_max=2.0)
    assert torch.equal(ds[(0, 7)], ds[(0, 7)])
    assert not torch.equal(ds[(0, 7)], ds[(0, 8)])


def test_near_grayscale_detection():
    assert folders.is_near_grayscale(gray(), threshold=2.0)
    assert not folders.is_near_grayscale(halves(), threshold=2.0)
    tinted = Image.fromarray(np.full((8, 8, 3), (128, 126, 124), np.uint8))
    assert folders.is_near_grayscale(tinted, 2.0) and not folders.is_near_grayscale(tinted, 0.5)


def test_gray_and_unreadable_are_left_out_and_reported(folder, caplog):
    caplog.set_level(logging.WARNING, logger="colorgan.training.data")
    report = folders.scan_folder(DataConfig(root=str(folder), val_fraction=0.2))
    assert report.found == 11
    assert sorted(p.name for p in report.gray) == ["gray.png", "gray16.png"]
    assert sorted(p.name for p, _ in report.unreadable) == ["broken.jpg", "truncated.png"]
    assert len(report.train) + len(report.val) == 7 and report.val
    assert "left out 2 near-grayscale" in caplog.text and "gray16.png" in caplog.text
    assert "broken.jpg" in caplog.text and "truncated.png" in caplog.text
    assert "7 train" not in report.summary() and "2 near-grayscale" in report.summary()


def test_split_survives_moving_the_folder(tmp_path):
    splits = []
    for where in ("one", "two/deeper"):
        cfg = DataConfig(root=str(colour_folder(tmp_path / where, n=12)), val_fraction=0.3)
        report = folders.scan_folder(cfg)
        splits.append([p.relative_to(cfg.root) for p in report.val])
    assert splits[0] == splits[1] and splits[0]


def test_all_gray_is_a_clear_error(tmp_path):
    for i in range(3):
        save(gray(), tmp_path / f"g{i}.png")
    with pytest.raises(ColorganError, match="all 3 images are near-grayscale"):
        folders.scan_folder(DataConfig(root=str(tmp_path)))


def test_scan_results_are_cached(folder, monkeypatch):
    first = folders.scan_chroma(folders.find_images(folder))

    def must_not_read(path):
        raise AssertionError(f"{path} read again")

    readable = [f for f, v in first.items() if not isinstance(v, str)]
    monkeypatch.setattr(folders, "_chroma_or_error", must_not_read)
    assert folders.scan_chroma(readable) == {f: first[f] for f in readable}


def test_file_broken_mid_training_gives_another_sample_and_one_warning(tmp_path, caplog):
    good = save(halves(), tmp_path / "good.png")
    bad = save(halves(), tmp_path / "bad.png")
    ds = data.ImageFolderDataset([bad, good], 32)
    bad.write_bytes(b"garbage")
    caplog.set_level(logging.WARNING, logger="colorgan.training.data")
    assert ds[0].shape == (3, 32, 32) and ds[0].shape == (3, 32, 32)
    assert len([r for r in caplog.records if "bad.png" in r.getMessage()]) == 1


def colour_folder(root: Path, n: int = 10) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        save(Image.fromarray(rng.integers(0, 255, (40, 50, 3), np.uint8)), root / f"c{i}.png")
    return root


@pytest.mark.integration
@pytest.mark.parametrize("workers", [0, 2])
def test_make_loaders_batches_and_reproducible_order(tmp_path, workers):
    cfg = DataConfig(
        root=str(colour_folder(tmp_path / "c")),
        size=32,
        val_fraction=0.2,
        scale_max=1.5,
        workers=workers,
    )
    train, val, report = data.make_loaders(cfg, batch_size=3, seed=5, pin_memory=False)
    assert (len(report.train), len(report.val)) == (8, 2)
    batches = list(itertools.islice(train, 2))
    assert len(train) == 2 and all(b.shape == (3, 3, 32, 32) for b in batches)  # drop_last
    assert next(iter(val)).shape == (2, 3, 32, 32)
    again, _, _ = data.make_loaders(cfg, batch_size=3, seed=5, pin_memory=False)
    assert all(torch.equal(a, b) for a, b in zip(batches, again, strict=True))
    other, _, _ = data.make_loaders(cfg, batch_size=3, seed=6, pin_memory=False)
    assert not torch.equal(batches[0], next(iter(other)))


def test_epochs_count_up_and_resume_gives_the_same_batches(tmp_path):
    cfg = DataConfig(root=str(colour_folder(tmp_path)), size=32, val_fraction=0.0, workers=0)
    train, val, _ = data.make_loaders(cfg, batch_size=4, seed=0, pin_memory=False)
    assert val is None
    run = list(itertools.islice(data.epochs(train), 6))
    assert [e for e, _ in run] == [0, 0, 1, 1, 2, 2]
    assert not torch.equal(run[0][1], run[2][1])  # a new order and new crops each epoch
    resumed = next(data.epochs(train, start_step=2))
    assert resumed[0] == 1 and torch.equal(resumed[1], run[2][1])
    mid_epoch = list(itertools.islice(data.epochs(train, start_step=3), 2))
    assert [e for e, _ in mid_epoch] == [1, 2]
    assert all(torch.equal(a[1], b[1]) for a, b in zip(mid_epoch, run[3:5], strict=True))


def test_too_few_images_for_a_batch(tmp_path):
    cfg = DataConfig(root=str(colour_folder(tmp_path, n=3)), size=32, val_fraction=0.0)
    with pytest.raises(ColorganError, match="batch_size=8"):
        data.make_loaders(cfg, batch_size=8, seed=0)


def test_distributed_sampler_shards_the_train_set(tmp_path):
    dist = torch.distributed
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/pg", rank=0, world_size=1)
    try:
        cfg = DataConfig(root=str(colour_folder(tmp_path / "c")), size=32, workers=0)
        train, _, _ = data.make_loaders(cfg, 2, seed=0, distributed=True, pin_memory=False)
        assert (train.sampler.rank, train.sampler.world) == (0, 1)
        assert next(data.epochs(train))[1].shape == (2, 3, 32, 32)
    finally:
        dist.destroy_process_group()


@pytest.mark.integration
def test_batches_do_not_depend_on_the_number_of_workers(tmp_path):
    root = colour_folder(tmp_path)
    batches = []
    for workers in (0, 2):
        cfg = DataConfig(root=str(root), size=32, val_fraction=0.0, scale_max=2.0, workers=workers)
        train, _, _ = data.make_loaders(cfg, batch_size=5, seed=3, pin_memory=False)
        batches.append(torch.cat([b for _, b in itertools.islice(data.epochs(train), 4)]))
    assert torch.equal(*batches)
    seeds = [seed for _, seed in train.sampler]
    assert len(set(seeds)) == len(seeds)  # every image gets its own crop and flips
