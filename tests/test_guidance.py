"""Hints, a reference photo, vividness and suggested colours through the Colorizer's API, with
stand-in networks honouring the guided/distribution contract (tests/guided_fakes.py)."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from colorgan import Colorizer, Hint
from colorgan.core import color, fastcolor
from colorgan.core.errors import ColorganError
from colorgan.pipeline import guidance
from tests.guided_fakes import CENTERS, FakeBins, guided_colorizer

RED = (200, 40, 40)


def gray_photo(h=48, w=64, level=128):
    return np.full((h, w), level, np.uint8)


def ab_at(image, x, y):
    """Lab ab (not normalised) of one pixel of a PIL result."""
    rgb = torch.tensor(np.asarray(image.convert("RGB"))[y, x] / 255.0, dtype=torch.float32)
    return color.rgb_to_lab(rgb.view(1, 3, 1, 1))[0, 1:, 0, 0]


def ab_of(rgb):
    return color.rgb_to_lab(torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1) / 255)[
        0, 1:, 0, 0
    ]


@pytest.mark.parametrize("value", ["#12345", "red", "#gg0000", (300, 0, 0), (1, 2), "", None])
def test_bad_colours_name_the_value(value):
    with pytest.raises(ColorganError, match="hint colour") as info:
        Hint(1, 1, value)
    assert repr(value) in str(info.value)


def test_colour_forms_and_parsing():
    assert guidance.parse_color("#C01020") == (192, 16, 32) == guidance.parse_color([192, 16, 32])
    assert guidance.parse_color("#f00") == (255, 0, 0)
    assert Hint.parse("10,20,#ff0000") == Hint(10, 20, "#ff0000")
    assert Hint.parse("10.5,20,#ff0000,5") == Hint(10.5, 20, "#ff0000", 5)
    assert Hint.parse({"x": 1, "y": 2, "color": [1, 2, 3]}).rgb == (1, 2, 3)
    for bad in (
        "10,20",
        "a,b,#ff0000",
        {"x": 1, "y": 2},
        {"x": 1, "y": 2, "color": "#fff", "z": 0},
    ):
        with pytest.raises(ColorganError, match="hint"):
            Hint.parse(bad)
    with pytest.raises(ColorganError, match="size=0"):
        Hint(1, 1, "#fff", 0)


def test_hints_file(tmp_path):
    path = tmp_path / "hints.json"
    path.write_text(json.dumps([{"x": 3, "y": 4, "color": "#00ff00", "size": 5}]))
    assert guidance.read_hints_file(path) == (Hint(3, 4, "#00ff00", 5),)
    path.write_text('{"x": 3}')
    with pytest.raises(ColorganError, match="list"):
        guidance.read_hints_file(path)
    path.write_text("[{")
    with pytest.raises(ColorganError, match="not JSON"):
        guidance.read_hints_file(path)


def test_hint_colour_reaches_its_point_at_the_photos_lightness():
    colorizer = guided_colorizer()
    photo = gray_photo()
    photo[:, :24] = 40  # a dark region: the hint's colour does not spread into it
    out = colorizer.colorize(photo, hints=[Hint(40, 20, guidance.to_hex(RED))])
    assert torch.allclose(ab_at(out, 40, 20), ab_of(RED), atol=2.0)
    assert ab_at(out, 5, 40).abs().max() < 1.0  # another region: no colour
    L = fastcolor.lightness(guidance.images.read_image(out).pixels)
    assert np.abs(L - fastcolor.lightness(guidance.images.read_image(photo).pixels)).max() < 0.5


def test_hint_coordinates_are_the_input_photos_pixels():
    colorizer = guided_colorizer(working_size=40)
    colorizer.colorize(gray_photo(300, 400), hints=[Hint(399, 299, "#ff0000", 1)])
    _, hint, _ = colorizer.model.network.calls[-1]
    rows, cols = torch.nonzero(hint[0, 2], as_tuple=True)
    assert (rows.tolist(), cols.tolist()) == ([29], [39])  # bottom-right of the 30x40 input
    with pytest.raises(guidance.HintOutside, match=r"\(400, 10\).*400x300"):
        colorizer.colorize(gray_photo(300, 400), hints=[Hint(400, 10, "#ff0000")])


def test_reference_colours_follow_the_reference(tmp_path):
    Image.new("RGB", (50, 30), RED).save(tmp_path / "red.png")
    out = guided_colorizer().colorize(gray_photo(), reference=tmp_path / "red.png")
    assert ab_at(out, 10, 10)[0] > 20  # red: a > 0 everywhere
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ColorganError, match=r"reference .*notes.png"):
        guided_colorizer().colorize(gray_photo(), reference=tmp_path / "notes.png")


def test_reference_vector_is_the_histogram_and_a_flag():
    ref = guidance.reference_vector(Image.new("RGB", (300, 200), (40, 40, 220)), FakeBins)
    assert ref.shape == (FakeBins.Q + 1,) and ref[-1] == 1.0
    assert ref[4] == 1.0 and float(ref[:-1].sum()) == pytest.approx(1.0)  # all blue


@pytest.mark.parametrize("mode", ["tiles", "hybrid"])
def test_hints_and_reference_in_tiled_modes(mode):
    colorizer = guided_colorizer()
    out = colorizer.colorize(
        gray_photo(96, 128), hints=[Hint(64, 48, "#c82828", 9)], mode=mode, tile=32, stride=24
    )
    assert torch.allclose(ab_at(out, 64, 48), ab_of(RED), atol=4.0)


def test_tiles_spread_a_hint_beyond_its_tiles_as_the_single_pass_does():
    """A hint at x=16 of a flat gray photo; the tiles over x=60 do not contain it. Spread over
    the whole photo (not per tile), the hint still colours x=60 as in "single" mode."""
    colorizer, hint = guided_colorizer(working_size=64), [Hint(16, 48, "#c82828", 5)]
    single = ab_at(colorizer.colorize(gray_photo(96, 128), hints=hint), 60, 48)
    tiles = colorizer.colorize(gray_photo(96, 128), hints=hint, mode="tiles", tile=32, stride=24)
    assert single[0] > 10  # red, faded with distance
    assert torch.allclose(ab_at(tiles, 60, 48), single, atol=2.0)
    assert torch.allclose(ab_at(tiles, 16, 48), ab_of(RED), atol=4.0)


def test_a_model_without_guidance_refuses_hints():
    plain = Colorizer(lambda x: torch.zeros(x.shape[0], 2, *x.shape[-2:]), working_size=16)
    with pytest.raises(ColorganError, match="no hints or reference"):
        plain.colorize(gray_photo(), hints=[Hint(1, 1, "#ff0000")])


def test_higher_vividness_is_more_vivid():
    colorizer = guided_colorizer("distribution")
    chroma = []
    for v in (0.0, 0.5, 1.0):
        out = np.asarray(colorizer.colorize(gray_photo(), vividness=v)).astype(int)
        chroma.append(np.ptp(out, axis=-1).mean())
    assert chroma[0] < chroma[1] < chroma[2]
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ColorganError, match="vividness"):
            colorizer.colorize(gray_photo(), vividness=bad)


def bin_hex(index, photo):
    """The hex colour of a fake bin at the photo's own lightness (pixel 0, 0)."""
    lum = float(fastcolor.lightness(guidance.images.read_image(photo).pixels)[0, 0])
    lab = torch.cat([torch.tensor([lum]), color.denormalize_ab(CENTERS[index])])
    rgb = color.lab_to_rgb_in_gamut(lab.view(1, 3, 1, 1)).view(3)
    return guidance.to_hex((rgb * 255).round().int().tolist())


