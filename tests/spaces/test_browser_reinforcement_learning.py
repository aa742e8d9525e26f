"""A real browser in the Reinforcement learning tab: watch the tiny agent play (video, returns, reward curve), then
train PPO on CartPole and see the agent before and after, side by side, with the live curve.

Screenshots go to a temporary folder, or to docs/screenshots/ with MMHUB_SCREENSHOTS=1 (for the README; that run
trains long enough, 30,000 steps with seed 0, for the trained agent to balance the pole).
"""

from __future__ import annotations

import os

import pytest

from .browser import SCREENSHOTS, chromium_page, needs_chromium

pytestmark = needs_chromium

FOR_DOCS = os.environ.get("MMHUB_SCREENSHOTS") == "1"


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    with chromium_page(tmp_path_factory.mktemp("chromium-profile-rl"), height=1100) as page:
        yield page


def open_tab(page, app_url: str) -> None:
    page.goto(app_url)
    page.get_by_role("tab", name="Basics").click()
    page.get_by_role("tab", name="Reinforcement learning").click()


def set_number(page, selector: str, value: int) -> None:
    box = page.locator(f"{selector} input[type=number]").first
    box.fill(str(value))
    box.press("Enter")


def test_watch_then_train_and_compare(app_url, page):
    from playwright.sync_api import expect

    open_tab(page, app_url)
    page.locator("#rl-play-run").click()
    expect(page.locator("#rl-play-summary").get_by_text("CartPole-v1")).to_be_visible(timeout=90_000)
    expect(page.locator("#rl-video video")).to_be_visible()
    expect(page.locator("#rl-play-summary").get_by_text("over 3 episode(s)")).to_be_visible()
    expect(page.locator("#rl-returns").get_by_text("steps", exact=True)).to_be_visible()  # the returns table
    expect(page.locator("#rl-curve canvas, #rl-curve svg").first).to_be_visible()

    page.get_by_role("tab", name="Train it now").click()
    set_number(page, "#rl-timesteps", 30_000 if FOR_DOCS else 1024)
    set_number(page, "#rl-train-seed", 0)
    page.locator("#rl-train-run").click()
    expect(page.locator("#rl-before-video video")).to_be_visible(timeout=120_000)  # the untrained agent first
    expect(page.locator("#rl-status").get_by_text("PPO trained on CartPole-v1")).to_be_visible(
        timeout=900_000 if FOR_DOCS else 180_000)
    expect(page.locator("#rl-after-video video")).to_be_visible()
    expect(page.locator("#rl-after").get_by_text("seed 0")).to_be_visible()
    expect(page.locator("#rl-live-curve canvas, #rl-live-curve svg").first).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "reinforcement-learning.png"), full_page=True)
    assert (SCREENSHOTS / "reinforcement-learning.png").stat().st_size > 20_000
