"""Multi-process training on PyTorch's own engine (torchrun + DistributedDataParallel).

`torchrun --nproc_per_node N -m colorgan train ...` starts N processes with RANK, LOCAL_RANK,
WORLD_SIZE, MASTER_ADDR and MASTER_PORT in their environment; `setup` turns that into a
process group (nccl on CUDA, gloo on CPU) and each process's device (cuda:LOCAL_RANK). With
none of those variables set, `python -m colorgan train` stays one plain process: no process
group, every helper below is a no-op, so single-process training is exactly what it was.

Conventions the training loop relies on (see docs/distributed.md):
  * rank 0 alone writes (logs, sample grids, checkpoints); the others wait at `barrier`
    after each checkpoint, so no process runs ahead of a checkpoint that is not yet on disk;
  * every collective here is called by all ranks at the same point of the loop, or it hangs.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist

from colorgan.core.errors import ColorganError

log = logging.getLogger(__name__)

TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
# A checkpoint or a validation pass on rank 0 must fit in this; the default (10 min for nccl)
# is short for a big model written to a network filesystem.
TIMEOUT = datetime.timedelta(minutes=30)


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands; the default is the single process of a plain run."""

    rank: int = 0
    local_rank: int = 0
    world: int = 1
    owns_group: bool = False  # setup() created the process group, teardown() destroys it

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return dist.is_available() and dist.is_initialized()


def launched_by_torchrun() -> bool:
    return all(name in os.environ for name in TORCHRUN_VARS)


def is_main_process() -> bool:
    """Rank 0, or a plain single process (also before or after the process group exists)."""
    return int(os.environ.get("RANK", "0")) == 0 or not launched_by_torchrun()


def _device_for(name: str, local_rank: int) -> torch.device:
    """The device of this process: cuda:LOCAL_RANK on CUDA (one GPU per process), else cpu."""
    want_cuda = name.startswith("cuda") or (name == "auto" and torch.cuda.is_available())
    if not want_cuda:
        if name not in ("auto", "cpu"):
            raise ColorganError(f"train.device={name!r}: use auto, cpu or cuda under torchrun")
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ColorganError(f"train.device={name!r} but CUDA is not available here")
    if ":" in name:
        raise ColorganError(
            f"train.device={name!r}: under torchrun each process uses cuda:LOCAL_RANK; "
            "set train.device=cuda (choose GPUs with CUDA_VISIBLE_DEVICES)"
        )
    if local_rank >= torch.cuda.device_count():
        raise ColorganError(
            f"LOCAL_RANK={local_rank} but only {torch.cuda.device_count()} GPUs are visible; "
            "--nproc_per_node must not exceed the GPUs per node"
        )
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


def setup(device_name: str) -> tuple[DistInfo, torch.device | None]:
    """(DistInfo, device) for this process. device is None outside a distributed run: the
    caller resolves train.device as it always did."""
    if dist.is_available() and dist.is_initialized():  # a caller (a test, a notebook) made it
        rank, world = dist.get_rank(), dist.get_world_size()
        local = int(os.environ.get("LOCAL_RANK", rank))
        info = DistInfo(rank, local, world, owns_group=False)
        return info, _device_for(device_name, local)
    if not launched_by_torchrun():
        return DistInfo(), None
    if not dist.is_available():
        raise ColorganError("this PyTorch build has no torch.distributed; run without torchrun")
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", 0))
    device = _device_for(device_name, local)
    backend = "nccl" if device.type == "cuda" else "gloo"
    # device_id binds NCCL to this GPU at once (no guessing from the rank in barrier()).
    dist.init_process_group(
        backend, timeout=TIMEOUT, device_id=device if device.type == "cuda" else None
    )
    log.debug("process group: %s, rank %d of %d on %s", backend, rank, world, device)
    return DistInfo(rank, local, world, owns_group=True), device


def teardown(info: DistInfo) -> None:
    """Destroy the process group setup() made. Called from a `finally` while an exception is
    on its way out (sys.exc_info() sees it there), the error is counted first (see
    `first_to_fail`): once the group is gone the other ranks' collectives fail, and they
    must find this error already counted to stay quiet."""
    if sys.exc_info()[1] is not None:
        first_to_fail()
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


