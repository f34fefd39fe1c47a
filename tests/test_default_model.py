"""The bundled default model: intact, loadable, it colours a real black-and-white photo, and
its ONNX file (what colouring runs) is its weights as the model code computes them today."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from colorgan.core import color
from colorgan.io import checksum, modelfile
from colorgan.io.modelfile import default_model_path
from colorgan.pipeline.colorizer import Colorizer
from colorgan.pipeline.onnxrun import GRAPH_REVISION, OnnxGenerator

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "castle_clinton_1961.jpg"


def mean_chroma(image: Image.Image) -> float:
    rgb = torch.from_numpy(np.asarray(image.convert("RGB"), np.float32) / 255).permute(2, 0, 1)
    ab = color.rgb_to_lab(rgb[None])[0, 1:]
    return float(ab.square().sum(0).sqrt().mean())


def test_bundled_files_are_small_and_their_checksums_match():
    for path in (modelfile.DEFAULT_ONNX, modelfile.DEFAULT_MODEL):
        assert default_model_path(path) == path  # raises if the SHA-256 does not match
        assert path.stat().st_size <= 25 * 1024 * 1024


REEXPORT = "the model code changed: run `python scripts/pack_default_model.py --onnx-only`"


def test_the_onnx_file_is_the_weights_exported_by_this_code(tmp_path):
    """Fails when the model code changes (GRAPH_REVISION raised, or a graph that computes
    something else) and the bundled ONNX file was not exported again."""
    meta = OnnxGenerator(modelfile.DEFAULT_ONNX).session.get_modelmeta().custom_metadata_map
    assert meta.get("graph_revision") == str(GRAPH_REVISION), REEXPORT
    assert meta.get("weights_sha256") == checksum.file_sha256(modelfile.DEFAULT_MODEL), REEXPORT
    runs = {
        b: Colorizer.load("default", device="cpu", backend=b, precision="fp32")
        for b in ("torch", "onnx")
    }
    source = Image.open(EXAMPLE)
    runs["onnx"].colorize(source).save(tmp_path / "reference.png")
    guided = {
        "hints": ["200,150,#3a6ea5", "40,300,#5a7d3a,5"],
        "reference": tmp_path / "reference.png",
    }
    for kwargs in ({}, guided):  # every input of the graph: photo, hints, reference
        rgb = {b: np.asarray(run.colorize(source, **kwargs), np.int16) for b, run in runs.items()}
        difference = np.abs(rgb["torch"] - rgb["onnx"])
        assert difference.max() <= 2 and difference.mean() < 0.05, REEXPORT


@pytest.mark.integration
def test_default_model_colours_a_real_old_photo():
    colorizer = Colorizer.load("default", backend="torch")
    assert colorizer.working_size == 256
    source = Image.open(EXAMPLE)
    assert mean_chroma(source) < 0.5  # a genuine black-and-white photo
    result = colorizer.colorize(source)
    assert result.size == source.size
    assert mean_chroma(result) > 3.0  # colour a viewer sees (Lab chroma units)
