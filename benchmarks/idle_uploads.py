"""Idle uploads against `colorgan serve`: do a few silent clients lock everyone else out?

    python benchmarks/idle_uploads.py                    # 9 idle clients, 60 requests in 30 s
    python benchmarks/idle_uploads.py --idle 3 --queue 2 --trickle

Starts the server (default settings unless given) in a child process, opens N connections
that send the headers of an upload and its first 6 bytes and then go silent (--trickle: a
byte a second), then sends one small photo every half second from another client. Prints
the answers the other client got and when the idle connections were closed by the server.
"""

from __future__ import annotations

import argparse
import io
import socket
import threading
import time
from collections import Counter

import httpx
import numpy as np
from PIL import Image
from server_memory import start_server  # benchmarks/server_memory.py (run from this folder)

PART = b'--xyz\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'


def idle_client(host: str, port: int, trickle: bool) -> socket.socket:
    """Headers and the first 6 bytes of the body (the issue's case); a trickling client
    sends a valid part header first, then its photo a byte at a time."""
    s = socket.create_connection((host, port))
    s.sendall(
        f"POST /api/colorize HTTP/1.1\r\nHost: {host}\r\nContent-Length: 100000\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\n\r\n".encode()
        + (PART if trickle else b"--xyz\r")
    )
    return s


def watch(s: socket.socket, start: float, closed: list, stop: threading.Event, trickle: bool):
    """Note when the server closes s (not counting the end of the run)."""
    s.settimeout(1.0)
    while not stop.is_set():
        try:
            if s.recv(65536) == b"":
                if not stop.is_set():
                    closed.append(time.monotonic() - start)
                return
        except TimeoutError:
            if trickle:
                try:
                    s.sendall(b"x")
                except OSError:
                    if not stop.is_set():
                        closed.append(time.monotonic() - start)
                    return
        except OSError:
            if not stop.is_set():
                closed.append(time.monotonic() - start)
            return


def main() -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=9)
    parser.add_argument("--queue", type=int, default=8)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--trickle", action="store_true", help="idle clients send 1 byte/s")
    parser.add_argument("--model", default="default")
    parser.add_argument("--backend", default="auto")
    args = parser.parse_args()
    args.workers, extra = 1, ["--queue", str(args.queue)]
    child, url = start_server(args, extra)
    host, port = url.removeprefix("http://").split(":")
    buf = io.BytesIO()
    Image.fromarray(np.full((64, 64), 128, np.uint8)).save(buf, "PNG")
    files = {"image": ("p.png", buf.getvalue(), "image/png")}
    stop, closed, start = threading.Event(), [], time.monotonic()
    sockets = [idle_client(host, int(port), args.trickle) for _ in range(args.idle)]
    for s in sockets:
        threading.Thread(target=watch, args=(s, start, closed, stop, args.trickle)).start()
    answers = Counter()
    try:
        for _ in range(args.requests):
            t = time.monotonic()
            try:
                answers[httpx.post(f"{url}/api/colorize", files=files, timeout=30).status_code] += 1
            except httpx.HTTPError as exc:
                answers[type(exc).__name__] += 1
            time.sleep(max(0.0, 0.5 - (time.monotonic() - t)))
    finally:
        stop.set()
        time.sleep(1.5)  # the watchers see `stop` before the server goes
        child.kill()
        child.wait()
    print(f"{args.idle} {'trickling' if args.trickle else 'idle'} clients, queue {args.queue}:")
    print(f"  other client's answers: {dict(answers)}")
    when = ", ".join(f"{t:.1f}" for t in sorted(closed)) or "none"
    print(f"  idle connections closed by the server after (s): {when}")
    print(f"  still open after {time.monotonic() - start:.0f} s: {args.idle - len(closed)}")


if __name__ == "__main__":
    main()
