"""Text generation Space: a chat with streamed tokens, a system prompt and sampling controls.

    python -m spaces.text_generation                  # GPT-2 by default; pick Bielik in the model list
    python -m spaces.text_generation --models tiny    # offline, tiny random chat model (noise)
    python -m spaces.text_generation --llm-endpoint http://gpu-box:8000/v1   # a vLLM server runs the model

API (gradio_client): ``/chat`` (message, model, system_prompt, max_new_tokens, temperature, top_p, seed) -> reply.
Models without a chat template (GPT-2) continue a plain "User: / Assistant:" transcript instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import gradio as gr

from .common import Context, SpaceSpec, parse_seed, user_errors

logger = logging.getLogger(__name__)

TASK = "text-generation"
TINY_VARIANT = "tiny-chat"  # the tiny model with a chat template

TEXTS = {
    "en": {
        "system_prompt": "System prompt", "system_default": "You are a helpful assistant.",
        "max_new_tokens": "Max new tokens", "temperature": "Temperature (0 = greedy)", "top_p": "Top-p",
        "placeholder": "Write a message…", "user": "User", "assistant": "Assistant",
    },
    "pl": {
        "system_prompt": "Prompt systemowy", "system_default": "Jesteś pomocnym asystentem.",
        "max_new_tokens": "Maks. liczba nowych tokenów", "temperature": "Temperatura (0 = zachłannie)",
        "top_p": "Top-p", "placeholder": "Napisz wiadomość…", "user": "Użytkownik", "assistant": "Asystent",
    },
}

EXAMPLES = [
    "Napisz haiku o Wiśle.",
    "Wyjaśnij w dwóch zdaniach, czym jest sieć neuronowa.",
    "Write a limerick about a cat who learns Python.",
    "Once upon a time, in a small village by the sea,",
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


def build(ctx: Context) -> None:
    t = lambda key: ctx.t(key, TEXTS)  # noqa: E731

    @user_errors
    def chat(message: str, history: list[dict], model: str, system_prompt: str, max_new_tokens: float,
             temperature: float, top_p: float, seed: float | None) -> Iterator[str]:
        model = (model or "").strip() or ctx.default_model(TASK, TINY_VARIANT)
        if (TASK, model) not in ctx.cache:
            yield f"⏳ {ctx.t('loading', model=model)}"
        gen = ctx.pipeline(TASK, model)
        messages = to_messages(message, history, system_prompt)
        params: dict[str, Any] = {"max_new_tokens": int(max_new_tokens), "temperature": float(temperature),
                                  "top_p": float(top_p), "seed": parse_seed(seed), "stream": True}
        if gen.has_chat_template:
            chunks = gen(messages, **params)
        else:
            user, assistant = t("user"), t("assistant")
            chunks = gen(to_transcript(messages, user, assistant), stop=[f"\n{user}:"], **params)
        reply = ""
        for chunk in chunks:
            reply += chunk
            yield reply
        if not reply:
            yield "…"

    with gr.Accordion(ctx.t("settings"), open=False):
        model = ctx.model_dropdown(TASK, TINY_VARIANT)
        system_prompt = gr.Textbox(t("system_default"), label=t("system_prompt"), lines=2)
        with gr.Row():
            max_new_tokens = gr.Slider(1, 1024, value=128, step=1, label=t("max_new_tokens"))
            temperature = gr.Slider(0.0, 2.0, value=0.7, step=0.05, label=t("temperature"))
            top_p = gr.Slider(0.05, 1.0, value=0.95, step=0.05, label=t("top_p"))
            seed = gr.Number(None, label=ctx.t("seed"), precision=0, minimum=0)
    gr.ChatInterface(
        chat,
        additional_inputs=[model, system_prompt, max_new_tokens, temperature, top_p, seed],
        textbox=gr.Textbox(placeholder=t("placeholder"), submit_btn=True, stop_btn=True),
        examples=[[e] for e in EXAMPLES],
        cache_examples=False,
        api_name="chat",
        concurrency_limit=ctx.llm.concurrency if ctx.llm is not None else SPACE.concurrency_limit,  # a server batches
        fill_height=False,
    )


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
)


def main(argv: list[str] | None = None) -> None:
    from .launcher import run

    run([SPACE], argv, prog="python -m spaces.text_generation", title="mmhub · chat")


if __name__ == "__main__":
    main()
