"""Issue 25, hostile input round two: model metadata inside the old bounds that still asked
for 10-17 GB, tracebacks from nested YAML/JSON and odd ONNX properties, damaged checkpoint
state, hints that overflowed, ONNX external data read against the current folder, a valid
video with irregular timestamps reported as damaged, argparse prefix matching. Each case is
one line (exit 2), a fallback with a warning, or a correct result."""

import json

import av
import numpy as np
import pytest
import torch
import yaml

from colorgan.core.errors import ColorganError
from colorgan.interfaces import cli
from colorgan.interfaces.cli import main
from colorgan.io import modelfile
from colorgan.training import checkpoint as ckpt_mod

from .reliability_helpers import noise_photo, run_cli, tiny_config, with_meta


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err[-5:]
    assert len(err[0]) < 600, err[0][:600]
    return err[0]


def colorize(tmp_path, model, *extra):
    src = noise_photo(tmp_path / "in" / "photo.png", side=48)
    out = tmp_path / "out"
    return main(["colorize", str(src), "-o", str(out), "--model", str(model), *extra])


# --- model metadata -----------------------------------------------------------------------


@pytest.mark.integration  # a child process, its memory capped
@pytest.mark.parametrize("key", ["data.size", "model.working_size"])
def test_a_working_size_no_real_model_has_is_refused_before_allocating(tiny_model, tmp_path, key):
    """data.size 65536 was a traceback from a 17 GB allocation in the export check, and
    model.working_size 65536 was accepted and every photo then failed with MemoryError. The
    child runs under a 6 GB address-space limit, so allocating fails fast instead."""
    cfg = tiny_config().to_dict()
    section, name = key.split(".")
    cfg[section][name] = 65536
    bad = with_meta(tiny_model, tmp_path / "big.safetensors", yaml.safe_dump(cfg))
    src = noise_photo(tmp_path / "photo.png", side=48)

    done = run_cli(
        "colorize", src, "-o", tmp_path / "o", "--model", bad, memory=6 << 30, timeout=300
    )
    line = done.stderr.strip()
    assert done.returncode == 2 and "\n" not in line, line[-2000:]
    assert line.startswith(f"error: {bad}: {key}=65536") and "2048" in line
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


@pytest.mark.integration  # a child process, its memory capped
def test_a_network_padding_every_photo_to_65536_pixels_is_refused(tmp_path):
    """A U-Net of 16 levels at width 1 is a small, consistent file whose every input is
    padded to a multiple of 65,536 px (17 GB; the export check's probe alone asked for it).
    In a child under a 6 GB address-space limit, as above."""
    from colorgan.core import config
    from colorgan.models import generator_from_config

    cfg = config.with_overrides(
        tiny_config(), ["model.width=1", "model.gen_kwargs={num_downs: 16}"]
    )
    model = tmp_path / "deep.safetensors"
    modelfile.save_generator(model, generator_from_config(cfg.model, 32), cfg)
    src = noise_photo(tmp_path / "photo.png", side=48)

    done = run_cli(
        "colorize", src, "-o", tmp_path / "o", "--model", model, memory=6 << 30, timeout=300
    )
    line = done.stderr.strip()
    assert done.returncode == 2 and "\n" not in line, line[-2000:]
    assert line.startswith(f"error: {model}: ") and "65,536" in line


def test_deeply_nested_yaml_is_one_line(tiny_model, tmp_path, capsys):
    bad = with_meta(tiny_model, tmp_path / "deep.safetensors", "model: " + "[" * 20000)
    assert colorize(tmp_path, bad, "--backend", "torch") == 2
    assert one_error_line(capsys).startswith(f"error: {bad}: ")


@pytest.fixture(scope="module")
def onnx_proto(tiny_model):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from colorgan.pipeline import export
    from colorgan.pipeline.loading import load_generator

    return onnx.load_from_string(export.to_onnx(*load_generator(tiny_model)).model)


