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
    # the run's last status line says what was kept (a run that ended before Stop reached it says done)
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


@pytest.fixture(scope="module")
def full_app_url(tmp_path_factory):
    """The app with its real model choices (no ``--models tiny``), offline, its ``local:`` models in a fresh
    MMHUB_CACHE: where "Train live" writes the user's own GAN, so it asks before replacing one."""
    from .conftest import serving

    cache = tmp_path_factory.mktemp("full-app-cache")
    with serving(["-m", "spaces", "--max-models", "2"], extra_env={"MMHUB_CACHE": str(cache)}) as url:
        yield url, cache / "models" / "gan"


def test_outside_tiny_mode_training_asks_before_replacing_a_trained_gan(full_app_url, page):
    """Train live on a real app writes ``local:gan``: the first run trains; a second one, with "Replace the trained
    model" unticked, is refused in words on the status line and leaves the model as it was; ticked, it replaces it."""
    from playwright.sync_api import expect

    url, folder = full_app_url
    open_inside_tab(page, url, "GAN")
    page.get_by_role("tab", name="Train live").click()
    replace = page.locator("#gan-replace input[type=checkbox]")
    expect(replace).to_be_visible()
    expect(replace).not_to_be_checked()
    expect(page.locator("#gan-replace")).to_contain_text(str(folder))  # the box names the folder it replaces
    set_number(page, "#gan-epochs-slider", 1)
    set_number(page, "#gan-max-samples", 64)
    status = page.locator("#gan-train-status .mmhub-run")

    def train(state: str) -> None:
        page.locator("#gan-train-run").click()
        expect(page.locator(f"#gan-train-status .mmhub-run[data-state='{state}']")).to_be_visible(timeout=120_000)
        expect(page.locator("#gan-train-run")).to_be_enabled()

    train("done")  # nothing trained yet: nothing to ask
    weights = folder / "model.safetensors"
    first = weights.stat().st_mtime_ns
    train("error")  # a trained GAN is there and the box is unticked
    expect(status).to_contain_text("A trained model is already in")
    expect(status).to_contain_text("tick “Replace the trained model”")
    assert weights.stat().st_mtime_ns == first  # refused: the model is as it was
    assert page.locator("span.error:visible").count() == 0  # said on the status line, no "Error" badge
    replace.check()
    train("done")
    assert weights.stat().st_mtime_ns > first  # asked for: replaced
