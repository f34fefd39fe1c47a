"""Colour points, suggested colours, a reference photo and vividness in the page of
`colorgan serve`, in headless Debian chromium (tests/test_web_browser.py's browser).

Two servers: a stand-in guided network (tests/guided_stub.py: fast, and what a point or a
reference does is known exactly) for the page's workings, and a real guided model for
"a point moves the colour toward it": the bundled default model, or the guided model file
named by COLORGAN_WEB_HINTS_MODEL until the default is one. That test fails, never skips,
when the model cannot follow hints.
"""

import base64
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorgan.pipeline import options
from colorgan.pipeline.colorizer import Colorizer

from .conftest import running
from .guided_stub import guided_colorizer
from .test_web_api import lab
from .test_web_browser import (
    ARTIFACTS,
    TIMEOUT_MS,
    browser,
    done,
    download,
    screen_xy,
    set_colour,
)

__all__ = ["browser"]  # the fixture, shared
pytestmark = [pytest.mark.browser, pytest.mark.integration]

GREEN = "#00c000"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "castle_clinton_1961.jpg"
HINTS_MODEL = os.environ.get("COLORGAN_WEB_HINTS_MODEL", "default")


def gradient_photo(path: Path, size=(320, 240)) -> Path:
    w, h = size
    ramp = np.linspace(40, 220, w, dtype=np.float32)[None] + np.linspace(-20, 20, h)[:, None]
    Image.fromarray(ramp.clip(0, 255).astype(np.uint8)).save(path)
    return path


def open_page(context, url: str):
    tab = context.new_page()
    tab.js_errors = []
    tab.on("pageerror", lambda error: tab.js_errors.append(str(error)))
    tab.goto(url)
    tab.locator("#model").filter(has_text="model:").wait_for()
    return tab


def upload(tab, photo: Path):
    tab.set_input_files("#file-input", str(photo))
    card = tab.locator(".card").last
    done(card)
    return card


def counter(card, name: str) -> int:
    return int(card.get_attribute(f"data-{name}") or 0)


def wait_more(card, name: str, before: int) -> None:
    card.page.wait_for_function(
        "([el, name, n]) => Number(el.dataset[name] || 0) > n",
        arg=[card.element_handle(), name, before],
        timeout=TIMEOUT_MS,
    )


def shown(card) -> Image.Image:
    """The image the card shows now (a preview, or the full result), as the browser has it."""
    # through a canvas: the page's Content-Security-Policy lets it fetch nothing but 'self'
    data = card.locator(".result").evaluate(
        """(img) => {
            const canvas = document.createElement("canvas");
            canvas.width = img.naturalWidth;
            canvas.height = img.naturalHeight;
            canvas.getContext("2d").drawImage(img, 0, 0);
            return canvas.toDataURL("image/png").split(",")[1];
        }"""
    )
    return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")


def ab_at(image: Image.Image, fx: float, fy: float, r: int = 1) -> np.ndarray:
    """Mean Lab ab in a (2r+1)^2 window at fractions (fx, fy) of the image."""
    ab = lab(image)[1:].numpy()
    x, y = int(fx * image.width), int(fy * image.height)
    return ab[:, y - r : y + r + 1, x - r : x + r + 1].mean((1, 2))


def hex_ab(colour: str) -> np.ndarray:
    return lab(Image.new("RGB", (1, 1), colour))[1:, 0, 0].numpy()


def distance(image: Image.Image, fx: float, fy: float, colour: str, r: int = 1) -> float:
    """Lab ab distance between the image at (fx, fy) and the colour."""
    return float(np.linalg.norm(ab_at(image, fx, fy, r) - hex_ab(colour)))


def recolour(card, action) -> Image.Image:
    """Does `action`, waits until the preview of the state it leaves is shown (a newer
    preview than before, and none pending), returns it."""
    before = counter(card, "previews")
    action()
    card.page.wait_for_function(
        "([el, n]) => Number(el.dataset.previews || 0) > n && el.dataset.pending === '0'",
        arg=[card.element_handle(), before],
        timeout=TIMEOUT_MS,
    )
    return shown(card)


# --- the page's workings, on the stand-in network -------------------------------------------


@pytest.fixture(scope="module")
def stub_url():
    with running(guided_colorizer(working_size=64, temperature=0.5), model="stub") as (url, _):
        yield url


