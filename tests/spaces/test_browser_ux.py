"""A real browser on the app as a person uses it (issue 19's defects): random and repeated seeds (Chat's Retry
included), Stop that keeps what was made, live results with one status line and a steady clock, Train now in tiny
mode, errors in a person's words, defaults that agree, and a 400 px phone. (The GAN's Stop and DeepDream's octaves
are checked where those tabs already run: test_browser_gan.py, test_browser_dream_vae.py.)

One Chromium page for the module, on the session's app server (tiny models, English UI).
"""

from __future__ import annotations

import os
import re

import pytest
from PIL import Image, ImageDraw

from .browser import chromium_page, needs_chromium, open_inside_tab

pytestmark = needs_chromium

RUN_TIMEOUT = 120_000  # ms: a tiny model's run on a busy 2-core machine


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    with chromium_page(tmp_path_factory.mktemp("chromium-profile-ux"), height=1000) as page:
        yield page


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """A 7 drawn dark on light (for the digit upload) and a small landscape photo (DeepDream, the video's frame)."""
    folder = tmp_path_factory.mktemp("ux-pictures")
    seven = Image.new("RGB", (120, 120), "white")
    ImageDraw.Draw(seven).line([(30, 25), (90, 25), (50, 100)], fill="black", width=10)
    seven.save(folder / "seven.png")
    photo = Image.new("RGB", (96, 64), (120, 170, 230))
    ImageDraw.Draw(photo).polygon([(0, 50), (40, 20), (96, 45), (96, 64), (0, 64)], fill=(60, 120, 60))
    photo.save(folder / "photo.png")
    return {"seven": folder / "seven.png", "photo": folder / "photo.png"}


def tab(page, name: str):
    return page.get_by_role("tab", name=name, exact=True)


def set_number(page, selector: str, value: float) -> None:
    box = page.locator(f"{selector} input[type=number]").first
    box.fill(str(value))
    box.press("Enter")


def finished(page, prefix: str, state: str = "done", timeout: float = RUN_TIMEOUT) -> str:
    """Wait for the status line ``#<prefix>-status`` to show `state` (done, stopped, error) in a line newer than the
    last `run_once` click; its text."""
    from playwright.sync_api import expect

    line = page.locator(f"#{prefix}-status .mmhub-run[data-state='{state}']:not([data-old])")
    expect(line).to_be_visible(timeout=timeout)
    return line.inner_text()


def run_once(page, prefix: str, state: str = "done") -> str:
    """Click ``#<prefix>-run`` (or the button itself when `prefix` names it) and wait for the outcome."""
    from playwright.sync_api import expect

    button = page.locator(f"#{prefix}-run, #{prefix}").first
    expect(button).to_be_enabled(timeout=RUN_TIMEOUT)  # the previous run has ended
    page.evaluate("p => document.querySelectorAll(`#${p}-status .mmhub-run`).forEach(e => e.dataset.old = 1)", prefix)
    button.click()
    return finished(page, prefix, state)


def no_error_badge(page) -> None:
    """No output shows gradio's bare "Error" badge (errors go to the tab's status line, in words)."""
    assert page.locator("span.error:visible").count() == 0
    assert page.get_by_text(re.compile(r"^\s*Error\s*$")).and_(page.locator(":visible")).count() == 0


def test_seed_minus_one_draws_a_new_seed_and_a_fixed_seed_repeats(app_url, page):
    open_inside_tab(page, app_url, "GAN")
    tab(page, "Samples").click()
    first, second = (run_once(page, "gan-generate") for _ in range(2))
    seeds = [int(re.search(r"seed (\d+)", line).group(1)) for line in (first, second)]
    assert seeds[0] != seeds[1], (first, second)  # −1 (the default): a new seed each run, shown
    assert f"Seed {seeds[1]}" in page.locator("#gan-seed").inner_text()
    set_number(page, "#gan-seed-input", 5)
    images = []
    for _ in range(2):
        assert "seed 5" in run_once(page, "gan-generate")
        src = page.locator("#gan-grid img").get_attribute("src")
        images.append(page.request.get(src).body())
    assert images[0] == images[1]  # the same seed, the same pictures


