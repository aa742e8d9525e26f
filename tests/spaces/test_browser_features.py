"""A real browser on the features users of the anchors expect: the separation mixer (Moises), the picture that follows
the prompt (SD-Turbo demos), the voice library (ElevenLabs), the layers beside the canvas (nn_vis), a neuron's
climb, and the leaderboard tab (Open PL LLM Leaderboard Space).

The whole app is the session's (tiny models); the leaderboard runs alone on a results folder written by
`eval.leaderboard.write_json`, as `python -m eval` writes it.
"""

from __future__ import annotations

import json
import re
import zipfile

import pytest

from tests.servers import running

from .browser import SCREENSHOTS, chromium_page, needs_chromium, open_inside_tab

pytestmark = needs_chromium

STEMS = ["vocals", "drums", "bass", "other"]  # vocals first, then demucs' order


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    with chromium_page(tmp_path_factory.mktemp("chromium-profile-features"), height=1000) as page:
        yield page


def open_tab(page, app_url: str, name: str) -> None:
    """Load the app and open the tab `name`, inside whichever group tab holds it (a group renders its tabs when it
    is opened: each is given a moment)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(app_url)
    page.get_by_role("tab").first.wait_for()
    tab = page.get_by_role("tab", name=name).first
    if not tab.is_visible():
        groups = page.locator("[role=tablist]").first.get_by_role("tab")
        for index in range(groups.count()):
            groups.nth(index).click()
            try:
                tab.wait_for(state="visible", timeout=3_000)
                break
            except PlaywrightTimeout:
                continue
    tab.click()


def mixer_state(page) -> dict:
    return page.evaluate("""() => { const el = document.querySelector('#sep-mixer [data-state]');
        return {state: el.dataset.state, gains: JSON.parse(el.dataset.gains || 'null'),
                context: el.mixer.ctx && el.mixer.ctx.state, time: el.mixer.ctx && el.mixer.ctx.currentTime,
                started: el.mixer.stems.map((s) => !!s.source)}; }""")


def test_the_mixer_plays_every_stem_in_sync_with_volume_mute_and_solo(app_url, page, media, tmp_path):
    from playwright.sync_api import expect

    open_tab(page, app_url, "Music separation")
    page.locator("#sep-audio input[type=file]").set_input_files(str(media["music"]))
    page.get_by_role("button", name="Separate", exact=True).click()
    mixer = page.locator("#sep-mixer")
    expect(mixer.locator("[data-stem]")).to_have_count(4, timeout=120_000)
    assert mixer.locator("[data-stem]").evaluate_all("rows => rows.map((r) => r.dataset.stem)") == STEMS
    expect(mixer.locator("[data-state=ready]")).to_be_attached(timeout=60_000)
    assert mixer_state(page)["gains"] == [1, 1, 1, 1]
    mixer.get_by_role("button", name="Play").click()
    expect(mixer.locator("[data-state=playing]")).to_be_attached()
    for _ in range(50):  # 0.6 s on a quiet machine; a busy one may start the audio clock later
        page.wait_for_timeout(100)
        state = mixer_state(page)
        if state["time"] > 0.2:
            break
    assert state["context"] == "running" and state["time"] > 0.2 and state["started"] == [True] * 4
    expect(mixer.locator(".mixer-time")).not_to_have_text(re.compile(r"^0:00 /"), timeout=5_000)  # it moves
    mixer.get_by_role("button", name="Mute drums").click()
    assert mixer_state(page)["gains"] == [1, 0, 1, 1]
    mixer.get_by_role("button", name="Solo vocals").click()
    assert mixer_state(page)["gains"] == [1, 0, 0, 0]
    expect(mixer.get_by_role("button", name="Solo vocals")).to_have_attribute("aria-pressed", "true")
    mixer.get_by_role("button", name="Solo vocals").click()  # solo off: the mute of the drums stays
    mixer.get_by_label("Volume: bass").fill("0.5")
    assert mixer_state(page)["gains"] == [1, 0, 0.5, 1]
    mixer.get_by_role("button", name="Pause").click()
    expect(mixer.locator("[data-state=paused]")).to_be_attached()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "separation-mixer.png"), full_page=True)
    with page.expect_download() as download:
        page.locator("#sep-zip").click()
    archive = tmp_path / "stems.zip"
    download.value.save_as(archive)
    with zipfile.ZipFile(archive) as stems:
        assert sorted(stems.namelist()) == sorted(f"{name}.wav" for name in STEMS)


def test_the_picture_follows_the_prompt_then_goes_to_image_to_image(app_url, page):
    from playwright.sync_api import expect

    open_tab(page, app_url, "Image generation")
    prompt = page.locator("#img-prompt textarea")
    expect(page.locator("#img-live input")).to_be_checked()  # on for the fast models (tiny, turbo)
    prompt.fill("")
    prompt.press_sequentially("a red fox in snow", delay=40)
    gallery = page.locator("#img-gallery")
    # the last picture is the one of the whole prompt (earlier runs were cancelled or overtaken)
    expect(gallery.get_by_text("a red fox in snow", exact=True).first).to_be_visible(timeout=120_000)
    seed = page.locator("#img-seed input").input_value()
    assert seed.isdigit()
    page.locator("#img-aspect").get_by_label("16:9").check()  # tiny's own size is 64: 16:9 is 88 x 48
    expect(gallery.locator("img").first).to_have_js_property("naturalWidth", 88, timeout=120_000)
    assert gallery.locator("img").first.evaluate("i => i.naturalHeight") == 48
    assert page.locator("#img-seed input").input_value() == seed  # the kept seed: the words change, not the noise
    page.locator("#img-send").click()
    expect(page.locator("#img-i2i-prompt textarea")).to_be_visible(timeout=10_000)  # the other tab is open
    expect(page.locator("#img-i2i-prompt textarea")).to_have_value("a red fox in snow")
    expect(page.locator("#img-i2i-image img")).to_have_attribute("src", re.compile("gradio_api/file="))


def test_save_a_voice_reuse_it_without_recording_then_delete_it(app_url, page, media):
    from playwright.sync_api import expect

    open_tab(page, app_url, "Voice cloning")
    reference = page.locator("#voice-reference")
    reference.get_by_label("Upload file").click()
    reference.locator("input[type=file]").set_input_files(str(media["speech"]))
    page.locator("#voice-save-name textarea").fill("Ania")
    page.locator("#voice-save-run").click()
    expect(page.locator("#voice-library-note")).to_contain_text("Saved the voice “Ania”", timeout=60_000)
    expect(page.locator("#voice-voice input")).to_have_value(re.compile(r"^Ania · 4\.\d s$"))
    reference.get_by_label("Clear").click()  # no recording any more: the saved voice is the reference
    page.locator("#voice-run").click()
    result = page.locator("#voice-result")
    expect(result.get_by_text("0:00").first).to_be_visible(timeout=120_000)
    page.locator("#voice-delete").click()
    expect(page.locator("#voice-library-note")).to_contain_text("Deleted the voice “Ania”", timeout=30_000)
    expect(page.locator("#voice-voice input")).to_have_value("the recording below")
    page.locator("#voice-delete").click()  # nothing deletable picked: said on the library's status line, in words
    expect(page.locator("#voice-save-status")).to_contain_text("Pick a saved voice in the Voice menu",
                                                               timeout=30_000)
    page.locator("#voice-voice input").click()
    expect(page.get_by_role("option", name=re.compile("^Ania"))).to_have_count(0)
    page.get_by_role("option", name="preset: English reader (MMS-TTS)").click()  # no recording needed
    page.locator("#voice-run").click()
    # the tiny models' preset is noise (a real MMS checkpoint speaks): refused in words on the status line
    expect(page.locator("#voice-status")).to_contain_text("This voice cannot be used", timeout=120_000)


def test_the_layers_sit_beside_the_canvas_and_tell_their_values(app_url, page):
    from playwright.sync_api import expect

    from pipelines import tiny

    open_inside_tab(page, app_url, "Digit recognition")
    canvas = page.locator("#digit-sketch canvas").first
    expect(canvas).to_be_visible()
    # the brush is selected without a click, and the first stroke draws
    expect(page.locator("#digit-sketch button[aria-label='Brush']")).to_have_class(re.compile("highlight"))
    # a model not loaded yet (the tiny model's own folder: another name for the server's cache) -> the note shows
    page.evaluate("""() => { window.mmhubNotes = []; const note = document.querySelector('#digit-preparing');
        new MutationObserver(() => window.mmhubNotes.push(note.innerText)).observe(note,
            {subtree: true, childList: true, characterData: true}); }""")
    model = page.locator("#digit-model input")
    model.fill(str(tiny.build("digit-recognition")))
    model.press("Enter")
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - 60, cy - 90)  # a 7
    page.mouse.down()
    for dx, dy in ((60, -90), (30, -20), (0, 40), (-25, 100)):
        page.mouse.move(cx + dx, cy + dy, steps=10)
    page.mouse.up()
    expect(page.locator("#digit-text").get_by_text("First guess")).to_be_visible(timeout=120_000)
    assert any("Preparing the model" in text for text in page.evaluate("window.mmhubNotes"))
    expect(page.locator("#digit-preparing")).not_to_contain_text("Preparing")
    expect(page.locator("#digit-scale")).to_contain_text("dark = 0, bright = the layer's largest value")
    output = page.locator("#digit-layer-output").bounding_box()
    assert output["x"] > box["x"] + box["width"] and output["y"] < box["y"] + box["height"]  # beside, not below
    fc1 = page.locator("#digit-layer-fc1 img")
    fc1.click(position={"x": 4, "y": 4})  # the first unit's cell
    readout = page.locator("#digit-readout")
    expect(readout).to_contain_text("Fully-connected layer 1, unit 0")
    expect(readout).to_contain_text("Its strongest inputs (weight × activation): Downsampling layer 2 map")
    page.locator("#digit-layer-pool1 img").click(position={"x": 2, "y": 2})
    expect(readout).to_contain_text("It is the largest of Convolution layer 1 map 0 at rows 0–1, columns 0–1")
    page.screenshot(path=str(SCREENSHOTS / "digit-recognition-beside.png"), full_page=True)


def test_a_neuron_target_states_its_range_and_plots_its_activation(app_url, page):
    from playwright.sync_api import expect

    open_inside_tab(page, app_url, "Activation maximisation")
    page.locator("#am-layer input").click()
    page.get_by_role("option", name="Fully-connected layer 2 (neurons 0–99)").click()
    expect(page.locator("#am-target")).to_contain_text("Neuron number (0–99 in this layer)")
    page.locator("#am-run").click()
    expect(page.locator("#am-climb")).to_contain_text("Activation climb of Fully-connected layer 2, neuron 0",
                                                      timeout=120_000)
    expect(page.locator("#am-climb canvas, #am-climb svg").first).to_be_visible()


@pytest.fixture(scope="module")
def leaderboard_url(tmp_path_factory):
    """The leaderboard tab alone, reading a results folder with a full 5-shot run and a --limit 0-shot run."""
    from eval import leaderboard as lb

    folder = tmp_path_factory.mktemp("eval_results")
    published = lb.published_rows()
    for row, limit in ((lb.Row.from_scores("my-org/polish-7b", 5, {c: 95.0 for c in lb.ALL_TASKS}), None),
                       (lb.Row.from_scores("tiny", 0, {"belebele_mc": 40.0, "dyk_g": 30.0}), 3)):
        (folder / row.model.replace("/", "__")).mkdir()
        lb.write_json([row], published, folder / row.model.replace("/", "__") / "leaderboard.json",
                      limited=limit is not None, settings={"limit": limit})
    with running(["-m", "spaces.leaderboard", "--host", "127.0.0.1"], "/", "leaderboard", 180,
                 env={"MMHUB_EVAL_RESULTS": str(folder), "GRADIO_SERVER_NAME": None}) as server:
        yield server.url + "/"


def table_models(page) -> list[str]:
    """The model column of the table's rows (gradio's data frame is an ARIA grid; row 1 is the header)."""
    return page.locator("#lb-table [role=row]:not([aria-rowindex='1']) [aria-colindex='2']").all_inner_texts()


def expect_rows(page, count: int) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#lb-table [role=grid]")).to_have_attribute("aria-rowcount", str(count + 1))


def test_the_leaderboard_searches_and_filters(leaderboard_url, page):
    from playwright.sync_api import expect

    page.goto(leaderboard_url)
    table = page.locator("#lb-table")
    expect(table.get_by_text("my-org/polish-7b")).to_be_visible(timeout=60_000)
    expect(table.locator("[role=row][aria-rowindex='2']")).to_contain_text("would be 1")
    expect(page.locator("#lb-notes")).to_contain_text("Rank 11 (5-shot) is missing because that leaderboard row is "
                                                      "not among the rows shipped with mmhub")
    expect(page.locator("#lb-notes")).to_contain_text("2 rows share rank 14")
    page.locator("#lb-search textarea, #lb-search input").first.fill("bielik")
    expect_rows(page, 6)
    assert all("bielik" in model.lower() for model in table_models(page))
    page.locator("#lb-types").get_by_label("quantised (GGUF, FP8…)").uncheck()
    expect_rows(page, 3)
    assert not any("gguf" in model.lower() for model in table_models(page))
    page.locator("#lb-search textarea, #lb-search input").first.fill("")
    page.locator("#lb-shots").get_by_label("5").uncheck()  # 0-shot only: the --limit run alone
    expect_rows(page, 1)
    expect(table).to_contain_text("a --limit run: a sample, not ranked")
    page.locator("#lb-groups").get_by_label("Multiple-choice tasks (mc)").check()
    expect(table.locator("thead")).to_contain_text("belebele_mc")
    assert "dyk_mc" not in table.locator("thead").inner_text()  # no run has it: no empty column
    assert "dyk_g" not in table.locator("thead").inner_text()  # the generative group is not chosen
    expect(page.locator("#lb-plot canvas, #lb-plot svg").first).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "leaderboard.png"), full_page=True)
    assert json.dumps(table_models(page)) == json.dumps(["tiny"])
