"""What local and remote text generation share: the validation of a call's inputs and parameters, and stop strings.

`TextGenerationPipeline` (a model in this process) and `RemoteTextGenerationPipeline` (an OpenAI-compatible server)
take the same call, ``gen(prompt_or_messages, max_new_tokens=, temperature=, ...)``, and validate it with the same
functions below, so a bad argument gets the same `InputError` whichever runs the model.

>>> from pipelines.generation_params import check_generation_params, split_prompts
>>> prompts, batched = split_prompts(["Dawno, dawno temu", "Ala ma kota"])
>>> check_generation_params(batched=batched, temperature=0).sample
False
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pipelines import validate
from pipelines.errors import InputError

#: The most new tokens a call may ask for (a finite bound; a model's own context is usually far lower).
MAX_NEW_TOKENS = 2**20
MAX_TEMPERATURE = 100.0
# The smallest sampling temperature (0 is greedy): logits are divided by it, and 1e-300 makes them inf, the
# probabilities NaN and torch.multinomial fail. vLLM raises any 0 < temperature < 1e-2 to 1e-2 with a warning
# (vllm/sampling_params.py `_MAX_TEMP = 1e-2`); refusing below it keeps local and remote generation alike.
MIN_TEMPERATURE = 1e-2
# transformers' RepetitionPenaltyLogitsProcessor divides positive scores by the penalty (it only asks for > 0);
# the same floor keeps a tiny penalty from turning them into inf.
MIN_REPETITION_PENALTY = 1e-2
MAX_TOP_K = 1_000_000
MAX_REPETITION_PENALTY = 10.0
MAX_STOPS = 64
MAX_PROMPT_CHARS = 1_000_000


@dataclass(frozen=True)
class GenerationParams:
    """A validated call: canonical types, the stop strings as a list, and whether (and with which seed) to sample."""

    max_new_tokens: int
    temperature: float
    top_p: float | None
    top_k: int | None
    repetition_penalty: float | None
    sample: bool
    seed: int | None
    stops: list[str]
    system_prompt: str | None
    stream: bool
    truncate: bool


def is_chat(value: Any) -> bool:
    """True for a chat: a non-empty list of ``{"role": str, "content": str}`` dicts."""
    return (isinstance(value, (list, tuple)) and len(value) > 0 and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in value))


def split_prompts(inputs: Any) -> tuple[list[str | list[dict]], bool]:
    """``(prompts, batched)``: one prompt or chat, or a non-empty list of them; each one's text is checked.

    A plain prompt must be non-blank; a chat needs at least one non-blank message besides the system prompt; all text
    must be valid Unicode (a lone surrogate cannot be encoded for a tokenizer or a JSON request).
    """
    if isinstance(inputs, str) or is_chat(inputs):
        prompts, batched = [inputs], False
    elif isinstance(inputs, (list, tuple)) and inputs and all(isinstance(p, str) or is_chat(p) for p in inputs):
        prompts, batched = list(inputs), True
    else:
        raise InputError("inputs", inputs, "a prompt string, a chat (a list of {'role', 'content'} dicts), "
                                           "or a non-empty list of either")
    for i, prompt in enumerate(prompts):
        name = f"prompt[{i}]" if batched else "prompt"
        if isinstance(prompt, str):
            validate.text(name, prompt, max_chars=MAX_PROMPT_CHARS)
            continue
        for j, message in enumerate(prompt):  # every role and content valid text (contents may be empty)
            validate.text(f"{name}[{j}]['role']", message["role"])
            validate.text(f"{name}[{j}]['content']", message["content"], allow_empty=True, max_chars=MAX_PROMPT_CHARS)
        if not any(m["content"].strip() for m in prompt if m["role"] != "system"):
            raise InputError(name, prompt, "a chat with at least one non-empty message")
    return prompts, batched


def check_generation_params(*, batched: bool = False, max_new_tokens: Any = 128, temperature: Any = 0.7,
                            top_p: Any = 0.95, top_k: Any = None, repetition_penalty: Any = None,
                            do_sample: Any = None, seed: Any = None, stop: Any = None, system_prompt: Any = None,
                            stream: Any = False, truncate: Any = False) -> GenerationParams:
    """Validate a text-generation call's parameters (see `TextGenerationPipeline.__call__` for their meaning).

    ``temperature=0`` (or ``do_sample=False``) is greedy; when sampling without a seed, a random one is drawn here so
    that the result can report it.
    """
    stream = validate.boolean("stream", stream)
    if stream and batched:
        raise InputError("stream", stream, "False for a batch of prompts", "Stream one prompt at a time.")
    stops = check_stop(stop)
    max_new_tokens = validate.integer("max_new_tokens", max_new_tokens, low=1, high=MAX_NEW_TOKENS)
    greedy_or_range = f"0 (greedy) or a number from {MIN_TEMPERATURE} to {MAX_TEMPERATURE}"
    try:
        temperature = validate.number("temperature", temperature, low=0.0, high=MAX_TEMPERATURE)
    except InputError:  # NaN, inf, a string: the same words as for a value below the floor
        raise InputError("temperature", temperature, greedy_or_range) from None
    if 0 < temperature < MIN_TEMPERATURE:
        raise InputError("temperature", temperature, greedy_or_range)
    top_p = validate.optional_number("top_p", top_p, low=0.0, high=1.0, low_open=True)
    top_k = validate.optional_integer("top_k", top_k, low=0, high=MAX_TOP_K)
    repetition_penalty = validate.optional_number("repetition_penalty", repetition_penalty,
                                                  low=MIN_REPETITION_PENALTY, high=MAX_REPETITION_PENALTY)
    sample = temperature > 0 if do_sample is None else validate.boolean("do_sample", do_sample)
    if sample and temperature == 0:
        raise InputError("temperature", 0, "> 0 when do_sample=True")
    if seed is not None or sample:
        seed = validate.seed(seed)  # None while sampling: a random seed, reported in the result
    return GenerationParams(
        max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, top_k=top_k,
        repetition_penalty=repetition_penalty, sample=sample, seed=seed, stops=stops,
        system_prompt=validate.optional_text("system_prompt", system_prompt),
        stream=stream, truncate=validate.boolean("truncate", truncate),
    )


def check_stop(stop: Any) -> list[str]:
    """``stop`` as a list: None, a non-empty string, or a list of at most `MAX_STOPS` non-empty strings."""
    if stop is None:
        return []
    if isinstance(stop, str):
        return [validate.text("stop", stop)]
    if not isinstance(stop, (list, tuple)) or len(stop) > MAX_STOPS:
        raise InputError("stop", stop, f"a non-empty string, a list of at most {MAX_STOPS} of them, or None")
    return [validate.text(f"stop[{i}]", s) for i, s in enumerate(stop)]


def cut_at_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    """`text` up to the first stop string (excluded), and whether one was found."""
    positions = [i for i in (text.find(s) for s in stops) if i >= 0]
    return (text[: min(positions)], True) if positions else (text, False)


def cut_stream(chunks: Iterable[str], stops: list[str]) -> Iterator[str]:
    """Re-chunk streamed text so that it ends exactly where the non-streamed text is cut by a stop string.

    Holds back just enough characters (the longest stop string, less one) to see a stop string that spans chunks;
    ends as soon as one is complete. Closing this generator closes `chunks` (when it can be closed).
    """
    hold = max((len(s) for s in stops), default=1) - 1
    pending = ""
    try:
        for chunk in chunks:
            pending += chunk
            cut, stopped = cut_at_stop(pending, stops)
            if stopped:
                if cut:
                    yield cut
                return
            if len(pending) > hold:
                ready, pending = pending[: len(pending) - hold], pending[len(pending) - hold:]
                yield ready
        if pending:
            yield pending
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