def test_suggest_lists_the_likely_colours_at_a_point():
    colorizer = guided_colorizer("distribution")
    photo = gray_photo()
    plain = colorizer.suggest(photo, 30, 20, k=3)
    probs = [p for _, p in plain]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1
    assert [h for h, _ in plain[:2]] == [bin_hex(1, photo), "#808080"]  # red, then gray
    # with a green hint there, green comes first, at the photo's own lightness
    hinted = colorizer.suggest(photo, 30, 20, k=2, hints=[Hint(30, 20, "#20c020")])
    assert hinted[0][0] == bin_hex(2, photo) and hinted[0][1] > 0.9
    with pytest.raises(ColorganError, match="distribution head"):
        guided_colorizer().suggest(photo, 1, 1)
    with pytest.raises(guidance.HintOutside):
        colorizer.suggest(photo, 64, 1)


def test_predict_many_mixes_guided_and_automatic_photos():
    colorizer = guided_colorizer()
    Ls = [fastcolor.lightness(guidance.images.read_image(gray_photo()).pixels) for _ in range(3)]
    guide = colorizer.guide([Hint(40, 20, "#ff0000")])
    smalls = colorizer.first_pass(Ls, [None, guide, None], batch_size=8)
    assert len(colorizer.model.network.calls) == 1  # one batch
    assert np.abs(smalls[0]).max() == 0 and np.abs(smalls[1]).max() > 0.3


def test_hints_accepted_as_dicts_for_rest():
    out = guided_colorizer().colorize(gray_photo(), hints=[{"x": 40, "y": 20, "color": "#c82828"}])
    assert ab_at(out, 40, 20)[0] > 20


