"""Text generation Space: a chat with streamed tokens, a system prompt and sampling controls.

    python -m spaces.text_generation                  # GPT-2 by default; pick Bielik in the model list
    python -m spaces.text_generation --models tiny    # offline, tiny random chat model (noise)
    python -m spaces.text_generation --llm-endpoint http://gpu-box:8000/v1   # a vLLM server runs the model

API (gradio_client): ``/chat`` (message, model, system_prompt, max_new_tokens, temperature, top_p, seed) -> reply,
the seed used (−1 draws one per reply: Retry gives a new reply; a fixed seed repeats it).
Models without a chat template (GPT-2) continue a plain "User: / Assistant:" transcript instead.

The chat never dead-ends: the reply may use at most half the model's context (the slider follows the model), and
when the conversation no longer fits in the rest, the oldest turns are left out (the system prompt stays) with a
notice saying so.
"""

from __future__ import annotations

import collections
import functools
import inspect
import logging
from collections.abc import Iterator
from typing import Any

import gradio as gr

from pipelines import TINY_NAMES, InputError, validate

from .common import (
    Context,
    SpaceSpec,
    draw_seed,
    number,
    person_message,
    refuse_missing,
    require,
    seed_input,
    user_errors,
    whole,
)
from .launcher import main_for

logger = logging.getLogger(__name__)

TASK = "text-generation"
TINY_VARIANT = "tiny-chat"  # the tiny model with a chat template
MAX_REPLY = 2048  # the slider's top for long-context models
DEFAULT_REPLY = 128
# Where a config states its context length (the pipeline's `TextGenerationPipeline.context_length` reads the same).
CONTEXT_ATTRIBUTES = ("max_position_embeddings", "n_positions", "n_ctx", "seq_length")

TEXTS = {
    "en": {
        "system_prompt": "System prompt", "system_default": "You are a helpful assistant.",
        "max_new_tokens": "Max new tokens", "temperature": "Temperature (0 = greedy)", "top_p": "Top-p",
        "placeholder": "Write a message…", "user": "User", "assistant": "Assistant", "send": "Send",
        "message": "Message", "conversation": "Conversation",
        "trimmed": "The conversation no longer fits in the model's context ({context} tokens, {reply} of them for "
                   "the reply): the oldest message was left out.|The conversation no longer fits in the model's "
                   "context ({context} tokens, {reply} of them for the reply): the {count} oldest messages were left "
                   "out.",
    },
    "pl": {
        "system_prompt": "Prompt systemowy", "system_default": "Jesteś pomocnym asystentem.",
        "max_new_tokens": "Maks. liczba nowych tokenów", "temperature": "Temperatura (0 = zachłannie)",
        "top_p": "Top-p", "placeholder": "Napisz wiadomość…", "user": "Użytkownik", "assistant": "Asystent",
        "send": "Wyślij", "message": "Wiadomość", "conversation": "Rozmowa",
        # the plural forms of "the N oldest messages were left out" (one | few | many)
        "trimmed": "Rozmowa nie mieści się już w kontekście modelu ({context} tokenów, z czego {reply} na "
                   "odpowiedź): pominięto najstarszą wiadomość.|Rozmowa nie mieści się już w kontekście modelu "
                   "({context} tokenów, z czego {reply} na odpowiedź): pominięto {count} najstarsze wiadomości.|"
                   "Rozmowa nie mieści się już w kontekście modelu ({context} tokenów, z czego {reply} na "
                   "odpowiedź): pominięto {count} najstarszych wiadomości.",
    },
}

EXAMPLES = [
    "Napisz haiku o Wiśle.",
    "Wyjaśnij w dwóch zdaniach, czym jest sieć neuronowa.",
    "Write a limerick about a cat who learns Python.",
    "Once upon a time, in a small village by the sea,",
]
EXAMPLES_PL = [  # the Polish UI's
    "Napisz haiku o Wiśle.",
    "Wyjaśnij w dwóch zdaniach, czym jest sieć neuronowa.",
    "Napisz limeryk o kocie, który uczy się Pythona.",
    "Dawno, dawno temu, w małej wiosce nad morzem,",
]


