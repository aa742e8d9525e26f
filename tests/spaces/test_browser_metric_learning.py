"""A real browser in the Clustering & metric learning tab: cluster the test digits (three maps and the scores), draw a
digit and find the pictures most like it, train a triplet network live with its loss curve.

Screenshots go to a temporary folder, or to docs/screenshots/ with MMHUB_SCREENSHOTS=1 (for the README; that run
draws t-SNE maps of all 359 test digits).
"""

from __future__ import annotations

import os

import pytest

from .browser import SCREENSHOTS, chromium_page, needs_chromium, wait_for_images

pytestmark = needs_chromium

FOR_DOCS = os.environ.get("MMHUB_SCREENSHOTS") == "1"


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    with chromium_page(tmp_path_factory.mktemp("chromium-profile-metric"), height=1100) as page:
        yield page


def set_number(page, selector: str, value: int) -> None:
    box = page.locator(f"{selector} input[type=number]").first
    box.fill(str(value))
    box.press("Enter")


def test_compare_find_similar_and_train(app_url, page):
    from playwright.sync_api import expect

    page.goto(app_url)
    page.get_by_role("tab", name="Basics").click()
    page.get_by_role("tab", name="Clustering & metric learning").click()
    if not FOR_DOCS:
        set_number(page, "#metric-pictures", 120)
        page.locator("#metric-projection").get_by_text("PCA").click()
    set_number(page, "#metric-seed", 0)
    page.locator("#metric-run").click()
    expect(page.locator("#metric-status").get_by_text("seed 0")).to_be_visible(timeout=180_000)
    for slot in ("pixels", "softmax", "triplet"):
        expect(page.locator(f"#metric-map-{slot} canvas, #metric-map-{slot} svg").first).to_be_visible()
    expect(page.locator("#metric-scores").get_by_text("Triplet")).to_be_visible()
    expect(page.locator("#metric-scores").get_by_text("k-NN accuracy")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "metric-learning.png"), full_page=True)
    assert (SCREENSHOTS / "metric-learning.png").stat().st_size > 20_000

    page.get_by_role("tab", name="Find similar").click()
    canvas = page.locator("#metric-sketch canvas").first
    expect(canvas).to_be_visible()
    page.locator("#metric-sketch button[aria-label='Brush']").click()  # gradio 6: pick the draw tool first
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - 60, cy - 90)  # a 7: the bar, then the slanted stroke
    page.mouse.down()
    for dx, dy in ((60, -90), (30, -20), (0, 40), (-25, 100)):
        page.mouse.move(cx + dx, cy + dy, steps=10)
    page.mouse.up()
    page.locator("#metric-find").click()
    expect(page.locator("#metric-found").get_by_text("Triplet")).to_be_visible(timeout=90_000)
    expect(page.locator("#metric-seen img")).to_be_visible()
    assert page.locator("#metric-neighbours img").count() >= 8
    wait_for_images(page, "#metric-neighbours")
    page.screenshot(path=str(SCREENSHOTS / "metric-learning-similar.png"), full_page=True)

    page.get_by_role("tab", name="Train it now").click()
    set_number(page, "#metric-epochs", 1)
    set_number(page, "#metric-max", 256)  # two steps of 128: the curve and the finished network are what counts
    set_number(page, "#metric-train-seed", 0)
    page.locator("#metric-train-run").click()
    expect(page.locator("#metric-train-status").get_by_text("Triplet trained on sklearn-digits")).to_be_visible(
        timeout=180_000)
    expect(page.locator("#metric-curve canvas, #metric-curve svg").first).to_be_visible()
    assert "metric-live" in page.locator("#metric-model input").input_value()  # the other tabs now use it
