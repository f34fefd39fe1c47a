"""scripts/grain_gate.py (how the grain step's settings were chosen: docs/restore.md) runs end
to end on a folder of photos, prints its whole grid and chooses by its rule."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from .test_restore import smooth

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
spec = importlib.util.spec_from_file_location("grain_gate", SCRIPTS / "grain_gate.py")
grain_gate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(grain_gate)


def test_the_grid_runs_and_chooses_a_setting_that_leaves_clean_photos_alone(
    tmp_path, monkeypatch, capsys
):
    val, more = tmp_path / "val", tmp_path / "more"
    for folder, seeds in ((val, range(3)), (more, range(3, 5))):
        folder.mkdir()
        for i in seeds:
            gray = np.clip(smooth(96, 128, seed=i) * 2.55, 0, 255).astype(np.uint8)
            Image.fromarray(gray).save(folder / f"p{i}.png")
    argv = ["x", str(val), "--damage", "1", "--clean", str(more)]
    monkeypatch.setattr(sys, "argv", argv)
    grain_gate.main()
    out = capsys.readouterr().out
    rows = [line.strip("| ").split(" | ") for line in out.splitlines() if line.startswith("| ")]
    rows = rows[1:]  # after the header
    grid = (grain_gate.GATES, grain_gate.BARS, grain_gate.SIGMAS, grain_gate.STRENGTHS)
    assert len(rows) == np.prod([len(g) for g in grid])
    for _gate, _bar, _by, _strength, denoised, gain, touched in rows:
        assert touched == "0, 0"  # smooth clean photos: never read as grain
        assert 0 <= int(denoised) <= 3 and np.isfinite(float(gain))
    chosen = [line for line in out.splitlines() if line.startswith("chosen: ")]
    assert len(chosen) == 1
    # the rule: every setting is safe here, so the highest bar with a gain within MARGIN
    # of the most
    best = max(float(r[5]) for r in rows)
    near = max(float(r[1]) for r in rows if float(r[5]) >= best - grain_gate.MARGIN)
    assert f"bar {near:g}," in chosen[0]
