"""scripts/vividness_curve.py runs end to end on the bundled model (it once imported a module
that had been removed, and nothing noticed until it was needed), and its curve rises."""

import importlib.util
import sys
from pathlib import Path

from .conftest import make_photo

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
spec = importlib.util.spec_from_file_location("vividness_curve", SCRIPTS / "vividness_curve.py")
vividness_curve = importlib.util.module_from_spec(spec)
spec.loader.exec_module(vividness_curve)


def test_the_curve_runs_and_colour_rises_with_vividness(tmp_path, monkeypatch):
    val = tmp_path / "val"
    val.mkdir()
    for i in range(2):
        make_photo(i, (96, 80)).save(val / f"p{i}.png")
    argv = ["x", "default", str(val), "--size", "64", "--radii", "0.0417", "--powers", "1"]
    monkeypatch.setattr(sys, "argv", [*argv, "--step", "0.5", "--out", str(tmp_path / "out")])
    vividness_curve.main()
    import json

    rows = json.loads((tmp_path / "out" / "vividness.json").read_text())["rows"]
    colour = [rows[f"radius=0.0417 power=1 vividness={v}"]["colorfulness"] for v in (0, 0.5, 1)]
    assert colour[0] < colour[1] < colour[2]
    assert (tmp_path / "out" / "vividness.png").stat().st_size > 0
