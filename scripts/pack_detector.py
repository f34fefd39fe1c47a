"""Pack a trained damage detector (scripts/train_detector.py's run folder) into the package:

    python scripts/pack_detector.py runs/damage-detector --val DATA/val

Writes colorgan/assets/damage_detector.onnx (the network exported and checked against
PyTorch by colorgan.pipeline.export: what `colorgan restore` runs, torch-free) and
damage_detector.json: its SHA-256 (colorgan.pipeline.restore checks it on loading), that
of the run's detector.safetensors it came from (kept with the run, not in the package:
nothing there reads it, and every install would carry the same weights twice), the
threshold chosen on validation and the validation scores.
The threshold is chosen on whole validation photos under synthetic damage
(colorgan.training.detector.choose_threshold; --photos of them, by name), the detector read
over the repair's views (colorgan.pipeline.restore.VIEWS).

    python scripts/pack_detector.py --rethreshold --val DATA/val

keeps the bundled ONNX network and chooses its threshold again (after VIEWS changed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from colorgan.io import atomic
from colorgan.pipeline import restore
from colorgan.pipeline.export import to_onnx
from colorgan.training import detector

ASSETS = Path(__file__).resolve().parents[1] / "colorgan" / "assets"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", nargs="?", help="run folder with detector.safetensors and detector.json")
    p.add_argument("--val", required=True, help="validation photos (choose the threshold)")
    p.add_argument("--photos", type=int, help="only the first N of them (default: all)")
    p.add_argument("--seed", type=int, default=1, help="their damage's seed (default 1)")
    p.add_argument("--rethreshold", action="store_true", help="keep the bundled network")
    args = p.parse_args()
    if args.rethreshold:
        if args.run is not None:
            p.error("--rethreshold keeps the bundled network: give no run folder")
        info = json.loads(restore.DETECTOR_INFO.read_text())
        whole = detector.choose_threshold(
            restore.Detector().probability, args.val, args.seed, args.photos
        )
        info.update(threshold=whole["threshold"], validation_photos=whole)
        atomic.write_text(restore.DETECTOR_INFO, json.dumps(info, indent=2) + "\n")
        print(f"threshold {whole['threshold']}, validation F1 {whole['f1']:.3f} on whole photos")
        return
    if args.run is None:
        p.error("give the run folder (or --rethreshold)")
    run = Path(args.run)
    net, cfg = detector.load(run / "detector.safetensors")
    weights = (run / "detector.safetensors").read_bytes()
    onnx = to_onnx(net, cfg).model
    scores = json.loads((run / "detector.json").read_text())
    whole = detector.choose_threshold(
        detector.torch_probability(net), args.val, args.seed, args.photos
    )
    info = {
        "sha256": hashlib.sha256(onnx).hexdigest(),
        "safetensors_sha256": hashlib.sha256(weights).hexdigest(),
        "threshold": whole["threshold"],
        "validation_crops": scores,
        "validation_photos": whole,
    }
    atomic.write_bytes(ASSETS / "damage_detector.onnx", onnx)
    atomic.write_text(ASSETS / "damage_detector.json", json.dumps(info, indent=2) + "\n")
    print(
        f"packed {run}: onnx {len(onnx) / 1e3:.0f} kB, threshold {info['threshold']}, "
        f"validation F1 {scores['f1']:.3f} on crops, {whole['f1']:.3f} on whole photos"
    )


if __name__ == "__main__":
    main()
