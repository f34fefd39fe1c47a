"""The page of `colorgan serve` in a real browser: headless Debian chromium driven by Playwright.

Needs /usr/bin/chromium (Debian package `chromium`; COLORGAN_CHROMIUM names another) and the
Playwright Python client. Never `playwright install`: it downloads browsers. Without them these
tests skip, except under CI=true or COLORGAN_REQUIRE_BROWSER=1, where that is a failure
(.ci/run installs chromium). Screenshots go to test-artifacts/ (gitignored).

The README's screenshot is taken with the same code:
    python -m tests.test_web_browser --model MODEL --photo PHOTO --out docs/web.png
"""

import argparse
import os
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

from colorgan.pipeline.colorizer import Colorizer

from .conftest import running
from .test_web_api import (
    gated_colorizer,
    gray_photo,
    httpx,
    mean_chroma,
    post,
    save_colourful_model,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CHROMIUM = Path(os.environ.get("COLORGAN_CHROMIUM", "/usr/bin/chromium"))
REQUIRED = os.environ.get("CI", "").lower() in ("1", "true", "yes") or bool(
    os.environ.get("COLORGAN_REQUIRE_BROWSER")
)
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
# What works here as root, offline: no sandbox (root), no GPU, and nothing that phones home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000


def missing_browser() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install 'colorgan[test]')"
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


