"""A real browser in the GAN tab: train live (the grid after each epoch, both losses), then draw samples from it.

Screenshots go to a temporary folder, or to docs/screenshots/ with MMHUB_SCREENSHOTS=1 (for the README; that run
trains longer and wider, on all of scikit-learn's digits, so that the pictures are worth showing).
"""

from __future__ import annotations

import os

import pytest

from .browser import SCREENSHOTS, chromium_page, needs_chromium, open_inside_tab, wait_for_images

pytestmark = needs_chromium

FOR_DOCS = os.environ.get("MMHUB_SCREENSHOTS") == "1"


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    with chromium_page(tmp_path_factory.mktemp("chromium-profile-gan"), height=1000) as page:
        yield page


def set_number(page, selector: str, value: int) -> None:
    box = page.locator(f"{selector} input[type=number]").first
    box.fill(str(value))
    box.press("Enter")


def test_train_live_then_sample(app_url, page):
    from playwright.sync_api import expect

    open_inside_tab(page, app_url, "GAN")
    page.get_by_role("tab", name="Train live").click()
    set_number(page, "#gan-epochs-slider", 8 if FOR_DOCS else 2)
    if FOR_DOCS:
        set_number(page, "#gan-max-samples", 0)  # all 1438 training digits
        page.locator("#gan-features input").click()
        page.get_by_role("option", name="32", exact=True).click()
    page.locator("#gan-train-run").click()
    expect(page.locator("#gan-status").get_by_text("Trained on")).to_be_visible(timeout=600_000 if FOR_DOCS
                                                                               else 120_000)
    expect(page.locator("#gan-current img")).to_be_visible()
    expect(page.locator("#gan-losses canvas, #gan-losses svg").first).to_be_visible()
    assert page.locator("#gan-epochs img").count() >= 2  # one grid per epoch
    wait_for_images(page, "#gan-epochs")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "gan-training.png"), full_page=True)
    assert (SCREENSHOTS / "gan-training.png").stat().st_size > 20_000

    page.get_by_role("tab", name="Samples").click()
    assert "gan-live" in page.locator("#gan-model input").input_value()  # training pointed Samples at its model
    page.locator("#gan-generate").click()
    expect(page.locator("#gan-grid img")).to_be_visible(timeout=60_000)
    expect(page.locator("#gan-seed").get_by_text("Seed 0")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "gan-samples.png"), full_page=True)


def test_stop_ends_the_run_and_keeps_the_generator(app_url, page):
    """Stop cancels the streaming event; gradio closes the handler and the training saves at its next step."""
    import json
    import time
    from pathlib import Path

    from playwright.sync_api import expect

    from pipelines import tiny

    metrics = Path(tiny.cache_dir()) / "gan-live" / "metrics.json"
    started = time.time()
    open_inside_tab(page, app_url, "GAN")
    page.get_by_role("tab", name="Train live").click()
    set_number(page, "#gan-epochs-slider", 30)  # 240 steps if nobody stops it
    page.locator("#gan-train-run").click()
    expect(page.locator("#gan-epochs img").first).to_be_visible(timeout=120_000)
    page.locator("#gan-train-stop").click()
    # The status says "Stopping" at once, but an update the cancelled stream already sent can still land after it,
    # so the test holds on to what Stop must do: end the run early and save the generator.
    deadline = time.time() + 120
    while time.time() < deadline and not (metrics.exists() and metrics.stat().st_mtime > started):
        time.sleep(0.5)
    saved = json.loads(metrics.read_text())
    assert saved["stopped_early"] and saved["global_step"] < 240
