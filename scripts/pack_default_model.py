"""Pack a trained run as the bundled default model (colorgan/assets/default_model.*).

    python scripts/pack_default_model.py runs/default-model [--fp32] [--working-size 256]
        [--temperature T]
    python scripts/pack_default_model.py --onnx-only
    python scripts/pack_default_model.py RUN --temperature T --out FILE.safetensors

Writes the generator in safetensors (fp16 unless --fp32: half the size; MODEL_CARD.md
shows the evaluation of both) with its config, model.working_size set to the size the
model card evaluates at, model.temperature to the decoding temperature chosen on validation
(scripts/choose_temperature.py); then its ONNX export (what colouring runs, no torch
needed; `weights_sha256` in its metadata names the safetensors it came from), and the
SHA-256 list (`sha256sum -c` format) that Colorizer.load("default") checks.

--out writes only the generator file, as it would be bundled, to FILE and leaves
colorgan/assets alone: a candidate to compare with the bundled model (scripts/train_default.sh).

--onnx-only exports the bundled safetensors again, unchanged: needed whenever the model
code changes its graph (colorgan.pipeline.onnxrun.GRAPH_REVISION; tests/test_default_model.py
fails until it is done).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import onnx
import torch

from colorgan.core import config
from colorgan.io import atomic, checksum, modelfile
from colorgan.pipeline.export import to_onnx
from colorgan.pipeline.loading import load_generator


def main() -> None:
    p = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    p.add_argument("run", nargs="?", help="training run dir, checkpoint dir or generator file")
    p.add_argument("--onnx-only", action="store_true", help="re-export the bundled weights")
    p.add_argument("--fp32", action="store_true", help="keep float32 weights")
    p.add_argument("--working-size", type=int, default=256)
    p.add_argument("--temperature", type=float, help="decoding temperature (distribution head)")
    p.add_argument("--out", help="write the generator file here only (assets untouched)")
    args = p.parse_args()
    if (args.run is None) != args.onnx_only:
        p.error("give a training run, or --onnx-only")
    if args.out and args.onnx_only:
        p.error("--out packs a training run, not --onnx-only")
    weights = Path(args.out) if args.out else modelfile.DEFAULT_MODEL
    if args.run is not None:
        generator, cfg = load_generator(args.run)
        overrides = [f"model.working_size={args.working_size}"]
        if args.temperature is not None:
            overrides.append(f"model.temperature={args.temperature}")
        cfg = config.with_overrides(cfg, overrides)
        dtype = None if args.fp32 else torch.float16
        modelfile.save_generator(weights, generator, cfg, dtype=dtype)
    if args.out:
        print(f"{weights}: {weights.stat().st_size / 1e6:.1f} MB (colorgan/assets untouched)")
        return
    # exported from the file as written (fp16 weights widened to fp32, as loading does), so
    # the ONNX model computes what `--backend torch` computes with the safetensors
    generator, cfg = load_generator(weights)
    report = to_onnx(generator, cfg)
    model = onnx.load_from_string(report.model)
    entry = model.metadata_props.add()
    entry.key, entry.value = "weights_sha256", checksum.file_sha256(weights)
    atomic.write_bytes(modelfile.DEFAULT_ONNX, model.SerializeToString(), durable=True)
    lines = [f"{checksum.file_sha256(f)}  {f.name}\n" for f in (weights, modelfile.DEFAULT_ONNX)]
    atomic.write_text(modelfile.DEFAULT_SHA256, "".join(lines), durable=True)
    for f in (weights, modelfile.DEFAULT_ONNX):
        print(f"{f}: {f.stat().st_size / 1e6:.1f} MB, sha256 {checksum.file_sha256(f)}")
    print(f"ONNX check: {report.summary()}")


if __name__ == "__main__":
    main()