def message_text(content: Any) -> str:
    """The text of a chat message's content: a string, or gradio's list of parts / dict forms."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("content") or "")
    if isinstance(content, (list, tuple)):
        return "".join(message_text(part) for part in content)
    return ""


def to_messages(message: str, history: list[dict], system_prompt: str | None) -> list[dict[str, str]]:
    """The conversation as ``{"role", "content"}`` dicts, system prompt first, the new message last."""
    messages = [{"role": "system", "content": system_prompt}] if system_prompt and system_prompt.strip() else []
    for turn in history or []:
        text = message_text(turn.get("content"))
        if turn.get("role") in ("user", "assistant") and text:
            messages.append({"role": turn["role"], "content": text})
    messages.append({"role": "user", "content": message})
    return messages


def to_transcript(messages: list[dict[str, str]], user: str = "User", assistant: str = "Assistant") -> str:
    """A plain-text transcript for models without a chat template, ending where the assistant speaks."""
    names = {"user": user, "assistant": assistant}
    lines = [m["content"] if m["role"] == "system" else f"{names[m['role']]}: {m['content']}" for m in messages]
    return "\n".join(lines + [f"{assistant}:"])


def fine_tuned_choices(ctx: Context) -> list[tuple[str, str]]:
    """Finished ``python -m finetune.lm`` runs found under the folders the operator allows
    (``--allow-local-models DIR``), for the model list. None in an exported Space (no mmhub finetune package)."""
    if not ctx.local_model_dirs:
        return []
    try:
        from finetune.catalog import run_choices
    except ImportError:
        return []
    return run_choices([str(folder) for folder in ctx.local_model_dirs], TASK)


def reply_limit(context_length: int) -> int:
    """The most new tokens a reply may ask for: half the model's context (the conversation keeps the other half),
    at most `MAX_REPLY`."""
    return max(1, min(MAX_REPLY, context_length // 2))


def prompt_tokens(gen: Any, messages: list[dict[str, str]], names: tuple[str, str] = ("User", "Assistant")) -> int:
    """Tokens of the prompt `gen` builds from `messages`: its chat template, or the plain transcript (encoded as
    `TextGenerationPipeline` encodes them)."""
    if gen.has_chat_template:
        text = gen.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return len(gen.tokenizer(text, add_special_tokens=False)["input_ids"])
    return len(gen.tokenizer(to_transcript(messages, *names))["input_ids"])


def fit_to_context(gen: Any, messages: list[dict[str, str]], max_new_tokens: int,
                   names: tuple[str, str] = ("User", "Assistant")) -> tuple[list[dict[str, str]], int]:
    """`messages` without their oldest turns, so that the prompt and `max_new_tokens` fit the model's context.

    The system prompt and the last message always stay; the kept part starts with a user message. Returns the
    messages and how many were left out; `InputError` when even the system prompt and the last message do not fit.
    """
    room = gen.context_length - max_new_tokens
    system = [m for m in messages[:1] if m["role"] == "system"]
    turns = list(messages[len(system):])
    dropped = 0
    while len(turns) > 1 and prompt_tokens(gen, system + turns, names) > room:
        turns.pop(0)
        dropped += 1
        while len(turns) > 1 and turns[0]["role"] != "user":
            turns.pop(0)
            dropped += 1
    used = prompt_tokens(gen, system + turns, names)
    if used > room:
        raise InputError("message", f"{used} tokens with the system prompt",
                         f"at most {room} tokens: the model's context is {gen.context_length} and max_new_tokens is "
                         f"{max_new_tokens}", "Shorten the message or the system prompt, or lower max_new_tokens.")
    return system + turns, dropped


@functools.lru_cache(maxsize=256)  # every page load asks: read each config (maybe over the network) once
def config_context_length(name: str, revision: str | None = None) -> int | None:
    """The context length a model's config states, read without loading the weights; None when unknown."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(name, revision=revision)
    except Exception as err:  # noqa: BLE001 - offline, not a transformers model...: the slider stays as it is
        logger.info("no config for %s (%s): the max-new-tokens slider keeps its range", name, err)
        return None
    for attribute in CONTEXT_ATTRIBUTES:
        value = getattr(config, attribute, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def context_length(ctx: Context, model: str) -> int | None:
    """The context of `model` (already checked by `Context.check_model`): the loaded pipeline's, else its config's."""
    from pipelines import TASKS

    loaded = ctx.cache.peek(TASK, model)
    if loaded is not None:
        return loaded.context_length
    if model in TINY_NAMES:
        from pipelines import tiny

        return config_context_length(str(tiny.build(TASK, model)))
    info = TASKS[TASK].model_info(model)
    return config_context_length(model, info.revision if info else None)


def chat_handler(ctx: Context, browser_sessions: collections.OrderedDict | None = None) -> Any:
    """The chat function of `ctx`'s Space (what `gr.ChatInterface` calls): checks, loads, trims, streams; yields
    the reply so far and the seed used. A request from a browser session in `browser_sessions` (the page's own
    events mark them) is refused in a person's words (`person_message`), an API call as the pipeline states it."""
    t = lambda key, **kw: ctx.t(key, TEXTS, **kw)  # noqa: E731

    @user_errors
    def api_words(message: str, history: list[dict], model: str, system_prompt: str, max_new_tokens: float,
                  temperature: float, top_p: float, seed: float | None) -> Iterator[tuple[str, int]]:
        message = validate.text("message", require(message, "message", "non-empty text (write a message)"))
        if system_prompt is not None:
            system_prompt = validate.text("system_prompt", system_prompt, allow_empty=True)
        temperature = number("temperature", temperature, 0.0, 2.0)
        top_p = number("top_p", top_p, 0.0, 1.0, low_open=True)
        seed = draw_seed(seed)  # drawn here: the reply streams, and the seed shown is the seed used
        requested = whole("max_new_tokens", max_new_tokens, 1, MAX_REPLY)
        model = ctx.check_model(TASK, model, TINY_VARIANT)
        if (TASK, model) not in ctx.cache:
            yield f"⏳ {ctx.t('loading', model=model)}", seed
        gen = ctx.pipeline(TASK, model, tiny_variant=TINY_VARIANT)
        if gen.context_length:  # None: a server that does not say (it refuses what does not fit)
            limit = reply_limit(gen.context_length)
            if requested > limit:
                raise InputError("max_new_tokens", requested, f"an integer from 1 to {limit} for {model}",
                                 f"A reply may use at most half the model's context of {gen.context_length} tokens.")
        max_new_tokens = requested
        names = (t("user"), t("assistant"))
        messages, dropped = to_messages(message, history, system_prompt), 0
        if gen.context_length and getattr(gen, "tokenizer", None) is not None:  # a server counts its own tokens
            messages, dropped = fit_to_context(gen, messages, max_new_tokens, names)
        if dropped:
            notice = t("trimmed", context=gen.context_length, reply=max_new_tokens, count=dropped)
            logger.info("chat with %s: %s", model, notice)
            gr.Warning(notice, title=ctx.t("warning_title"))
        params: dict[str, Any] = {"max_new_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p,
                                  "seed": seed, "stream": True}
        if gen.has_chat_template:
            chunks = gen(messages, **params)
        else:
            chunks = gen(to_transcript(messages, *names), stop=[f"\n{names[0]}:"], **params)
        reply = ""
        for chunk in chunks:
            reply += chunk
            yield reply, seed
        if not reply:
            yield "…", seed

    @functools.wraps(api_words)
    def chat(*args: Any, **kwargs: Any) -> Iterator[tuple[str, int]]:
        values = list(args)
        request = values.pop() if values and isinstance(values[-1], gr.Request) else kwargs.pop("request", None)
        try:
            yield from api_words(*values, **kwargs)
        except gr.Error as err:
            session = getattr(request, "session_hash", None)
            if browser_sessions is None or session not in browser_sessions or err.__cause__ is None:
                raise
            labels = {"message": t("placeholder"), "max_new_tokens": t("max_new_tokens"),
                      "temperature": t("temperature"), "top_p": t("top_p"), "seed": ctx.t("seed")}
            raise gr.Error(person_message(ctx, err.__cause__, labels=labels), title=ctx.t("error_title"),
                           print_exception=False) from err.__cause__

    chat.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
        *inspect.signature(api_words).parameters.values(),
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)])
    chat.__annotations__ = {"request": gr.Request}
    return chat


