"""scripts/average_checkpoints.py: the mean of checkpoints' weights, as a generator file."""

import importlib.util
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from colorgan.core import config
from colorgan.core.errors import ColorganError
from colorgan.io import modelfile
from colorgan.models import generator_from_config

from .conftest import TINY

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "average_checkpoints.py"
spec = importlib.util.spec_from_file_location("average_checkpoints", SCRIPT)
average_checkpoints = importlib.util.module_from_spec(spec)
spec.loader.exec_module(average_checkpoints)


def test_floats_are_averaged_counters_taken_from_the_last(tmp_path, monkeypatch):
    cfg = config.with_overrides(config.load("pix2pix-unet"), TINY)
    files = []
    for i in range(3):
        torch.manual_seed(i)
        net = generator_from_config(cfg.model, 32)
        files.append(tmp_path / f"g{i}.safetensors")
        modelfile.save_generator(files[-1], net, cfg)
    weights = [load_file(str(f)) for f in files]
    out = tmp_path / "mean.safetensors"
    monkeypatch.setattr("sys.argv", ["x", *map(str, files), "--out", str(out)])
    average_checkpoints.main()
    mean = load_file(str(out))
    assert modelfile.read_generator_config(out).model == cfg.model
    for k, v in mean.items():
        parts = [w[k] for w in weights]
        if v.is_floating_point():
            torch.testing.assert_close(v, torch.stack(parts).mean(0))
        else:
            assert torch.equal(v, parts[-1])
    assert any(not torch.equal(mean[k], weights[0][k]) for k in mean)


def test_different_architectures_are_refused(tmp_path):
    a = config.with_overrides(config.load("pix2pix-unet"), TINY)
    b = config.with_overrides(a, ["model.width=8"])
    for name, cfg in (("a", a), ("b", b)):
        net = generator_from_config(cfg.model, 32)
        modelfile.save_generator(tmp_path / f"{name}.safetensors", net, cfg)
    with pytest.raises(ColorganError, match="not the same architecture"):
        average_checkpoints.average([tmp_path / "a.safetensors", tmp_path / "b.safetensors"])