def onnx_with(proto, path, **props):
    """The tiny export with metadata properties changed (None: removed)."""
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    kept = {p.key: p.value for p in copy.metadata_props}
    kept.update(props)
    del copy.metadata_props[:]
    for key, value in kept.items():
        if value is not None:
            copy.metadata_props.add(key=key, value=value)
    path.write_bytes(copy.SerializeToString())
    return path


@pytest.mark.integration  # a child process, its memory capped
@pytest.mark.parametrize(
    "props",
    [
        {"size_multiple": None},
        {"size_multiple": "abc"},
        {"size_multiple": "0"},
        {"size_multiple": "²"},
        {"input_shape": "axb"},
        {"input_shape": "64x64x64"},
        {"input_shape": "40x40"},  # not a multiple of the export's 16
        {"size_multiple": "1000000000"},
        {"input_shape": "1000000000x64"},
    ],
)
def test_onnx_properties_out_of_bounds_are_one_line(onnx_proto, tmp_path, props):
    """A missing or `abc` size_multiple was a KeyError/ValueError traceback, 1000000000 asked
    for 10.6 GiB of padding, `axb` was a ValueError. In a child with a 6 GB address-space
    limit, so the old behaviour fails fast instead of exhausting memory."""
    bad = onnx_with(onnx_proto, tmp_path / "bad.onnx", **props)
    src = noise_photo(tmp_path / "photo.png", side=48)

    done = run_cli(
        "colorize", src, "-o", tmp_path / "o", "--model", bad, memory=6 << 30, timeout=300
    )
    line = done.stderr.strip()
    assert done.returncode == 2 and "\n" not in line and len(line) < 600, line[-2000:]
    assert line.startswith(f"error: {bad}: ") and next(iter(props)) in line


def test_a_fixed_shape_onnx_property_in_bounds_still_loads(onnx_proto, tmp_path):
    from colorgan.pipeline.onnxrun import OnnxGenerator

    fixed = OnnxGenerator(onnx_with(onnx_proto, tmp_path / "fixed.onnx", input_shape="32x64"))
    assert fixed.input_shape == (32, 64) and fixed.size_multiple == 16


# --- ONNX external data -------------------------------------------------------------------


def external_model(proto, folder, location):
    """The tiny export with its weights in an external data file at `location`."""
    import onnx
    from onnx.external_data_helper import convert_model_to_external_data

    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    convert_model_to_external_data(copy, location="weights.bin", size_threshold=0)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save_model(copy, str(folder / "model.onnx"))  # writes folder/weights.bin
    if location != "weights.bin":
        for tensor in copy.graph.initializer:
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = location
        (folder / "model.onnx").write_bytes(copy.SerializeToString())
    return folder / "model.onnx"


def test_external_data_beside_the_model_loads_from_any_folder(onnx_proto, tmp_path, monkeypatch):
    """It was read against the current folder: a legitimate model was refused."""
    from colorgan.pipeline.onnxrun import OnnxGenerator

    model = external_model(onnx_proto, tmp_path / "models", "weights.bin")
    monkeypatch.chdir(tmp_path)
    x = np.zeros((1, 1, 32, 32), np.float32)
    assert OnnxGenerator(model)(x).shape == (1, 2, 32, 32)


@pytest.mark.parametrize("where", ["cwd", "parent", "absolute"])
def test_external_data_outside_the_models_folder_is_refused(
    onnx_proto, tmp_path, monkeypatch, capsys, where
):
    """A model naming a file of the current folder as its weights coloured with exit 0."""
    model = external_model(onnx_proto, tmp_path / "models", "weights.bin")
    elsewhere = tmp_path / "work" / "examples"
    elsewhere.mkdir(parents=True)
    (elsewhere / "photo.jpg").write_bytes((model.parent / "weights.bin").read_bytes())
    location = {
        "cwd": "examples/photo.jpg",
        "parent": "../work/examples/photo.jpg",
        "absolute": str(elsewhere / "photo.jpg"),
    }[where]
    model = external_model(onnx_proto, tmp_path / "models", location)
    monkeypatch.chdir(tmp_path / "work")
    assert colorize(tmp_path, model) == 2
    assert one_error_line(capsys).startswith(f"error: {model}: ")


