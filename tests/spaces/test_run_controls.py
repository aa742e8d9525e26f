"""The shared run machinery of `spaces.common` without a server: Run / Stop and the status line, errors in a person's
words (and unchanged for the API), plural forms, growing plots, the page's assets."""

from __future__ import annotations

import threading

import gradio as gr
import numpy as np
import pytest

from pipelines import InputError, ModelLoadError
from pipelines.errors import Cancelled
from spaces.common import (
    KEEP,
    Context,
    Refusal,
    Run,
    allowed_words,
    chart_frame,
    page_assets,
    person_message,
    plural,
    run_controls,
    run_with_updates,
)

EN, PL = Context(lang="en", models="tiny"), Context(lang="pl", models="tiny")


def test_polish_plural_forms_follow_cldr():
    forms = ["wiadomość", "wiadomości", "wiadomości"]
    assert [plural("pl", n, ["najstarszą", "najstarsze", "najstarszych"]) for n in (1, 2, 4, 5, 12, 22, 25, 112)] == [
        "najstarszą", "najstarsze", "najstarsze", "najstarszych", "najstarszych", "najstarsze", "najstarszych",
        "najstarszych"]
    assert plural("pl", 1, forms) == "wiadomość" and plural("en", 2, ["message", "messages"]) == "messages"
    texts = {"en": {"k": "{count} step|{count} steps"}, "pl": {"k": "{count} krok|{count} kroki|{count} kroków"}}
    assert [PL.t("k", texts, count=n) for n in (1, 3, 5)] == ["1 krok", "3 kroki", "5 kroków"]
    assert EN.t("k", texts, count=1) == "1 step" and EN.t("k", texts, count=7) == "7 steps"


def test_chat_trimming_notice_has_polish_grammar():
    from spaces.text_generation import TEXTS

    notice = PL.t("trimmed", TEXTS, context=256, reply=16, count=2)
    assert notice.endswith("pominięto 2 najstarsze wiadomości.") and "|" not in notice
    assert PL.t("trimmed", TEXTS, context=256, reply=16, count=5).endswith("pominięto 5 najstarszych wiadomości.")


def test_person_messages_use_task_words_in_the_ui_language():
    missing = InputError("content", None, "an image (upload one)")
    assert person_message(EN, missing) == "Upload a content picture first (the photo to repaint)."
    assert person_message(PL, missing).startswith("Najpierw wgraj obraz treści")
    steps = InputError("steps", 5000, "an integer from 1 to 1000")
    assert person_message(EN, steps, labels={"steps": "Steps"}) == "“Steps” must be an integer from 1 to 1000."
    assert person_message(PL, steps, labels={"steps": "Kroki"}) == "„Kroki”: dozwolone: liczba całkowita od 1 do 1000."
    odd = InputError("layer", "conv9", "a layer of the network such as conv4_3")
    assert person_message(PL, odd, labels={"layer": "Warstwa"}) == "„Warstwa”: tej wartości nie można użyć."
    offline = ModelLoadError("nobody/model", "offline", "not in the cache /root/.cache/huggingface/hub/...")
    words = person_message(EN, offline)
    assert "nobody/model" in words and "/root" not in words and "cache" not in words
    texts = {"en": {"text_only": "Text only: pick {model}."}, "pl": {"text_only": "Tylko tekst: wybierz {model}."}}
    refusal = Refusal("text_only", texts, model="TI2V")
    assert str(refusal) == "Text only: pick TI2V."  # the API's words
    assert person_message(PL, refusal, texts) == "Tylko tekst: wybierz TI2V."
    assert person_message(PL, gr.Error("Już przetłumaczone.")) == "Już przetłumaczone."
    assert person_message(PL, RuntimeError("boom")).startswith("Coś poszło nie tak (RuntimeError: boom)")
    assert allowed_words("pl", "a number in (0, 1]") == "liczba z przedziału (0, 1]"


def test_run_with_updates_leaves_a_given_stop_unset_when_the_work_ends_normally():
    stop = threading.Event()
    assert list(run_with_updates(lambda report, _: report(1) or "done", stop=stop))[-1] == ("result", "done")
    assert not stop.is_set()  # the run was not stopped: the tab says "done", not "stopped"


