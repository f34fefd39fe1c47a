"""scripts/choose_temperature.py's rule: the (checkpoint, T) shipped is chosen on validation."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "choose_temperature.py"
spec = importlib.util.spec_from_file_location("choose_temperature", SCRIPT)
choose_temperature = importlib.util.module_from_spec(spec)
spec.loader.exec_module(choose_temperature)


def row(ciede, colour, psnr=21.0):
    return {"ciede2000": ciede, "colorfulness": colour, "psnr": psnr}


def test_lowest_ciede2000_among_the_colourful_enough_over_runs_and_temperatures():
    rows = {
        "a/step_600": {0.3: row(12.0, 32.0), 1.0: row(11.8, 28.0)},  # 1.0: best, too dull
        "a/step_800": {0.3: row(12.5, 33.0), 0.5: row(12.1, 31.0)},
        "b/step_600": {0.3: row(12.05, 30.5, 21.4), 0.2: row(12.0, 31.0, 21.5)},
    }
    # truth 50: 60 % = 30; ties on CIEDE2000 go to the higher PSNR
    assert choose_temperature.choose(rows, 50.0, 0.6) == (("b/step_600", 0.2), True)
    # nothing colourful enough: the lowest CIEDE2000 overall, and it says so
    assert choose_temperature.choose(rows, 100.0, 0.6) == (("a/step_600", 1.0), False)
