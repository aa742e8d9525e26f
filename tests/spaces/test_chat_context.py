"""The chat never dead-ends: the reply is bounded by the model's context and the oldest turns give way."""

from __future__ import annotations

import gradio as gr
import pytest

from pipelines import InputError, load
from spaces.common import Context, ModelCache
from spaces.text_generation import (
    chat_handler,
    config_context_length,
    context_length,
    fit_to_context,
    prompt_tokens,
    reply_limit,
    to_messages,
    to_transcript,
)


@pytest.fixture(scope="module")
def chat_model():
    return load("text-generation", model="tiny-chat")  # ChatML template, 256 positions


@pytest.fixture(scope="module")
def plain_model():
    return load("text-generation", model="tiny")  # GPT-2 family, no template, 512 positions


def long_history(turns: int) -> list[dict[str, str]]:
    history = []
    for i in range(turns):
        history += [{"role": "user", "content": f"Pytanie {i}: opowiedz coś o Wiśle i jej dopływach."},
                    {"role": "assistant", "content": f"Odpowiedź {i}: Wisła to najdłuższa rzeka w Polsce."}]
    return history


def test_reply_limit_is_half_the_context_within_the_slider():
    assert (reply_limit(256), reply_limit(512), reply_limit(1024), reply_limit(32768), reply_limit(1)) == \
        (128, 256, 512, 2048, 1)


def test_context_is_read_from_the_config_as_the_pipeline_reads_it(chat_model, plain_model):
    from pipelines import tiny

    assert config_context_length(str(tiny.build("text-generation", "tiny-chat"))) == chat_model.context_length == 256
    assert config_context_length(str(tiny.build("text-generation", "tiny"))) == plain_model.context_length == 512
    assert config_context_length("nobody/no-such-model") is None  # offline / unknown: the slider stays as it is
    ctx = Context(models="tiny", cache=ModelCache(loader=lambda task, model: chat_model))
    assert context_length(ctx, "tiny-chat") == 256  # from the config, nothing loaded
    ctx.pipeline("text-generation", "tiny-chat")
    assert context_length(ctx, "tiny-chat") == 256  # from the loaded pipeline


@pytest.mark.parametrize("model_fixture", ["chat_model", "plain_model"])
def test_long_conversation_loses_its_oldest_turns_and_keeps_the_system_prompt(request, model_fixture):
    gen = request.getfixturevalue(model_fixture)
    messages = to_messages("A teraz ostatnie pytanie?", long_history(12), "Odpowiadaj krótko.")
    max_new_tokens = reply_limit(gen.context_length)
    assert prompt_tokens(gen, messages) + max_new_tokens > gen.context_length  # it would not fit as it is
    kept, dropped = fit_to_context(gen, messages, max_new_tokens)
    assert dropped > 0 and len(kept) == len(messages) - dropped
    assert kept[0] == messages[0] and kept[-1] == messages[-1]  # the system prompt and the new message stay
    assert kept[1]["role"] == "user" and kept[1:] == messages[-(len(kept) - 1):]  # the newest turns, from a user turn
    assert prompt_tokens(gen, kept) + max_new_tokens <= gen.context_length
    prompt = kept if gen.has_chat_template else to_transcript(kept)
    assert gen(prompt, max_new_tokens=4, temperature=0).prompt_tokens == prompt_tokens(gen, kept)  # same count
    with pytest.raises(InputError, match="prompt"):  # what the pipeline says without the trimming
        gen(messages if gen.has_chat_template else to_transcript(messages), max_new_tokens=max_new_tokens)


def test_a_short_conversation_is_left_alone(chat_model):
    messages = to_messages("Cześć!", long_history(1), "Bądź miły.")
    assert fit_to_context(chat_model, messages, 16) == (messages, 0)


def test_a_message_too_long_on_its_own_is_a_clear_error(chat_model):
    messages = to_messages("słowo " * 200, long_history(2), "Odpowiadaj krótko.")
    with pytest.raises(InputError, match=r"`message` must be at most \d+ tokens: the model's context is 256.*Shorten"):
        fit_to_context(chat_model, messages, 64)


def test_chat_handler_warns_when_it_drops_turns_and_still_replies(chat_model):
    chat = chat_handler(Context(models="tiny", cache=ModelCache(loader=lambda task, model: chat_model)))
    notice = r"context \(256 tokens, 64 of them for the reply\): the [0-9]+ oldest messages were left out"
    with pytest.warns(UserWarning, match=notice):
        replies = list(chat("Ostatnie pytanie?", long_history(12), "tiny-chat", "Krótko.", 64, 0.7, 0.95, 1))
    assert replies and isinstance(replies[-1][0], str) and replies[-1][1] == 1  # the reply and the seed used
    with pytest.raises(gr.Error, match="`max_new_tokens` must be an integer from 1 to 128 for tiny-chat"):
        list(chat("Hej", [], "tiny-chat", "", 129, 0.7, 0.95, 1))
