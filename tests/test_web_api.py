"""`colorgan serve`: the REST API, over a real uvicorn server on a free port of 127.0.0.1."""

import io
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from colorgan.core import color
from colorgan.interfaces import cli
from colorgan.io import modelfile
from colorgan.models import generator_from_config
from colorgan.pipeline.colorizer import Colorizer

from .conftest import make_photo, running, tiny_config
from .reliability_helpers import ctrl_c_as_usual

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

pytestmark = pytest.mark.integration  # CONTRIBUTING.md: the test tiers

HOST = "127.0.0.1"  # the tests never listen on any other address
TIMEOUT = httpx.Timeout(30.0)


def save_colourful_model(folder: Path) -> Path:
    """The tests' tiny model (conftest.TINY) saved as a real model file. Untrained, it predicts
    ab of about 0.001 (mean chroma 0.1: gray to the eye); its last layer is scaled x30 so the
    colour it gives (mean chroma about 6, varying with the photo) is plain to see."""
    cfg = tiny_config()
    torch.manual_seed(0)
    generator = generator_from_config(cfg.model, 32)
    last = [m for m in generator.modules() if getattr(m, "weight", None) is not None][-1]
    with torch.no_grad():
        last.weight.mul_(30)
        last.bias.mul_(30)
    path = folder / "tiny.safetensors"
    modelfile.save_generator(path, generator, cfg)
    return path


class Gate:
    """Wraps a network so a test can hold photos inside it: while closed, calls wait."""

    def __init__(self, network) -> None:
        self.network = network
        self.open = threading.Event()
        self.open.set()
        self.calls = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        assert self.open.wait(30), "the test never opened the gate"
        return self.network(x)


def gated_colorizer(model_path: Path) -> tuple[Colorizer, Gate]:
    colorizer = Colorizer.load(model_path)
    gate = Gate(colorizer.model.network)
    colorizer.model.network = gate
    return colorizer, gate


def gray_photo(width=200, height=150, fmt="JPEG") -> bytes:
    buf = io.BytesIO()
    make_photo(3, (width, height)).convert("L").save(buf, fmt)
    return buf.getvalue()


def lab(image: Image.Image) -> torch.Tensor:
    rgb = np.asarray(image.convert("RGB"), np.float32) / 255.0
    return color.rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1)[None])[0]


def mean_chroma(image: Image.Image) -> float:
    return float(lab(image)[1:].pow(2).sum(0).sqrt().mean())


def temp_files(app, seconds=2.0) -> list[Path]:
    """What is left in the server's temporary folder; the folder of a request is removed
    just after its answer went out, so this waits a moment for that."""
    deadline = time.monotonic() + seconds
    while (left := _listing(Path(app.state.tmp.name))) and time.monotonic() < deadline:
        time.sleep(0.02)
    return left


def _listing(folder: Path) -> list[Path]:
    """Everything under folder; a folder removed while it is listed is listed again."""
    while True:
        try:
            return list(folder.rglob("*"))
        except FileNotFoundError:  # the server removed a request's folder mid-walk
            continue


