"""Under torchrun an error is reported once, in one line, by the rank that failed first; the
other ranks exit quietly (no "Connection closed by peer" traceback from their collectives)."""

import os
import subprocess
import sys

import pytest

from .conftest import make_photo
from .test_distributed import free_port

pytestmark = pytest.mark.integration  # CONTRIBUTING.md: the test tiers


def torchrun(args, tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "1",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(free_port()),
        "-m",
        "colorgan",
        "train",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "run"),
        *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def our_lines(done) -> list[str]:
    """What colorgan's processes said (torchrun's own failure summary left out)."""
    text = done.stdout + done.stderr
    return [line for line in text.splitlines() if line.startswith(("error:", "[rank"))]


@pytest.mark.parametrize("where", ["one rank, after the process group is up", "every rank"])
def test_an_error_is_reported_once(where, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        make_photo(i).save(photos / f"{i}.png")
    if where == "every rank":  # a bad preset: every rank stops before the group exists
        args = ["--preset", "no-such-preset", "--data", str(photos)]
        expected = "unknown preset 'no-such-preset'"
    else:  # rank 0 scans the folder while rank 1 waits for it in a barrier
        args = [
            "--preset",
            "pix2pix-unet",
            "--data",
            str(photos),
            "--set",
            "data.size=32",
            "--set",
            "train.batch_size=8",
            "--set",
            "data.workers=0",
        ]
        expected = "fewer than train.batch_size"
    done = torchrun(args, tmp_path)
    assert done.returncode != 0
    lines = our_lines(done)
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines
    assert "Connection closed" not in done.stderr
