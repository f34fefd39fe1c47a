"""Shared pieces of the tests/test_reliability_*.py suites (issue 15): a tiny model, a full
disk (a small tmpfs where the tests run as root, else a file-size limit), child processes."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image
from safetensors.torch import load_file, save_file

from colorgan.io import modelfile

from .conftest import TINY, save_tiny_model, tiny_config  # noqa: F401 (the tests' one model)

REPO = Path(__file__).resolve().parent.parent


def noise_photo(path: Path, side: int = 200, seed: int = 0) -> Path:
    """A photo of noise: its JPEG is about as big as a JPEG of that size gets (~1 byte/px)."""
    arr = np.random.default_rng(seed).integers(0, 256, (side, side), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def with_meta(model: Path, path: Path, config_text: str) -> Path:
    """A model's weights saved to path under another config text in the metadata."""
    meta = {modelfile.CONFIG_META_KEY: config_text, "format": modelfile.FORMAT}
    save_file(load_file(str(model)), str(path), metadata=meta)
    return path


def file_size_limit(limit: int):
    """preexec_fn for a child whose regular-file writes stop at `limit` bytes: a write that
    crosses it comes back short, the next fails with EFBIG (SIGXFSZ ignored), which is how
    a full disk looks to a program (without needing root to mount a small filesystem)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def ctrl_c_as_usual() -> None:
    """preexec_fn for a child that must see Ctrl-C: a shell starts background jobs with
    SIGINT ignored, children inherit that, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONDONTWRITEBYTECODE="1")
    env.update(extra)
    return env


def memory_limit(limit: int):
    """preexec_fn for a child whose address space stops at `limit` bytes: a huge allocation
    fails fast with MemoryError instead of exhausting the machine."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def run_cli(*args, limit: int | None = None, memory: int | None = None, env=None, timeout=180):
    """`python -m colorgan ARGS` in a child process -> CompletedProcess (text). limit: its
    file-size cap (file_size_limit); memory: its address-space cap (memory_limit)."""
    return subprocess.run(
        [sys.executable, "-m", "colorgan", *map(str, args)],
        capture_output=True,
        text=True,
        env=env or child_env(),
        preexec_fn=file_size_limit(limit) if limit else memory_limit(memory) if memory else None,
        timeout=timeout,
    )


def can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@contextmanager
def small_disk(folder: Path, kilobytes: int):
    """A tmpfs of `kilobytes` mounted on folder (root only; callers skip otherwise)."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={kilobytes}k", "tmpfs", str(folder)], check=True
    )
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path, leave: int) -> None:
    """Fill the filesystem of folder until about `leave` bytes are free."""
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize
    (folder / "filler").write_bytes(b"\0" * max(0, free - leave))


def hidden_leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if ".tmp-" in p.name or ".partial-" in p.name]