def test_run_reports_progress_says_stop_and_estimates_the_rest(monkeypatch):
    import spaces.common as common

    now = [0.0]
    monkeypatch.setattr(common.time, "monotonic", lambda: now[0])
    run = Run(EN)
    assert run.report(1, 10, "step 1 of 10")  # the first report: the pace is measured from here
    now[0] = 10.0
    assert run.report(3, 10, "step 3 of 10")
    assert run.eta() == pytest.approx(10 / 0.2 * 0.7)  # 0.2 of the work in 10 s: 35 s for the remaining 0.7
    html = run.html()
    assert 'data-state="running"' in html and "step 3 of 10" in html and 'data-eta="35.0"' in html
    run.stop_event.set()
    assert run.report(4, 10, "step 4 of 10") is False  # Stop was pressed: the pipeline's callback says stop


def test_run_stream_refreshes_the_status_between_results():
    run = Run(EN)

    def work(report):
        for step in range(1, 4):
            run.report(step, 3, f"step {step}")
            run._woken = 0.0  # every report is due for the status line here
        report("picture")
        return "result"

    kinds = [kind for kind, _ in run.stream(work)]
    assert kinds.count("status") == 3 and kinds[-2:] == ["update", "result"]


def build_controls(handler, stop=True):
    with gr.Blocks() as demo:
        text = gr.Textbox(label="Prompt")
        out = gr.Textbox()
        controls = run_controls(EN, "Go", elem_id="x-run", stop=stop)
        controls.click(handler, [text], [out], api_name="x")
    fns = list(demo.fns.values())
    api = next(fn.fn for fn in fns if fn.api_name == "x")
    page = next(fn.fn for fn in fns if fn.fn.__name__.endswith("_in_page"))
    return api, page, controls


def test_the_page_event_shows_progress_and_the_outcome_on_the_status_line_only():
    def handler(prompt, *, run):
        run.report(1, 2, "half way")
        yield KEEP
        run.finish("made it", seed=7)
        yield f"<{prompt}>"

    api, page, controls = build_controls(handler)
    steps = list(page("hi"))
    assert all(len(step) == 2 for step in steps)  # the output and the status line
    assert "half way" in steps[1][1] and isinstance(steps[1][0], type(gr.skip()))  # KEEP: the output stays
    assert steps[-2][0] == "<hi>"
    assert 'data-state="done"' in steps[-1][1] and "made it" in steps[-1][1] and "seed 7" in steps[-1][1]
    assert list(api("hi")) == ["<hi>"]  # the API: the outputs only, KEEP left out
    assert controls.stop.interactive is False  # Stop is disabled until a run starts


def test_a_refused_request_is_words_on_the_page_and_the_pipelines_message_for_the_api():
    def handler(prompt, *, run):
        raise InputError("prompt", prompt, "non-empty text")

    api, page, _ = build_controls(handler, stop=False)
    *_, (output, status) = page("")
    assert isinstance(output, type(gr.skip()))  # the last result stays (no "Error" badge on it)
    assert 'data-state="error"' in status and "Describe what you want first." in status
    with pytest.raises(gr.Error, match="`prompt` must be non-empty text"):
        api("")


def test_stop_ends_the_page_run_as_stopped():
    def handler(prompt, *, run):
        run.stop_event.set()  # as the Stop button does
        raise Cancelled("stopped before anything was made")

    _, page, _ = build_controls(handler)
    *_, (_, status) = page("x")
    assert 'data-state="stopped"' in status and "Stopped after" in status


def test_a_stop_pressed_after_the_last_step_leaves_the_run_done():
    """Stop reaches a run whose work has already completed (its result says it did not end early): the status
    line says done with the result, not "Stopped"; a work that did end early says stopped."""

    def handler(prompt, *, run):
        run.stop_event.set()  # pressed while the result was on its way
        run.finish("6 pictures", stopped=prompt == "early")
        return "made"

    _, page, _ = build_controls(handler)
    *_, (_, status) = page("complete")
    assert 'data-state="done"' in status and "6 pictures" in status
    *_, (_, status) = page("early")
    assert 'data-state="stopped"' in status and "6 pictures" in status


def test_a_growing_plot_has_every_colour_from_the_first_frame():
    import pandas as pd

    frame = chart_frame([(1, 0.5, "1")], ["step", "value", "octave"], color="octave", categories=["1", "2", "3"])
    assert list(frame["octave"]) == ["1", "2", "3"] and np.isnan(frame["value"][1:]).all()
    assert pd.api.types.is_string_dtype(frame["octave"])  # nominal: a colour per octave


def test_page_assets_set_the_language_and_fill_gradios_polish():
    assets = page_assets("pl")
    assert '"pl"' in assets["head"] and "changeLocale" in assets["head"] and ".mmhub-status" in assets["css"]
    assert assets["i18n"].translations_dict["pl"]["image_editor.select_draw_tool"].startswith("wybierz")
    with pytest.raises(InputError):
        page_assets("de")