# --- checkpoints ---------------------------------------------------------------------------


def tiny_run(run_dir, steps=(1, 2)):
    net = torch.nn.Linear(2, 2)
    opt = torch.optim.Adam(net.parameters())
    for step in steps:
        ckpt_mod.save_checkpoint(
            run_dir, step, {"generator": net}, {"g": opt}, {"step": step}, tiny_config()
        )
    return {"generator": net}, {"g": opt}


def rewrite(ckpt, name: str, data: bytes) -> None:
    """Replace a checkpoint file and its MANIFEST entry (a checksum that matches)."""
    import hashlib

    (ckpt / name).write_bytes(data)
    manifest = json.loads((ckpt / ckpt_mod.MANIFEST).read_text())
    manifest["files"][name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (ckpt / ckpt_mod.MANIFEST).write_text(json.dumps(manifest))


def test_a_step_that_is_not_a_number_falls_back(tmp_path):
    """state.json with "step": "abc" and a matching checksum: a ValueError traceback."""
    modules, optimizers = tiny_run(tmp_path)
    newest = tmp_path / "checkpoints" / "step_00000002"
    state = json.loads((newest / "state.json").read_text())
    rewrite(newest, "state.json", json.dumps({**state, "step": "abc"}).encode())
    found, saved, skipped = ckpt_mod.load_newest(tmp_path, modules, optimizers)
    assert found.name == "step_00000001" and saved["step"] == 1
    assert len(skipped) == 1 and "step" in skipped[0]


@pytest.mark.parametrize("name", ["state.json", ckpt_mod.MANIFEST])
def test_json_nested_100000_deep_falls_back(tmp_path, name):
    modules, optimizers = tiny_run(tmp_path)
    newest = tmp_path / "checkpoints" / "step_00000002"
    deep = ("[" * 100_000 + "]" * 100_000).encode()
    if name == ckpt_mod.MANIFEST:
        (newest / name).write_bytes(deep)
    else:
        rewrite(newest, name, deep)
    found, _, skipped = ckpt_mod.load_newest(tmp_path, modules, optimizers)
    assert found.name == "step_00000001" and len(skipped) == 1


def test_a_file_named_like_the_newest_checkpoint_is_an_error_before_training(tmp_path):
    """Resume retrained those steps and crashed saving them, every time."""
    modules, optimizers = tiny_run(tmp_path)
    (tmp_path / "checkpoints" / "step_00000003").write_text("not a folder")
    (tmp_path / "checkpoints" / "latest").write_text("step_00000003")
    with pytest.raises(ColorganError, match="step_00000003 is a file"):
        ckpt_mod.load_newest(tmp_path, modules, optimizers)


# --- hints ---------------------------------------------------------------------------------


HOSTILE_HINTS = {
    "huge integer": '[{"x": ' + "9" * 400 + ', "y": 1, "color": "#ff0000"}]',
    "nested": "[" * 100_000 + "]" * 100_000,
    "long colour": '[{"x": 1, "y": 1, "color": "' + "f" * 10_000_000 + '"}]',
    "too big": "[" + ", ".join(['{"x": 1, "y": 1, "color": "#ff0000"}'] * 40_000) + "]",
}


@pytest.mark.parametrize("case", HOSTILE_HINTS)
@pytest.mark.parametrize("command", ["colorize", "video"])
def test_hostile_hints_files_are_one_short_line(tiny_model, tmp_path, capsys, case, command):
    """A 400-digit x (OverflowError) and nested JSON (RecursionError) were tracebacks; a
    10 MB colour gave a 10 MB error line; a 200 MB file took 103 s and 3.3 GB."""
    hints = tmp_path / "hints.json"
    hints.write_text(HOSTILE_HINTS[case])
    if command == "colorize":
        src, out = noise_photo(tmp_path / "photo.png", side=48), tmp_path / "out"
    else:
        src, out = irregular_avi(tmp_path / "clip.avi"), tmp_path / "out.mp4"
    args = [command, str(src), "-o", str(out), "--model", str(tiny_model), "--hints", str(hints)]
    assert main(args) == 2
    assert one_error_line(capsys).startswith(f"error: {hints}: ")
    assert not out.exists() or (out.is_dir() and not list(out.iterdir()))


# --- command lines -------------------------------------------------------------------------


def test_no_option_is_taken_for_a_prefix_of_another(tmp_path, capsys):
    """`video --hint` was silently taken as --hints (argparse's prefix matching)."""
    with pytest.raises(SystemExit) as exit_:
        main(["video", "in.mp4", "-o", str(tmp_path / "o.mp4"), "--hint", "h.json"])
    assert exit_.value.code == 2 and "--hint" in capsys.readouterr().err
    for name in cli.COMMANDS:
        parser = cli.build_parser([name])
        sub = parser._subparsers._group_actions[0].choices[name]
        assert not parser.allow_abbrev and not sub.allow_abbrev, name


@pytest.mark.parametrize(
    "option",
    [
        ["--saturation", "inf"],
        ["--saturation", "1e308"],
        ["--saturation", "nan"],
        ["--size", "100000"],
    ],
)
@pytest.mark.parametrize("command", ["colorize", "video"])
def test_option_values_out_of_bounds_are_usage_errors(tmp_path, capsys, command, option):
    """--saturation inf or 1e308 wrote an all-black image with exit 0; --size 100000 was a
    MemoryError. (The bounds are the option spec's, shared with REST.) Parsed only: where
    the bound is missing, colouring at size 100000 would exhaust the machine's memory."""
    out = tmp_path / ("out" if command == "colorize" else "out.mp4")
    with pytest.raises(SystemExit) as exit_:
        cli.build_parser([command]).parse_args([command, "in.png", "-o", str(out), *option])
    assert exit_.value.code == 2 and option[0] in capsys.readouterr().err


# --- video ---------------------------------------------------------------------------------

STAMPS = np.unique(np.linspace(0, 443, 68).round().astype(int))  # 68 frames over 444 at 15 fps


def irregular_avi(path):
    """68 frames whose timestamps run to frame 443 of a 15 fps stream, as capture software
    writes when it drops duplicate frames (the AVI declares 444 frames)."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=15)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        for pts in STAMPS:
            gray = np.repeat(rng.integers(0, 255, (24, 32, 1), dtype=np.uint8), 3, -1)
            frame = av.VideoFrame.from_ndarray(gray, format="rgb24")
            frame.pts = int(pts)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def seconds_of_frames(path) -> list[float]:
    with av.open(str(path)) as c:
        return [float(f.pts * f.time_base) for f in c.decode(video=0)]


def test_a_video_with_irregular_timestamps_is_whole(tiny_model, tmp_path, capsys):
    """It got "decoded 68 of 444 frames: the input is truncated or damaged", exit 1."""
    src = irregular_avi(tmp_path / "capture.avi")
    with av.open(str(src)) as c:
        assert c.streams.video[0].frames == 444  # the reproduction holds
    out = tmp_path / "out.mkv"
    code = main(
        ["video", str(src), "-o", str(out), "--model", str(tiny_model), "--backend", "torch"]
    )
    assert code == 0, capsys.readouterr().err
    assert "truncated" not in capsys.readouterr().err
    np.testing.assert_allclose(seconds_of_frames(out), STAMPS / 15, atol=0.002)


def test_a_cut_off_irregular_video_still_warns(tiny_model, tmp_path, capsys):
    whole = irregular_avi(tmp_path / "capture.avi").read_bytes()
    src = tmp_path / "cut.avi"
    src.write_bytes(whole[: len(whole) // 2])
    out = tmp_path / "out.mkv"
    code = main(
        ["video", str(src), "-o", str(out), "--model", str(tiny_model), "--backend", "torch"]
    )
    err = capsys.readouterr().err
    assert code == 1 and "truncated or damaged" in err and "of 444 frames" in err
