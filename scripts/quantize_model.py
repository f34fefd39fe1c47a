"""Make a model's int8 network (colorgan.pipeline.quantize) from its float32 ONNX export,
calibrated on training photos, and write it beside the model as `<name>.int8.onnx` (where
`--precision auto` finds it).

    python scripts/quantize_model.py --calibration data/offline/train            # the bundled model
    python scripts/quantize_model.py --model runs/my_model --calibration data/offline/train

Calibrate on training photos only (never the validation or test photos the parity table
is measured on). --photos N takes N of the folder's images, evenly spread over its sorted
list, so the same folder gives the same int8 network.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from colorgan.io import atomic, modelfile
from colorgan.pipeline import quantize
from colorgan.pipeline.colorizer import Colorizer
from colorgan.pipeline.loading import LoadedModel, load_generator, source_digest
from colorgan.pipeline.onnxrun import OnnxGenerator
from colorgan.training.folders import find_images


def fp32_onnx(ref: modelfile.ModelRef) -> bytes:
    """The float32 ONNX of a model: the file itself, or its export (as the ONNX cache's)."""
    if ref.kind == "onnx":
        return ref.path.read_bytes()
    from colorgan.pipeline import export

    generator, cfg = load_generator(ref)
    return export.to_onnx(generator, cfg).model


def spread(files: list[Path], n: int) -> list[Path]:
    """n files evenly spread over the sorted list (all of them if there are fewer)."""
    files = sorted(files)
    if len(files) <= n:
        return files
    return [files[i * len(files) // n] for i in range(n)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="default", help="'default' or any model reference")
    p.add_argument("--calibration", required=True, help="folder of TRAINING photos")
    p.add_argument("--photos", type=int, default=64, help="calibration photos (default 64)")
    p.add_argument("--out", help="default: beside the model, <name>.int8.onnx")
    args = p.parse_args()
    ref = modelfile.resolve_model(args.model)
    fp32 = fp32_onnx(ref)
    net = OnnxGenerator(fp32)
    loaded = LoadedModel(net, net.config, net.size_multiple, "cpu", "onnx", ref)
    photos = spread(find_images(Path(args.calibration)), args.photos)
    feeds = quantize.calibration_feeds(Colorizer.from_model(loaded), photos)
    what = f"{len(photos)} photos of {Path(args.calibration).name}/, {len(feeds)} network inputs"
    int8 = quantize.quantize(fp32, feeds, source_digest(ref), what)
    out = Path(args.out) if args.out else quantize.int8_path(ref.path)
    atomic.write_bytes(out, int8)
    print(f"{out}: {len(int8) / 1e6:.1f} MB int8 network of {ref.label} ({what})")


if __name__ == "__main__":
    main()
