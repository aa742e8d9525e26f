"""A real browser in the Clustering & metric learning tab: cluster the test digits (three maps and the scores), draw a
digit and find the pictures most like it, train a triplet network live with its loss curve; Stop a training: the
status line says it stopped and the network is saved, the curve stays.

Screenshots go to a temporary folder, or to docs/screenshots/ with MMHUB_SCREENSHOTS=1 (for the README; that run
draws t-SNE maps of all 359 test digits).
"""

from __future__ import annotations

import os
import re

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
    expect(page.locator("#metric-stop")).to_be_disabled()  # nothing runs: nothing to stop
    page.locator("#metric-run").click()
    done = page.locator("#metric-status .mmhub-run[data-state='done']")
    expect(done).to_be_visible(timeout=180_000)
    assert "3 representations compared" in done.inner_text() and "seed 0" in done.inner_text()
    expect(page.locator("#metric-summary").get_by_text("seed 0")).to_be_visible()
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
    page.locator("#metric-find").click()  # nothing drawn yet: said in words on the status line
    error = page.locator("#metric-find-status .mmhub-run[data-state='error']")
    expect(error).to_be_visible(timeout=90_000)
    assert "Draw a digit or upload a picture first." in error.inner_text()
    assert page.locator("span.error:visible").count() == 0  # no "Error" badge on the outputs
    # the brush is picked without a click, and the first stroke draws
    expect(page.locator("#metric-sketch button[aria-label='Brush']")).to_have_class(re.compile("highlight"))
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - 60, cy - 90)  # a 7: the bar, then the slanted stroke
    page.mouse.down()
    for dx, dy in ((60, -90), (30, -20), (0, 40), (-25, 100)):
        page.mouse.move(cx + dx, cy + dy, steps=10)
    page.mouse.up()
    page.locator("#metric-find").click()
    expect(page.locator("#metric-found").get_by_text("Triplet")).to_be_visible(timeout=90_000)
    expect(page.locator("#metric-find-status").get_by_text("8 nearest pictures")).to_be_visible()
    expect(page.locator("#metric-seen img")).to_be_visible()
    assert page.locator("#metric-neighbours img").count() >= 8
    wait_for_images(page, "#metric-neighbours")
    page.screenshot(path=str(SCREENSHOTS / "metric-learning-similar.png"), full_page=True)

    page.get_by_role("tab", name="Train it now").click()
    set_number(page, "#metric-epochs", 1)
    set_number(page, "#metric-max", 256)  # two steps of 128: the curve and the finished network are what counts
    set_number(page, "#metric-train-seed", 0)
    page.locator("#metric-train-run").click()
    expect(page.locator("#metric-trained").get_by_text("Triplet trained on sklearn-digits")).to_be_visible(
        timeout=180_000)
    line = page.locator("#metric-train-status .mmhub-run[data-state='done']")
    expect(line).to_contain_text("the network is saved")
    expect(line).to_contain_text("seed 0")
    expect(page.locator("#metric-curve canvas, #metric-curve svg").first).to_be_visible()
    assert "metric-live" in page.locator("#metric-model input").input_value()  # the other tabs now use it


def test_stop_ends_the_training_with_the_network_saved_and_the_curve_kept(app_url, page):
    """Stop asks the trainer to end at its next step: it saves the network as it is; the page keeps the curve and
    the report, and the status line says it stopped (no "Error" badge, no "Stopping…" left over)."""
    import json
    import time
    from pathlib import Path

    from playwright.sync_api import expect

    from pipelines import tiny

    metrics = Path(tiny.cache_dir()) / "metric-live" / "normalized-softmax" / "metrics.json"
    started = time.time()
    page.goto(app_url)
    page.get_by_role("tab", name="Basics").click()
    page.get_by_role("tab", name="Clustering & metric learning").click()
    page.get_by_role("tab", name="Train it now").click()
    expect(page.locator("#metric-train-stop")).to_be_disabled()  # nothing runs: nothing to stop
    page.locator("#metric-loss input").click()
    page.get_by_role("option", name="Normalized softmax").click()
    set_number(page, "#metric-epochs", 30)  # 30 epochs of all 1,438 training digits if nobody stops it
    set_number(page, "#metric-train-seed", 3)
    page.locator("#metric-train-run").click()
    expect(page.locator("#metric-curve canvas, #metric-curve svg").first).to_be_visible(timeout=120_000)
    expect(page.locator("#metric-train-status .mmhub-clock")).to_be_visible()  # progress on the status line
    expect(page.locator("#metric-train-status")).to_contain_text("Step ")
    page.locator("#metric-train-stop").click()
    line = page.locator("#metric-train-status .mmhub-run[data-state='stopped']")
    expect(line).to_be_visible(timeout=120_000)
    # the run's last status line says what was kept (a run that ended before Stop reached it says done)
    expect(line).to_contain_text("Stopped after")
    expect(line).to_contain_text("the network is saved", timeout=60_000)
    expect(line).to_contain_text("seed 3")
    expect(page.locator("#metric-trained")).to_contain_text("stopped early")
    expect(page.locator("#metric-curve canvas, #metric-curve svg").first).to_be_visible()  # the curve stays
    expect(page.locator("#metric-train-stop")).to_be_disabled()
    expect(page.get_by_text("Stopping")).to_have_count(0)
    assert page.locator("span.error:visible").count() == 0  # no "Error" badge on any output
    assert "metric-live" in page.locator("#metric-model input").input_value()
    saved = json.loads(metrics.read_text())
    assert metrics.stat().st_mtime > started and saved["stopped_early"] and saved["global_step"] < 30 * 11
