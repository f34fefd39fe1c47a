"""Issue 25, the server: hostile hints are 422 (they were 500), any Host header was answered
(DNS rebinding), /static/index.html came without the page's CSP, and memory taken by a
size=2048 request was kept for good (ONNX Runtime's arena)."""

import ctypes
import re
from pathlib import Path

import numpy as np
import pytest

from .reliability_helpers import save_tiny_model
from .test_reliability_hostile import HOSTILE_HINTS
from .test_web_api import gray_photo, running

httpx = pytest.importorskip("httpx")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from colorgan.pipeline.colorizer import Colorizer

    model = save_tiny_model(tmp_path_factory.mktemp("model") / "tiny.safetensors")
    with running(Colorizer.load(model, backend="torch")) as (url, _):
        yield url


@pytest.mark.parametrize("endpoint", ["colorize", "suggest?x=1&y=1"])
@pytest.mark.parametrize("case", ["huge integer", "nested", "long colour"])
def test_hostile_hints_are_422_with_a_short_message(server, endpoint, case):
    """A 400-digit x and nested JSON were HTTP 500."""
    files = {"image": ("p.jpg", gray_photo(), "image/jpeg")}
    if case == "long colour":  # over Starlette's 1 MB text field: sent as a file part
        files["hints"] = ("hints.json", HOSTILE_HINTS[case].encode(), "application/json")
        data = None
    else:
        data = {"hints": HOSTILE_HINTS[case]}
    answer = httpx.post(f"{server}/api/{endpoint}", files=files, data=data, timeout=60)
    assert answer.status_code == 422, answer.text[:300]
    assert answer.json()["error"].startswith("hints") and len(answer.text) < 1000


def test_a_bad_query_value_is_echoed_cut(server):
    answer = httpx.post(f"{server}/api/colorize?format={'x' * 30_000}", timeout=60)
    assert answer.status_code == 422 and len(answer.text) < 1000


@pytest.mark.parametrize("host", ["evil.example", "evil.example:7860", "127.0.0.1.evil.example"])
def test_a_host_the_server_does_not_answer_is_refused(server, host):
    """DNS rebinding: a page on another site reached the local server under its own name."""
    for path in ("/", "/api/health", "/static/index.html"):
        answer = httpx.get(f"{server}{path}", headers={"Host": host}, timeout=30)
        assert answer.status_code == 400, (path, answer.status_code)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1:7860", "[::1]:80", "LOCALHOST"])
def test_local_names_are_answered(server, host):
    answer = httpx.get(f"{server}/api/health", headers={"Host": host}, timeout=30)
    assert answer.status_code == 200


def test_allowed_host_adds_a_name(tmp_path):
    from colorgan.interfaces import cli
    from colorgan.interfaces.web.server import ServerSettings

    parser = cli.build_parser(["serve"])
    args = parser.parse_args(["serve", "--allowed-host", "Photos.Lan", "--host", "::1"])
    assert args.allowed_host == ["Photos.Lan"]
    assert "localhost" in ServerSettings().allowed_hosts  # the default: local names only
    assert "photos.lan" not in ServerSettings().allowed_hosts


def test_the_page_has_its_csp_under_static_too(server):
    page = httpx.get(f"{server}/", timeout=30)
    static = httpx.get(f"{server}/static/index.html", timeout=30)
    assert static.status_code == 200 and static.text == page.text
    csp = page.headers["Content-Security-Policy"]
    assert static.headers["Content-Security-Policy"] == csp and "default-src 'self'" in csp


def rss_mb() -> float:
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # what the server does after each job
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024


@pytest.mark.integration
def test_onnx_runtime_gives_back_the_memory_of_a_size_2048_run():
    """The server kept ~1 GB for good after one size=2048 request (benchmarks/server_memory.py
    printed 915 MB kept): ORT's arena kept its largest region, the one the output was in."""
    from colorgan.pipeline.loading import load_model

    network = load_model("default", backend="onnx").network
    inputs = [np.zeros((1, 1, 64, 64), np.float32)]
    if len(network.input_names) == 3:  # the bundled model is guided: hint map, reference
        q = network.session.get_inputs()[2].shape[-1]
        inputs += [np.zeros((1, 3, 64, 64), np.float32), np.zeros((1, q), np.float32)]
    network(*inputs)
    fresh = rss_mb()
    big = [np.resize(x, (*x.shape[:2], 2048, 1536)) if x.ndim == 4 else x for x in inputs]
    out = network(*big)
    assert out.shape[0] == 1
    del out, big
    kept = rss_mb() - fresh
    assert kept < 150, f"{kept:.0f} MB kept"
