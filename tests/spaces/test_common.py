"""The Spaces' shared parts without a server: the model cache, strings, error translation, discovery, helpers."""

from __future__ import annotations

import logging
import math
import threading
from pathlib import Path

import gradio as gr
import pytest

from pipelines import TASKS, InputError, load
from spaces.app import build_app, discover_spaces, space
from spaces.common import (
    STRINGS,
    Context,
    ModelCache,
    input_error_message,
    model_bytes,
    number,
    parse_seed,
    run_with_updates,
    user_errors,
    whole,
)
from spaces.image_generation import step_defaults
from spaces.text_generation import message_text, to_messages, to_transcript

SPACES_DIR = Path(__file__).resolve().parents[2] / "spaces"


def test_spaces_package_init_is_empty():
    # gradio runs `import spaces` (ZeroGPU); from the repository root that imports ours: it must do nothing.
    assert (SPACES_DIR / "__init__.py").read_text().strip() == ""


def test_every_registry_task_has_a_space():
    served = {task for spec in discover_spaces() for task in spec.tasks}
    assert served == set(TASKS)


def test_spaces_are_found_by_module_or_task_name():
    assert space("sentiment").name == "sentiment"
    assert space("text-to-image").name == "image_generation"
    with pytest.raises(KeyError, match="known"):
        space("no-such-space")


def test_every_string_has_both_languages():
    assert set(STRINGS["en"]) == set(STRINGS["pl"])
    for spec in discover_spaces():
        assert set(spec.title) == {"en", "pl"}


def test_whole_app_builds_in_both_languages_with_named_endpoints():
    for lang in ("en", "pl"):
        demo = build_app(Context(lang=lang, models="tiny"))
        api_names = {fn.api_name for fn in demo.fns.values() if fn.api_name}
        assert {"chat", "sentiment", "sentiment_batch", "text_to_image", "image_to_image", "style_transfer",
                "separate", "clone_voice", "convert_voice"} <= api_names


def test_context_strings_fall_back_to_english_and_format():
    ctx = Context(lang="pl")
    assert ctx.t("loading", model="x") == "Wczytywanie modelu x…"
    assert ctx.t("only_en", {"en": {"only_en": "E {n}"}, "pl": {}}, n=1) == "E 1"
    with pytest.raises(KeyError):
        ctx.t("no-such-key")
    with pytest.raises(InputError, match="lang"):
        Context(lang="de")


def test_model_choices_offer_tiny_first_then_the_registry_with_licences():
    tiny = Context(models="tiny").model_choices("text-generation", "tiny-chat")
    assert [value for _, value in tiny[:2]] == ["tiny-chat", "tiny"]
    real = Context().model_choices("sentiment")
    assert [value for _, value in real] == [m.id for m in TASKS["sentiment"].models]
    assert "cc-by-nc-4.0" in real[-1][0]  # the non-commercial model says so next to its name


def test_cache_evicts_the_least_recently_used_by_count():
    cache = ModelCache(max_models=2, max_bytes=2**40)
    first = cache.get("sentiment", "tiny")
    cache.get("text-generation", "tiny")
    assert cache.get("sentiment", "tiny") is first  # a hit, and now the most recently used
    loads = []
    cache.get("text-generation", "tiny-chat", on_load=lambda: loads.append(1))
    assert loads == [1] and len(cache) == 2
    assert ("sentiment", "tiny") in cache and ("text-generation", "tiny") not in cache


