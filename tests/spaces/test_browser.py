"""A real browser: headless Chromium (Debian's, driven by Playwright) uses the sentiment tab; saves screenshots.

The screenshots go to a temporary folder, or to docs/screenshots/ with MMHUB_SCREENSHOTS=1 (see `.browser`).
"""

from __future__ import annotations

import pytest

from .browser import SCREENSHOTS, chromium_page, needs_chromium

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    with chromium_page(tmp_path_factory.mktemp("chromium-profile")) as page:
        yield page


def test_type_a_review_click_and_see_a_label(app_url, page):
    from playwright.sync_api import expect

    page.goto(app_url)
    page.get_by_role("tab", name="Sentiment").click()
    text = page.locator("#sentiment-text textarea")
    text.fill("Świetny produkt, działa bez zarzutu. Polecam!")
    page.locator("#sentiment-run").click()
    label = page.locator("#sentiment-label")
    expect(label.get_by_text("positive").first).to_be_visible(timeout=90_000)
    expect(label.get_by_text("negative").first).to_be_visible()
    expect(label.get_by_text("neutral").first).to_be_visible()
    expect(page.get_by_text("Tiny stand-in models")).to_be_visible()  # the tiny-mode banner
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "sentiment.png"), full_page=True)
    assert (SCREENSHOTS / "sentiment.png").stat().st_size > 10_000


def test_batch_mode_shows_a_table_and_a_chart(app_url, page):
    from playwright.sync_api import expect

    page.goto(app_url)
    page.get_by_role("tab", name="Sentiment").click()
    page.get_by_role("tab", name="Batch").click()
    page.locator("#sentiment-batch-run").click()
    table = page.locator("#sentiment-batch-table")
    expect(table.get_by_text("Great value for money, I would buy it again.").first).to_be_visible(timeout=90_000)
    expect(page.locator("#sentiment-batch-chart canvas, #sentiment-batch-chart svg").first).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "sentiment-batch.png"), full_page=True)


def test_chat_slider_is_bounded_by_the_model_context(app_url, page):
    from playwright.sync_api import expect

    page.goto(app_url)
    page.get_by_role("tab", name="Chat").click()
    page.get_by_text("Settings").first.click()
    slider = page.locator("#chat-max-new-tokens input[type=range]")
    expect(slider).to_have_attribute("max", "128", timeout=60_000)  # tiny-chat: half its context of 256
