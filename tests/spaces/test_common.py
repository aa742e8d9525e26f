"""The Spaces' shared parts without a server: the model cache, strings, error translation, discovery, helpers."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest

from pipelines import TASKS, InputError, load
from spaces.app import build_app, discover_spaces, space
from spaces.common import STRINGS, Context, ModelCache, model_bytes, parse_seed, run_with_updates, user_errors
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

    @user_errors
    def bug():
        raise RuntimeError("a bug stays a bug")

    with pytest.raises(RuntimeError):
        bug()


def test_a_task_without_a_tiny_model_is_a_clear_error():
    from pipelines import tiny

    def load_without_builder(task: str, model: str):  # as in a copy of pipelines/tiny.py without that builder
        return tiny.build(f"{task}-unbuilt", model)

    ctx = Context(models="tiny", cache=ModelCache(loader=load_without_builder))
    with pytest.raises(gr.Error, match="voice-cloning"):
        ctx.pipeline("voice-cloning", "tiny")


def test_run_with_updates_yields_updates_then_the_result_and_raises_errors():
    def work(report):
        for i in range(3):
            report(i)
        return "done"

    assert list(run_with_updates(work)) == [("update", (0,)), ("update", (1,)), ("update", (2,)), ("result", "done")]

    def failing(report):
        report("first")
        raise InputError("steps", 0, "an integer >= 1")

    updates = run_with_updates(failing)
    assert next(updates) == ("update", ("first",))
    with pytest.raises(InputError):
        next(updates)


def test_parse_seed():
    assert parse_seed(None) is None and parse_seed("") is None
    assert parse_seed(7.0) == 7 and isinstance(parse_seed(7.0), int)
    assert parse_seed(1.5) == 1.5  # left for the pipeline to refuse


def test_chat_history_becomes_messages_and_transcripts():
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": [{"type": "text", "text": "Yo"}]},
               {"role": "assistant", "content": None}]
    messages = to_messages("How are you?", history, "Be brief.")
    assert messages == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                        {"role": "assistant", "content": "Yo"}, {"role": "user", "content": "How are you?"}]
    assert to_transcript(messages) == "Be brief.\nUser: Hi\nAssistant: Yo\nUser: How are you?\nAssistant:"
    assert message_text({"text": "a"}) == "a" and message_text(3) == ""


def test_launch_options_default_to_loopback_and_check_auth(monkeypatch):
    import argparse

    from spaces.launcher import add_launch_arguments, parse_auth

    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    monkeypatch.delenv("MMHUB_MODELS", raising=False)
    args = add_launch_arguments(argparse.ArgumentParser()).parse_args([])
    assert (args.host, args.port, args.models, args.lang, args.share) == ("127.0.0.1", 7860, None, "en", False)
    args = add_launch_arguments(argparse.ArgumentParser()).parse_args(
        ["--models", "tiny", "--lang", "pl", "--auth", "ala:ma:kota", "--max-file-size", "5mb"])
    assert (args.models, args.lang, args.max_file_size) == ("tiny", "pl", "5mb")
    assert parse_auth(args.auth) == ("ala", "ma:kota")
    for bad in ("nopassword", ":x", "x:"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_auth(bad)


def test_polish_ui_has_polish_tab_titles():
    demo = build_app(Context(lang="pl", models="tiny"))
    labels = {getattr(block, "label", None) for block in demo.blocks.values()}
    assert {"💬 Sentyment", "✍️ Czat", "🎨 Generowanie obrazów"} <= labels
