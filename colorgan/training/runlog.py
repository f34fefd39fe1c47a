"""What a training run writes besides checkpoints: TensorBoard scalars and sample grids,
a JSON-lines log (read by `colorgan experiments` for its curves) and the progress bar."""

from __future__ import annotations

import io
import json
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter
from torchvision.utils import make_grid, save_image
from tqdm import tqdm

from colorgan.core.color import output_to_rgb, rgb_to_l_ab
from colorgan.io import atomic
from colorgan.training.losses import as_ab


def keep_log_until(path: Path, step: int) -> None:
    """A (re)started run's log: only the records of steps up to the one it starts from, so
    the steps a killed run logged after its last checkpoint do not appear twice (and a new
    run into a folder where a run died before its first checkpoint starts empty). A line
    cut off by the kill is dropped with them."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if (
            isinstance(record, dict)
            and isinstance(record.get("step"), int)
            and record["step"] <= step
        ):
            kept.append(line + "\n")
    atomic.write_text(path, "".join(kept))


class RunLog:
    def __init__(self, out_dir: Path, total: int, initial: int, enabled: bool = True) -> None:
        self.out_dir = out_dir
        self.enabled = enabled  # False on non-zero ranks of a distributed run
        self.writer = SummaryWriter(str(out_dir / "tb"), purge_step=initial) if enabled else None
        self.bar = tqdm(
            total=total, initial=initial, unit="step", disable=not enabled, dynamic_ncols=True
        )
        self.jsonl = None
        if enabled:
            keep_log_until(out_dir / "log.jsonl", initial)
            self.jsonl = (out_dir / "log.jsonl").open("a")

    def scalars(self, step: int, values: dict[str, float], prefix: str = "train") -> None:
        if not self.enabled:
            return
        for key, value in values.items():
            self.writer.add_scalar(f"{prefix}/{key}", value, step)
        self.jsonl.write(json.dumps({"step": step, "kind": prefix, **values}) + "\n")
        self.jsonl.flush()

    def progress(self, step: int, values: dict[str, float]) -> None:
        self.bar.n = step
        self.bar.set_postfix({k: f"{v:.3g}" for k, v in values.items()}, refresh=False)
        self.bar.refresh()

    def message(self, text: str) -> None:
        self.bar.write(text) if self.enabled else None

    @torch.no_grad()
    def samples(self, step: int, generator, rgb: torch.Tensor, model_cfg) -> None:
        """A grid with one row per image: input (gray) | output (automatic) | truth."""
        if not self.enabled:
            return
        was_training = generator.training
        generator.eval()
        l_in, _ = rgb_to_l_ab(rgb)
        colour = as_ab(generator(l_in).float(), model_cfg.head, l_in.shape[-2:])
        fake = output_to_rgb(l_in, colour, model_cfg.color_space)
        generator.train(was_training)
        gray = ((l_in + 1) / 2).expand(-1, 3, -1, -1)
        rows = torch.stack([gray, fake, rgb], 1).flatten(0, 1).cpu()
        grid = make_grid(rows, nrow=3, padding=2, pad_value=1.0)
        self.writer.add_image("samples", grid, step)
        (self.out_dir / "samples").mkdir(exist_ok=True)
        png = io.BytesIO()
        save_image(grid, png, format="png")
        atomic.write_bytes(self.out_dir / "samples" / f"step_{step:08d}.png", png.getbuffer())

    def close(self) -> None:
        self.bar.close()
        if self.enabled:
            self.writer.close()
            self.jsonl.close()
