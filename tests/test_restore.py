"""The repair before colour (colorgan.pipeline.restore), its synthetic damage
(colorgan.training.damage), `colorgan restore`, `colorize --restore` and Colorizer(restore=)."""

import json
import shutil

import cv2
import numpy as np
import pytest
from PIL import Image

from colorgan.core.errors import ColorganError
from colorgan.core.fastcolor import lightness
from colorgan.interfaces import cli
from colorgan.io import images
from colorgan.pipeline import restore
from colorgan.pipeline.colorizer import Colorizer
from colorgan.training.damage import MASK_DELTA, damage
from colorgan.training.grain import classical_sigma


def smooth(h=96, w=128, seed=0) -> np.ndarray:
    """A smooth lightness ramp with gentle waves: no marks, little fine detail."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(seed)
    wave = 10 * np.sin(x / rng.uniform(15, 30)) * np.cos(y / rng.uniform(15, 30))
    return (30 + 40 * x / w + wave).astype(np.float32)


def scratched(L: np.ndarray, row: int = 40, value: float = 98.0):
    out = L.copy()
    out[row : row + 2, 10:-10] = value
    mask = np.zeros(L.shape, bool)
    mask[row : row + 2, 10:-10] = True
    return out, mask


class StubDetector:
    """Finds exactly the given mask (the network's job is tested on the bundled model)."""

    def __init__(self, mask):
        self.mask = mask

    def marks(self, L):
        return self.mask


# --- synthetic damage ----------------------------------------------------------------


def test_damage_is_seeded_and_its_mask_is_exactly_what_changed():
    L = smooth(160, 200)
    a, mask = damage(L, np.random.default_rng(3), grain=False)
    b, same = damage(L, np.random.default_rng(3), grain=False)
    c, other = damage(L, np.random.default_rng(4), grain=False)
    assert np.array_equal(a, b) and np.array_equal(mask, same)
    assert not np.array_equal(mask, other)
    assert 0 < mask.mean() < 0.5
    # outside the mask only 8-bit rounding (1 / 2.55 at most); inside, at least MASK_DELTA
    assert np.abs(a - L)[~mask].max() < MASK_DELTA + 0.2
    assert np.abs(a - L)[mask].min() >= MASK_DELTA - 0.2


def test_some_scratches_are_straight_hard_edged_lines():
    from colorgan.training.damage import _scratch

    straight = 0
    for seed in range(60):
        alpha = _scratch(200, 200, np.random.default_rng(seed))
        if not alpha.any() or not np.isin(alpha, (0.0, 1.0)).all():
            continue  # anti-aliased or softened: a curve (or a soft line)
        ys, xs = np.nonzero(alpha)
        pts = np.stack([xs, ys], 1).astype(np.float64)
        pts -= pts.mean(0)
        # hard-edged and on one straight line: the spread across its main axis is a width
        across = np.linalg.svd(pts, full_matrices=False)[1][-1] / np.sqrt(len(pts))
        assert across < 2.5, seed
        straight += 1
    assert 5 <= straight <= 40  # some, not all


def test_grain_and_jpeg_are_nuisances_outside_the_mask():
    L = smooth(160, 200)
    rough, mask = damage(L, np.random.default_rng(5), grain=True)
    _, plain_mask = damage(L, np.random.default_rng(5), grain=False)
    assert np.array_equal(mask, plain_mask)  # grain drawn after the mask is taken
    assert rough.dtype == np.float32 and rough.shape == L.shape


# --- the steps ----------------------------------------------------------------


def test_parse_steps():
    assert restore.parse_steps(None) == restore.DEFAULT_STEPS
    assert restore.parse_steps("default") == restore.DEFAULT_STEPS
    assert restore.DEFAULT_STEPS == ("scratches", "dust", "grain", "fading")
    assert restore.parse_steps("all") == restore.STEPS
    assert restore.parse_steps("dust, scratches") == ("scratches", "dust")
    assert restore.parse_steps(["fading"]) == ("fading",)
    with pytest.raises(ColorganError, match="scratches, dust, grain, fading"):
        restore.parse_steps("scratches,colour")


def test_fill_changes_only_the_grown_mask_and_removes_a_scratch():
    L = smooth()
    bad, mask = scratched(L)
    out, grown = restore.fill(bad, mask)
    assert np.array_equal(out[~grown], bad[~grown])  # every other pixel exactly
    assert mask[grown].mean() < 1 and grown[mask].all()
    assert np.abs(out - L)[mask].mean() < 0.2 * np.abs(bad - L)[mask].mean()


def test_fill_of_marks_across_tile_edges_matches_one_whole_pass(monkeypatch):
    L = smooth(300, 300)
    bad, mask = scratched(L, row=restore.FILL_TILE - 1)
    tiled, _ = restore.fill(bad, mask)
    monkeypatch.setattr(restore, "FILL_TILE", 1024)
    whole, _ = restore.fill(bad, mask)
    # inpainting's marching order differs by region: not identical, as good
    error = [float(np.abs(x - L)[mask].mean()) for x in (tiled, whole)]
    assert error[0] < error[1] + 0.3 and np.abs(tiled - whole).max() < 3.0


def test_a_clean_photo_passes_through_exactly():
    L = smooth()
    nothing = StubDetector(np.zeros(L.shape, bool))
    fixed = restore.repair(L, restore.STEPS, detector=nothing)
    assert np.array_equal(fixed.L, L) and not fixed.mask.any()
    assert fixed.summary() == "nothing to repair"


def test_repair_fills_scratches_and_dust_separately():
    L = smooth()
    bad, line = scratched(L)
    speck = np.zeros(L.shape, bool)
    speck[70:73, 60:63] = True
    bad[speck] = 2.0
    marks = StubDetector(line | speck)
    only_dust = restore.repair(bad, ("dust",), detector=marks)
    assert only_dust.mask[speck].all() and not only_dust.mask[line].any()
    assert np.array_equal(only_dust.L[line], bad[line])
    both = restore.repair(bad, ("scratches", "dust"), detector=marks)
    assert both.mask[line | speck].all() and set(both.done) == {"scratches", "dust"}
    assert np.array_equal(both.L[~both.mask], bad[~both.mask])


def test_fading_stretches_a_faded_photo_and_leaves_a_full_range_one():
    L = np.clip(smooth() * 1.6 - 40, 0, 100)  # spans most of 0..100
    faded = 35 + L * 0.4
    assert restore.fading_range(L) is None
    fixed = restore.repair(faded, ("fading",))
    assert "fading" in fixed.done
    assert np.abs(fixed.L - L).mean() < 0.5 * np.abs(faded - L).mean()
    low, high = np.percentile(fixed.L, (restore.FADE_LOW, restore.FADE_HIGH))
    assert abs(low - restore.TARGET_LOW) < 1 and abs(high - restore.TARGET_HIGH) < 1
    assert np.array_equal(restore.repair(L, ("fading",)).L, L)
    dark = np.clip(L * 0.35, 0, 100)  # a flat low-key photo: its blacks are still black
    assert restore.fading_range(dark) is None


def test_bundled_grain_estimator_reads_white_grain_and_the_step_removes_it():
    rng = np.random.default_rng(0)
    L = smooth(256, 256)
    assert restore.grain_sigma(L) is None  # clean: left alone
    assert np.array_equal(restore.repair(L, ("grain",)).L, L)
    noisy = L + rng.normal(0, 3.0, L.shape).astype(np.float32)
    assert 2.2 < restore.grain_sigma(noisy) < 3.8
    assert 2.5 < classical_sigma(noisy) < 3.6  # the classical estimate agrees here
    fixed = restore.repair(noisy, ("grain",))
    assert "grain" in fixed.done
    assert np.abs(fixed.L - L).mean() < 0.7 * np.abs(noisy - L).mean()


def test_bundled_grain_estimator_reads_clumped_grain_the_classical_estimate_misses():
    """Blurred grain (as film's clumps) hardly reaches the finest detail: Immerkaer's
    estimate reads a fraction of it; the network reads it and the step removes it."""
    noise = cv2.GaussianBlur(np.random.default_rng(2).normal(0, 1, (256, 256)), (0, 0), 1.0)
    L = smooth(256, 256)
    grainy = (L + 3.0 * noise / noise.std()).astype(np.float32)
    assert classical_sigma(grainy) < 1.5
    assert 2.0 < restore.grain_sigma(grainy) < 4.0
    fixed = restore.repair(grainy, ("grain",))
    assert np.abs(fixed.L - L).mean() < 0.7 * np.abs(grainy - L).mean()


def test_grain_step_leaves_texture_in_part_of_a_photo_alone():
    """Fine texture fools the classical estimate; the network's map reads it as grain only
    where it is, and the photo's estimate is a low quantile of the map: grain covers the
    whole photo, texture a part (here a third: foliage, gravel)."""
    noise = np.random.default_rng(1).normal(0, 1, (256, 256)).astype(np.float32)
    texture = cv2.GaussianBlur(noise, (0, 0), 0.8)
    L = smooth(256, 256)
    L[:, :85] = 50 + texture[:, :85] * np.float32(15 / texture.std())
    assert classical_sigma(L[:, :85]) > restore.GRAIN_MIN  # the classical one is fooled
    assert restore.grain_sigma(L) is None
    assert np.array_equal(restore.repair(L, ("grain",)).L, L)


def test_the_grain_is_read_on_the_photo_before_its_marks_are_filled(monkeypatch):
    """The fill leaves smooth streaks the estimator reads as grain-free: the gate reads the
    photo as it came (a 12 MP grainy scan's reading fell from 2.7 to 0.9 after the fill)."""
    L, _ = scratched(smooth(96, 128))
    seen = []
    monkeypatch.setattr(restore, "grain_sigma", lambda x: seen.append(x.copy()))
    fixed = restore.repair(L, ("scratches", "grain"))
    assert fixed.mask.any() and len(seen) == 1
    assert np.array_equal(seen[0], L)  # the input, not the filled photo


def test_over_views_undoes_each_view():
    """An answer that depends on where a pixel lies in the view (not only on its value)
    comes back at the pixel it belongs to, for each (transpose, flip)."""
    L = np.arange(35, dtype=np.float32).reshape(5, 7)
    for view in restore.VIEWS:
        assert np.array_equal(restore.over_views(lambda v: v * 2, L, (view,)), L * 2)
    # each view's own row and column index, mapped back to the photo's pixels
    y, x = np.indices(L.shape)
    h, w = L.shape
    where = {
        (False, False): (y, x),
        (False, True): (y, w - 1 - x),
        (True, False): (x, y),
        (True, True): (x, h - 1 - y),
    }

    def index(v, k):
        return np.indices(v.shape)[k].astype(np.float32)

    for view, (row, col) in where.items():
        got = [restore.over_views(lambda v, k=k: index(v, k), L, (view,)) for k in (0, 1)]
        assert np.array_equal(got[0], row) and np.array_equal(got[1], col), view


def test_grain_is_read_on_thin_and_tiny_photos():
    rng = np.random.default_rng(3)
    for shape in ((1, 1), (3, 3), (2, 200), (40, 3000), (130, 5)):
        L = np.full(shape, 50, np.float32)
        assert restore.grain_tiles(L).shape[1:] == (min(128, shape[0]), min(128, shape[1]))
        assert restore.grain_sigma(L) is None
    strip = (50 + rng.normal(0, 4, (40, 3000))).astype(np.float32)
    assert restore.grain_sigma(strip) is not None  # read on 25 tiles of 40 x 128


def test_a_flat_photo_is_not_a_faded_print():
    flat = np.full((64, 64), 50, np.float32)
    assert restore.fading_range(flat) is None
    assert np.array_equal(restore.repair(flat, ("fading",)).L, flat)


# --- the bundled detector ----------------------------------------------------------------


def test_bundled_detector_finds_synthetic_damage_and_leaves_a_clean_photo_alone():
    from colorgan.training.damage import damage

    L = smooth(192, 256)
    detector = restore.default_detector()
    assert not detector.marks(L).any()  # the clean photo: no marks at the shipped threshold
    counts = np.zeros(3)
    for seed in range(4):  # marks of every kind, grain and JPEG under them
        bad, mask = damage(L, np.random.default_rng(seed))
        p = detector.probability(bad)
        assert np.median(p[mask]) > np.percentile(p[~mask], 99), seed
        marks = detector.marks(bad)
        counts += [np.sum(marks & mask), marks.sum(), mask.sum()]
    precision, recall = counts[0] / counts[1], counts[0] / counts[2]
    assert precision > 0.6 and recall > 0.7  # on this smooth photo (real ones: docs/restore.md)


@pytest.mark.parametrize("value", [5.0, 97.0])
def test_bundled_detector_finds_a_straight_hard_edged_line(value):
    """A film scratch: one column, dark or bright, the photo's full height, no soft edge
    (the first detectors, trained on curves only, missed it)."""
    L = smooth(192, 256, seed=1)
    bad = L.copy()
    bad[:, 131] = value
    marks = restore.default_detector().marks(bad)
    assert marks[:, 130:133].any(axis=1).mean() > 0.8  # found along most of its length
    marks[:, 129:134] = False
    assert marks.mean() < 0.005  # and little else


@pytest.mark.parametrize(
    "network, name, what",
    [
        (restore.Detector, "damage_detector", "damage detector"),
        (restore.GrainEstimator, "grain_estimator", "grain estimator"),
    ],
)
def test_a_damaged_network_file_is_refused(tmp_path, network, name, what):
    onnx = tmp_path / "d.onnx"
    info = tmp_path / "d.json"
    data = bytearray((restore.ASSETS / f"{name}.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx.write_bytes(bytes(data))
    shutil.copy(restore.ASSETS / f"{name}.json", info)
    with pytest.raises(ColorganError, match="damaged file"):
        network(onnx, info)
    with pytest.raises(ColorganError, match=f"no {what}"):
        network(tmp_path / "missing.onnx", info)
    assert json.loads(info.read_text())["sha256"] != ""
    info.write_text("{not json")
    with pytest.raises(ColorganError, match="not the JSON of a bundled network"):
        network(onnx, info)


# --- interfaces ----------------------------------------------------------------


def gray_file(path, L=None):
    L = smooth() if L is None else L
    Image.fromarray(np.clip(np.round(L * 2.55), 0, 255).astype(np.uint8), "L").save(path)
    return path


def test_restore_command_writes_gray_same_size_masks_and_never_overwrites(tmp_path, capsys):
    bad, _ = scratched(smooth())
    src = gray_file(tmp_path / "scan.png", bad)
    (tmp_path / "notes.jpg").write_text("not a photo")
    out = tmp_path / "out"
    argv = [
        "restore",
        str(src),
        str(tmp_path / "notes.jpg"),
        "-o",
        str(out),
        "--save-mask",
        "--steps",
        "all",
    ]
    assert cli.main(argv) == 1  # one bad file: the batch goes on
    err = capsys.readouterr().err
    assert "notes.jpg" in err and "Traceback" not in err
    result = Image.open(out / "scan_restored.png")
    assert result.size == (128, 96)
    pixels = np.asarray(result.convert("RGB"), int)
    assert (pixels[..., 0] == pixels[..., 1]).all()  # gray
    assert Image.open(out / "scan_restored_mask.png").size == (128, 96)
    before = (out / "scan_restored.png").read_bytes()
    assert cli.main(["restore", str(src), "-o", str(out)]) == 0
    assert "skip:" in capsys.readouterr().err
    assert (out / "scan_restored.png").read_bytes() == before


def test_restore_steps_are_an_argparse_error(tmp_path, capsys):
    src = gray_file(tmp_path / "scan.png")
    with pytest.raises(SystemExit) as exc:
        cli.main(["restore", str(src), "--steps", "dents"])
    assert exc.value.code == 2
    assert "choose from scratches, dust, grain, fading" in capsys.readouterr().err


def test_colorize_restore_option_parses():
    parser = cli.build_parser(["colorize"])
    args = parser.parse_args(["colorize", "a.jpg", "--restore"])
    assert args.restore == restore.DEFAULT_STEPS
    args = parser.parse_args(["colorize", "a.jpg", "--restore", "dust,scratches"])
    assert args.restore == ("scratches", "dust")
    assert parser.parse_args(["colorize", "a.jpg"]).restore is None


class GrayNetwork:
    """A stand-in generator: ab = 0 everywhere (numpy in, numpy out)."""

    numpy_io = True

    def __call__(self, x):
        return np.zeros((len(x), 2, *x.shape[-2:]), np.float32)


def test_colorizer_restore_keeps_the_repaired_lightness(monkeypatch):
    L = smooth()
    bad, mask = scratched(L)
    monkeypatch.setattr(restore, "default_detector", lambda: StubDetector(mask))
    photo = images.photo_from_array(np.clip(np.round(bad * 2.55), 0, 255).astype(np.uint8))
    colorizer = Colorizer(GrayNetwork(), working_size=64)
    plain = lightness(images.read_image(colorizer.colorize(photo)).pixels)
    repaired = lightness(
        images.read_image(colorizer.colorize(photo, restore="scratches,dust")).pixels
    )
    assert np.abs(plain - bad)[mask].mean() < 1.0  # without: the scratch stays
    assert np.abs(repaired - L)[mask].mean() < 0.3 * np.abs(bad - L)[mask].mean()
    assert np.abs(repaired - plain)[~restore.fill(bad, mask)[1]].max() < 0.5


def test_restore_command_says_what_it_repaired(tmp_path, caplog):
    L = smooth()
    src = gray_file(tmp_path / "faded.png", 40 + 0.3 * L)
    with caplog.at_level("INFO"):
        assert cli.main(["restore", str(src), "-o", str(tmp_path / "out")]) == 0
    assert "faded.png: fading L" in caplog.text


def test_the_package_restore_function_repairs_a_photo(monkeypatch):
    import colorgan

    L = smooth()
    bad, mask = scratched(L)
    monkeypatch.setattr(restore, "default_detector", lambda: StubDetector(mask))
    image = colorgan.restore(Image.fromarray(np.round(bad * 2.55).astype(np.uint8), "L"), "all")
    out = lightness(np.asarray(image))
    assert image.size == (128, 96)
    assert np.abs(out - L)[mask].mean() < 0.3 * np.abs(bad - L)[mask].mean()
