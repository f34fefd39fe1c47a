"""`colorgan colorize`: files, folders, globs, names, no overwriting, exit codes, error lines."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from colorgan.core import config
from colorgan.interfaces.cli import main
from colorgan.io import modelfile
from colorgan.models import generator_from_config


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    cfg = config.with_overrides(
        config.load("pix2pix-unet"),
        ["data.size=32", "model.width=4", "model.gen_kwargs={num_downs: 4}"],
    )
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "g.safetensors"
    modelfile.save_generator(path, generator_from_config(cfg.model, 32), cfg)
    return str(path)


def image(path, h=30, w=40, seed=0, mode="RGB"):
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).convert(mode).save(path)
    return path


@pytest.fixture
def album(tmp_path):
    root = tmp_path / "album"
    image(root / "a.jpg")
    image(root / "b.png", seed=1)
    image(root / "1950s" / "c.tif", seed=2, mode="L")
    (root / "notes.txt").write_text("not a photo, not picked up from a folder")
    return root


def colorize(*args, model=None):
    return main(["colorize", *map(str, args), *(["--model", model] if model else [])])


def test_folder_recursive_mirrors_structure(album, tmp_path, model, capsys):
    out = tmp_path / "out"
    assert colorize(album, "-r", "-o", out, model=model) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.*")) == [
        "1950s/c_color.tif",
        "a_color.jpg",
        "b_color.png",
    ]
    stdout = capsys.readouterr().out
    assert f"{album / 'b.png'} -> {out / 'b_color.png'}" in stdout
    assert "colorized 3 images" in stdout
    assert Image.open(out / "1950s" / "c_color.tif").mode == "RGB"
    assert Image.open(out / "a_color.jpg").size == (40, 30)


def test_folder_without_recursive_and_format(album, tmp_path, model):
    out = tmp_path / "out"
    assert colorize(album, "-o", out, "--format", "png", model=model) == 0
    assert sorted(p.name for p in out.rglob("*")) == ["a_color.png", "b_color.png"]


def test_files_and_globs(album, tmp_path, model, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert colorize(album / "a.jpg", "album/**/*.tif", model=model) == 0  # default -o
    out = tmp_path / "colorized"
    found = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.*"))
    assert found == ["1950s/c_color.tif", "a_color.jpg"]


def test_bad_file_one_line_and_batch_goes_on(album, tmp_path, model, capsys):
    (album / "broken.jpg").write_text("this is text, not a JPEG")
    (album / "empty.png").write_bytes(b"")
    out = tmp_path / "out"
    assert colorize(album, "-o", out, model=model) == 1
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("error:")]
    assert errors == [
        f"error: {album / 'broken.jpg'}: not an image file (or a format Pillow cannot read)",
        f"error: {album / 'empty.png'}: empty file (0 bytes)",
    ]
    assert (out / "a_color.jpg").is_file() and (out / "b_color.png").is_file()


def test_existing_results_skipped_unless_overwrite(album, tmp_path, model, capsys):
    out = tmp_path / "out"
    assert colorize(album / "a.jpg", "-o", out, model=model) == 0
    result = out / "a_color.jpg"
    result.write_bytes(b"my own edit")
    assert colorize(album / "a.jpg", "-o", out, model=model) == 0
    assert result.read_bytes() == b"my own edit"
    assert "skipped" in capsys.readouterr().out
    assert colorize(album / "a.jpg", "-o", out, "--overwrite", model=model) == 0
    assert Image.open(result).size == (40, 30)


def test_never_writes_onto_an_input(tmp_path, model, capsys):
    image(tmp_path / "x.png")
    victim = image(tmp_path / "x_color.png", seed=5)  # also an input of this run
    before = victim.read_bytes()
    code = colorize(tmp_path / "x.png", victim, "-o", tmp_path, "--overwrite", model=model)
    assert code == 1
    assert victim.read_bytes() == before
    assert "is one of the inputs" in capsys.readouterr().err
    assert (tmp_path / "x_color_color.png").is_file()  # the other one still ran


def test_alpha_and_exif_through_the_cli(tmp_path, model):
    rgba = Image.new("RGBA", (20, 10), (90, 90, 90, 40))
    exif = Image.Exif()
    exif[0x0112] = 8
    exif[0x013B] = "Grandpa"
    rgba.save(tmp_path / "t.png", exif=exif.tobytes())
    assert colorize(tmp_path / "t.png", "-o", tmp_path / "o", model=model) == 0
    out = Image.open(tmp_path / "o" / "t_color.png")
    assert out.mode == "RGBA" and out.size == (10, 20)  # turned upright
    assert out.getpixel((0, 0))[3] == 40
    assert out.getexif()[0x0112] == 1 and out.getexif()[0x013B] == "Grandpa"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--saturation", "-1"], None),  # argparse: exit 2, usage on stderr
        (["--tile", "0"], None),
        (["--tile", "20"], "multiple of 16"),
        (["--device", "tpu"], "device"),
    ],
)
def test_usage_errors_exit_2(album, model, capsys, args, message):
    try:
        code = colorize(album / "a.jpg", *args, model=model)
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    if message:
        assert message in capsys.readouterr().err


def test_missing_inputs(album, tmp_path, model, capsys):
    assert colorize(tmp_path / "nope.jpg", model=model) == 2
    assert (
        capsys.readouterr().err.strip() == f"error: {tmp_path / 'nope.jpg'}: no such file or folder"
    )
    code = colorize(tmp_path / "nope.jpg", album / "a.jpg", "-o", tmp_path / "o", model=model)
    assert code == 1 and (tmp_path / "o" / "a_color.jpg").is_file()


def test_missing_default_model_is_one_line(tmp_path, monkeypatch, capsys):
    """A broken install without the bundled model: one line, exit 2, nothing written."""

    monkeypatch.setattr(modelfile, "DEFAULT_ONNX", tmp_path / "missing.onnx")
    monkeypatch.chdir(tmp_path)
    photo = image(tmp_path / "photo.jpg")
    assert main(["colorize", str(photo)]) == 2
    assert capsys.readouterr().err.strip() == f"error: {modelfile.NO_DEFAULT_MODEL}"
    assert not (tmp_path / "colorized").exists()


@pytest.mark.integration
def test_readme_main_command(tmp_path):
    """The README's first command: the bundled photo with the bundled model, offline."""
    example = Path(__file__).resolve().parents[1] / "examples" / "castle_clinton_1961.jpg"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    run = subprocess.run(
        [sys.executable, "-m", "colorgan", "colorize", str(example), "-o", "colorized/"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    out = tmp_path / "colorized" / "castle_clinton_1961_color.jpg"
    assert str(out.relative_to(tmp_path)) in run.stdout and out.is_file()
    assert Image.open(out).size == Image.open(example).size


def test_output_folder_inside_input_folder_is_not_rescanned(album, model, capsys):
    out = album / "colorized"
    assert colorize(album, "-r", "-o", out, model=model) == 0
    assert colorize(album, "-r", "-o", out, model=model) == 0  # again: results are not inputs
    assert "colorized 0 images" in capsys.readouterr().out
    assert not list(out.rglob("*_color_color*"))


def test_onnx_and_torch_backends_agree(tmp_path, model):
    src = image(tmp_path / "in" / "p.png", h=40, w=56, seed=5)
    outs = []
    for backend in ("torch", "onnx"):
        out = tmp_path / backend
        assert (
            main(["colorize", str(src), "-o", str(out), "--model", model, "--backend", backend])
            == 0
        )
        outs.append(np.asarray(Image.open(out / "p_color.png"), dtype=np.int16))
    assert outs[0].shape == (40, 56, 3)
    assert np.abs(outs[0] - outs[1]).max() <= 1  # 8-bit rounding at most
