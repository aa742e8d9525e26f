"""A real browser in the Song tab: Polish lyrics sung (tiny ACE-Step), the player, the download, the seed used; Stop.

Screenshots go to a temporary folder, or to docs/screenshots/ with MMHUB_SCREENSHOTS=1 (for the README).
"""

from __future__ import annotations

import re

import pytest

from .browser import SCREENSHOTS, chromium_page, needs_chromium

pytestmark = needs_chromium

LYRICS = ("[verse]\nNad Wisłą rano świeci słońce,\npo moście jadą dwa tramwaje\n\n[chorus]\nŚpiewaj ze mną, "
          "śpiewaj głośno!")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    with chromium_page(tmp_path_factory.mktemp("chromium-profile-song"), height=1100) as page:
        yield page


def test_sing_polish_lyrics_then_stop_and_sing_again(app_url, page):
    from playwright.sync_api import expect

    page.goto(app_url)
    page.get_by_role("tab", name="Audio").click()  # next to Music
    page.get_by_role("tab", name="Song").click()
    page.locator("#song-style textarea").fill("polish pop, female vocals, acoustic guitar, warm, upbeat")
    page.locator("#song-lyrics textarea").fill(LYRICS)
    page.locator("#song-language input").click()
    page.get_by_role("option", name="pl · Polish").click()
    seed = page.locator("#song-seed input[type=number]").first
    seed.fill("42")
    seed.press("Enter")
    page.locator("#song-run").click()
    summary = page.locator("#song-summary")
    expect(summary.get_by_text("Seed 42 · pl · Polish · 10 s · 8 steps")).to_be_visible(timeout=120_000)
    expect(page.locator("#song-download").get_by_role("cell", name="song.flac")).to_be_visible()
    expect(page.locator("#song-audio").get_by_role("button", name="Play", exact=True)).to_be_visible()
    assert page.locator("#song-seed-used input").input_value() == "42"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "song.png"), full_page=True)
    assert (SCREENSHOTS / "song.png").stat().st_size > 20_000

    # Stop: the pipeline stops at its next denoising step, the status line says so, what was sung is kept (a run
    # that ended first says Done); the tab keeps serving
    expect(page.locator("#song-stop")).to_be_disabled()  # nothing runs
    page.locator("#song-run").click()
    page.locator("#song-stop").click()
    expect(page.locator("#song-status .mmhub-run[data-state=stopped], #song-status .mmhub-run[data-state=done]")
           ).to_be_visible(timeout=120_000)
    if page.locator("#song-status .mmhub-run[data-state=stopped]").count():
        # stopped at a denoising step: that much is kept; stopped before the first (still loading or queued):
        # nothing was sung, and the last song stays
        expect(summary).to_contain_text(re.compile(r"stopped after step|Seed 42 · pl · Polish · 10 s · 8 steps"))
    expect(page.locator("#song-stop")).to_be_disabled()
    seed.fill("7")
    seed.press("Enter")
    page.locator("#song-run").click()
    expect(summary.get_by_text("Seed 7 · pl · Polish")).to_be_visible(timeout=120_000)


def test_examples_show_by_name_and_fill_the_inputs(app_url, page):
    """The examples read as names in the UI language, not a table of raw values ("true"/"false" for Instrumental);
    picking one fills every input it names."""
    from playwright.sync_api import expect

    page.goto(app_url)
    page.get_by_role("tab", name="Audio").click()
    page.get_by_role("tab", name="Song").click()
    examples = page.locator("#song-examples")
    for name in ("🇵🇱 Polish pop, sung in Polish", "🎸 Indie folk, sung in English", "🎹 Instrumental: lo-fi hip hop"):
        expect(examples.get_by_text(name, exact=True)).to_be_visible()
    shown = examples.inner_text()
    assert "true" not in shown.lower().split() and "false" not in shown.lower().split()
    examples.get_by_text("🎹 Instrumental: lo-fi hip hop", exact=True).click()
    expect(page.locator("#song-style textarea")).to_have_value("lo-fi hip hop, mellow piano, vinyl crackle")
    expect(page.locator("#song-lyrics textarea")).to_have_value("")
    expect(page.locator("#song-instrumental input")).to_be_checked()
    examples.get_by_text("🇵🇱 Polish pop, sung in Polish", exact=True).click()
    expect(page.locator("#song-instrumental input")).not_to_be_checked()
    expect(page.locator("#song-language input")).to_have_value("pl · Polish")
