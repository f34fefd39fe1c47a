"""Image-size numpy work in row blocks on a small thread pool, with per-thread scratch buffers.

numpy releases the GIL inside its loops, so blocks on two threads keep two cores busy.
Writing a block's temporaries into per-thread buffers that stay mapped (`scratch.get`)
avoids glibc mmap-ing and page-faulting fresh temporaries on every call (measured: 3-4x
slower without). Block size: 2^16 to 2^20 pixels measured on a 12 MP photo (compose and
lightness, this 2-core CPU): 2^18 was fastest (compose 0.19 -> 0.15 s against 2^16: fewer
numpy calls and hand-offs, while the temporaries still fit the 32 MB L3 cache); a
768x576 video frame is still two blocks, one per core.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache

import numpy as np

BLOCK_PIXELS = 1 << 18
POOL_PREFIX = "colorgan-blocks"


def workers() -> int:
    """Threads for block work: the cores this process may use, at most 8."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, 8))


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(workers(), thread_name_prefix=POOL_PREFIX)


def row_blocks(height: int, width: int) -> list[slice]:
    """Slices of rows covering [0, height), at most ~BLOCK_PIXELS pixels each (at least 1
    row), of even sizes (a 768x576 frame: 288 + 288 rows, not 341 + 235)."""
    if height <= 0:
        return []
    n = min(height, -(-height * max(width, 1) // BLOCK_PIXELS))
    bounds = [i * height // n for i in range(n + 1)]  # sizes differ by at most one row
    return [slice(a, b) for a, b in zip(bounds, bounds[1:], strict=False)]


def chunks(n: int, smallest: int = 1024) -> list[slice]:
    """Slices of [0, n): at least one per worker when n allows, at most BLOCK_PIXELS each."""
    step = max(smallest, min(BLOCK_PIXELS, -(-n // workers())))
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def parallel(fn, items: list) -> list:
    """[fn(item) for item in items] on the pool, in order; the first error is re-raised.
    Called from inside a pool thread it runs inline (the pool's threads would otherwise
    wait on themselves)."""
    if len(items) <= 1 or threading.current_thread().name.startswith(POOL_PREFIX):
        return [fn(item) for item in items]
    return list(_pool().map(fn, items))


def submit(fn, *args) -> Future:
    """fn(*args) started on the pool now: its Future (work that overlaps the caller's).
    From inside a pool thread it runs inline, as `parallel` does, and the Future is done."""
    if not threading.current_thread().name.startswith(POOL_PREFIX):
        return _pool().submit(fn, *args)
    done: Future = Future()
    try:
        done.set_result(fn(*args))
    except Exception as error:  # re-raised by .result(), as the pool's would be
        done.set_exception(error)
    return done


class Scratch(threading.local):
    """Named buffers, one set per thread, grown on demand and reused across blocks."""

    def __init__(self) -> None:
        self.buffers: dict[tuple, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
        """An uninitialised array of `shape`; the same memory for the same name next time."""
        size = int(np.prod(shape))
        key = (name, np.dtype(dtype))
        buf = self.buffers.get(key)
        if buf is None or buf.size < size:
            buf = self.buffers[key] = np.empty(size, dtype)
        return buf[:size].reshape(shape)


scratch = Scratch()