# --- one error report per run ------------------------------------------------------------------
# Under torchrun an error on one rank (too few images, a bad checkpoint) stops it; the other
# ranks then fail in their next collective ("Connection closed by peer") or stop on the same
# error themselves. The first process to fail says why, in one line; the others exit quietly.
# "First" is counted in torchrun's own key-value store (the agent's TCPStore at MASTER_ADDR:
# MASTER_PORT), which every rank reaches whether or not the process group exists yet.
_first: bool | None = None  # this process's answer, once asked


def first_to_fail() -> bool:
    """Whether this process is the first of its torchrun run to fail (counted once per
    process); True outside torchrun, and when the store cannot be reached (better a
    repeated line than a lost one)."""
    global _first
    if _first is None:
        _first = _count_failure() <= 1
    return _first


def _count_failure() -> int:
    if not launched_by_torchrun():
        return 1
    key = "colorgan/failures/{}/{}".format(
        os.environ.get("TORCHELASTIC_RUN_ID", "run"),
        os.environ.get("TORCHELASTIC_RESTART_COUNT", 0),
    )
    try:
        store = dist.TCPStore(
            os.environ["MASTER_ADDR"],
            int(os.environ["MASTER_PORT"]),
            is_master=False,
            timeout=datetime.timedelta(seconds=10),
        )
        return int(store.add(key, 1))
    except (RuntimeError, ValueError, OSError) as exc:  # no store to count in: report
        log.debug("could not count the failure in torchrun's store: %s", exc)
        return 1


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def _collective_device() -> torch.device:
    # nccl reduces CUDA tensors only, gloo CPU tensors (CUDA too, but through a copy)
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def mean_over_ranks(values: dict[str, float]) -> dict[str, float]:
    """Each value averaged over all processes (the same keys on every rank)."""
    if not (dist.is_available() and dist.is_initialized()) or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], device=_collective_device())
    dist.all_reduce(t)
    t /= dist.get_world_size()
    return dict(zip(keys, t.tolist(), strict=True))


def any_over_ranks(flag: bool) -> bool:
    """True on every rank when it is True on any: all ranks then stop together."""
    if not (dist.is_available() and dist.is_initialized()):
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=_collective_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def gather_objects(obj) -> list:
    """[obj of rank 0, obj of rank 1, ...] on every rank (picklable objects)."""
    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    out: list = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def global_batch_split(batch_size: int, world: int) -> int:
    """train.batch_size is the global batch: each process takes batch_size / world."""
    if batch_size % world:
        raise ColorganError(
            f"train.batch_size={batch_size} is the global batch and must be divisible by the "
            f"{world} processes; use e.g. {max(world, batch_size // world * world)}"
        )
    return batch_size // world


def wrap(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """DistributedDataParallel around module when a process group is up, else module itself.

    find_unused_parameters stays off (it costs a graph walk per step): the training step
    never leaves a wrapped module's trainable parameter out of its loss (the discriminator
    is called unwrapped, frozen, inside the generator's loss). broadcast_buffers (default)
    makes rank 0's BatchNorm statistics the ones every rank uses and checkpoints.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return module
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids)


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    """The plain module inside a DDP wrapper: for saving, validation and sample grids, which
    only rank 0 runs (DDP's forward is a collective: one rank alone would hang there)."""
    if isinstance(module, torch.nn.parallel.DistributedDataParallel):
        return module.module
    return module


def flatten_rank_states(states: list[dict]) -> dict:
    """Per-rank states (e.g. RNG) as one flat dict: rank 0's keys as they are (a single-process
    checkpoint looks the same), rank r's prefixed "rank{r}."."""
    flat = dict(states[0])
    for rank, state in enumerate(states[1:], start=1):
        flat.update({f"rank{rank}.{key}": value for key, value in state.items()})
    return flat


def rank_state(flat: dict, rank: int) -> dict:
    """This rank's part of `flatten_rank_states`; empty for a rank that did not exist then."""
    if rank == 0:
        return {k: v for k, v in flat.items() if not re.match(r"rank\d+\.", k)}
    prefix = f"rank{rank}."
    return {k[len(prefix) :]: v for k, v in flat.items() if k.startswith(prefix)}
