"""Text generation: GPT-2, Bielik and any causal LM — plain prompts or chat, batched or streamed.

>>> from pipelines import load
>>> gen = load("text-generation", model="speakleash/Bielik-1.5B-v3.0-Instruct")
>>> print(gen([{"role": "user", "content": "Napisz haiku o Wiśle."}], max_new_tokens=64, seed=0))
>>> for chunk in gen("Dawno, dawno temu", stream=True):
...     print(chunk, end="", flush=True)
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    StoppingCriteria,
    StoppingCriteriaList,
    TextIteratorStreamer,
)

from pipelines.base import Pipeline, Result, check_architecture, resolve_device, resolve_dtype, translating_load_errors
from pipelines.errors import InputError, ModelLoadError

logger = logging.getLogger(__name__)

# End-of-turn markers of common chat templates; each one the template uses stops generation.
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<|endoftext|>", "</s>", "<|eot|>")
CAUSAL_LM_SUFFIXES = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")


@dataclass
class GeneratedText(Result):
    """One generated continuation: only the new text, never the prompt."""

    text: str
    prompt_tokens: int
    new_tokens: int
    finish_reason: str  # "stop": an end token or stop string; "length": max_new_tokens reached
    seed: int | None = None

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
                        adapter: str | None = None) -> TextGenerationPipeline:
        """Load a causal LM by Hub id or local folder (a LoRA adapter folder of `finetune.lm` loads on its base).

        Args:
            device_map (`str`, *optional*): ``"auto"`` spreads a large model over the visible GPUs (accelerate).
            quantization (`str`, *optional*): ``"4bit"`` or ``"8bit"`` (bitsandbytes, GPU only).
            adapter (`str`, *optional*): a peft LoRA adapter folder to apply to `model` (checked to fit it).
        """
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
                 ) -> GeneratedText | list[GeneratedText] | Iterator[str]:
        """Generate for one prompt (or chat), or a batch of them. See the class docstring."""
        prompts, batched = self._split_batch(inputs)
        if stream and batched:
            raise InputError("stream", True, "False for a batch of prompts", "Stream one prompt at a time.")
        stops = _check_stop(stop)
        _check_number("max_new_tokens", max_new_tokens, int, low=1)
        if max_new_tokens >= self.context_length:
            raise InputError("max_new_tokens", max_new_tokens, f"below the model's context of {self.context_length}")
        _check_number("temperature", temperature, float, low=0.0)
        if top_p is not None:
            _check_number("top_p", top_p, float, low=0.0, high=1.0, low_open=True)
        if top_k is not None:
            _check_number("top_k", top_k, int, low=0)
        if repetition_penalty is not None:
            _check_number("repetition_penalty", repetition_penalty, float, low=0.0, low_open=True)
        if seed is not None:
            _check_number("seed", seed, int, low=0)
        sample = temperature > 0 if do_sample is None else bool(do_sample)
        if sample and temperature == 0:
            raise InputError("temperature", 0, "> 0 when do_sample=True")

        encoded = [self._encode(p, system_prompt, max_new_tokens, truncate) for p in prompts]
        batch = self.tokenizer.pad({"input_ids": encoded}, padding=True, return_tensors="pt").to(self.model.device)
        gen_kwargs: dict[str, Any] = {
            "max_new_tokens": max_new_tokens, "do_sample": sample, "eos_token_id": self.eos_token_ids,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if sample:
            gen_kwargs |= {"temperature": temperature, "top_p": top_p, "top_k": top_k}
            seed = random.randrange(2**31) if seed is None else seed
        if repetition_penalty is not None:
            gen_kwargs["repetition_penalty"] = repetition_penalty
        if stops:
            gen_kwargs |= {"stop_strings": stops, "tokenizer": self.tokenizer}
        if seed is not None:
            torch.manual_seed(seed)
        if stream:
            return self._stream(batch, gen_kwargs, stops)

        with torch.inference_mode():
            output = self.model.generate(**batch, **gen_kwargs)
        new_tokens = output[:, batch["input_ids"].shape[1]:]  # slice by tokens: the prompt never leaks
        pairs = zip(new_tokens, encoded, strict=True)
        results = [self._result(tokens, len(ids), stops, seed) for tokens, ids in pairs]
        return results if batched else results[0]

    # -- preprocess ------------------------------------------------------------------------------------------

    def _split_batch(self, inputs: Any) -> tuple[list, bool]:
        if isinstance(inputs, str) or _is_chat(inputs):
            return [inputs], False
        if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(p, str) or _is_chat(p) for p in inputs):
            return list(inputs), True
        raise InputError("inputs", inputs, "a prompt string, a chat (a list of {'role', 'content'} dicts), "
                                           "or a non-empty list of either")

    def _encode(self, prompt: str | list[dict], system_prompt: str | None, max_new_tokens: int,
                truncate: bool) -> list[int]:
        if isinstance(prompt, str) and system_prompt is None:
            if not prompt.strip():
                raise InputError("prompt", prompt, "non-empty text")
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
            text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
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

    def _result(self, tokens: torch.Tensor, prompt_tokens: int, stops: list[str], seed: int | None) -> GeneratedText:
        tokens = tokens.tolist()
        while tokens and tokens[-1] == self.tokenizer.pad_token_id and tokens[-1] not in self.eos_token_ids:
            tokens.pop()  # right padding of sequences that finished early in a batch
        ended = []
        for i, t in enumerate(tokens):
            if t in self.eos_token_ids:
                ended = tokens[: i + 1]
                break
        used = ended or tokens
        text, stopped = _cut_at_stop(self.tokenizer.decode(used, skip_special_tokens=True), stops)
        reason = "stop" if ended or stopped else "length"
        return GeneratedText(text, prompt_tokens, len(used), reason, seed)

    def _stream(self, batch: Any, gen_kwargs: dict[str, Any], stops: list[str]) -> Iterator[str]:
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        cancelled = threading.Event()
        errors: list[BaseException] = []

        def work() -> None:
            try:
                with torch.inference_mode():
                    self.model.generate(**batch, **gen_kwargs, streamer=streamer,
                                        stopping_criteria=StoppingCriteriaList([_Cancelled(cancelled)]))
            except BaseException as err:  # surfaced in the consumer's thread below
                errors.append(err)
                streamer.end()

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        return _stream_chunks(streamer, stops, cancelled, thread, errors)


def _stream_chunks(streamer: TextIteratorStreamer, stops: list[str], cancelled: threading.Event,
                   thread: threading.Thread, errors: list[BaseException]) -> Iterator[str]:
    """Yield streamed text, holding back just enough to cut a stop string exactly as the non-streamed call does."""
    hold = max((len(s) for s in stops), default=1) - 1
    pending = ""
    try:
        for chunk in streamer:
            pending += chunk
            cut, stopped = _cut_at_stop(pending, stops)
            if stopped:
                if cut:
                    yield cut
                return
            if len(pending) > hold:
                ready, pending = pending[: len(pending) - hold], pending[len(pending) - hold:]
                yield ready
        if errors:
            raise errors[0]
        if pending:
            yield pending
    finally:
        cancelled.set()  # the consumer stopped early or a stop string was hit: end generation now
        thread.join()


class _Cancelled(StoppingCriteria):
    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


# -- helpers ---------------------------------------------------------------------------------------------------


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


def _is_chat(value: Any) -> bool:
    return (isinstance(value, (list, tuple)) and len(value) > 0 and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in value))


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


def _check_stop(stop: str | list[str] | None) -> list[str]:
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    if not all(isinstance(s, str) and s for s in stops):
        raise InputError("stop", stop, "a non-empty string or a list of non-empty strings")
    return stops


def _cut_at_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    positions = [i for i in (text.find(s) for s in stops) if i >= 0]
    return (text[: min(positions)], True) if positions else (text, False)


def _check_number(name: str, value: Any, kind: type, low: float | None = None, high: float | None = None,
                  low_open: bool = False) -> None:
    ok_type = isinstance(value, int) if kind is int else isinstance(value, (int, float))
    ok = ok_type and not isinstance(value, bool)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        bounds = []
        if low is not None:
            bounds.append(f"{'>' if low_open else '>='} {low}")
        if high is not None:
            bounds.append(f"<= {high}")
        kind_name = "an integer" if kind is int else "a number"
        raise InputError(name, value, f"{kind_name} {' and '.join(bounds)}".strip())