def post(url, data=b"", name="photo.jpg", kind="image/jpeg", params=None, field="image"):
    files = {field: (name, data, kind)}
    return httpx.post(f"{url}/api/colorize", files=files, params=params, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    return save_colourful_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def served(model_path):
    with running(Colorizer.load(model_path), max_upload_mb=0.25, workers=1, queue=2) as s:
        yield s


def test_health_page_and_openapi(served):
    url, _ = served
    health = httpx.get(f"{url}/api/health").json()
    assert health["status"] == "ok" and health["working_size"] == 32
    assert (health["workers"], health["queue"], health["busy"]) == (1, 2, 0)
    page = httpx.get(url)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
        assert httpx.get(url + asset).status_code == 200, asset
    spec = httpx.get(f"{url}/openapi.json").json()
    body = spec["paths"]["/api/colorize"]["post"]["requestBody"]["content"]
    assert "image" in body["multipart/form-data"]["schema"]["properties"]
    assert httpx.get(f"{url}/docs").status_code == 404  # it would load Swagger from a CDN


def test_colorize_returns_full_resolution_colour(served):
    url, app = served
    src = gray_photo(200, 150)
    gray = Image.open(io.BytesIO(src))
    answer = post(url, src, name="../../etc/grand mère.jpg")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/png"
    assert 'filename="grand_mere_color.png"' in answer.headers["content-disposition"]
    result = Image.open(io.BytesIO(answer.content))
    assert result.size == (200, 150)
    assert mean_chroma(gray) < 0.5 < 2.0 < mean_chroma(result)
    assert float((lab(result)[0] - lab(gray)[0]).abs().mean()) < 0.5  # same photo, coloured
    for fmt, kind in (("jpg", "image/jpeg"), ("webp", "image/webp")):
        other = post(url, src, params={"format": fmt})
        assert other.headers["content-type"] == kind
        assert Image.open(io.BytesIO(other.content)).size == (200, 150)
    for mode in ("hybrid", "tiles"):
        tiled = post(url, src, params={"mode": mode})
        assert Image.open(io.BytesIO(tiled.content)).size == (200, 150), mode
    desaturated = Image.open(io.BytesIO(post(url, src, params={"saturation": 0}).content))
    assert mean_chroma(desaturated) < 0.5
    bigger = Image.open(io.BytesIO(post(url, src, params={"size": 64}).content))
    assert np.abs(np.asarray(bigger, float) - np.asarray(result, float)).mean() > 0.5
    assert temp_files(app) == []  # uploads and results are gone once answered


def test_restore_parameter_repairs_first_and_bad_steps_are_422(served, monkeypatch):
    from colorgan.pipeline import restore

    seen = []
    monkeypatch.setattr(
        restore,
        "repair",
        lambda L, steps: seen.append(steps) or restore.Repair(L, np.zeros(L.shape, bool)),
    )
    url, _ = served
    src = gray_photo(120, 90)
    assert post(url, src, params={"restore": "default"}).status_code == 200
    assert post(url, src, params={"restore": "dust,scratches"}).status_code == 200
    assert post(url, src).status_code == 200
    assert seen == [restore.DEFAULT_STEPS, ("scratches", "dust")]
    bad = post(url, src, params={"restore": "dents"})
    assert bad.status_code == 422 and "repair steps 'dents'" in bad.json()["error"]


def damaged_jpeg() -> bytes:
    data = gray_photo(64, 48)
    return data[: len(data) // 2]


BAD_INPUTS = {
    "0-byte file": (dict(data=b""), 400, "empty file"),
    "text named .jpg": (dict(data=b"just some text\n", name="notes.jpg"), 400, "not an image"),
    "damaged jpeg": (dict(data=damaged_jpeg()), 400, "damaged"),
    "text type": (dict(data=b"hello", name="a.txt", kind="text/plain"), 415, "not an image"),
    "wrong field": (dict(data=gray_photo(), field="file"), 400, "field 'image'"),
    "saturation < 0": (dict(data=gray_photo(), params={"saturation": -1}), 422, "saturation"),
    "saturation text": (dict(data=gray_photo(), params={"saturation": "x"}), 422, "saturation"),
    "size too small": (dict(data=gray_photo(), params={"size": 8}), 422, "size"),
    "gif format": (dict(data=gray_photo(), params={"format": "gif"}), 422, "format"),
    "unknown mode": (dict(data=gray_photo(), params={"mode": "fast"}), 422, "mode"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_inputs_get_one_clear_json_error(served, case):
    url, app = served
    kwargs, status, words = BAD_INPUTS[case]
    answer = post(url, **kwargs)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert words in answer.json()["error"]
    assert temp_files(app) == []


def test_not_multipart_is_415_and_unknown_path_is_json_404(served):
    url, _ = served
    raw = httpx.post(
        f"{url}/api/colorize", content=gray_photo(), headers={"content-type": "image/jpeg"}
    )
    assert raw.status_code == 415 and "multipart/form-data" in raw.json()["error"]
    assert httpx.get(f"{url}/api/nothing").json() == {"error": "Not Found"}


def multipart_chunks(data: bytes, chunk=64 * 1024):
    """A multipart body sent chunked, without Content-Length: only counting the stream as it
    comes in can stop it."""
    yield (
        b'--xyz\r\nContent-Disposition: form-data; name="image"; filename="big.png"\r\n'
        b"Content-Type: image/png\r\n\r\n"
    )
    for start in range(0, len(data), chunk):
        yield data[start : start + chunk]
    yield b"\r\n--xyz--\r\n"


def test_a_declared_oversize_body_is_refused_before_it_is_sent(served):
    """Content-Length over the limit: 413 at once, with not one byte of the body sent (a
    server that read the body first would sit waiting for it here)."""
    url, _ = served
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection((HOST, port), timeout=5) as conn:
        conn.sendall(
            b"POST /api/colorize HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000000\r\n"
            b"Content-Type: multipart/form-data; boundary=xyz\r\n\r\n"
        )
        head = conn.recv(4096).decode("latin-1")
    assert head.startswith("HTTP/1.1 413"), head


def test_oversize_uploads_get_413_and_the_server_stays_healthy(served):
    url, app = served
    big = np.random.default_rng(0).bytes(1024 * 1024)  # the limit is 0.25 MB
    declared = post(url, big, name="big.png", kind="image/png")
    assert declared.status_code == 413 and "0.25 MB" in declared.json()["error"]
    streamed = httpx.post(
        f"{url}/api/colorize",
        content=multipart_chunks(big),
        headers={"content-type": "multipart/form-data; boundary=xyz"},
        timeout=TIMEOUT,
    )
    assert streamed.status_code == 413 and "0.25 MB" in streamed.json()["error"]
    assert httpx.get(f"{url}/api/health").json()["busy"] == 0
    assert post(url, gray_photo()).status_code == 200
    assert temp_files(app) == []


def test_twenty_concurrent_requests_fill_the_slots_and_the_rest_get_503(model_path):
    colorizer, gate = gated_colorizer(model_path)
    src = gray_photo(96, 64, "PNG")
    with running(colorizer, workers=1, queue=2) as (url, app):
        gate.open.clear()  # the first photo stays in the network until the gate opens
        with ThreadPoolExecutor(20) as pool:
            futures = [pool.submit(post, url, src, "p.png", "image/png") for _ in range(20)]
            deadline = time.monotonic() + 20
            while sum(f.done() for f in futures) < 17 and time.monotonic() < deadline:
                time.sleep(0.05)
            started = time.monotonic()
            health = httpx.get(f"{url}/api/health", timeout=TIMEOUT).json()
            assert time.monotonic() - started < 2.0  # the event loop is not blocked
            assert health["busy"] == 3 and gate.calls == 1
            gate.open.set()
            answers = [f.result(timeout=30) for f in futures]
        assert Counter(a.status_code for a in answers) == {200: 3, 503: 17}
        for answer in answers:
            if answer.status_code == 503:
                assert "busy" in answer.json()["error"] and answer.headers["retry-after"] == "2"
            else:
                assert Image.open(io.BytesIO(answer.content)).size == (96, 64)
        assert httpx.get(f"{url}/api/health").json()["busy"] == 0
        assert post(url, src, "p.png", "image/png").status_code == 200
        assert temp_files(app) == []


def read_until(stream, pattern: str, seconds: float) -> str:
    """Lines of a child's output until one matches (on a thread: readline blocks)."""
    found: list[str] = []

    def scan():
        for line in stream:
            found.append(line)
            if re.search(pattern, line):
                return

    reader = threading.Thread(target=scan, daemon=True)
    reader.start()
    reader.join(seconds)
    return "".join(found)


def test_cli_serves_on_localhost_and_stops_on_ctrl_c(model_path):
    cmd = [sys.executable, "-m", "colorgan", "serve", "--model", str(model_path), "--port", "0"]
    child = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_as_usual)
    try:
        log = read_until(child.stderr, r"Application startup complete", 60)
        match = re.search(r"open (http://[\d.]+:\d+)", log)
        assert match and match.group(1).startswith(f"http://{HOST}:"), log
        assert httpx.get(f"{match.group(1)}/api/health").json()["model"] == str(model_path)
        child.send_signal(signal.SIGINT)
        log += read_until(child.stderr, r"^interrupted", 20)
        assert child.wait(20) == 130, log
        assert "Finished server process" in log  # uvicorn shut down in order
    finally:
        child.kill()
        child.wait()


def test_cli_reports_a_missing_model_in_one_line(tmp_path, capsys):
    missing = tmp_path / "nothing.safetensors"
    assert cli.main(["serve", "--model", str(missing), "--port", "0"]) == 2
    assert capsys.readouterr().err.strip() == f"error: model not found: {missing}"