def test_cache_evicts_by_memory_but_keeps_the_newest():
    size = model_bytes(load("sentiment", model="tiny"))
    assert size > 0
    cache = ModelCache(max_models=5, max_bytes=size + size // 2)
    cache.get("sentiment", "tiny")
    cache.get("text-generation", "tiny")
    assert list(cache._items) == [("text-generation", "tiny")]
    assert cache.total_bytes == model_bytes(cache.get("text-generation", "tiny"))


def test_pipeline_errors_become_gradio_errors():
    @user_errors
    def handler(x):
        raise InputError("x", x, "positive")

    @user_errors
    def streaming(x):
        yield 1
        raise InputError("x", x, "positive")

    with pytest.raises(gr.Error, match="`x` must be positive; got -1"):
        handler(-1)
    stream = streaming(-1)
    assert next(stream) == 1
    with pytest.raises(gr.Error, match="`x` must be positive"):
        next(stream)



def test_an_unexpected_exception_is_a_clear_message_and_a_logged_traceback(caplog):
    @user_errors
    def count_words(text):
        return {}[text]

    with caplog.at_level(logging.ERROR, logger="spaces.common"), \
            pytest.raises(gr.Error, match=r"Unexpected error in count words \(KeyError: 'x'\)\. The app is still"):
        count_words("x")
    record = next(r for r in caplog.records if "unexpected error in count words" in r.getMessage())
    assert record.exc_info and record.exc_info[0] is KeyError  # the traceback goes to the server log

    @user_errors
    def refuses():
        raise gr.Error("a message of the handler's own")

    with pytest.raises(gr.Error) as caught:
        refuses()
    assert caught.value.message == "a message of the handler's own"


def test_input_error_message_names_the_input_by_its_label():
    from gradio.exceptions import ComponentProcessingError

    seed, steps = gr.Number(label="Seed"), gr.Slider(1, 10, label="Steps")
    err = ComponentProcessingError("Could not preprocess input component at index 1 (a `slider` component) ...")
    err.__cause__ = TypeError("'<' not supported between instances of 'str' and 'int'")
    message = input_error_message([seed, steps], [1, "many"], err)
    assert message.startswith("Invalid value for 'Steps': got 'many'; expected a number in the slider's range")
    assert input_error_message([seed, steps], [1], ValueError("x")).startswith("The request has 1 input values")


def test_a_task_without_a_tiny_model_is_a_clear_error():
    from pipelines import tiny

    def load_without_builder(task: str, model: str):  # as in a copy of pipelines/tiny.py without that builder
        return tiny.build(f"{task}-unbuilt", model)

    ctx = Context(models="tiny", cache=ModelCache(loader=load_without_builder))
    with pytest.raises(gr.Error, match="voice-cloning"):
        ctx.pipeline("voice-cloning", "tiny")


def test_run_with_updates_yields_updates_then_the_result_and_raises_errors():
    def work(report, stop):
        for i in range(3):
            report(i)
        return "done"

    assert list(run_with_updates(work)) == [("update", (0,)), ("update", (1,)), ("update", (2,)), ("result", "done")]

    def failing(report, stop):
        report("first")
        raise InputError("steps", 0, "an integer >= 1")

    updates = run_with_updates(failing)
    assert next(updates) == ("update", ("first",))
    with pytest.raises(InputError):
        next(updates)


def test_run_with_updates_tells_the_work_to_stop_when_the_stream_is_closed_early():
    steps: list[int] = []
    ended = threading.Event()

    def work(report, stop):  # as a pipeline whose progress callback returns `not stop.is_set()`
        for i in range(10_000):
            steps.append(i)
            report(i)
            if stop.wait(0.001):
                break
        ended.set()
        return "done"

    updates = run_with_updates(work)
    assert next(updates) == ("update", (0,))
    updates.close()  # what gradio does when the client cancels or disconnects
    assert ended.wait(5), "the work ran on after its stream was closed"
    assert len(steps) < 10_000


def test_parse_seed_and_slider_values():
    assert parse_seed(None) is None and parse_seed("") is None and parse_seed(-1) is None and parse_seed(-1.0) is None
    assert parse_seed(7.0) == 7 and isinstance(parse_seed(7.0), int) and parse_seed(0) == 0
    for bad in (1.5, -2, math.nan, math.inf, 1e300, 2**70, "7", True):
        with pytest.raises(InputError, match="`seed` must be an integer from 0"):
            parse_seed(bad)
    assert whole("steps", 20.0, 1, 100) == 20 and isinstance(whole("steps", 20.0, 1, 100), int)
    for bad in (2.5, math.nan, math.inf, 0, 101, "20", None, True):
        with pytest.raises(InputError, match="`steps` must be an integer from 1 to 100"):
            whole("steps", bad, 1, 100)
    assert number("top_p", 1, 0.0, 1.0, low_open=True) == 1.0
    for bad in (0.0, math.nan, -math.inf, 1.5, "0.5", None):
        with pytest.raises(InputError, match="`top_p` must be a number in"):
            number("top_p", bad, 0.0, 1.0, low_open=True)


def test_step_defaults_know_only_the_reserved_tiny_names():
    assert step_defaults("tiny", "text-to-image") == (2, 7.5)
    assert step_defaults("tinyllama/some-diffusion-model", "text-to-image") == (25, 7.5)  # a Hub id, not a tiny
    assert step_defaults("stabilityai/sd-turbo", "text-to-image") == (1, 0.0)


def test_model_field_takes_hub_ids_and_only_allowed_local_folders(tmp_path, monkeypatch):
    allowed, outside = tmp_path / "models", tmp_path / "elsewhere"
    (allowed / "mine").mkdir(parents=True)
    outside.mkdir()
    (allowed / "link").symlink_to(outside, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    closed, open_ = Context(models="tiny"), Context(models="tiny", local_model_dirs=[str(allowed)])
    for ctx in (closed, open_):
        assert ctx.check_model("sentiment", None) == "tiny" and ctx.check_model("sentiment", "  ") == "tiny"
        assert ctx.check_model("text-generation", "tiny-chat") == "tiny-chat"
        assert ctx.check_model("sentiment", " cardiffnlp/twitter-xlm-roberta-base-sentiment ") == \
            "cardiffnlp/twitter-xlm-roberta-base-sentiment"
        assert ctx.check_model("sentiment", "someone/some-model") == "someone/some-model"  # the loader decides
        assert ctx.check_model("separation", "htdemucs_ft") == "htdemucs_ft"
        for bad in ("no such model!", "a--b", "x" * 200):
            with pytest.raises(gr.Error, match="is not a model id"):
                ctx.check_model("sentiment", bad)
        with pytest.raises(InputError, match="`model` must be non-empty text"):
            ctx.check_model("sentiment", ["tiny"])
    for path in (str(allowed / "mine"), "models/mine", "elsewhere", "/etc", "~", "../x"):
        with pytest.raises(gr.Error, match="this server loads no local folders.*--allow-local-models DIR"):
            closed.check_model("sentiment", path)
    assert open_.check_model("sentiment", "models/mine") == str(allowed / "mine")
    assert open_.check_model("sentiment", str(allowed / "mine" / ".." / "mine")) == str(allowed / "mine")
    assert open_.check_model("sentiment", "./models/not-yet-there") == str(allowed / "not-yet-there")  # the loader
    assert open_.check_model("sentiment", "models/not-yet-there") == "models/not-yet-there"  # no such folder: a Hub id
    for path in ("models/link", "models/../elsewhere", str(outside), "/etc", "elsewhere"):
        with pytest.raises(gr.Error, match="not inside a folder this server allows"):
            open_.check_model("sentiment", path)
    with pytest.raises(InputError, match="local_model_dirs"):
        Context(local_model_dirs=[str(tmp_path / "missing")])


def test_chat_history_becomes_messages_and_transcripts():
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": [{"type": "text", "text": "Yo"}]},
               {"role": "assistant", "content": None}]
    messages = to_messages("How are you?", history, "Be brief.")
    assert messages == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                        {"role": "assistant", "content": "Yo"}, {"role": "user", "content": "How are you?"}]
    assert to_transcript(messages) == "Be brief.\nUser: Hi\nAssistant: Yo\nUser: How are you?\nAssistant:"
    assert message_text({"text": "a"}) == "a" and message_text(3) == ""


