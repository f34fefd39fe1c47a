"""The bundled default model: intact, loadable, and it colours a real black-and-white photo."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from colorgan.core import color
from colorgan.io.modelfile import default_model_path
from colorgan.pipeline.colorizer import Colorizer

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "castle_clinton_1961.jpg"


def mean_chroma(image: Image.Image) -> float:
    rgb = torch.from_numpy(np.asarray(image.convert("RGB"), np.float32) / 255).permute(2, 0, 1)
    ab = color.rgb_to_lab(rgb[None])[0, 1:]
    return float(ab.square().sum(0).sqrt().mean())


def test_bundled_file_is_small_and_its_checksum_matches():
    path = default_model_path()  # raises if the SHA-256 does not match
    assert path.stat().st_size <= 25 * 1024 * 1024


@pytest.mark.integration
def test_default_model_colours_a_real_old_photo():
    colorizer = Colorizer.load("default", backend="torch")
    assert colorizer.working_size == 256
    source = Image.open(EXAMPLE)
    assert mean_chroma(source) < 0.5  # a genuine black-and-white photo
    result = colorizer.colorize(source)
    assert result.size == source.size
    assert mean_chroma(result) > 3.0  # colour a viewer sees (Lab chroma units)
