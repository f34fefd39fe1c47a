"""scripts/grain_gate.py (how the grain step's gate was chosen: docs/restore.md) runs end to
end on a folder of photos and prints its whole grid."""

import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from colorgan.pipeline import restore

from .test_restore import smooth

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
spec = importlib.util.spec_from_file_location("grain_gate", SCRIPTS / "grain_gate.py")
grain_gate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(grain_gate)


def test_the_grid_runs_and_leaves_clean_photos_alone(tmp_path, monkeypatch, capsys):
    val = tmp_path / "val"
    val.mkdir()
    for i in range(3):
        gray = np.clip(smooth(96, 128, seed=i) * 2.55, 0, 255).astype(np.uint8)
        Image.fromarray(gray).save(val / f"p{i}.png")
    # and fine texture, which passes every bar of the grid but not the half-resolution test
    noise = cv2.GaussianBlur(np.random.default_rng(0).normal(0, 1, (96, 128)), (0, 0), 0.8)
    texture = np.clip(128 + noise * (40 / noise.std()), 0, 255).astype(np.uint8)
    Image.fromarray(texture).save(val / "texture.png")
    monkeypatch.setattr(sys, "argv", ["x", str(val), "--damage", "1"])
    grain_gate.main()
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    rows = [line.strip("| ").split(" | ") for line in rows[1:]]  # after the header
    assert len(rows) == len(grain_gate.BARS) * len(grain_gate.RATIOS)
    for _bar, _ratio, denoised, gain, touched in rows:
        assert touched == "0"  # no clean photo, the texture included
        assert float(gain) >= 0 and 0 <= int(denoised) <= 4
    sigma, _ = restore.noise_scales(np.asarray(texture, np.float32) / 2.55)
    assert sigma > max(grain_gate.BARS)  # the texture did pass every bar