def test_launch_options_default_to_loopback_and_check_auth(monkeypatch, tmp_path):
    import argparse

    from spaces.launcher import context_from_args, parse_auth
    from spaces.options import parse_launch_args

    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    monkeypatch.delenv("MMHUB_MODELS", raising=False)
    args = parse_launch_args([])
    assert (args.host, args.port, args.models, args.lang, args.share) == ("127.0.0.1", 7860, None, "en", False)
    assert (args.max_models, args.queue_size, args.max_file_size, args.allow_local_models) == (2, 256, "200mb", [])
    args = parse_launch_args(["--models", "tiny", "--lang", "PL", "--auth", "ala:ma:kota", "--max-file-size", "5MB",
                              "--allow-local-models", str(tmp_path), "--allow-local-models", f"{tmp_path}/../"
                              f"{tmp_path.name}", "--max-model-memory", "1.5", "--log-level", "debug"])
    assert (args.models, args.lang, args.max_file_size, args.log_level) == ("tiny", "pl", "5mb", "DEBUG")
    assert args.allow_local_models == [tmp_path.resolve()] * 2
    assert parse_auth(args.auth) == ("ala", "ma:kota")
    ctx = context_from_args(args)
    assert ctx.local_model_dirs == (tmp_path.resolve(),) * 2 and ctx.cache.max_bytes == int(1.5 * 2**30)
    for bad in ("nopassword", ":x", "x:"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_auth(bad)
    monkeypatch.setenv("GRADIO_SERVER_PORT", "8123")
    monkeypatch.setenv("MMHUB_MODELS", "tiny")
    assert (parse_launch_args([]).port, parse_launch_args([]).models) == (8123, "tiny")


def test_polish_ui_has_polish_tab_titles():
    demo = build_app(Context(lang="pl", models="tiny"))
    labels = {getattr(block, "label", None) for block in demo.blocks.values()}
    assert {"💬 Sentyment", "✍️ Czat", "🎨 Generowanie obrazów"} <= labels


def test_read_image_names_the_argument_for_every_bad_upload(tmp_path, monkeypatch):
    from PIL import Image

    from spaces.common import read_image

    Image.new("RGB", (64, 48), (10, 20, 30)).save(tmp_path / "ok.png")
    (tmp_path / "text.jpg").write_text("not a picture")
    assert read_image(str(tmp_path / "ok.png"), "content").size == (64, 48)
    for value, message in ((None, "upload one"), ("", "upload one"), (str(tmp_path / "text.jpg"), "cannot be read"),
                           (str(tmp_path / "gone.png"), "No such file")):
        with pytest.raises(InputError, match=f"`content` must be .*{message}"):
            read_image(value, "content")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # PIL's own limit, lowered: 64x48 is now a "bomb"
    with pytest.raises(InputError, match="`content` must be an image of at most 1000 pixels"):
        read_image(str(tmp_path / "ok.png"), "content")
