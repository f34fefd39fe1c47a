"""On the ONNX backend, colouring never imports torch (seconds of start-up for nothing): the
CLI's colorize and video commands and the web server's app, each in a fresh process that
reports whether `torch` is in sys.modules when it is done."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.integration  # CONTRIBUTING.md: the test tiers

REPORT = """
import sys
from colorgan.interfaces.cli import main
rc = main(sys.argv[1:])
print("TORCH", "torch" in sys.modules, "RC", rc)
"""

SERVE = """
import sys
from colorgan.interfaces.web.server import create_app
from colorgan.pipeline.colorizer import Colorizer
from fastapi.testclient import TestClient
app = create_app(Colorizer.load(sys.argv[1]))
print("TORCH", "torch" in sys.modules, "RC", 0)
"""


@pytest.fixture(scope="module")
def models(tiny_model, tiny_onnx):
    """A tiny generator file and its ONNX export."""
    return tiny_model, tiny_onnx


def _imports_torch(code: str, *args) -> bool:
    run = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=300
    )
    line = next((x for x in run.stdout.splitlines() if x.startswith("TORCH")), None)
    assert run.returncode == 0 and line is not None and line.endswith("RC 0"), run.stderr
    return line.split()[1] == "True"


def _photo(path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(path)
    return path


def test_colorize_with_an_onnx_file_does_not_import_torch(models, tmp_path):
    photo = _photo(tmp_path / "a.png")
    args = ["colorize", photo, "--output", tmp_path / "out", "--overwrite", "--model", models[1]]
    assert not _imports_torch(REPORT, *args)
    assert (tmp_path / "out" / "a_color.png").is_file()
    # the check can fail: the torch backend does import it
    assert _imports_torch(REPORT, *args[:-2], "--model", models[0], "--backend", "torch")


def test_a_cached_export_loads_without_torch(models, tmp_path):
    photo = _photo(tmp_path / "a.png")
    args = ["colorize", photo, "--output", tmp_path / "out", "--model", models[0], "--overwrite"]
    _imports_torch(REPORT, *args, "--backend", "onnx")  # exports and caches (torch needed)
    assert not _imports_torch(REPORT, *args, "--backend", "onnx")  # found in the cache
    assert not _imports_torch(REPORT, *args)  # "auto" is ONNX on this CPU


def test_video_and_serve_with_onnx_do_not_import_torch(models, tmp_path):
    import av

    clip = tmp_path / "clip.mp4"
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(6):
            gray = np.full((48, 64, 3), 40 * i, np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(gray, format="rgb24")))
        out.mux(stream.encode(None))
    out = tmp_path / "out.mp4"
    assert not _imports_torch(REPORT, "video", clip, "-o", out, "--model", models[1])
    assert out.is_file()
    assert not _imports_torch(SERVE, models[1])


def test_restore_and_colorize_restore_do_not_import_torch(models, tmp_path):
    photo = _photo(tmp_path / "a.png")
    args = ["restore", photo, "-o", tmp_path / "out", "--save-mask"]
    assert not _imports_torch(REPORT, *args)
    assert (tmp_path / "out" / "a_restored.png").is_file()
    args = ["colorize", photo, "-o", tmp_path / "out", "--model", models[1], "--restore"]
    assert not _imports_torch(REPORT, *args)
    assert (tmp_path / "out" / "a_color.png").is_file()
