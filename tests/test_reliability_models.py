"""Issue 15, failure 5: hostile or broken model files. Broken YAML in the metadata, NaN/Inf
weights or outputs, and a config that describes a far bigger network than the file holds
are one-line errors naming the file, refused before anything large is allocated."""

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from colorgan.core.errors import ColorganError
from colorgan.interfaces.cli import main
from colorgan.io import modelfile
from colorgan.pipeline.colorizer import Colorizer

from .reliability_helpers import noise_photo, run_cli, tiny_config, with_meta


def colorize(tmp_path, model, *extra):
    src = noise_photo(tmp_path / "in" / "photo.png", side=48)
    return main(
        [
            "colorize",
            str(src),
            "-o",
            str(tmp_path / "out"),
            "--model",
            str(model),
            "--backend",
            "torch",
            *extra,
        ]
    )


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_broken_yaml_in_the_metadata_is_one_line(tiny_model, tmp_path, capsys):
    bad = with_meta(tiny_model, tmp_path / "bad.safetensors", "model: [width: 4\n  data: {")
    assert colorize(tmp_path, bad) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: {bad}: ") and "YAML" in line


@pytest.mark.parametrize(
    "text, words",
    [
        ("- just\n- a list\n", "mapping"),
        ("model: {generator: unet3000}\n", "unknown generator 'unet3000'"),
        ("model: {width: 1000000000}\n", "model.width"),
        ("model: {generator: unet, gen_kwargs: {num_downs: 100000}}\n", "num_downs"),
        ("model: {width: -3}\n", "model.width"),
    ],
)
def test_config_metadata_out_of_bounds_is_one_line(tiny_model, tmp_path, capsys, text, words):
    bad = with_meta(tiny_model, tmp_path / "bad.safetensors", text)
    assert colorize(tmp_path, bad) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: {bad}: ") and words in line


@pytest.mark.parametrize(
    "width, words",
    [
        (1_000_000, "model.width=1000000 in its config metadata is outside 0..65,536"),
        (4096, "its weights do not match its config (a unet of width 4096: 25,233,473,543"),
    ],
)
@pytest.mark.integration
def test_a_config_describing_a_far_bigger_network_is_refused_without_allocating(
    tiny_model, tmp_path, width, words
):
    """The issue's case: width 1,000,000 in a 5 MB file tried to allocate 60 GB (a width in
    bounds is caught by comparing with the file's tensors). The child runs with a 12 GB
    address-space limit, so the old behaviour fails fast instead of exhausting memory."""
    cfg = tiny_config().to_dict()
    cfg["model"]["width"] = width
    bad = with_meta(tiny_model, tmp_path / "huge.safetensors", yaml.safe_dump(cfg))
    src = noise_photo(tmp_path / "photo.png", side=48)

    done = run_cli(
        "colorize",
        src,
        "-o",
        tmp_path / "o",
        "--model",
        bad,
        "--backend",
        "torch",
        memory=12 << 30,
        timeout=300,
    )
    line = done.stderr.strip()
    assert done.returncode == 2 and "\n" not in line, line[-2000:]
    assert line.startswith(f"error: {bad}: ") and words in line


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(tiny_model, tmp_path, capsys, value):
    """Failure 5: all-NaN weights gave an all-black image and exit 0."""
    state = load_file(str(tiny_model))
    name = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)
    state[name] = torch.full_like(state[name], value)
    bad = tmp_path / "nan.safetensors"
    save_file(state, str(bad), metadata=modelfile.generator_metadata(tiny_config()))
    assert colorize(tmp_path, bad) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: {bad}: ") and "NaN or Inf" in line and name in line
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_non_finite_network_output_is_refused(tiny_model):
    """An .onnx file or a network whose weights are finite can still put out NaN."""
    colorizer = Colorizer.load(tiny_model, backend="torch")

    def broken(x):
        return torch.full((x.shape[0], 2, *x.shape[-2:]), float("nan"))

    colorizer.model.network = broken
    with pytest.raises(ColorganError, match="NaN or Inf"):
        colorizer.colorize(np.full((40, 30), 0.5, np.float32))


def test_a_truncated_model_file_is_one_line(tiny_model, tmp_path, capsys):
    bad = tmp_path / "cut.safetensors"
    data = tiny_model.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    assert colorize(tmp_path, bad) == 2
    assert one_error_line(capsys).startswith(f"error: {bad}: ")


def test_broken_yaml_in_an_onnx_file_is_one_line(tiny_model, tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from colorgan.pipeline import export
    from colorgan.pipeline.loading import load_generator
    from colorgan.pipeline.onnxrun import OnnxGenerator

    proto = onnx.load_from_string(export.to_onnx(*load_generator(tiny_model)).model)
    for prop in proto.metadata_props:
        if prop.key == modelfile.CONFIG_META_KEY:
            prop.value = "model: [unclosed"
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(proto.SerializeToString())
    with pytest.raises(ColorganError, match="bad.onnx: .*YAML"):
        OnnxGenerator(bad)
