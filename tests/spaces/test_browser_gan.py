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
    set_number(page, "#gan-seed-input", 0)  # (−1, the default, draws a new seed each time)
    page.locator("#gan-generate").click()
    expect(page.locator("#gan-grid img")).to_be_visible(timeout=60_000)
    expect(page.locator("#gan-seed").get_by_text("Seed 0")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "gan-samples.png"), full_page=True)


def test_stop_ends_the_run_with_what_it_made_and_keeps_the_generator(app_url, page):
    """Stop asks the training to end at its next step: it saves the generator, and the page keeps the grids and the
    plot, with a "stopped at epoch N, saved" line (no "Error" badge, no "Stopping…" left over)."""
    import json
    import time
    from pathlib import Path

    from playwright.sync_api import expect

    from pipelines import tiny

    metrics = Path(tiny.cache_dir()) / "gan-live" / "metrics.json"
    started = time.time()
    open_inside_tab(page, app_url, "GAN")
    page.get_by_role("tab", name="Train live").click()
    expect(page.locator("#gan-train-stop")).to_be_disabled()  # nothing runs: nothing to stop
    # 30 epochs of all 1,797 digits (840 steps) if nobody stops it: 128 pictures (60 steps) could end before Stop
    set_number(page, "#gan-epochs-slider", 30)
    set_number(page, "#gan-max-samples", 0)
    page.locator("#gan-train-run").click()
    expect(page.locator("#gan-epochs img").first).to_be_visible(timeout=120_000)
    expect(page.locator("#gan-train-status .mmhub-clock")).to_be_visible()  # progress on the status line only
    assert page.locator("#gan-current .wrap.translucent:visible, #gan-losses .wrap.translucent:visible").count() == 0
    page.locator("#gan-train-stop").click()
    line = page.locator("#gan-train-status .mmhub-run[data-state='stopped']")
    expect(line).to_be_visible(timeout=120_000)
    # the page shows "Stopped after" at once; the server's end of the run adds what was kept
    expect(line).to_contain_text("stopped at epoch", timeout=60_000)
    expect(line).to_contain_text("saved")
    expect(page.locator("#gan-status")).to_contain_text("Stopped at epoch")
    expect(page.locator("#gan-status")).to_contain_text("saved to")
    assert page.locator("#gan-epochs img").count() >= 1  # the grids stay
    expect(page.locator("#gan-current img")).to_be_visible()
    expect(page.locator("#gan-losses canvas, #gan-losses svg").first).to_be_visible()  # the plot stays
    expect(page.locator("#gan-train-stop")).to_be_disabled()
    expect(page.get_by_text("Stopping")).to_have_count(0)
    assert page.locator("span.error:visible").count() == 0  # no "Error" badge on any output
    saved = json.loads(metrics.read_text())
    assert metrics.stat().st_mtime > started and saved["stopped_early"] and saved["global_step"] < 30 * 28
