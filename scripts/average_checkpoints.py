"""Average the weights of several checkpoints of one run into one generator file (checkpoint
averaging: the mean of weights along a run's last, low-learning-rate stretch often does
better on photos from elsewhere than any one of them; it is a candidate like the others,
chosen or not on validation).

    python scripts/average_checkpoints.py RUN/checkpoints/step_A RUN/checkpoints/step_B \
        --out averaged.safetensors

Each input: a run, a checkpoint folder or a generator file. They must share one config
(the same architecture); floating-point tensors are averaged in float32 (BatchNorm's
running statistics too), integer ones (BatchNorm's step counters) taken from the last.
The output is a self-describing generator file with the last input's config.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from safetensors.torch import load_file

from colorgan.core.errors import ColorganError
from colorgan.io import atomic, modelfile


def average(paths: list[Path]) -> dict[str, torch.Tensor]:
    """The mean of the generator files' tensors (integer tensors: the last file's)."""
    loaded = [load_file(str(p)) for p in paths]
    keys = set(loaded[0])
    for p, tensors in zip(paths[1:], loaded[1:], strict=True):
        if set(tensors) != keys or any(tensors[k].shape != loaded[0][k].shape for k in keys):
            raise ColorganError(f"{p}: not the same architecture as {paths[0]}")
    out = {}
    for k in sorted(keys):
        last = loaded[-1][k]
        if last.is_floating_point():
            mean = torch.stack([t[k].float() for t in loaded]).mean(0)
            out[k] = mean.to(last.dtype)
        else:
            out[k] = last
    return out


def main() -> None:
    p = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    p.add_argument("inputs", nargs="+", help="runs, checkpoint folders or generator files")
    p.add_argument("--out", required=True, help="the averaged generator file (.safetensors)")
    args = p.parse_args()
    if len(args.inputs) < 2:
        raise SystemExit("error: give at least two checkpoints to average")
    paths = [modelfile.resolve_generator_file(x) for x in args.inputs]
    configs = [modelfile.read_generator_config(x) for x in paths]
    if any(c.model != configs[-1].model for c in configs):
        raise SystemExit(f"error: {args.inputs}: their model configs differ")
    tensors = average(paths)
    data = modelfile.safetensors_bytes(tensors, modelfile.generator_metadata(configs[-1]))
    atomic.write_bytes(Path(args.out), data, durable=True)
    print(f"{args.out}: the mean of {len(paths)} generators")


if __name__ == "__main__":
    main()