def test_points_suggestions_drag_keyboard_and_full_size_download(browser, stub_url, tmp_path):
    tab = open_page(browser, stub_url)
    assert not tab.locator("#vividness").is_disabled()
    # the slider starts at the option spec's default (vividness is a gain over the model's own
    # temperature since issue 20, not the temperature itself)
    assert float(tab.locator("#vividness").input_value()) == options.DEFAULT_VIVIDNESS
    card = upload(tab, gradient_photo(tmp_path / "old.png"))
    automatic = shown(card)
    assert automatic.size == (320, 240)

    suggested = counter(card, "suggested")
    tab.mouse.click(*screen_xy(card, 160, 120, (320, 240)))
    point = card.locator(".point").first
    assert point.locator(".point-name").inner_text() == "Point 1 (160, 120)"
    wait_more(card, "suggested", suggested)
    swatches = point.locator(".swatch")
    assert swatches.count() == 6
    preview = recolour(card, lambda: set_colour(point, GREEN))
    assert preview.size[0] == 64  # the working size, shown as big as the photo
    box = card.locator(".result").bounding_box()
    assert abs(box["width"] / box["height"] - 320 / 240) < 0.02 and box["width"] > 200
    far, near = (distance(im, 0.5, 0.5, GREEN) for im in (automatic, preview))
    assert near < 0.3 * far, (far, near)
    assert "stale" in card.get_attribute("class")
    assert card.locator(".download").inner_text() == "Download full size"

    first_swatch = swatches.first.evaluate("el => el.style.backgroundColor")
    recolour(card, lambda: swatches.first.click())
    picked = point.locator(".point-color").input_value()
    assert first_swatch == "rgb({}, {}, {})".format(
        *(int(picked[i : i + 2], 16) for i in (1, 3, 5))
    )
    recolour(card, lambda: set_colour(point, GREEN))

    # drag the point to the left quarter: the green goes with it
    tab.mouse.move(*screen_xy(card, 160, 120, (320, 240)))
    tab.mouse.down()
    tab.mouse.move(*screen_xy(card, 80, 120, (320, 240)), steps=5)
    moved = recolour(card, lambda: tab.mouse.up())
    assert point.locator(".point-name").inner_text() == "Point 1 (80, 120)"
    # (darker there: green cannot be as colourful at that lightness)
    far_left = distance(automatic, 0.25, 0.5, GREEN)
    assert distance(moved, 0.25, 0.5, GREEN) < 0.5 * far_left
    # where it was, the colour is far less green now (the pipeline spreads a hint's colour
    # over like pixels nearby, colorgan.pipeline.propagate, so some green stays)
    assert distance(moved, 0.5, 0.5, GREEN) > 2 * near + 10, (
        near,
        distance(moved, 0.5, 0.5, GREEN),
    )

    # the download is full size and has the green where the point is
    name, full = download(card, tmp_path)
    assert full.size == (320, 240) and "stale" not in card.get_attribute("class")
    # (so the point went to the server in the photo's own pixels)
    assert distance(full, 0.25, 0.5, GREEN) < 0.5 * far_left

    # keyboard: a button adds a point at the centre, arrows move it, Delete removes it
    card.locator(".add-point").click()
    second = card.locator(".marker").nth(1)
    assert second.evaluate("el => el === document.activeElement")
    tab.keyboard.press("ArrowRight")
    assert card.locator(".point-name").nth(1).inner_text() == "Point 2 (163, 120)"
    tab.keyboard.press("Delete")
    assert card.locator(".point").count() == 1

    # a right click removes a point, and the colour goes back to the automatic one
    back = recolour(card, lambda: card.locator(".marker").first.click(button="right"))
    assert card.locator(".point").count() == 0
    assert np.linalg.norm(ab_at(back, 0.25, 0.5) - ab_at(automatic, 0.25, 0.5)) < 6
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=ARTIFACTS / "web_points.png", full_page=True)
    assert tab.js_errors == []