def test_simulated_hints_follow_the_siggraph_protocol():
    from colorgan.evaluation.simulated_hints import image_rng, sample_hints

    ab = torch.rand(2, 64, 64) * 2 - 1
    one = sample_hints(ab, 1, image_rng(3, "b.png"))
    rows, cols = torch.nonzero(one[2], as_tuple=True)
    top, left = int(rows.min()), int(cols.min())
    assert len(rows) == 36 and (int(rows.max()) - top, int(cols.max()) - left) == (5, 5)
    patch_mean = ab[:, top : top + 6, left : left + 6].mean(dim=(1, 2))
    torch.testing.assert_close(one[:2, top, left], patch_mean)
    many = [sample_hints(ab, 50, image_rng(0, "a.png")) for _ in range(2)]
    assert torch.equal(many[0], many[1])  # the same points for every model and run
    assert not torch.equal(many[0], sample_hints(ab, 50, image_rng(0, "c.png")))
    ys, xs = torch.nonzero(many[0][2], as_tuple=True)
    assert abs(float(ys.float().mean()) - 31.5) < 6 and abs(float(xs.float().mean()) - 31.5) < 6


# --- a real (tiny, untrained) guided distribution-head generator, torch and ONNX -------------


@pytest.fixture(scope="module")
def guided_file(tmp_path_factory):
    from colorgan.core import config
    from colorgan.io import modelfile
    from colorgan.models import generator_from_config

    cfg = config.with_overrides(
        config.load("guided-distribution"),
        [
            "model.gen_kwargs={encoder: mobilenet_v2, weights: null}",
            "model.width=8",
            "data.size=64",
            "model.working_size=64",
        ],
    )
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("guided") / "guided.safetensors"
    modelfile.save_generator(path, generator_from_config(cfg.model, 64, False), cfg)
    return path


@pytest.mark.integration
def test_a_real_guided_model_through_torch_and_onnx(guided_file, tmp_path):
    from tests.conftest import make_photo

    photo = np.asarray(make_photo(3, (96, 72)).convert("L"))
    hints = [Hint(48, 36, "#20c020", 5)]
    Image.new("RGB", (40, 30), (200, 30, 30)).save(tmp_path / "red.png")
    outs = {}
    for backend in ("torch", "onnx"):
        colorizer = Colorizer.load(guided_file, device="cpu", backend=backend)
        assert (colorizer.head, colorizer.guided) == ("distribution", True)
        auto = np.asarray(colorizer.colorize(photo), np.int16)
        outs[backend] = np.asarray(
            colorizer.colorize(photo, hints=hints, reference=tmp_path / "red.png", vividness=0.5),
            np.int16,
        )
        assert np.abs(outs[backend][36, 48] - auto[36, 48]).max() > 0  # the hint acts
        suggestions = colorizer.suggest(photo, 10, 10, k=3)
        assert len(suggestions) == 3 and all(h.startswith("#") for h, _ in suggestions)
    assert np.abs(outs["torch"] - outs["onnx"]).max() <= 2  # 8-bit rounding, float error


@pytest.mark.integration
def test_a_guided_model_exports_with_its_guidance_inputs(guided_file, tmp_path):
    from colorgan.interfaces.cli import main
    from colorgan.pipeline.onnxrun import OnnxGenerator

    assert main(["export", str(guided_file), "-o", str(tmp_path / "g.onnx")]) == 0
    net = OnnxGenerator(tmp_path / "g.onnx")
    assert net.input_names == ["l_norm", "hint", "ref"]


def test_hint_logits_at_the_hinted_cells_equal_the_whole_map_formula():
    """HintLogits adds its prior only where some image of the batch has a hint (ONNX
    Runtime's time): the same numbers as the formula over the whole map, with and without
    hints, for batches where some images have none; gradients reach the gain."""
    from colorgan.core import abbins
    from colorgan.models.guidance_layers import HintLogits, pool_hints, soft_encode

    layer = HintLogits(0.7)
    gen = torch.Generator().manual_seed(0)
    centers = torch.from_numpy(abbins.centers().copy())
    for batch, points in ((1, 0), (1, 5), (3, 4), (2, 0)):
        logits = torch.randn(batch, abbins.Q, 16, 24, generator=gen) * 3
        hint = torch.zeros(batch, 3, 32, 48)
        for i in range(batch):
            for _ in range(0 if batch == 3 and i == 0 else points):  # batch 3: image 0 bare
                y, x = torch.randint(0, 28, (2,), generator=gen).tolist()
                hint[i, :2, y : y + 3, x : x + 3] = torch.rand(2, 1, 1, generator=gen) - 0.5
                hint[i, 2, y : y + 3, x : x + 3] = 1
        small = pool_hints(hint, (16, 24))
        whole = logits + 0.7 * small[:, 2:] * torch.log(soft_encode(small[:, :2], centers) + 1e-3)
        out = layer(logits, hint)
        assert torch.equal(out, whole), (batch, points)
    logits.requires_grad_(True)
    layer(logits, hint).sum().backward()
    assert layer.gain.grad is not None and logits.grad is not None