def test_chat_retry_gives_a_new_reply_at_minus_one_and_the_same_with_a_fixed_seed(app_url, page):
    from playwright.sync_api import expect

    page.goto(app_url)
    tab(page, "✍️ Chat").click()
    expect(page.locator("#chat-model")).to_be_visible()  # the model picker is in sight, not in a closed panel
    page.get_by_text("Settings").first.click()
    set_number(page, "#chat-max-new-tokens", 24)
    seed_used = page.locator("#chat-seed input")

    def reply_after(action) -> tuple[str, str]:
        """Run `action` (send, retry); the reply and the seed used once the reply has ended."""
        textarea = page.locator("#chat-input textarea")
        action()
        try:  # the input is locked while the reply streams...
            expect(textarea).to_be_disabled(timeout=5_000)
        except AssertionError:
            pass  # (or it ended already)
        expect(textarea).to_be_enabled(timeout=RUN_TIMEOUT)  # ... and free again when it has ended
        bot = page.locator("#chat-history .bot").last
        reply = ""
        while reply != (reply := bot.inner_text()):  # the last chunk has landed
            page.wait_for_timeout(300)
        return reply, seed_used.input_value()

    def send(text: str) -> None:
        page.locator("#chat-input textarea").fill(text)
        page.get_by_role("button", name="Send").click()  # the send button has an accessible name

    def retry() -> None:
        page.locator("#chat-history button[aria-label='Retry']").last.click()

    reply, seed = reply_after(lambda: send("Tell me about the Vistula."))
    again, seed_again = reply_after(retry)
    assert seed_again != seed and again != reply  # −1: Retry draws a new seed, so a new reply
    set_number(page, "#chat-seed-input", 7)
    reply, seed = reply_after(lambda: send("And about the Oder?"))
    again, seed_again = reply_after(retry)
    assert seed == seed_again == "7" and again == reply  # a fixed seed repeats the reply


def test_music_shows_the_growing_preview_a_steady_clock_and_stops(app_url, page):
    from playwright.sync_api import expect

    page.goto(app_url)
    tab(page, "🔊 Audio").click()
    tab(page, "🎵 Music").click()
    expect(page.locator("#music-stop")).to_be_disabled()
    set_number(page, "#music-duration", 120)
    page.locator("#music-run").click()
    expect(page.locator("#music-stop")).to_be_enabled()
    clock = page.locator("#music-status .mmhub-clock")
    expect(page.locator("#music-status")).to_contain_text("s of 120 s of music", timeout=RUN_TIMEOUT)
    expect(page.locator("#music-result audio").first).to_be_attached(timeout=RUN_TIMEOUT)  # the preview...
    assert page.locator("#music-result .wrap.translucent:visible").count() == 0  # ... not covered by progress
    def clock_seconds() -> int:
        minutes, secs = clock.inner_text().split(" · ")[0].split(":")
        return int(minutes) * 60 + int(secs)

    seconds = [clock_seconds()]  # the clock runs on between previews (it is not reset by them)
    for _ in range(40):  # 10 s at most: a busy machine may draw a tick late
        if seconds[-1] >= seconds[0] + 2:
            break
        page.wait_for_timeout(250)
        seconds.append(clock_seconds())
    assert seconds[-1] >= seconds[0] + 2 and seconds == sorted(seconds), seconds
    expect(page.locator("#music-status")).to_contain_text("left", timeout=RUN_TIMEOUT)  # an estimate of the rest
    page.locator("#music-stop").click()
    finished(page, "music", "stopped")
    # the run's last status line says what was kept (a run that ended before Stop reached it says done)
    line = page.locator("#music-status .mmhub-run[data-state='stopped']:not([data-old])")
    expect(line).to_contain_text("kept the first", timeout=60_000)
    expect(line).to_contain_text("seed")
    expect(page.locator("#music-result audio").first).to_be_attached()  # the music made so far stays playable
    expect(page.locator("#music-stop")).to_be_disabled()
    no_error_badge(page)


def test_errors_are_in_task_words_next_to_the_input_until_the_next_success(app_url, page, pictures):
    from playwright.sync_api import expect

    page.goto(app_url)
    tab(page, "🎨 Images").click()
    tab(page, "🖌️ Style transfer").click()
    expect(page.locator("#style-stop")).to_be_disabled()
    line = run_once(page, "style", "error")
    assert "Upload a content picture first" in line
    assert not re.search(r"got None|PIL|`content`|\(\d+, \d+\)", line)
    no_error_badge(page)
    page.locator("tbody tr").first.click()  # an example: a content and a style picture drawn by the app
    set_number(page, "#style-steps", 3)
    run_once(page, "style")
    expect(page.locator("#style-status")).not_to_contain_text("Upload")  # gone at the next success
    expect(page.locator("#style-result img")).to_be_visible()

    tab(page, "🎬 Video").click()
    page.locator("#video-image input[type=file]").set_input_files(str(pictures["photo"]))
    line = run_once(page, "video", "error")  # the tiny Wan 2.1 makes video from text only
    assert "makes video from text only" in line and "Wan 2.2 TI2V" in line
    no_error_badge(page)