def build(ctx: Context) -> None:
    t = lambda key, **kw: ctx.t(key, TEXTS, **kw)  # noqa: E731
    browser_sessions: collections.OrderedDict[str, None] = collections.OrderedDict()
    chat = chat_handler(ctx, browser_sessions)
    # the model picker in sight, not in the settings
    model = ctx.model_dropdown(TASK, TINY_VARIANT, elem_id="chat-model")
    model.choices = [*model.choices, *fine_tuned_choices(ctx)]
    with gr.Accordion(ctx.t("settings"), open=False):
        system_prompt = gr.Textbox(t("system_default"), label=t("system_prompt"), lines=2)
        with gr.Row():
            max_new_tokens = gr.Slider(1, MAX_REPLY, value=DEFAULT_REPLY, step=1, label=t("max_new_tokens"),
                                       elem_id="chat-max-new-tokens")
            temperature = gr.Slider(0.0, 2.0, value=0.7, step=0.05, label=t("temperature"))
            top_p = gr.Slider(0.05, 1.0, value=0.95, step=0.05, label=t("top_p"))
            seed = seed_input(ctx, elem_id="chat-seed-input")
    seed_used = gr.Number(label=ctx.t("seed_used"), precision=0, interactive=False, elem_id="chat-seed", render=False)

    @user_errors
    def bound_reply(model: str) -> Any:
        """The max-new-tokens slider bounded by the chosen model's context (on page load and on a model change)."""
        try:
            model = ctx.check_model(TASK, model, TINY_VARIANT)
        except (gr.Error, InputError):
            return gr.skip()  # the chat says why when a message is sent
        context = context_length(ctx, model)
        if context is None:
            return gr.skip()
        limit = reply_limit(context)
        return gr.update(maximum=limit, value=min(DEFAULT_REPLY, limit))

    def from_the_page(request: gr.Request) -> None:
        """Mark this browser session: its refusals are worded for a person."""
        browser_sessions[str(request.session_hash)] = None
        while len(browser_sessions) > 10_000:
            browser_sessions.popitem(last=False)

    gr.on(None, bound_reply, inputs=[model], outputs=[max_new_tokens], api_visibility="private",
          concurrency_limit=None, show_progress="hidden")
    textbox = refuse_missing(gr.Textbox(placeholder=t("placeholder"), label=t("message"), submit_btn=t("send"),
                                        stop_btn=ctx.t("stop"), elem_id="chat-input"),
                             "message", "non-empty text (write a message)")
    interface = gr.ChatInterface(
        chat,
        additional_inputs=[model, system_prompt, max_new_tokens, temperature, top_p, seed],
        additional_outputs=[seed_used],
        textbox=textbox,
        chatbot=gr.Chatbot(label=t("conversation"), elem_id="chat-history", height=400),
        examples=[[e] for e in (EXAMPLES_PL if ctx.lang == "pl" else EXAMPLES)],
        cache_examples=False,
        api_name="chat",
        concurrency_limit=ctx.llm.concurrency if ctx.llm is not None else SPACE.concurrency_limit,  # a server batches
        fill_height=False,
    )
    seed_used.render()
    gr.on([textbox.submit, interface.chatbot.retry, interface.chatbot.example_select], from_the_page, None, None,
          queue=False, api_visibility="private", show_progress="hidden")


SPACE = SpaceSpec(
    name="text_generation",
    title={"en": "Chat", "pl": "Czat"},
    tasks=(TASK,),
    build=build,
    concurrency_limit=1,
    requirements=("torch", "transformers", "tokenizers", "safetensors", "huggingface-hub", "accelerate",
                  "sentencepiece", "numpy", "openai"),
    emoji="✍️",
    description="GPT-2 and Bielik: chat with streamed tokens, a system prompt and sampling controls.",
    order=10,
    group="text",
)


main = main_for(SPACE)

if __name__ == "__main__":
    main()
