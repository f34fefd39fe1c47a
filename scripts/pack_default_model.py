"""Pack a trained run as the bundled default model (colorgan/assets/default_model.*).

    python scripts/pack_default_model.py runs/default-model [--fp32] [--working-size 256]
        [--temperature T]

Writes the generator in safetensors (fp16 unless --fp32: half the size; MODEL_CARD.md
shows the evaluation of both) with its config, model.working_size set to the size the
model card evaluates at, model.temperature to the decoding temperature chosen on validation
(scripts/choose_temperature.py), and the SHA-256 file that Colorizer.load("default") checks.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import torch

from colorgan.core import config
from colorgan.io import modelfile
from colorgan.pipeline.loading import load_generator

ASSETS = Path(__file__).resolve().parents[1] / "colorgan" / "assets"


def main() -> None:
    p = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    p.add_argument("run", help="training run dir, checkpoint dir or generator file")
    p.add_argument("--fp32", action="store_true", help="keep float32 weights")
    p.add_argument("--working-size", type=int, default=256)
    p.add_argument("--temperature", type=float, help="decoding temperature (distribution head)")
    p.add_argument("--out", default=str(ASSETS / "default_model.safetensors"))
    args = p.parse_args()
    generator, cfg = load_generator(args.run)
    overrides = [f"model.working_size={args.working_size}"]
    if args.temperature is not None:
        overrides.append(f"model.temperature={args.temperature}")
    cfg = config.with_overrides(cfg, overrides)
    out = Path(args.out)
    modelfile.save_generator(out, generator, cfg, dtype=None if args.fp32 else torch.float16)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    out.with_suffix(".sha256").write_text(f"{digest}  {out.name}\n")
    print(f"{out}: {out.stat().st_size / 1e6:.1f} MB, sha256 {digest}")


if __name__ == "__main__":
    main()