def test_train_now_in_tiny_mode_trains_beside_the_stand_in_and_switches_the_tab(app_url, page):
    from playwright.sync_api import expect

    from pipelines import lab

    user_model = lab.resolve("local:digit-recognition")
    before = os.path.getmtime(user_model) if os.path.exists(user_model) else None
    open_inside_tab(page, app_url, "Digit recognition")
    page.get_by_text("Train the model").click()
    expect(page.locator("#digit-replace")).to_be_hidden()  # tiny mode: nothing of the user's to replace
    set_number(page, "#digit-epochs", 1)
    set_number(page, "#digit-max-samples", 256)
    run_once(page, "digit-train")
    expect(page.locator("#digit-trained")).to_contain_text("Trained on sklearn-digits")
    assert page.locator("#digit-model input").input_value().endswith("digit-recognition-live")  # the tab uses it
    expect(page.locator("#digit-curve canvas, #digit-curve svg").first).to_be_visible()  # its training curve
    after = os.path.getmtime(user_model) if os.path.exists(user_model) else None
    assert after == before  # local:digit-recognition untouched


def test_defaults_agree_with_the_ui_and_batch_sentiment_keeps_the_file(app_url, page, media):
    from playwright.sync_api import expect

    page.goto(app_url)
    tab(page, "🔊 Audio").click()
    tab(page, "🗣️ Voice cloning").click()
    assert page.locator("#voice-text textarea").input_value().startswith("Hello!")  # English UI: English text
    assert page.locator("#voice-language input").input_value().startswith("English")  # ... spoken in English
    selected = page.locator("#voice-reference button.selected")
    assert "Upload" in (selected.first.get_attribute("aria-label") or "")  # upload first: no microphone needed
    box = page.locator("#voice-language input")
    box.click()
    box.fill("")
    box.press_sequentially("polski")  # the language's own name finds it
    expect(page.get_by_role("option", name="Polish — polski (pl, pol)")).to_be_visible()
    box.press("Escape")

    tab(page, "🎨 Images").click()
    tab(page, "🎨 Image generation").click()
    expect(page.locator("#t2i-model")).to_be_visible()  # the model picker in sight

    tab(page, "✍️ Text").click()
    tab(page, "💬 Sentiment").click()
    tab(page, "Batch").click()
    page.locator("#sentiment-file input[type=file]").set_input_files(str(media["csv"]))
    run_once(page, "sentiment-batch")
    table = page.locator("#sentiment-batch-table")
    for header in ("id", "review", "label", "positive"):  # every column of the file, then the results
        expect(table.get_by_text(header, exact=True).first).to_be_visible()
    expect(table.get_by_text("Terrible quality.")).to_be_visible()
    expect(table.get_by_text("Great value for money, I would buy it again.")).to_have_count(0)  # no example lines
    downloads = page.locator("#sentiment-downloads")  # the results as CSV and XLSX, named after the upload
    expect(downloads.get_by_text("reviews-sentiment")).to_have_count(2)
    expect(downloads.get_by_text(".csv", exact=True)).to_be_visible()
    expect(downloads.get_by_text(".xlsx", exact=True)).to_be_visible()


def test_a_phone_sees_every_group_and_can_upload_a_digit(app_url, page, pictures):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 400, "height": 800})
    try:
        page.goto(app_url)
        groups = ["✍️ Text", "🎨 Images", "🔊 Audio", "🎬 Video", "🧭 Basics", "🔬 Inside a network"]
        for name in groups:  # every group on screen: none behind a "…" menu
            button = tab(page, name)
            expect(button).to_be_visible()
            box = button.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 400, name
        expect(page.get_by_role("button", name="Send")).to_be_visible()  # the chat's send button has a name
        tab(page, "🔬 Inside a network").click()
        sketch = page.get_by_role("img", name=re.compile("Draw your number here"))
        expect(sketch.first).to_be_attached()  # the sketch canvas is named for a screen reader
        tab(page, "Upload a picture").click()
        page.locator("#digit-picture input[type=file]").set_input_files(str(pictures["seven"]))
        expect(page.locator("#digit-text").get_by_text("First guess")).to_be_visible(timeout=RUN_TIMEOUT)
    finally:
        page.set_viewport_size({"width": 1280, "height": 1000})
