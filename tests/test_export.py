"""ONNX export: every registered generator against PyTorch in ONNX Runtime, the metadata,
the fixed-size fallback, the clear error for what cannot export, and the Colorizer on ORT."""

import numpy as np
import onnx
import pytest
import torch
import yaml
from torch import nn

from colorgan.core import config
from colorgan.core.errors import ColorganError
from colorgan.interfaces.cli import main
from colorgan.io import modelfile
from colorgan.models import generator_from_config, list_generators
from colorgan.pipeline import export, loading
from colorgan.pipeline.colorizer import Colorizer

from .conftest import make_photo

NOT_EXPORTABLE: dict[str, str] = {}  # generator -> expected reason; none at the moment
# Measured max |ORT - torch| at width 4 (float32): 4e-9 (unet) to 1.3e-6 (resnet)
PARITY = 1e-5


def tiny(name: str, size: int = 32) -> config.Config:
    return config.with_overrides(
        config.load("pix2pix-unet"),
        {"model.generator": name, "model.width": 4, "data.size": size},
    )


def saved_generator(tmp_path, name: str):
    cfg = tiny(name)
    generator = generator_from_config(cfg.model, cfg.data.size, load_pretrained=False).eval()
    file = tmp_path / f"{name}.safetensors"
    modelfile.save_generator(file, generator, cfg)
    return file, generator, cfg


@pytest.mark.integration
@pytest.mark.parametrize("name", list_generators())
def test_every_generator_exports_and_matches_pytorch(name, tmp_path, capsys):
    file, generator, cfg = saved_generator(tmp_path, name)
    out = tmp_path / f"{name}.onnx"
    argv = ["export", str(file), "--format", "onnx", "-o", str(out)]
    if name in NOT_EXPORTABLE:
        assert main(argv) == 2
        assert f"{name} is not exportable: {NOT_EXPORTABLE[name]}" in capsys.readouterr().err
        return
    assert main(argv) == 0, capsys.readouterr().err
    assert "dynamic H and W" in capsys.readouterr().out
    onnx_gen = export.OnnxGenerator(out)
    assert onnx_gen.config == cfg  # self-describing: the config travels in the file
    assert onnx_gen.size_multiple == generator.size_multiple
    m = max(generator.size_multiple, 16)
    x = torch.rand(3, 1, 2 * m, 3 * m, generator=torch.Generator().manual_seed(5)) * 2 - 1
    with torch.inference_mode():
        expected = generator(x)
    diff = (onnx_gen(x) - expected).abs().max().item()
    assert diff < PARITY, f"{name}: max abs difference {diff}"


def test_colorizer_on_onnx_runtime_matches_torch(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    file, generator, cfg = saved_generator(tmp_path, "unet")
    loading.onnx_generator(file)  # exported on first use and cached
    assert len(list((tmp_path / "cache" / "colorgan" / "onnx").glob("*.onnx"))) == 1
    monkeypatch.setattr(export, "to_onnx", lambda *a: pytest.fail("exported again"))
    onnx_gen = loading.onnx_generator(file)  # read from the cache
    assert onnx_gen.config == cfg
    photo = make_photo(3, (70, 45))
    images = []
    for network in (generator, onnx_gen):
        colorizer = Colorizer(
            network, color_space="lab", size_multiple=onnx_gen.size_multiple, working_size=64
        )
        images.append(np.asarray(colorizer.colorize(photo), dtype=np.int16))
    assert np.abs(images[0] - images[1]).max() <= 1  # 8-bit rounding at most


class PixelMixer(nn.Module):
    """A stand-in whose Linear layer spans all pixels: it only works at the traced size."""

    size_multiple = 1

    def __init__(self, side: int) -> None:
        super().__init__()
        self.mix = nn.Linear(side * side, side * side)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.mix(x.flatten(1)).view(x.shape[0], 1, x.shape[2], x.shape[3])
        return torch.tanh(y).expand(-1, 2, -1, -1)


class Spectral(nn.Module):
    """A stand-in using an operator ONNX export does not support (FFT)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(torch.fft.fft2(x).real).expand(-1, 2, -1, -1)


def test_size_bound_architecture_is_exported_at_fixed_size():
    mixer = PixelMixer(32)
    report = export.to_onnx(mixer, tiny("unet"))
    assert report.input_shape == (32, 32) and "fixed 32x32" in report.summary()
    onnx_gen = export.OnnxGenerator(report.model)
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    with torch.inference_mode():
        assert (onnx_gen(x) - mixer(x)).abs().max() < PARITY  # right at its own size
    with pytest.raises(ColorganError, match="32x32 inputs only.*--tile 32"):
        onnx_gen(torch.zeros(1, 1, 32, 64))


def test_unsupported_operator_is_a_clear_error():
    with pytest.raises(ColorganError, match="unet is not exportable: .*fft"):
        export.to_onnx(Spectral(), tiny("unet"))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the plain export below
def test_metadata_and_cli_errors(tmp_path, capsys):
    file, _, cfg = saved_generator(tmp_path, "resnet")
    out = tmp_path / "m.onnx"
    assert main(["export", str(file), "-o", str(out)]) == 0
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["size_multiple"] == "1" and meta["input_shape"] == "dynamic"
    assert config.from_dict(yaml.safe_load(meta["colorgan_config"])) == cfg
    before = out.read_bytes()
    for argv, message in [
        (["export", str(file), "-o", str(out)], "exists; choose another -o or pass --force"),
        (["export", str(file), "-o", str(tmp_path / "x.onnx"), "--opset", "99"], "--opset 99"),
        (["export", str(tmp_path / "none"), "-o", str(tmp_path / "y.onnx")], "model not found"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1
    assert out.read_bytes() == before  # never overwritten without --force
    plain = tmp_path / "plain.onnx"
    torch.onnx.export(nn.Conv2d(1, 2, 3), (torch.zeros(1, 1, 8, 8),), str(plain), dynamo=False)
    with pytest.raises(ColorganError, match="not a colorgan ONNX export"):
        export.OnnxGenerator(plain)
