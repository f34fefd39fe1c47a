import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from colorgan.core import config
from colorgan.core.color import output_to_rgb
from colorgan.core.errors import ColorganError
from colorgan.evaluation import evaluate
from colorgan.evaluation.metrics import quantize
from colorgan.interfaces.cli import main
from colorgan.io import modelfile
from colorgan.models import generator_from_config
from colorgan.pipeline.colorizer import Colorizer

from .conftest import make_photo
from .test_metrics import TinyFeatures, no_downloads, vgg16_trunk_random  # noqa: F401


@pytest.fixture
def eval_dir(tmp_path):
    """5 photos of different shapes and one corrupt file."""
    root = tmp_path / "eval"
    root.mkdir()
    for i, size in enumerate([(48, 40), (40, 56), (64, 64), (50, 40), (40, 40)]):
        make_photo(100 + i, size).save(root / f"p{i}.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    return root


@pytest.fixture
def tiny_model(tmp_path):
    """A freshly initialised tiny U-Net saved as a self-describing generator file."""
    cfg = config.with_overrides(
        config.load("pix2pix-unet"),
        ["data.size=32", "model.width=4", "model.gen_kwargs={num_downs: 5}"],
    )
    torch.manual_seed(0)
    path = tmp_path / "tiny.safetensors"
    modelfile.save_generator(path, generator_from_config(cfg.model, 32), cfg)
    return path


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_gray_and_truth_write_all_four_outputs(eval_dir, tmp_path):
    out = tmp_path / "report"
    args = [
        "evaluate",
        "--model",
        "gray",
        "--model",
        "truth",
        "--data",
        str(eval_dir),
        "--size",
        "32",
        "--out",
        str(out),
        "--grid",
        "3",
        "--skip",
        "lpips",
        "--skip",
        "fid",
    ]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "grid.png",
        "per_image.csv",
        "report.json",
        "report.md",
    ]
    report = json.loads((out / "report.json").read_text())
    gray, truth = (m["metrics"] for m in report["models"])
    assert truth["mae_rgb"] == 0 and truth["mae_ab"] == 0 and truth["psnr"] == "inf"
    assert truth["ciede2000"] == 0 and truth["acc_ab@0.02"] == 1
    assert truth["fd_mobilenetv2"] == pytest.approx(0, abs=1e-3)
    assert gray["mae_ab"] > 0.05 and gray["psnr"] < 40 and gray["colorfulness"] < 5
    assert report["images"] == {
        "found": 6,
        "evaluated": 5,
        "skipped": [
            {
                "image": str(eval_dir / "broken.jpg"),
                "reason": report["images"]["skipped"][0]["reason"],
            }
        ],
    }
    rows = read_rows(out / "per_image.csv")
    assert len(rows) == 10 and {r["model"] for r in rows} == {"gray", "truth"}
    md = (out / "report.md").read_text()
    assert "short side resized to 32 px" in md and "5 evaluated, 1 skipped" in md
    assert "broken.jpg" in md and "lpips: not available: skipped" in md
    assert "| truth | 0 | 0 | 1 | 1 | inf | 1 | 0 |" in md
    with Image.open(out / "grid.png") as grid:  # 3 rows: input | gray | truth
        assert grid.size == (3 * 34 + 2, 3 * 34 + 2 + 14)


@pytest.mark.integration
def test_checkpoint_model_with_feature_metrics_injected(eval_dir, tiny_model, tmp_path):
    candidates = [
        evaluate.load_candidate(str(tiny_model), "cpu"),
        evaluate.load_candidate("truth", "cpu"),
    ]
    nets = {
        "lpips": evaluate.lpips_network(vgg16_trunk_random()),
        "fid": evaluate.inception_network(TinyFeatures()),
        "fd_mobilenetv2": evaluate.mobilenet_network(),
    }
    files = sorted(eval_dir.iterdir())
    settings = evaluate.EvalSettings(
        size=40, grid=2, batch_size=2, dataset=str(eval_dir), throughput_seconds=0.1
    )
    report = evaluate.evaluate(files, candidates, settings, tmp_path / "out", networks=nets)
    model, truth = (m["metrics"] for m in report["models"])
    assert model["lpips"] > 0 and model["fid"] > 0 and model["fd_mobilenetv2"] > 0
    assert truth["lpips"] == pytest.approx(0, abs=1e-6)
    assert truth["fid"] == pytest.approx(0, abs=1e-6)
    assert model["img_per_s_b1"] > 0 and model["img_per_s_b16"] > 0
    assert "img_per_s_b1" not in truth  # a baseline has no network to time
    info = report["models"][0]["info"]
    assert info["generator"] == "unet" and info["width"] == 4 and info["color_space"] == "lab"
    assert all(not m["unavailable"] for m in report["models"])
    # size 40 is no multiple of the model's 32: it ran padded, one row per image
    assert len([r for r in report["rows"] if r["model"] == str(tiny_model)]) == 5
    with pytest.raises(ColorganError, match="already holds a report"):
        evaluate.evaluate(files, candidates, settings, tmp_path / "out", networks=nets)


