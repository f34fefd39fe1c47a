"""`colorgan train` as tests/test_distributed.py runs it under torchrun, with two recorders:
which rank wrote each checkpoint (RECORD/saves.txt) and, on rank 1, its final parameters
(RECORD/rank1.safetensors), to compare with what rank 0 saved."""

import os
import sys
from pathlib import Path

from safetensors.torch import save_file

from colorgan.interfaces.cli import main
from colorgan.training import checkpoint, train
from colorgan.training.distributed import unwrap


def record_calls(record: Path, rank: int, captured: dict) -> None:
    real_build, real_save = train.build_parts, checkpoint.save_checkpoint

    def build_parts(*args, **kwargs):
        captured["parts"] = real_build(*args, **kwargs)
        return captured["parts"]

    def save_checkpoint(run_dir, step, *args, **kwargs):
        with open(record / "saves.txt", "a") as f:
            f.write(f"{rank} {step}\n")
        return real_save(run_dir, step, *args, **kwargs)

    train.build_parts = build_parts
    checkpoint.save_checkpoint = save_checkpoint


if __name__ == "__main__":
    record, rank = Path(os.environ["COLORGAN_TEST_RECORD"]), int(os.environ["RANK"])
    captured: dict = {}
    record_calls(record, rank, captured)
    code = main(sys.argv[1:])
    if code == 0 and rank == 1:
        parts = captured["parts"]
        params = {
            f"{name}.{key}": value.detach().cpu().contiguous()
            for name, module in (
                ("generator", parts.generator),
                ("discriminator", parts.discriminator),
            )
            for key, value in unwrap(module).named_parameters()
        }
        save_file(params, str(record / "rank1.safetensors"))
    sys.exit(code)
