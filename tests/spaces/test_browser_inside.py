"""A real browser in the "Inside a network" tabs: draw a digit with the mouse, see the layers; run the climb.

Screenshots go to a temporary folder, or to docs/screenshots/ with MMHUB_SCREENSHOTS=1 (for the README).
"""

from __future__ import annotations

import pytest

from .browser import SCREENSHOTS, chromium_page, needs_chromium, open_inside_tab

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    with chromium_page(tmp_path_factory.mktemp("chromium-profile-inside"), height=1000) as page:
        yield page


def test_draw_a_digit_and_see_every_layer(app_url, page):
    from playwright.sync_api import expect

    open_inside_tab(page, app_url, "Digit recognition")
    canvas = page.locator("#digit-sketch canvas").first
    expect(canvas).to_be_visible()
    page.locator("#digit-sketch button[aria-label='Brush']").click()  # gradio 6: pick the draw tool first
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2  # the paper sits in the middle
    page.mouse.move(cx - 60, cy - 90)  # a 7: the bar, then the slanted stroke
    page.mouse.down()
    for dx, dy in ((60, -90), (30, -20), (0, 40), (-25, 100)):
        page.mouse.move(cx + dx, cy + dy, steps=10)
    page.mouse.up()
    # recognised while drawing (the Sketchpad's change event); the button then recognises the same drawing again
    expect(page.locator("#digit-text").get_by_text("First guess")).to_be_visible(timeout=90_000)
    page.locator("#digit-run").click()
    expect(page.locator("#digit-text").get_by_text("First guess")).to_be_visible(timeout=90_000)
    expect(page.get_by_text("must be a drawing")).to_have_count(0)  # no "empty drawing" toast for a drawn digit
    for name in ("input", "conv1", "pool2", "fc2", "output"):
        expect(page.locator(f"#digit-layer-{name} img")).to_be_visible()
    page.locator("#digit-show-conv1 input").uncheck()
    expect(page.locator("#digit-layer-conv1")).to_be_hidden()
    page.locator("#digit-show-conv1 input").check()
    expect(page.locator("#digit-layer-conv1 img")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "digit-recognition.png"), full_page=True)
    assert (SCREENSHOTS / "digit-recognition.png").stat().st_size > 20_000


def test_activation_maximisation_plots_the_climb(app_url, page):
    from playwright.sync_api import expect

    open_inside_tab(page, app_url, "Activation maximisation")
    page.locator("#am-run").click()
    expect(page.locator("#am-animation img")).to_be_visible(timeout=90_000)
    expect(page.locator("#am-climb canvas, #am-climb svg").first).to_be_visible()
    expect(page.locator("#am-vectors").get_by_text("after")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "activation-maximisation.png"), full_page=True)