def test_rgb_model_is_scored_from_l_only(tiny_model, tmp_path):
    cfg = config.with_overrides(
        config.load("rgb-unet"),
        ["data.size=32", "model.width=4", "model.gen_kwargs={num_downs: 5}"],
    )
    path = tmp_path / "rgb.safetensors"
    modelfile.save_generator(path, generator_from_config(cfg.model, 32), cfg)
    cand = evaluate.load_candidate(str(path), "cpu")
    assert cand.runner.color_space == "rgb"
    truth = torch.rand(2, 3, 32, 32)
    l_norm = evaluate.crop_lightness(truth)
    out = cand.colorize(l_norm, truth)
    assert out.shape == (2, 3, 32, 32) and 0 <= out.min() and out.max() <= 1
    # the colour is the generator's RGB output for this L, nothing else
    expected = output_to_rgb(l_norm, cand.runner.network(l_norm), "rgb")
    torch.testing.assert_close(out, expected)


def test_evaluate_scores_exactly_what_colorize_writes():
    """One composition: an ab far outside the sRGB gamut (evaluate once clipped it, colorize
    scales chroma into the gamut) gives evaluate's 8-bit result == colorize's file pixels."""
    colorizer = Colorizer(
        lambda x: torch.full((x.shape[0], 2, *x.shape[-2:]), 0.9), working_size=32
    )
    cand = evaluate.Candidate("m", "generator", colorizer.model)
    gen = torch.Generator().manual_seed(0)
    truth = (torch.rand(2, 3, 32, 32, generator=gen) * 255).round() / 255
    got = quantize(cand.colorize(evaluate.crop_lightness(truth), truth))
    for image, out in zip(truth, got, strict=True):
        pixels = (image * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        written = np.asarray(colorizer.colorize(pixels))
        np.testing.assert_array_equal((out * 255).round().to(torch.uint8).permute(1, 2, 0), written)


@pytest.mark.integration
def test_weights_absent_are_reported_not_crashed(eval_dir, tmp_path, no_downloads):  # noqa: F811
    out = tmp_path / "report"
    args = [
        "evaluate",
        "--model",
        "gray",
        "--data",
        str(eval_dir),
        "--size",
        "32",
        "--out",
        str(out),
        "--grid",
        "0",
        "--skip",
        "fd_mobilenetv2",
    ]
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    missing = report["models"][0]["unavailable"]
    assert missing["lpips"].startswith("not available: ImageNet weights for vgg16")
    assert missing["fid"].startswith("not available: ")
    assert "lpips" not in report["models"][0]["metrics"]
    md = (out / "report.md").read_text()
    assert "lpips: not available: ImageNet weights for vgg16" in md
    assert not (out / "grid.png").exists()


def test_default_model_missing_is_one_clear_error(eval_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(modelfile, "DEFAULT_ONNX", tmp_path / "none.onnx")
    args = ["evaluate", "--model", "default", "--data", str(eval_dir), "--out", str(tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --model default: no default model is bundled")
    assert "\n" not in err


def test_bad_model_path_is_one_clear_error(eval_dir, tmp_path, capsys):
    args = ["evaluate", "--model", str(tmp_path / "nope"), "--data", str(eval_dir)]
    assert main(args) == 2
    assert "model not found" in capsys.readouterr().err


def test_no_readable_image_is_one_clear_error(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"not a png")
    gray = evaluate.load_candidate("gray", "cpu")
    with pytest.raises(ColorganError, match="none of the 1 images could be read.*a.png"):
        evaluate.evaluate([folder / "a.png"], [gray], evaluate.EvalSettings(), tmp_path / "o", {})
    assert not (tmp_path / "o").exists()
