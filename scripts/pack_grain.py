"""Pack a trained grain estimator (scripts/train_grain.py's run folder) into the package:

    python scripts/pack_grain.py runs/grain-estimator

Writes colorgan/assets/grain_estimator.onnx (the network exported and checked against
PyTorch by colorgan.pipeline.export: what the repair's "grain" step runs, torch-free) and
grain_estimator.json: its SHA-256 (checked on loading), that of the run's
grain.safetensors it came from (kept with the run, not in the package), the sigma its
output's 1 stands for, and the validation scores. The step's quantile, bar and strength
(colorgan/pipeline/restore.py) are chosen afterwards by scripts/grain_gate.py on the
validation split.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from colorgan.io import atomic
from colorgan.models.grain_net import SIGMA_MAX
from colorgan.pipeline.export import to_onnx
from colorgan.training import grain

ASSETS = Path(__file__).resolve().parents[1] / "colorgan" / "assets"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="run folder with grain.safetensors and grain.json")
    args = p.parse_args()
    run = Path(args.run)
    net, cfg = grain.load(run / "grain.safetensors")
    onnx = to_onnx(net, cfg).model
    info = {
        "sha256": hashlib.sha256(onnx).hexdigest(),
        "safetensors_sha256": hashlib.sha256((run / "grain.safetensors").read_bytes()).hexdigest(),
        "sigma_max": SIGMA_MAX,
        "validation_crops": json.loads((run / "grain.json").read_text()),
    }
    atomic.write_bytes(ASSETS / "grain_estimator.onnx", onnx)
    atomic.write_text(ASSETS / "grain_estimator.json", json.dumps(info, indent=2) + "\n")
    scores = info["validation_crops"]
    print(f"packed {run}: onnx {len(onnx) / 1e3:.0f} kB, validation error {scores['mae']:.3f} L")


if __name__ == "__main__":
    main()