@contextmanager
def chromium(viewport=(1200, 900)):
    """A fresh headless chromium (its own profile folder), yields its browser context."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="colorgan-chromium-") as profile:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=str(CHROMIUM),
                headless=True,
                args=CHROMIUM_ARGS,
                accept_downloads=True,
                viewport={"width": viewport[0], "height": viewport[1]},
            )
            context.set_default_timeout(TIMEOUT_MS)
            try:
                yield context
            finally:
                context.close()


@pytest.fixture(scope="module")
def browser():
    reason = missing_browser()
    if reason and REQUIRED:
        pytest.fail(f"{reason}; CI must run the browser tests (.ci/run installs chromium)")
    if reason:
        pytest.skip(reason)
    with chromium() as context:
        yield context


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    colorizer, gate = gated_colorizer(save_colourful_model(tmp_path_factory.mktemp("model")))
    with running(colorizer, model="tiny", workers=1, queue=2, max_upload_mb=2) as (url, app):
        yield url, app, gate


@pytest.fixture
def page(browser, served):
    """A new tab on the page; records every URL it asks for and every uncaught JS error."""
    url = served[0]
    tab = browser.new_page()
    tab.requests, tab.js_errors = [], []
    tab.on("request", lambda request: tab.requests.append(request.url))
    tab.on("pageerror", lambda error: tab.js_errors.append(str(error)))
    tab.goto(url)
    tab.locator("#model").filter(has_text="model: tiny (cpu)").wait_for()  # /api/health read
    yield tab
    assert tab.js_errors == []
    assert [u for u in tab.requests if not u.startswith((url, "blob:", "data:"))] == []
    tab.close()


def done(card):
    from playwright.sync_api import expect

    expect(card).to_have_class(re.compile(r"\bdone\b"), timeout=TIMEOUT_MS)


def download(card, folder: Path) -> tuple[str, Image.Image]:
    with card.page.expect_download() as info:
        card.locator(".download").click()
    path = folder / info.value.suggested_filename
    info.value.save_as(path)
    return path.name, Image.open(path)


def set_range(locator, value) -> None:
    locator.evaluate(
        "(el, value) => { el.value = value; el.dispatchEvent(new Event('input')); }", str(value)
    )


def screen_xy(card, x: int, y: int, size: tuple[int, int]) -> tuple[float, float]:
    """Where pixel (x, y) of a photo of `size` is on the screen (its centre)."""
    box = card.locator(".markers").bounding_box()
    return (
        box["x"] + (x + 0.5) / size[0] * box["width"],
        box["y"] + (y + 0.5) / size[1] * box["height"],
    )


def set_colour(point, colour: str) -> None:
    point.locator(".point-color").evaluate(
        "(el, c) => { el.value = c; el.dispatchEvent(new Event('input', {bubbles: true})); }",
        colour,
    )


def test_upload_shows_busy_state_then_colour_compare_and_full_size_download(page, served, tmp_path):
    _, _, gate = served
    photo = tmp_path / "old photo.jpg"
    photo.write_bytes(gray_photo(480, 360))
    gate.open.clear()  # hold the photo in the network to see the busy state
    try:
        page.set_input_files("#file-input", str(photo))
        card = page.locator(".card").first
        card.locator(".status").filter(has_text="colouring").wait_for()
        assert card.locator(".progress").get_attribute("value") is None  # indeterminate
    finally:
        gate.open.set()
    done(card)
    shown = card.locator(".result").evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert shown == [480, 360]
    assert card.locator(".download").inner_text() == "Download 480 × 360"
    name, result = download(card, tmp_path)
    assert name == "old_photo_color.png" and result.size == (480, 360)
    gray = mean_chroma(Image.open(photo))
    assert gray < 0.5 < 2.0 < mean_chroma(result), (gray, mean_chroma(result))

    set_range(card.locator(".slider"), 20)
    assert "80%" in card.locator(".before").evaluate("el => el.style.clipPath")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "web_slider.png", full_page=True)
    page.select_option("#view", "side")
    assert "side" in page.locator("#results").get_attribute("class")
    boxes = [card.locator(sel).bounding_box() for sel in (".before img", ".after img")]
    assert boxes[0]["x"] + boxes[0]["width"] <= boxes[1]["x"]  # original left of colour
    page.screenshot(path=ARTIFACTS / "web_side_by_side.png", full_page=True)


def test_several_photos_errors_and_the_saturation_setting(page, tmp_path):
    good, notes, empty = tmp_path / "good.jpg", tmp_path / "notes.jpg", tmp_path / "empty.png"
    good.write_bytes(gray_photo(160, 120))
    notes.write_text("not a photo at all\n")
    empty.write_bytes(b"")
    set_range(page.locator("#saturation"), 0)
    page.set_input_files("#file-input", [str(good), str(notes), str(empty)])
    cards = page.locator(".card")
    done(cards.nth(0))
    cards.nth(1).locator(".error-text").filter(has_text="notes.jpg: not an image").wait_for()
    cards.nth(2).locator(".error-text").filter(has_text="empty file").wait_for()
    assert mean_chroma(download(cards.nth(0), tmp_path)[1]) < 0.5  # saturation 0: gray
    assert "saturation 0" in cards.nth(0).locator(".meta").inner_text()

    set_range(page.locator("#saturation"), 1.5)
    page.check("#detail")
    cards.nth(0).locator(".redo").click()
    done(cards.nth(0))
    assert mean_chroma(download(cards.nth(0), tmp_path)[1]) > 2.0
    assert "mode=hybrid" in [u for u in page.requests if "/api/colorize" in u][-1]
    page.screenshot(path=ARTIFACTS / "web_errors.png", full_page=True)


def test_the_repair_damage_switch_asks_for_the_repair(page, tmp_path):
    photo = tmp_path / "scan.jpg"
    photo.write_bytes(gray_photo(160, 120))
    page.check("#restore")
    with page.expect_request(lambda r: "/api/colorize" in r.url) as asked:
        page.set_input_files("#file-input", str(photo))
    assert "restore=default" in asked.value.url
    card = page.locator(".card").first
    done(card)
    assert "repaired" in card.locator(".meta").inner_text()
    page.uncheck("#restore")
    with page.expect_request(lambda r: "/api/colorize" in r.url) as asked:
        page.set_input_files("#file-input", str(photo))
    assert "restore" not in asked.value.url


def test_a_full_server_queue_makes_the_page_wait_and_retry(page, served, tmp_path):
    url, _, gate = served
    photo = tmp_path / "later.jpg"
    photo.write_bytes(gray_photo(64, 48))
    gate.open.clear()
    with ThreadPoolExecutor(3) as pool:  # 1 worker + 2 waiting: every slot taken
        others = [pool.submit(post, url, gray_photo(64, 48)) for _ in range(3)]
        try:
            deadline = time.monotonic() + 20
            while httpx.get(f"{url}/api/health").json()["busy"] < 3:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            page.set_input_files("#file-input", str(photo))
            card = page.locator(".card").first
            card.locator(".status").filter(has_text="server busy").wait_for()
        finally:
            gate.open.set()
        done(card)
        assert [f.result(timeout=30).status_code for f in others] == [200] * 3


def test_a_model_without_guidance_offers_no_points_and_no_vividness(page, tmp_path):
    photo = tmp_path / "plain.jpg"
    photo.write_bytes(gray_photo(96, 72))
    assert page.locator("#vividness").is_disabled()
    title = page.locator("#vividness-control").get_attribute("title")
    assert "distribution-head models only" in title
    page.set_input_files("#file-input", str(photo))
    card = page.locator(".card").first
    done(card)
    assert card.locator(".guide").is_hidden() and card.locator(".markers").is_hidden()
    assert "vividness" not in [u for u in page.requests if "/api/colorize" in u][-1]


# --- the README's screenshot ---------------------------------------------------------------


def docs_screenshot(
    model: str, photo: Path, out: Path, size: str, saturation: float, hints: tuple[str, ...] = ()
) -> None:
    """The page with one photo coloured, slider in the middle, and the colour points
    "X,Y,#RRGGBB" placed as a user does (a click, then the colour picker); saved as a
    256-colour dithered PNG, which keeps docs/web.png small enough to commit."""
    with running(Colorizer.load(model), model=Path(model).name) as (url, _):
        with chromium(viewport=(1000, 820)) as context:
            page = context.new_page()
            page.goto(url)
            page.locator("#model").filter(has_text="model:").wait_for()
            page.select_option("#size", size)
            set_range(page.locator("#saturation"), saturation)
            page.set_input_files("#file-input", str(photo))
            card = page.locator(".card").first
            done(card)
            width, height = Image.open(photo).size
            for n, hint in enumerate(hints):  # each point's preview shown before the next
                x, y, colour = hint.split(",")
                markers = card.locator(".markers")  # scrolled into view by the click
                box = markers.bounding_box()
                markers.click(
                    position={
                        "x": (int(x) + 0.5) / width * box["width"],
                        "y": (int(y) + 0.5) / height * box["height"],
                    }
                )
                card.locator(".point").nth(n).wait_for()
                set_colour(card.locator(".point").nth(n), colour)
                page.wait_for_function(
                    "([el, n]) => Number(el.dataset.previews || 0) > n && "
                    "el.dataset.pending === '0'",
                    arg=[card.element_handle(), n],
                    timeout=TIMEOUT_MS,
                )
            set_range(card.locator(".slider"), 50)
            shot = out.with_suffix(".full.png")
            page.screenshot(path=shot, full_page=True)
    image = Image.open(shot).convert("RGB")
    shot.unlink()
    image.quantize(256, dither=Image.Dither.FLOYDSTEINBERG).save(out, optimize=True)
    print(f"{out}: {image.size[0]}x{image.size[1]}, {out.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="take the README's screenshot of the page")
    parser.add_argument("--model", required=True)
    parser.add_argument("--photo", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("docs/web.png"))
    parser.add_argument("--size", default="", help="working size option of the page")
    parser.add_argument("--saturation", type=float, default=1.0)
    parser.add_argument("--hint", action="append", default=[], help="X,Y,#RRGGBB (repeatable)")
    args = parser.parse_args()
    docs_screenshot(args.model, args.photo, args.out, args.size, args.saturation, args.hint)
