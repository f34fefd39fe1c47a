"""Memory of `colorgan serve` before and after big requests: is the peak kept for good?

    python benchmarks/server_memory.py                 # bundled model, ONNX Runtime on the CPU
    python benchmarks/server_memory.py --backend torch --requests 3

Starts the server in a child process, reads its resident memory (VmRSS) and high-water mark
(VmHWM) from /proc when it is fresh, then after each request with size=2048 (the largest
working size) on a 2000x1500 photo, a few seconds after the answer. Prints MB; the last
column is what the server keeps over its fresh size. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image


def memory_mb(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss, hwm = (
        int(re.search(rf"{key}:\s+(\d+)", status).group(1)) / 1024 for key in ("VmRSS", "VmHWM")
    )
    return rss, hwm


def photo(width=2000, height=1500) -> bytes:
    y, x = np.mgrid[0:height, 0:width]
    gray = (127 + 60 * np.sin(x / 37.0) * np.cos(y / 53.0)).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(gray).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def start_server(args, extra=()) -> tuple[subprocess.Popen, str]:
    cmd = [
        sys.executable,
        "-m",
        "colorgan",
        "serve",
        "--port",
        "0",
        "--model",
        args.model,
        "--backend",
        args.backend,
        "--workers",
        str(args.workers),
        *extra,
    ]
    child = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    started = threading.Event()

    def read() -> None:
        for line in child.stderr:
            lines.append(line)
            if "startup complete" in line:
                started.set()

    threading.Thread(target=read, daemon=True).start()
    if not started.wait(180):
        child.kill()
        raise SystemExit("the server did not start:\n" + "".join(lines))
    url = re.search(r"open (http://[\d.]+:\d+)", "".join(lines)).group(1)
    return child, url


def main() -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--requests", type=int, default=2)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds after each answer")
    args = parser.parse_args()
    child, url = start_server(args)
    try:
        time.sleep(args.settle)
        fresh, _ = memory_mb(child.pid)
        print(f"{'':>12} {'RSS MB':>8} {'peak MB':>8} {'kept MB':>8} {'seconds':>8}")
        print(f"{'fresh':>12} {fresh:8.0f} {memory_mb(child.pid)[1]:8.0f} {0:8.0f}")
        data = photo()
        for i in range(1, args.requests + 1):
            files = {"image": ("photo.jpg", data, "image/jpeg")}
            answer = httpx.post(
                f"{url}/api/colorize", files=files, params={"size": args.size}, timeout=600
            )
            answer.raise_for_status()
            time.sleep(args.settle)
            rss, hwm = memory_mb(child.pid)
            seconds = float(answer.headers["X-Colorgan-Seconds"])
            print(f"{f'request {i}':>12} {rss:8.0f} {hwm:8.0f} {rss - fresh:8.0f} {seconds:8.2f}")
    finally:
        child.kill()
        child.wait()


if __name__ == "__main__":
    main()
