"""Text generation: GPT-2, Bielik and any causal LM — plain prompts or chat, batched or streamed.

>>> from pipelines import load
>>> gen = load("text-generation", model="speakleash/Bielik-1.5B-v3.0-Instruct")
>>> print(gen([{"role": "user", "content": "Napisz haiku o Wiśle."}], max_new_tokens=64, seed=0))
>>> for chunk in gen("Dawno, dawno temu", stream=True):
...     print(chunk, end="", flush=True)
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from jinja2.exceptions import TemplateError
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    StoppingCriteria,
    StoppingCriteriaList,
    TextIteratorStreamer,
)

from pipelines import validate
from pipelines.base import Pipeline, Result, check_architecture, resolve_device, resolve_dtype, translating_load_errors
from pipelines.errors import InputError, ModelLoadError
from pipelines.generation_params import check_generation_params, cut_at_stop, cut_stream, split_prompts

logger = logging.getLogger(__name__)

# End-of-turn markers of common chat templates; each one the template uses stops generation.
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<|endoftext|>", "</s>", "<|eot|>")
CAUSAL_LM_SUFFIXES = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")
STREAM_THREAD = "mmhub-text-stream"  # the name of the thread behind a streamed call
MAX_TOP_LOGPROBS = 20  # alternatives per token with logprobs= (OpenAI's top_logprobs allows 0-20)


@dataclass
class GeneratedText(Result):
    """One generated continuation: only the new text, never the prompt."""

    text: str
    prompt_tokens: int
    new_tokens: int
    finish_reason: str  # "stop": an end token or stop string; "length": max_new_tokens reached
    seed: int | None = None
    #: with ``logprobs=N``: one entry per generated token of `text`, ``{"token", "id", "logprob", "bytes", "top":
    #: [{"token", "id", "logprob", "bytes"}, ...N]}``; log-probabilities are the log-softmax of the model's logits
    #: (before temperature and top-p); ``bytes`` the token's own bytes (a piece of a UTF-8 character decodes to
    #: U+FFFD in ``token``); special tokens (EOS, end of turn) and tokens after a stop string left out
    logprobs: list[dict[str, Any]] | None = None

    def __str__(self) -> str:
        return self.text


class TextGenerationPipeline(Pipeline):
    """A causal LM behind one call: `gen(prompt_or_messages, max_new_tokens=, temperature=, ..., stream=False)`.

    - A string is a plain prompt; a list of ``{"role", "content"}`` dicts is a chat, formatted with the model's
      chat template (``system_prompt=`` adds a system message). A list of prompts (or chats) is one batch.
    - ``temperature=0`` (or ``do_sample=False``) is greedy; ``seed`` makes sampling reproducible.
    - ``stream=True`` returns an iterator of text chunks whose concatenation is the non-streamed text.
    - Generation stops at the model's EOS, the chat template's end-of-turn token, or any ``stop`` string
      (which is cut from the text).
    """

    task = "text-generation"

    def __init__(self, model: Any, tokenizer: Any, model_id: str):
        super().__init__(model_id, model.device, model.dtype)
        self.model, self.tokenizer = model, tokenizer
        tokenizer.padding_side = "left"  # decoder-only batches are padded on the left
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.eos_token_ids = _eos_token_ids(model, tokenizer)
        self.context_length = _context_length(model.config, tokenizer)

    @classmethod
    def from_pretrained(cls, model: str, *, device: Any = None, dtype: Any = None, revision: str | None = None,
                        trust_remote_code: bool = False, use_safetensors: bool = True,
                        device_map: str | dict | None = None, quantization: str | None = None,
                        adapter: str | None = None, endpoint: str | None = None, api_key: str | None = None,
                        timeout: float | None = None, max_retries: int | None = None,
                        max_concurrency: int | None = None) -> TextGenerationPipeline:
        """Load a causal LM by Hub id or local folder (a LoRA adapter folder of `finetune.lm` loads on its base), or
        connect to an OpenAI-compatible server that serves it.

        Args:
            device_map (`str`, *optional*): ``"auto"`` spreads a large model over the visible GPUs (accelerate).
            quantization (`str`, *optional*): ``"4bit"`` or ``"8bit"`` (bitsandbytes, GPU only).
            adapter (`str`, *optional*): a peft LoRA adapter folder to apply to `model` (checked to fit it).
            endpoint (`str`, *optional*): the base URL of an OpenAI-compatible API (vLLM, TGI, llama.cpp's server,
                ``transformers serve``), e.g. ``"http://gpu-box:8000/v1"``: returns a
                `~pipelines.text_generation_remote.RemoteTextGenerationPipeline` with the same call. `api_key`,
                `timeout`, `max_retries` and `max_concurrency` configure it (see its `from_endpoint`).
        """
        if endpoint is not None:
            from pipelines.text_generation_remote import RemoteTextGenerationPipeline

            local = {"device": device, "dtype": dtype, "revision": revision, "device_map": device_map,
                     "quantization": quantization, "trust_remote_code": trust_remote_code or None,
                     "adapter": adapter, "use_safetensors": None if use_safetensors is True else use_safetensors}
            return RemoteTextGenerationPipeline.from_endpoint(
                endpoint, model, api_key=api_key, timeout=timeout, max_retries=max_retries,
                max_concurrency=max_concurrency, local_options=local)
        if any(v is not None for v in (api_key, timeout, max_retries, max_concurrency)):
            raise InputError("endpoint", None, "a server URL when api_key, timeout, max_retries or max_concurrency "
                                               "is given", "These options configure a remote server.")
        revision = validate.optional_text("revision", revision, allow_empty=False)
        trust_remote_code = validate.boolean("trust_remote_code", trust_remote_code)
        use_safetensors = validate.boolean("use_safetensors", use_safetensors)
        if device_map is not None and not isinstance(device_map, (str, dict)):
            raise InputError("device_map", device_map, "'auto', a dict {module: device}, or None")
        from pipelines import adapters

        model_id, adapter = model, _adapter_folder(model, adapter)
        if adapter is not None and adapters.is_lm_adapter(model):  # the folder names its own base
            model, base_revision = adapters.lm_adapter_base(adapter)
            model, revision = adapters.resolve_base(model), revision or base_revision
        resolved_device = resolve_device(device)
        resolved_dtype = resolve_dtype(dtype, resolved_device)
        kwargs: dict[str, Any] = {"revision": revision, "trust_remote_code": trust_remote_code}
        model_kwargs: dict[str, Any] = {"dtype": resolved_dtype, "use_safetensors": use_safetensors}
        if quantization is not None:
            model_kwargs["quantization_config"] = _quantization_config(model, quantization)
            device_map = device_map or "auto"
        if device_map is not None:
            model_kwargs["device_map"] = device_map
        with translating_load_errors(model, cls.task):
            config = AutoConfig.from_pretrained(model, **kwargs)
            check_architecture(config, model, cls.task, CAUSAL_LM_SUFFIXES)
            if adapter is not None:  # before the weights load: a wrong base is refused at once
                adapters.check_lm_adapter(adapter, config, model)
            tokenizer = AutoTokenizer.from_pretrained(adapter if _has_tokenizer(adapter) else model, **kwargs)
            lm = AutoModelForCausalLM.from_pretrained(model, **kwargs, **model_kwargs)
            if adapter is not None:  # merged for plain-speed generation, unless the base is quantized
                lm = adapters.apply_lm_adapter(lm, adapter, merge=quantization is None)
        if device_map is None:
            lm.to(resolved_device)
        lm.eval()
        logger.info("loaded %s on %s (%s)", model_id, lm.device, lm.dtype)
        return cls(lm, tokenizer, model_id)

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def __call__(self, inputs: str | list, *, max_new_tokens: int = 128, temperature: float = 0.7,
                 top_p: float | None = 0.95, top_k: int | None = None, repetition_penalty: float | None = None,
                 do_sample: bool | None = None, seed: int | None = None, stop: str | list[str] | None = None,
                 system_prompt: str | None = None, stream: bool = False, truncate: bool = False,
                 logprobs: int | None = None) -> GeneratedText | list[GeneratedText] | Iterator[str]:
        """Generate for one prompt (or chat), or a batch of them. See the class docstring.

        Args:
            inputs (`str`, chat, or a list of either): the prompt(s); text must be valid Unicode (no lone
                surrogates) and at most 1,000,000 characters.
            max_new_tokens (`int`, defaults to 128): 1 to the model's context length - 1.
            temperature (`float`, defaults to 0.7): 0 (greedy), or 0.01 to 100.
            top_p (`float`, *optional*, defaults to 0.95): in (0, 1].
            top_k (`int`, *optional*): 0 (off) to 1,000,000.
            repetition_penalty (`float`, *optional*): 0.01 to 10; 1 is no penalty.
            do_sample (`bool`, *optional*): default: sample when temperature > 0.
            seed (`int`, *optional*): 0 to 2**63 - 1; default a random one when sampling (reported in the result).
            stop (`str` or `list[str]`, *optional*): up to 64 non-empty stop strings, cut from the text.
            system_prompt (`str`, *optional*): a system message for chat models.
            stream, truncate (`bool`, defaults to `False`): stream text chunks; keep the end of a prompt that is
                too long for the context instead of refusing it.
            logprobs (`int`, *optional*): 0 to 20: report each generated token's log-probability and this many most
                likely alternatives (`GeneratedText.logprobs`); not with ``stream=True``.
        """
        prompts, batched = self._split_batch(inputs)
        params = check_generation_params(
            batched=batched, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, top_k=top_k,
            repetition_penalty=repetition_penalty, do_sample=do_sample, seed=seed, stop=stop,
            system_prompt=system_prompt, stream=stream, truncate=truncate)
        validate.integer("max_new_tokens", params.max_new_tokens, low=1, high=self.context_length - 1,
                         hint=f"The model's context is {self.context_length} tokens.")
        logprobs = validate.optional_integer("logprobs", logprobs, low=0, high=MAX_TOP_LOGPROBS)
        if logprobs is not None and stream:
            raise InputError("logprobs", logprobs, "None with stream=True", "Ask for log-probabilities without "
                                                                           "streaming.")
        max_new_tokens, temperature, top_p, top_k = (params.max_new_tokens, params.temperature, params.top_p,
                                                     params.top_k)
        stops, sample, seed = params.stops, params.sample, params.seed

        encoded = [self._encode(p, params.system_prompt, max_new_tokens, params.truncate) for p in prompts]
        batch = self.tokenizer.pad({"input_ids": encoded}, padding=True, return_tensors="pt").to(self.model.device)
        finish = _FinishRecorder(self.tokenizer, self.eos_token_ids, batch["input_ids"].shape[1], stops)
        gen_kwargs: dict[str, Any] = {
            "max_new_tokens": max_new_tokens, "do_sample": sample, "eos_token_id": self.eos_token_ids,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if sample:
            gen_kwargs |= {"temperature": temperature, "top_p": top_p, "top_k": top_k}
        if params.repetition_penalty is not None:
            gen_kwargs["repetition_penalty"] = params.repetition_penalty
        if seed is not None:
            torch.manual_seed(seed)
        if stream:
            return self._stream(batch, gen_kwargs, finish, stops)

        if logprobs is not None:
            gen_kwargs |= {"output_logits": True, "return_dict_in_generate": True}
        with torch.inference_mode():
            output = self.model.generate(**batch, **gen_kwargs, stopping_criteria=StoppingCriteriaList([finish]))
        sequences = output.sequences if logprobs is not None else output
        new_tokens = sequences[:, batch["input_ids"].shape[1]:]  # slice by tokens: the prompt never leaks
        lengths = finish.lengths or [None] * len(encoded)
        results = [self._result(new_tokens[row], len(ids), lengths[row], stops, seed)
                   for row, ids in enumerate(encoded)]
        if logprobs is not None:
            for row, result in enumerate(results):
                result.logprobs = self._token_logprobs(new_tokens[row], [step[row] for step in output.logits],
                                                       result.text, logprobs)
        return results if batched else results[0]

    # -- preprocess ------------------------------------------------------------------------------------------

    def _split_batch(self, inputs: Any) -> tuple[list, bool]:
        return split_prompts(inputs)

    def _encode(self, prompt: str | list[dict], system_prompt: str | None, max_new_tokens: int,
                truncate: bool) -> list[int]:
        if isinstance(prompt, str) and system_prompt is None:
            ids = self.tokenizer(prompt)["input_ids"]
        else:
            messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
            if system_prompt is not None and messages[0]["role"] != "system":
                messages.insert(0, {"role": "system", "content": system_prompt})
            if not self.has_chat_template:
                raise InputError("prompt", "chat messages" if system_prompt is None else "system_prompt",
                                 "plain text for this model", f"{self.model_id} has no chat template.")
            if not any(str(m["content"]).strip() for m in messages if m["role"] != "system"):
                raise InputError("prompt", prompt, "a chat with at least one non-empty message")
            try:
                text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            except TemplateError as err:  # e.g. "roles must alternate user/assistant" raised by the template itself
                raise InputError("prompt", prompt, "a chat this model's template accepts",
                                 f"The chat template refused it: {err}") from None
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]  # the template has its own BOS
        room = self.context_length - max_new_tokens
        if len(ids) > room:
            if not truncate:
                raise InputError("prompt", f"{len(ids)} tokens",
                                 f"at most {room} tokens with max_new_tokens={max_new_tokens} "
                                 f"(the model's context is {self.context_length})",
                                 "Shorten it, lower max_new_tokens, or pass truncate=True to keep its end.")
            logger.warning("prompt of %d tokens truncated on the left to %d", len(ids), room)
            ids = ids[-room:]
        return ids

    # -- postprocess -----------------------------------------------------------------------------------------

    def _result(self, tokens: torch.Tensor, prompt_tokens: int, finished_at: int | None, stops: list[str],
                seed: int | None) -> GeneratedText:
        # Everything after the step where this sequence finished (EOS, end of turn or stop string) is the padding
        # that batching added: cut by position, never by token value (a pad id can be a token the model generated).
        used = tokens.tolist()[:finished_at] if finished_at is not None else tokens.tolist()
        text, stopped = cut_at_stop(self.tokenizer.decode(used, skip_special_tokens=True), stops)
        reason = "stop" if finished_at is not None or stopped else "length"
        return GeneratedText(text, prompt_tokens, len(used), reason, seed)

    def _token_logprobs(self, tokens: torch.Tensor, logits: list[torch.Tensor], text: str,
                        top: int) -> list[dict[str, Any]]:
        """Per token of `text`: its log-probability under the model (log-softmax of the raw logits) and the `top`
        most likely tokens at that step. Special tokens are left out, and so is every token that starts past the end
        of `text` (a stop string's)."""
        special = set(self.tokenizer.all_special_ids)
        entries: list[dict[str, Any]] = []
        kept: list[int] = []
        for step, token_id in enumerate(tokens.tolist()[: len(logits)]):
            if token_id in special:
                continue
            if len(self.tokenizer.decode(kept, skip_special_tokens=True)) >= len(text) and kept:
                break  # the tokens so far already make the whole text: this one is past a stop string
            kept.append(token_id)
            scores = torch.log_softmax(logits[step].float(), dim=-1)
            best = torch.topk(scores, top) if top else None
            entries.append({
                "token": self.tokenizer.decode([token_id]), "id": token_id, "logprob": float(scores[token_id]),
                "bytes": _token_bytes(self.tokenizer, token_id),
                "top": [] if best is None else [
                    {"token": self.tokenizer.decode([i]), "id": i, "logprob": float(v),
                     "bytes": _token_bytes(self.tokenizer, i)}
                    for v, i in zip(best.values.tolist(), best.indices.tolist(), strict=True)],
            })
        return entries

    def _stream(self, batch: Any, gen_kwargs: dict[str, Any], finish: _FinishRecorder,
                stops: list[str]) -> Iterator[str]:
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        cancelled = threading.Event()
        errors: list[BaseException] = []

        def work() -> None:
            try:
                with torch.inference_mode():
                    self.model.generate(**batch, **gen_kwargs, streamer=streamer,
                                        stopping_criteria=StoppingCriteriaList([finish, _Cancelled(cancelled)]))
            except BaseException as err:  # surfaced in the consumer's thread below
                errors.append(err)
                streamer.end()

        thread = threading.Thread(target=work, daemon=True, name=STREAM_THREAD)
        ended: dict[str, bool] = {}
        return TextStream(_stream_chunks(streamer, stops, cancelled, thread, errors, ended), finish,
                          gen_kwargs["max_new_tokens"], batch["input_ids"].shape[1], ended)


class TextStream(Iterator[str]):
    """What ``gen(..., stream=True)`` returns: an iterator of text chunks (closing it stops the generation) that says,
    once it is exhausted, how the generation ended: `finish_reason` ("stop": an end token or a stop string;
    "length": max_new_tokens reached), `new_tokens` and `prompt_tokens` (for usage counts)."""

    def __init__(self, chunks: Iterator[str], finish: _FinishRecorder, max_new_tokens: int, prompt_tokens: int,
                 ended: dict[str, bool] | None = None):
        self._chunks, self._finish, self._ended = chunks, finish, ended if ended is not None else {}
        self.max_new_tokens, self.prompt_tokens = max_new_tokens, prompt_tokens

    def __next__(self) -> str:
        return next(self._chunks)

    def close(self) -> None:
        self._chunks.close()

    @property
    def _ended_at(self) -> int | None:
        return self._finish.lengths[0] if self._finish.lengths else None

    @property
    def finish_reason(self) -> str:
        return "stop" if self._ended_at is not None or self._ended.get("stop_string") else "length"

    @property
    def new_tokens(self) -> int:
        return self._ended_at if self._ended_at is not None else self.max_new_tokens


def _stream_chunks(streamer: TextIteratorStreamer, stops: list[str], cancelled: threading.Event,
                   thread: threading.Thread, errors: list[BaseException],
                   ended: dict[str, bool] | None = None) -> Iterator[str]:
    """Yield streamed text, cut at a stop string exactly as the non-streamed call does (`cut_stream`).

    The generation starts at the first ``next()``: a stream that is never iterated generates nothing (closing an
    unstarted generator runs none of its code, so a thread started before it would have run to the end for nobody).
    ``ended["stop_string"]`` says, once the stream is over, whether the decoded text held a stop string (which the
    token-level criteria can miss: a stop string matching a decoded U+FFFD, say).
    """
    raw: list[str] = []

    def recorded() -> Iterator[str]:
        for chunk in streamer:
            raw.append(chunk)
            yield chunk

    thread.start()
    try:
        yield from cut_stream(recorded(), stops)
        if ended is not None:
            ended["stop_string"] = cut_at_stop("".join(raw), stops)[1]
        if errors:
            raise errors[0]
    finally:
        cancelled.set()  # the consumer stopped early or a stop string was hit: end generation now
        thread.join()


class _FinishRecorder(StoppingCriteria):
    """Stops a sequence once its generated text holds a stop string, and records, per sequence, how many new tokens
    it had when it finished (EOS / end of turn, or a stop string); None while it runs.

    Stop strings are looked for in the generated text only, as OpenAI's ``stop`` and vLLM do. transformers'
    `StopStringCriteria` matches against the whole sequence, prompt included: the prompt "The cat" with the stop
    " cata" stopped at the first new token "at" (and no text was cut: finish "stop" after 1 token). The check
    decodes only the last new tokens, enough to hold the longest stop string even at one byte a token (UTF-8: 4
    bytes a character at most).

    transformers fills the rest of a finished sequence with the pad id; these lengths say where that padding starts.
    """

    def __init__(self, tokenizer: Any, eos_token_ids: list[int], prompt_width: int, stops: list[str]):
        self.tokenizer, self.stops = tokenizer, stops
        self.eos = torch.tensor(eos_token_ids, dtype=torch.long)
        self.prompt_width = prompt_width
        self.window = 4 * max((len(stop) for stop in stops), default=0) + 8  # + tokens that decode to nothing
        self.lengths: list[int | None] = []

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        if not self.lengths:
            self.lengths = [None] * input_ids.shape[0]
        stopped = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        if self.stops:
            start = max(self.prompt_width, input_ids.shape[1] - self.window)
            tails = self.tokenizer.batch_decode(input_ids[:, start:], skip_special_tokens=True)
            for row, tail in enumerate(tails):
                stopped[row] = any(stop in tail for stop in self.stops)
        done = stopped | torch.isin(input_ids[:, -1], self.eos.to(input_ids.device))
        for row in done.nonzero().flatten().tolist():
            if self.lengths[row] is None:
                self.lengths[row] = input_ids.shape[1] - self.prompt_width
        return stopped


class _Cancelled(StoppingCriteria):
    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


# -- helpers ---------------------------------------------------------------------------------------------------


@functools.cache
def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet back to bytes (transformers' ``bytes_to_unicode``, inverted)."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return {char: byte for byte, char in bytes_to_unicode().items()}


def _token_bytes(tokenizer: Any, token_id: int) -> list[int]:
    """The bytes a token stands for: byte-level BPE pieces (GPT-2, Llama 3, Qwen) through GPT-2's byte alphabet,
    SentencePiece byte-fallback tokens (``<0x0A>``) as their byte, anything else as its decoded text in UTF-8."""
    piece = tokenizer.convert_ids_to_tokens(token_id)
    decoder = getattr(getattr(tokenizer, "backend_tokenizer", None), "decoder", None)
    if isinstance(piece, str) and type(decoder).__name__ == "ByteLevel":
        table = _byte_decoder()
        if all(char in table for char in piece):
            return [table[char] for char in piece]
    if isinstance(piece, str) and len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
        try:
            return [int(piece[3:5], 16)]
        except ValueError:
            pass
    return list(tokenizer.decode([token_id]).encode("utf-8"))


def _adapter_folder(model: str, adapter: str | None) -> str | None:
    """The adapter folder to apply: `adapter`, or `model` itself when it is one (not both)."""
    from pipelines.adapters import is_lm_adapter

    if adapter is None:
        return model if is_lm_adapter(model) else None
    if not isinstance(adapter, str) or not is_lm_adapter(adapter):
        raise InputError("adapter", adapter, "a folder with a peft adapter (adapter_config.json), e.g. the output of "
                                             "python -m finetune.lm --lora")
    if is_lm_adapter(model):
        raise InputError("adapter", adapter, "None when model is itself an adapter folder")
    return adapter


def _has_tokenizer(folder: str | None) -> bool:
    return folder is not None and any((Path(folder).expanduser() / name).is_file()
                                      for name in ("tokenizer.json", "tokenizer_config.json"))


def _eos_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """The union of the generation config's EOS ids, the tokenizer's EOS, and the template's end-of-turn token."""
    ids: set[int] = set()
    configured = getattr(model.generation_config, "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured] if configured is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    template = getattr(tokenizer, "chat_template", None) or ""
    for token in END_OF_TURN_TOKENS:
        if token in template:
            token_id = tokenizer.convert_tokens_to_ids(token)
            if isinstance(token_id, int) and token_id != tokenizer.unk_token_id:
                ids.add(token_id)
    return sorted(ids)


def _context_length(config: Any, tokenizer: Any) -> int:
    for name in ("max_position_embeddings", "n_positions", "n_ctx", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return min(int(tokenizer.model_max_length), 2048)


def _quantization_config(model: str, quantization: str) -> Any:
    if quantization not in ("4bit", "8bit"):
        raise InputError("quantization", quantization, "'4bit', '8bit' or None")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as err:
        raise ModelLoadError(model, "missing_dependency", "quantized loading needs bitsandbytes and a GPU: "
                                                          "pip install bitsandbytes") from err
    from transformers import BitsAndBytesConfig

    if quantization == "4bit":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16, bnb_4bit_quant_type="nf4")
    return BitsAndBytesConfig(load_in_8bit=True)