def test_reference_photo_and_vividness_recolour_the_preview(browser, stub_url, tmp_path):
    tab = open_page(browser, stub_url)
    card = upload(tab, gradient_photo(tmp_path / "street.png"))
    automatic = shown(card)
    reference = tmp_path / "blue.png"
    Image.new("RGB", (200, 150), (40, 70, 210)).save(reference)
    with_ref = recolour(
        card, lambda: card.locator(".reference-input").set_input_files(str(reference))
    )
    assert card.locator(".reference-thumb").is_visible()
    blue = hex_ab("#2846d2")
    assert np.linalg.norm(ab_at(with_ref, 0.5, 0.5) - blue) < np.linalg.norm(
        ab_at(automatic, 0.5, 0.5) - blue
    )
    without = recolour(card, lambda: card.locator(".reference-remove").click())
    assert np.linalg.norm(ab_at(without, 0.5, 0.5) - ab_at(automatic, 0.5, 0.5)) < 6

    # vividness: higher = more vivid; the previews follow the slider when it is let go
    vivid_input = tab.locator("#vividness")

    def slide(value):
        vivid_input.evaluate(
            "(el, v) => { el.value = v; el.dispatchEvent(new Event('input'));"
            " el.dispatchEvent(new Event('change')); }",
            str(value),
        )

    muted = recolour(card, lambda: slide(0.1))
    vivid = recolour(card, lambda: slide(0.9))
    chroma = [float(np.hypot(*lab(im)[1:].numpy()).mean()) for im in (muted, vivid)]
    assert chroma[1] > chroma[0] + 3, chroma
    assert tab.locator("#vividness-value").inner_text() == "0.90"
    assert tab.js_errors == []


# --- a real guided model follows a point ------------------------------------------------------

# a patch of the paved plaza in the example photo; green is far from any colour a model gives
# pavement, so the point has to move it
PLAZA = (0.62, 0.66)
WARM = "#dc7828"


def test_a_guided_model_moves_the_colour_toward_a_point(browser, tmp_path):
    colorizer = Colorizer.load(HINTS_MODEL)  # as `colorgan serve` loads it
    if not (colorizer.guided and colorizer.head == "distribution"):
        pytest.fail(
            f"model {HINTS_MODEL!r} cannot follow hints (guided={colorizer.guided}, "
            f"head={colorizer.head}); set COLORGAN_WEB_HINTS_MODEL to a guided model file"
        )
    with running(colorizer, model=Path(HINTS_MODEL).name) as (url, _):
        tab = open_page(browser, url)
        card = upload(tab, EXAMPLE)
        automatic = download(card, tmp_path)[1]
        green = hex_ab("#00ff00")
        before = float(np.linalg.norm(ab_at(automatic, *PLAZA, r=3) - green))
        x, y = (int(f * n) for f, n in zip(PLAZA, automatic.size, strict=True))
        tab.mouse.click(*screen_xy(card, x, y, automatic.size))
        point = card.locator(".point").first
        preview = recolour(card, lambda: set_colour(point, "#00ff00"))
        after = float(np.linalg.norm(ab_at(preview, *PLAZA) - green))
        full = download(card, tmp_path)[1]
        after_full = float(np.linalg.norm(ab_at(full, *PLAZA, r=3) - green))
        print(
            f"ab distance to the point's green: automatic {before:.1f}, "
            f"preview {after:.1f}, full size {after_full:.1f}"
        )
        assert after < 0.5 * before and after_full < 0.5 * before, (before, after, after_full)
        assert full.size == automatic.size

        back = recolour(card, lambda: card.locator(".marker").first.click(button="right"))
        again = float(np.linalg.norm(ab_at(back, *PLAZA) - green))
        assert again > 0.8 * before, (before, again)
        # a warm reference (a sunset's oranges): the colours move toward its mean colour
        reference = tmp_path / "sunset.png"
        Image.new("RGB", (160, 120), WARM).save(reference)
        with_ref = recolour(
            card, lambda: card.locator(".reference-input").set_input_files(str(reference))
        )
        ab_back, ab_ref = (lab(im)[1:].numpy() for im in (back, with_ref))
        change = float(np.linalg.norm(ab_ref - ab_back, axis=0).mean())
        toward = [float(np.linalg.norm(ab.mean((1, 2)) - hex_ab(WARM))) for ab in (ab_back, ab_ref)]
        print(
            f"a reference photo moves the preview's ab by {change:.1f} on average; its mean "
            f"ab is {toward[0]:.1f} from the reference's before, {toward[1]:.1f} after"
        )
        # an untrained reference input changes nothing at all (it ends in a zero layer)
        assert change > 1.5 and toward[1] < toward[0], (change, toward)
        tab.screenshot(path=ARTIFACTS / "web_guided_model.png", full_page=True)
        assert tab.js_errors == []
