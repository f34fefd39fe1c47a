"""Deterministic, resumable sampling for step-based training.

Why not DataLoader(shuffle=True, generator=...): its order and the workers' augmentation
seeds depend on how many iterators were created and on the number of workers, so a run
resumed mid-epoch would see different batches. Here the order of epoch e is a pure
function of (seed, e), each item's augmentation seed a pure function of (seed, e,
position), and resuming skips the batches already seen. The sampler runs in the main
process, so it works with persistent workers and with several processes (DDP: each rank
takes every world-th item of the same permutation).
"""

from __future__ import annotations

import random

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler


class EpochSampler(Sampler):
    """Yields (index, item_seed) pairs for one epoch; call `set_epoch` before iterating."""

    def __init__(self, n: int, seed: int, rank: int = 0, world: int = 1) -> None:
        self.n, self.seed, self.rank, self.world = n, seed, rank, world
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int, skip_items: int = 0) -> None:
        """Start epoch `epoch`, leaving out this rank's first `skip_items` items."""
        self.epoch, self.skip = epoch, skip_items

    def __len__(self) -> int:
        return max(0, self.n // self.world - self.skip)

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.n, generator=g)[: self.n // self.world * self.world]
        mine = order[self.rank :: self.world].tolist()
        base = (self.seed * 1_000_003 + self.epoch) * 10_000_019
        for pos in range(self.skip, len(mine)):
            yield mine[pos], (base + pos * self.world + self.rank) % (2**63)


class SeededItems(Dataset):
    """Wraps a dataset whose augmentation draws from the global RNGs (torch, numpy, random):
    item (index, seed) is produced with those RNGs seeded from `seed`, and the caller's
    RNG state is left untouched."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key):
        index, seed = key
        py_state, np_state = random.getstate(), np.random.get_state()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            random.seed(seed)
            np.random.seed(seed % (2**32))
            try:
                return self.dataset[index]
            finally:
                random.setstate(py_state)
                np.random.set_state(np_state)
