"""Training data: random crops and flips of colour photos, optionally with a cut-out of an
object pasted on (so objects learn their colours), and the loaders that feed the loop.

The dataset yields sRGB tensors (3, size, size) in [0, 1]; the training loop converts whole
batches to L/ab with colorgan.core.color on its device, which is faster than per image here.
A 256 px training crop of a 1600 px JPEG costs about 5 ms of CPU: the JPEG is decoded
reduced (`draft`) and `resize(box=..., reducing_gap=...)` resamples only the cropped box.
Which files, and the train/val split: colorgan.training.folders.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from colorgan.core.config import DataConfig
from colorgan.core.errors import ColorganError
from colorgan.io import images
from colorgan.training.folders import (
    LOAD_ERRORS,
    REDUCING_GAP,
    RESAMPLE,
    DataReport,
    image_to_tensor,
    scan_folder,
)
from colorgan.training.stamps import Stamps

log = logging.getLogger(__name__)


# --- the dataset ---------------------------------------------------------------------------------
class ImageFolderDataset(Dataset):
    """sRGB crops (3, size, size) in [0, 1] of the given files.

    train=True: the short side is scaled to size * U(scale_min, scale_max) (never below
    size: the crop must fit), then a random size x size crop ("random"), or the whole
    image is resized to size x size ("resize": the aspect ratio is not kept and the scale
    range does not apply); random flips.
    train=False: short side resized to size and a centre crop, the same every time.

    An index may be an int (randomness from torch's RNG) or an (index, seed) pair from
    `EpochSampler`, which makes every crop a function of (seed, epoch, index) alone.
    """

    def __init__(
        self,
        files: Sequence[str | Path],
        size: int,
        crop: str = "random",
        scale_min: float = 1.0,
        scale_max: float = 1.0,
        hflip: bool = True,
        vflip: bool = False,
        train: bool = True,
        stamps: Stamps | None = None,
    ) -> None:
        if crop not in ("random", "resize"):
            raise ColorganError(f"crop={crop!r}; valid: random, resize")
        if not 0 < scale_min <= scale_max:
            raise ColorganError(f"need 0 < scale_min <= scale_max, got {scale_min}, {scale_max}")
        if not files:
            raise ColorganError("ImageFolderDataset needs at least one file")
        self.files = [Path(f) for f in files]
        self.size, self.crop, self.train = size, crop, train
        self.scale_min, self.scale_max = scale_min, scale_max
        self.hflip, self.vflip = hflip, vflip
        self.stamps = stamps if train else None
        self._warned: set[Path] = set()

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, item: int | tuple[int, int]) -> torch.Tensor:
        index, seed = item if isinstance(item, tuple) else (item, None)
        if seed is None:
            seed = int(torch.randint(0, 2**62, ()).item())
        # A file that became unreadable mid-training costs one warning, not the run.
        for attempt in range(min(len(self.files), 16)):
            path = self.files[(index + attempt) % len(self.files)]
            try:
                return self.load(path, random.Random(seed + attempt))
            except LOAD_ERRORS as exc:
                if path not in self._warned:
                    self._warned.add(path)
                    log.warning("skipping unreadable image %s (%s)", path, exc)
        raise ColorganError(f"{attempt + 1} images in a row could not be read, last {path}")

    def load(self, path: Path, rng: random.Random) -> torch.Tensor:
        size = self.size
        if not self.train:
            im = images.open_rgb(path, min_short=size)
            return image_to_tensor(scaled_crop(im, size, size, centre=True))
        if self.crop == "resize":
            im = images.open_rgb(path, min_short=size)
            im = im.resize((size, size), RESAMPLE, reducing_gap=REDUCING_GAP)
        else:
            short = max(size, round(size * rng.uniform(self.scale_min, self.scale_max)))
            im = scaled_crop(images.open_rgb(path, min_short=short), short, size, rng=rng)
        if self.hflip and rng.random() < 0.5:
            im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if self.vflip and rng.random() < 0.5:
            im = im.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
        if self.stamps is not None:
            im = self.stamps.maybe_paste(im, rng)
        return image_to_tensor(im)


def scaled_crop(
    im: Image.Image, short: int, size: int, rng: random.Random | None = None, centre=False
) -> Image.Image:
    """The size x size crop of `im` scaled so its short side is `short`, done as one resize
    of just the cropped box of the source (no full-size intermediate image)."""
    f = short / min(im.size)
    sw, sh = max(size, round(im.width * f)), max(size, round(im.height * f))
    if centre:
        x0, y0 = (sw - size) // 2, (sh - size) // 2
    else:
        x0, y0 = rng.randint(0, sw - size), rng.randint(0, sh - size)
    box = (x0 / f, y0 / f, min(im.width, (x0 + size) / f), min(im.height, (y0 + size) / f))
    return im.resize((size, size), RESAMPLE, box=box, reducing_gap=REDUCING_GAP)


class EpochSampler(torch.utils.data.Sampler):
    """Yields (index, seed) pairs: the order of epoch e is a function of (seed, e) and each
    item's crop/flip seed a function of (seed, e, position). So batches do not depend on the
    number of workers or on persistent workers' RNG state, and a run resumed mid-epoch
    (`set_epoch(e, skip)`) sees exactly the batches an unbroken one would. With several
    processes (DDP) each rank takes every world-th item of the same permutation. It runs in
    the main process, so `set_epoch` works with persistent workers too.
    """

    def __init__(self, n: int, seed: int, rank: int = 0, world: int = 1) -> None:
        self.n, self.seed, self.rank, self.world = n, seed, rank, world
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Start epoch `epoch`, leaving out this rank's first `skip` items."""
        self.epoch, self.skip = epoch, skip

    def per_rank(self) -> int:
        return self.n // self.world

    def __len__(self) -> int:
        return max(0, self.per_rank() - self.skip)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        stem = self.seed * 1_000_003 + self.epoch
        order = torch.randperm(self.n, generator=torch.Generator().manual_seed(stem))
        mine = order[: self.per_rank() * self.world][self.rank :: self.world].tolist()
        for pos in range(self.skip, len(mine)):
            yield mine[pos], (stem * 10_000_019 + pos * self.world + self.rank) % 2**62


def seed_worker(worker_id: int) -> None:
    """torch seeds each worker (base seed + id); give numpy and random that seed too."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def make_loaders(
    data_cfg: DataConfig,
    batch_size: int,
    seed: int,
    distributed: bool = False,
    group_fn: Callable[[Path], str] | None = None,
    pin_memory: bool | None = None,
) -> tuple[DataLoader, DataLoader | None, DataReport]:
    """(train loader, val loader or None when there is no val split, report).

    The train order and every crop are functions of (seed, epoch): iterate with `epochs`,
    or call `train_loader.sampler.set_epoch(e)` yourself. With distributed=True each rank
    gets its share of the train set (torch.distributed must be initialised); the val loader
    is not split, so any rank can evaluate the whole val set.
    """
    report = scan_folder(data_cfg, group_fn)
    d = data_cfg
    stamps = Stamps.from_config(d.stamps, d.stamp_prob)
    train_ds = ImageFolderDataset(
        report.train, d.size, d.crop, d.scale_min, d.scale_max, d.hflip, d.vflip, True, stamps
    )
    rank, world = 0, 1
    if distributed:
        rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    sampler = EpochSampler(len(train_ds), seed, rank, world)
    if sampler.per_rank() < batch_size:
        raise ColorganError(
            f"{sampler.per_rank()} training images (per process) under {d.root}, fewer than "
            f"train.batch_size={batch_size}; add images or lower the batch size"
        )
    common = dict(
        num_workers=d.workers,
        persistent_workers=d.workers > 0,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
        worker_init_fn=seed_worker,
    )
    # The generator only seeds the workers' numpy/random (crops come from EpochSampler).
    train = DataLoader(
        train_ds,
        batch_size,
        sampler=sampler,
        drop_last=True,
        generator=torch.Generator().manual_seed(seed),
        **common,
    )
    val = None
    if report.val:
        val_ds = ImageFolderDataset(report.val, d.size, train=False)
        val = DataLoader(val_ds, batch_size, shuffle=False, **common)
    log.info(report.summary() + (f", {len(stamps.files)} cut-outs" if stamps else ""))
    return train, val, report


def epochs(loader: DataLoader, start_step: int = 0) -> Iterator[tuple[int, torch.Tensor]]:
    """Endless (epoch, batch) pairs for step-based training, from global step `start_step`
    on: the same batches an unbroken run would have seen from that step."""
    sampler: EpochSampler = loader.sampler
    per_epoch = sampler.per_rank() // loader.batch_size  # the loader drops partial batches
    if per_epoch == 0:
        raise ColorganError("the training loader yields no batches (too few images)")
    epoch, within = divmod(start_step, per_epoch)
    sampler.set_epoch(epoch, within * loader.batch_size)
    while True:
        for batch in loader:
            yield epoch, batch
        epoch += 1
        sampler.set_epoch(epoch)
