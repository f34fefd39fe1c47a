"""`colorgan serve` with a guided distribution-head model: hints, a reference photo,
vividness and suggested colours through the REST API (a real uvicorn server). The behaviour
is tested on a stand-in network that follows hints plainly (tests/guided_stub.py); a real
guided model file checks the loading path (health, OpenAPI, REST = Python API)."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from colorgan.core import config
from colorgan.io import modelfile
from colorgan.models import generator_from_config
from colorgan.pipeline import options
from colorgan.pipeline.colorizer import Colorizer

from .conftest import make_photo, running
from .guided_stub import guided_colorizer
from .test_web_api import TIMEOUT, gray_photo, httpx, lab, post, temp_files

pytestmark = pytest.mark.integration  # CONTRIBUTING.md: the test tiers

GREEN = "#00c000"
# A guided distribution-head U-Net on an untrained MobileNetV2, small: a real model file.
GUIDED = [
    "model.gen_kwargs={encoder: mobilenet_v2, weights: null}",
    "model.width=8",
    "model.working_size=64",
    "model.temperature=0.5",
]


def save_guided_model(folder: Path) -> Path:
    cfg = config.with_overrides(config.load("guided-distribution"), GUIDED)
    torch.manual_seed(0)
    path = folder / "guided.safetensors"
    modelfile.save_generator(path, generator_from_config(cfg.model, 64), cfg)
    return path


@pytest.fixture(scope="module")
def colorizer() -> Colorizer:
    return guided_colorizer(working_size=64, temperature=0.5)


@pytest.fixture(scope="module")
def served(colorizer):
    with running(colorizer, max_upload_mb=0.25, max_pixels=200_000) as s:
        yield s


@pytest.fixture(scope="module")
def photo_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photos") / "old.jpg"
    path.write_bytes(gray_photo(160, 120))
    return path


@pytest.fixture(scope="module")
def reference_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ref") / "colours.png"
    make_photo(7, (90, 60)).save(path)
    return path


def send(url, photo: Path, hints=None, reference: Path | None = None, params=None, path="colorize"):
    files = {"image": (photo.name, photo.read_bytes(), "image/jpeg")}
    if reference is not None:
        files["reference"] = (reference.name, reference.read_bytes(), "image/png")
    data = (
        {} if hints is None else {"hints": hints if isinstance(hints, str) else json.dumps(hints)}
    )
    return httpx.post(f"{url}/api/{path}", files=files, data=data, params=params, timeout=TIMEOUT)


def pixels(answer) -> np.ndarray:
    assert answer.status_code == 200, answer.text
    return np.asarray(Image.open(io.BytesIO(answer.content)).convert("RGB"))


def test_a_guided_model_file_health_openapi_and_rest_equal_python(
    tmp_path, photo_file, reference_file
):
    colorizer = Colorizer.load(save_guided_model(tmp_path))  # as serve loads it
    hints = [{"x": 40, "y": 30, "color": GREEN, "size": 5}]
    with running(colorizer) as (url, _):
        health = httpx.get(f"{url}/api/health").json()
        assert (health["head"], health["guided"]) == ("distribution", True)
        assert (health["vividness"], health["working_size"]) == (options.DEFAULT_VIVIDNESS, 64)
        answer = send(url, photo_file, hints, reference_file, params={"vividness": 0.7})
        expected = colorizer.colorize(
            photo_file, hints=hints, reference=reference_file, vividness=0.7
        )
        np.testing.assert_array_equal(pixels(answer), np.asarray(expected))
        spec = httpx.get(f"{url}/openapi.json").json()
    for path in ("/api/colorize", "/api/suggest"):
        post_spec = spec["paths"][path]["post"]
        form = post_spec["requestBody"]["content"]["multipart/form-data"]["schema"]
        assert {"image", "hints", "reference"} <= set(form["properties"]), path
    names = {p["name"] for p in spec["paths"]["/api/colorize"]["post"]["parameters"]}
    assert {"saturation", "vividness", "size", "format", "mode"} <= names
    names = {p["name"] for p in spec["paths"]["/api/suggest"]["post"]["parameters"]}
    assert {"x", "y", "k"} <= names


def test_health_says_what_the_page_may_offer(served):
    url, _ = served
    health = httpx.get(f"{url}/api/health").json()
    assert (health["head"], health["guided"]) == ("distribution", True)
    assert health["vividness"] == options.DEFAULT_VIVIDNESS


def test_hints_and_reference_through_rest_equal_the_python_api(
    served, colorizer, photo_file, reference_file
):
    url, app = served
    hints = [{"x": 40, "y": 30, "color": GREEN, "size": 5}, {"x": 130, "y": 90, "color": "#c01818"}]
    automatic = pixels(send(url, photo_file))
    guided = pixels(send(url, photo_file, hints))
    expected = np.asarray(colorizer.colorize(photo_file, hints=hints))
    np.testing.assert_array_equal(guided, expected)
    assert np.abs(guided.astype(int) - automatic).max() > 10  # the hints changed the colour
    both = pixels(send(url, photo_file, hints, reference_file, params={"vividness": 0.3}))
    expected = colorizer.colorize(photo_file, hints=hints, reference=reference_file, vividness=0.3)
    np.testing.assert_array_equal(both, np.asarray(expected))
    assert np.abs(both.astype(int) - guided).max() > 10  # the reference changed it too
    # a hints file sent as a file part (curl -F hints=@hints.json) works the same
    files = {
        "image": (photo_file.name, photo_file.read_bytes(), "image/jpeg"),
        "hints": ("hints.json", json.dumps(hints).encode(), "application/json"),
    }
    as_file = httpx.post(f"{url}/api/colorize", files=files, timeout=TIMEOUT)
    np.testing.assert_array_equal(pixels(as_file), guided)
    assert pixels(send(url, photo_file, "")).tolist() == automatic.tolist()  # empty: automatic
    assert temp_files(app) == []


def test_a_hint_moves_the_colour_at_its_point_toward_it(served, photo_file):
    url, _ = served
    hint = {"x": 80, "y": 60, "color": GREEN, "size": 7}
    ab_green = lab(Image.new("RGB", (1, 1), GREEN))[1:, 0, 0]
    before, after = (
        lab(Image.fromarray(pixels(send(url, photo_file, hints))))[1:, 58:63, 78:83].mean((1, 2))
        for hints in (None, [hint])
    )
    assert float((after - ab_green).norm()) < float((before - ab_green).norm())


def test_higher_vividness_is_more_colourful(served, photo_file):
    url, _ = served
    muted = pixels(send(url, photo_file, params={"vividness": 0.0}))
    vivid = pixels(send(url, photo_file, params={"vividness": 1.0}))
    chroma = lambda rgb: np.ptp(rgb.astype(int), axis=-1).mean()  # noqa: E731
    assert chroma(vivid) > chroma(muted) + 0.5


BAD = {
    "hints not JSON": (dict(hints="[{x: 1}]"), "hints: not JSON"),
    "hints not a list": (dict(hints='{"x": 1, "y": 2, "color": "#fff"}'), "is not a list"),
    "colour that does not parse": (
        dict(hints=[{"x": 1, "y": 2, "color": "#12345"}]),
        "hints[0]: hint colour '#12345'",
    ),
    "named colour": (dict(hints=[{"x": 1, "y": 2, "color": "blue"}]), "'blue'"),
    "missing key": (dict(hints=[{"x": 1, "color": "#fff"}]), "no ['y']"),
    "x as text": (dict(hints=[{"x": "left", "y": 2, "color": "#fff"}]), "x='left'"),
    "size 0": (dict(hints=[{"x": 1, "y": 2, "color": "#fff", "size": 0}]), "size=0"),
    "hint outside the image": (
        dict(hints=[{"x": 500, "y": 20, "color": "#fff"}]),
        "hint at (500, 20) is outside the image (160x120 pixels)",
    ),
    "vividness below 0": (
        dict(params={"vividness": -0.1}),
        "vividness='-0.1': Input should be greater than or equal to 0",
    ),
    "vividness 2": (dict(params={"vividness": 2}), "vividness='2'"),
    "vividness text": (dict(params={"vividness": "vivid"}), "vividness='vivid'"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_hints_and_vividness_get_422_naming_the_value(served, photo_file, case):
    url, app = served
    kwargs, words = BAD[case]
    answer = send(url, photo_file, **kwargs)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert words in answer.json()["error"]
    assert temp_files(app) == []


def reference_answer(url, photo: Path, data: bytes, name="ref.png", kind="image/png"):
    files = {
        "image": (photo.name, photo.read_bytes(), "image/jpeg"),
        "reference": (name, data, kind),
    }
    return httpx.post(f"{url}/api/colorize", files=files, timeout=TIMEOUT)


def png(size) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


def test_bad_references(served, photo_file):
    url, app = served
    cases = [
        (dict(data=b"some notes\n", name="notes.jpg"), 422, "reference notes.jpg: not an image"),
        (dict(data=b"hello", name="a.txt", kind="text/plain"), 422, "text/plain is not an image"),
        (dict(data=b"", name="none.png"), 422, "reference none.png: empty file"),
        (dict(data=png((600, 400)), name="huge.png"), 413, "reference huge.png: 240,000 pixels"),
        (dict(data=np.random.default_rng(0).bytes(300_000)), 413, "reference ref.png: over"),
    ]
    for kwargs, status, words in cases:
        answer = reference_answer(url, photo_file, **kwargs)
        assert answer.status_code == status, (kwargs.get("name"), answer.text)
        assert words in answer.json()["error"], answer.text
    form_field = httpx.post(
        f"{url}/api/colorize",
        files={"image": (photo_file.name, photo_file.read_bytes(), "image/jpeg")},
        data={"reference": "red"},
        timeout=TIMEOUT,
    )
    assert form_field.status_code == 422 and "file field 'reference'" in form_field.text
    assert httpx.get(f"{url}/api/health").json()["busy"] == 0
    assert temp_files(app) == []


def test_suggest_gives_the_k_most_likely_colours(served, colorizer, photo_file):
    url, app = served
    hints = [{"x": 20, "y": 20, "color": GREEN}]
    answer = send(url, photo_file, hints, path="suggest", params={"x": 80, "y": 60, "k": 4})
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert [sorted(s) for s in found] == [["color", "p"]] * 4
    assert all(s["color"].startswith("#") and len(s["color"]) == 7 for s in found)
    probs = [s["p"] for s in found]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1
    expected = colorizer.suggest(photo_file, 80, 60, 4, hints=hints)
    assert [s["color"] for s in found] == [c for c, _ in expected]
    outside = send(url, photo_file, path="suggest", params={"x": 160, "y": 0})
    assert outside.status_code == 422 and "outside the image (160x120" in outside.text
    too_many = send(url, photo_file, path="suggest", params={"x": 1, "y": 1, "k": 65})
    assert too_many.status_code == 422 and "k='65'" in too_many.text
    assert temp_files(app) == []


def test_a_model_without_guidance_refuses_hints_and_ignores_vividness(photo_file, tiny_model):
    with running(Colorizer.load(tiny_model, backend="torch")) as (url, _):
        health = httpx.get(f"{url}/api/health").json()
        assert (health["head"], health["guided"], health["vividness"]) == ("ab", False, None)
        hinted = send(url, photo_file, [{"x": 1, "y": 1, "color": "#fff"}])
        assert hinted.status_code == 422 and "no hints or reference" in hinted.json()["error"]
        suggested = send(url, photo_file, path="suggest", params={"x": 1, "y": 1})
        assert suggested.status_code == 422 and "distribution head" in suggested.text
        vivid = send(url, photo_file, params={"vividness": 0.5})
        assert vivid.status_code == 200
        assert "ignores it" in vivid.headers["x-colorgan-warning"]
        assert "x-colorgan-warning" not in post(url, photo_file.read_bytes()).headers
