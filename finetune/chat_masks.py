"""Loss on the assistant turns only, for any prefix-preserving chat template, with or without generation markers.

TRL's ``assistant_only_loss=True`` needs a chat template that marks the assistant's text with ``{% generation %}``
/ ``{% endgeneration %}`` (transformers' ``apply_chat_template(return_assistant_tokens_mask=True)``); TRL swaps in a
marked copy only for the templates it ships (``trl.chat_template_utils.get_training_chat_template``: Qwen, Llama 3,
Gemma, Phi-3 ...) and raises for any other. Bielik's template is plain ChatML without markers (its
``tokenizer_config.json`` as quoted by gorilla's BFCL Bielik handler:
``{{bos_token}}{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] +
'<|im_end|>' + '\\n'}}{% endfor %}...``; speakleash/bielik-tools' advanced template has none either), and so is the
tiny ``tiny-chat`` twin's. `assistant_strategy` picks, per tokenizer:

1. ``"markers"``: the template has generation markers -> TRL's own ``assistant_only_loss``.
2. ``"trl-template"``: TRL ships a marked training copy of this template -> TRL's own ``assistant_only_loss``.
3. ``"prefix"``: otherwise the assistant spans are found with the model's *own* template, unchanged: the text of
   turn *i* runs from the end of ``render(messages[:i], add_generation_prompt=True)`` to the end of
   ``render(messages[:i + 1])`` (trailing whitespace after the end-of-turn token left out, as TRL's marked templates
   do). The rendered chat is tokenised as ``apply_chat_template`` does (``add_special_tokens=False``) and every token
   overlapping a span is marked, by the same offset rule transformers uses for generation markers. The rows go to
   TRL already tokenised (``input_ids`` + ``assistant_masks``), and TRL builds the labels (-100 elsewhere),
   truncates and packs them as usual (``SFTTrainer._prepare_dataset``).

A template that is not prefix-preserving (it re-renders earlier turns differently once a later turn exists) cannot
be masked this way: `DataError` names the row.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from finetune.data import DataError

logger = logging.getLogger(__name__)

GENERATION_MARKER = re.compile(r"\{%-?\s*generation\s*-?%\}")  # the pattern of trl's has_generation_markers


def template_of(tokenizer: Any) -> str:
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, dict):  # named variants: the default one is used for chats
        template = template.get("default")
    return template or ""


def assistant_strategy(tokenizer: Any) -> str:
    """``"markers"``, ``"trl-template"`` or ``"prefix"`` (see the module docstring) for this tokenizer."""
    from trl.chat_template_utils import get_training_chat_template

    template = template_of(tokenizer)
    if not template:
        raise DataError("the chats need a chat template, and this model's tokenizer has none; train on prompt/"
                        "completion pairs or plain text instead, or start from an instruct model.")
    if GENERATION_MARKER.search(template):
        return "markers"
    try:
        if get_training_chat_template(tokenizer) is not None:
            return "trl-template"
    except (ValueError, TypeError):  # "patching is not supported for this template"
        pass
    return "prefix"


def _render(tokenizer: Any, messages: list[dict[str, str]], generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def _generation_prompt_alone(tokenizer: Any) -> str:
    try:
        return _render(tokenizer, [], True)
    except Exception:  # noqa: BLE001 (templates that index messages[0] fail on an empty chat in many ways)
        return ""


def assistant_spans(tokenizer: Any, messages: list[dict[str, str]], where: str) -> tuple[str, list[tuple[int, int]]]:
    """The rendered chat and the ``[start, end)`` character spans of its assistant turns."""
    full = _render(tokenizer, messages, False)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = _render(tokenizer, messages[:i], True) if i else _generation_prompt_alone(tokenizer)
        upto = _render(tokenizer, messages[: i + 1], False)
        if not (full.startswith(before) and full.startswith(upto) and upto.startswith(before)):
            raise DataError(f"{where}: the model's chat template renders the turns before assistant message {i} "
                            f"differently once the reply follows (it is not prefix-preserving), so the assistant "
                            f"tokens cannot be found; pass --no-assistant-only-loss to train on the whole chat, or "
                            f"give the template {{% generation %}} markers.")
        end = len(before) + len(upto[len(before):].rstrip())
        if end > len(before):
            spans.append((len(before), end))
    return full, spans


def tokenize_with_mask(tokenizer: Any, messages: list[dict[str, str]], where: str) -> dict[str, list[int]]:
    """``{"input_ids", "assistant_masks"}`` for one chat (see the module docstring)."""
    text, spans = assistant_spans(tokenizer, messages, where)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask, span = [0] * len(encoded["input_ids"]), 0
    for index, (start, end) in enumerate(encoded["offset_mapping"]):
        while span < len(spans) and start >= spans[span][1]:
            span += 1
        if span == len(spans):
            break
        if end > spans[span][0]:
            mask[index] = 1
    if 1 not in mask:
        raise DataError(f"{where}: no token of the assistant turns survives tokenisation (empty replies?).")
    return {"input_ids": list(encoded["input_ids"]), "assistant_masks": mask}


def tokenize_chats(ds, tokenizer: Any, name: str):
    """A ``messages`` dataset as TRL-ready ``input_ids`` + ``assistant_masks`` rows (strategy ``"prefix"``)."""
    if not getattr(tokenizer, "is_fast", False):
        raise DataError("assistant-only loss with this chat template needs a fast tokenizer (tokenizer.json) for "
                        "character offsets; pass --no-assistant-only-loss to train on the whole chat.")

    def convert(row: dict[str, Any], index: int) -> dict[str, list[int]]:
        return tokenize_with_mask(tokenizer, row["messages"], f"{name} row {index}")

    return ds.map(convert, with_indices=True, remove_columns=list(ds.column_names),
                  desc=f"Tokenising {name} chats (loss on the assistant turns)")
