"""A real browser in the Playground tab: play runs and the epoch advances, pause stops it, step adds one, reset goes
back to 0, the overfitting preset sets every control; a screenshot.

Screenshots go to a temporary folder, or to docs/screenshots/ with MMHUB_SCREENSHOTS=1 (for the README; that run
plays the spiral with more features and layers for longer, so that the picture is worth showing).
"""

from __future__ import annotations

import os
import time

import pytest

from .browser import SCREENSHOTS, chromium_page, needs_chromium

pytestmark = needs_chromium

FOR_DOCS = os.environ.get("MMHUB_SCREENSHOTS") == "1"


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    with chromium_page(tmp_path_factory.mktemp("chromium-profile-playground"), height=1100) as page:
        yield page


def epoch(page) -> int:
    return int(page.locator("#pg-epoch").inner_text().replace(",", ""))


def wait_for_epoch(page, test, timeout: float = 60) -> int:
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = epoch(page)
        if test(value):
            return value
        time.sleep(0.2)
    raise AssertionError(f"epoch {epoch(page)} after {timeout} s")


def open_playground(page, app_url: str) -> None:
    page.goto(app_url)
    page.get_by_role("tab", name="Basics").click()
    page.get_by_role("tab", name="Playground").click()
    page.locator("#pg-epoch").wait_for()


def test_play_pause_step_reset_and_the_overfitting_preset(app_url, page):
    from playwright.sync_api import expect

    open_playground(page, app_url)
    assert epoch(page) == 0
    if FOR_DOCS:  # the README's picture: the spiral, four features, three layers of 8
        page.locator("#pg-dataset").get_by_text("Spiral").click()
        for label in ("sin(x₁)", "sin(x₂)"):
            page.locator("#pg-features").get_by_text(label, exact=True).click()
        layers = page.locator("#pg-layers input[type=number]")
        layers.fill("3")
        layers.press("Enter")
        layers.blur()
        for i in (1, 2, 3):
            box = page.locator(f"#pg-neurons-{i} input[type=number]")
            box.fill("8")
            box.blur()
        page.locator("#pg-show-test input").check()
        expect(page.locator("#pg-status")).to_contain_text("Spiral", timeout=60_000)
    page.locator("#pg-play").click()
    expect(page.locator("#pg-status")).to_contain_text("Playing", timeout=60_000)
    first = wait_for_epoch(page, lambda e: e >= 4)
    wait_for_epoch(page, lambda e: e >= first + 4)  # it keeps going
    if FOR_DOCS:
        wait_for_epoch(page, lambda e: e >= 300, timeout=300)

    page.locator("#pg-pause").click()
    expect(page.locator("#pg-status")).to_contain_text("Paused", timeout=30_000)
    stopped = epoch(page)
    time.sleep(1.5)
    assert epoch(page) == stopped  # nothing runs any more
    assert f"Paused at epoch {stopped}" in page.locator("#pg-status").inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "playground.png"), full_page=True)
    assert (SCREENSHOTS / "playground.png").stat().st_size > 50_000

    page.locator("#pg-step").click()
    wait_for_epoch(page, lambda e: e == stopped + 1, timeout=30)
    time.sleep(0.5)
    assert epoch(page) == stopped + 1
    page.locator("#pg-reset").click()
    wait_for_epoch(page, lambda e: e == 0, timeout=30)
    expect(page.locator("#pg-status")).to_contain_text("Ready · epoch 0")

    # the overfitting preset sets every control and draws its 6 x 8 network with the test points
    page.locator("#pg-preset").click()
    expect(page.locator("#pg-status")).to_contain_text("What is overfitting?", timeout=60_000)
    expect(page.locator("#pg-layers input[type=number]")).to_have_value("6")
    expect(page.locator("#pg-noise input[type=number]")).to_have_value("35")
    assert page.locator("#pg-view .mmhub-pg path").count() == 2 * 8 + 5 * 8 * 8 + 8  # every weight drawn
    assert page.locator("#pg-view .test circle").count() == 30  # the test points are shown
