"""Sentiment: positive / neutral / negative with a confidence for each, in English, Polish and more.

>>> from pipelines import load
>>> clf = load("sentiment")                       # cardiffnlp/twitter-xlm-roberta-base-sentiment
>>> clf("Świetny produkt, polecam!").label
'positive'
>>> [r.label for r in clf(["Great!", "Okropna jakość.", "It is a chair."])]
['positive', 'negative', 'neutral']
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

from pipelines import validate
from pipelines.base import Pipeline, Result, check_architecture, resolve_device, resolve_dtype, translating_load_errors
from pipelines.errors import InputError, ModelLoadError

logger = logging.getLogger(__name__)

LABELS = ("negative", "neutral", "positive")

# Label names seen in the wild (lower-cased), folded onto the three classes.
_LABEL_ALIASES = {
    "negative": "negative", "neg": "negative", "very negative": "negative", "bad": "negative",
    "negatywny": "negative", "negatywna": "negative", "minus": "negative", "__label__meta_minus_m": "negative",
    "neutral": "neutral", "neu": "neutral", "neutralny": "neutral", "neutralna": "neutral", "ambiguous": "neutral",
    "mixed": "neutral", "zero": "neutral", "__label__meta_zero": "neutral", "__label__meta_amb": "neutral",
    "positive": "positive", "pos": "positive", "very positive": "positive", "good": "positive",
    "pozytywny": "positive", "pozytywna": "positive", "plus": "positive", "__label__meta_plus_m": "positive",
}
_STARS = re.compile(r"^([1-5])\s*stars?$")
_GENERIC = re.compile(r"^label_(\d+)$")
MAX_BATCH_SIZE = 1024
MAX_TEXT_CHARS = 1_000_000  # texts are truncated to the model's length anyway; this bounds tokenisation time
# Model families whose position ids start after the padding index (transformers' `create_position_ids_from_input_ids`
# in modeling_roberta.py and its copies): they take `max_position_embeddings - pad_token_id - 1` tokens
# (XLM-R base: 514 - 1 - 1 = 512). BERT-style models count positions from 0 and take `max_position_embeddings`.
PADDING_OFFSET_POSITIONS = frozenset({
    "roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "longformer", "data2vec-text", "roberta-prelayernorm",
    "ibert", "xmod", "mpnet", "luke", "lilt", "markuplm", "layoutlmv3",
})
# A tokenizer without a limit reports transformers' VERY_LARGE_INTEGER (1e30); anything above this is "no limit".
_SANE_TOKENIZER_LIMIT = 1_000_000


@dataclass
class SentimentResult(Result):
    """The top label, its score, and the score of each of the three classes (they sum to 1)."""

    label: str
    score: float
    scores: dict[str, float]


def label_mapping(id2label: dict[int, str], model: str = "", labels: Any = None) -> dict[int, str]:
    """Map a checkpoint's `id2label` onto negative / neutral / positive, or raise naming the labels it cannot map.

    Handles lower/upper case names, ``LABEL_0..2`` (0 negative, 1 neutral, 2 positive: the order of
    cardiffnlp/twitter-roberta-base-sentiment, whose card says "0 -> Negative; 1 -> Neutral; 2 -> Positive"; with two
    labels 0 negative, 1 positive), 1-5 stars (1-2 negative, 3 neutral, 4-5 positive), "very ..." and
    ambiguous/mixed (neutral).

    Generic ``LABEL_0..N`` with any other count (e.g. a 5-class model) is refused: nothing in the checkpoint says
    whether its classes are ordered from negative to positive. `labels` then says what each class means: a list in
    class-index order (``["negative", "negative", "neutral", "positive", "positive"]``) or a dict from class index
    or label name to a class (``{"LABEL_0": "negative", ...}``); it overrides the automatic mapping.
    """
    if labels is not None:
        return _explicit_mapping(id2label, labels, model)
    mapping: dict[int, str] = {}
    generic = len(id2label)
    for index, name in id2label.items():
        key = str(name).strip().lower()
        spaced = key.replace("_", " ")  # "VERY_NEGATIVE", "1_star"
        target = _LABEL_ALIASES.get(key) or _LABEL_ALIASES.get(spaced)
        if target is None and (stars := _STARS.match(spaced)):
            target = ("negative", "negative", "neutral", "positive", "positive")[int(stars.group(1)) - 1]
        if target is None and (match := _GENERIC.match(key)) and generic in (2, 3):
            target = (("negative", "positive") if generic == 2 else LABELS)[int(match.group(1))]
        if target is None:
            example = ", ".join(repr(str(id2label[i])) for i in sorted(id2label)[:2])
            raise ModelLoadError(model, "incompatible",
                                 f"its labels {[str(id2label[i]) for i in sorted(id2label)]} cannot be mapped to "
                                 f"positive / neutral / negative (unmapped: {name!r}). Say what each class means with "
                                 f"the `labels=` option, e.g. load(\"sentiment\", model=..., labels=[...one of "
                                 f"negative/neutral/positive per class, in index order...]) or a dict from the labels "
                                 f"({example}, ...) to classes; or fine-tune a model: python -m finetune.sentiment.")
        mapping[int(index)] = target
    return _checked(mapping, id2label, model)


def _explicit_mapping(id2label: dict[int, str], labels: Any, model: str) -> dict[int, str]:
    """`labels=` as a list (class-index order) or a dict (index or label name -> class), checked against the model."""
    indices = sorted(int(i) for i in id2label)
    by_name = {str(name): int(index) for index, name in id2label.items()}
    if isinstance(labels, (list, tuple)):
        if len(labels) != len(indices):
            raise InputError("labels", labels, f"a list of {len(indices)} classes (one per class of the model, "
                                               f"in index order), each negative, neutral or positive")
        pairs = list(zip(indices, labels, strict=True))
    elif isinstance(labels, dict):
        pairs = []
        for key, value in labels.items():
            index = key if isinstance(key, int) and not isinstance(key, bool) and key in indices else by_name.get(key)
            if index is None:
                raise InputError("labels", key, f"a class index {indices} or a label of the model {list(by_name)}")
            pairs.append((index, value))
        missing = sorted(set(indices) - {i for i, _ in pairs})
        if missing:
            raise InputError("labels", labels, "a dict that maps every class of the model",
                             f"Missing: {[str(id2label[i]) for i in missing]}.")
    else:
        raise InputError("labels", labels, "a list (one class per index) or a dict {label or index: class}, or None")
    mapping = {index: validate.choice(f"labels[{index}]", value, LABELS, normalise=str.lower)
               for index, value in pairs}
    return _checked(mapping, id2label, model)


def _checked(mapping: dict[int, str], id2label: dict[int, str], model: str) -> dict[int, str]:
    if "positive" not in mapping.values() or "negative" not in mapping.values():
        raise ModelLoadError(model, "incompatible",
                             f"its labels {sorted(map(str, id2label.values()))} lack a positive or a negative class.")
    return mapping


def max_input_length(config: Any, tokenizer: Any) -> int:
    """The longest input (in tokens, special tokens included) the model's position table and tokenizer allow.

    RoBERTa-family models (`PADDING_OFFSET_POSITIONS`) number positions from ``pad_token_id + 1``, so they take
    ``max_position_embeddings - pad_token_id - 1`` tokens; BERT-style models take ``max_position_embeddings``.
    The tokenizer's ``model_max_length`` wins when it is smaller (a few checkpoints report 1e30: no limit).
    """
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        if config.model_type in PADDING_OFFSET_POSITIONS:
            positions -= (config.pad_token_id if config.pad_token_id is not None else 1) + 1
    else:
        positions = None
    limit = getattr(tokenizer, "model_max_length", None)
    limit = int(limit) if isinstance(limit, (int, float)) and 0 < limit <= _SANE_TOKENIZER_LIMIT else None
    candidates = [n for n in (positions, limit) if n is not None]
    return min(candidates) if candidates else 512


class SentimentPipeline(Pipeline):
    """A sequence classifier behind one call: `clf(text_or_texts, batch_size=None)`.

    Texts are tokenised together, sorted by length and run in batches padded to each batch's longest text
    (results come back in input order); texts longer than the model's maximum are truncated, never a crash.
    """

    task = "sentiment"

    def __init__(self, model: Any, tokenizer: Any, model_id: str, labels: Any = None):
        super().__init__(model_id, model.device, model.dtype)
        self.model, self.tokenizer = model, tokenizer
        self.mapping = label_mapping(model.config.id2label, model_id, labels)
        self.max_length = max_input_length(model.config, tokenizer)
        # Which logit columns add up into each class (a 5-star model folds 2 columns into each polar class).
        self._columns = {label: [i for i, t in sorted(self.mapping.items()) if t == label] for label in LABELS}

    @classmethod
    def from_pretrained(cls, model: str, *, device: Any = None, dtype: Any = None, revision: str | None = None,
                        trust_remote_code: bool = False, use_safetensors: bool | None = None,
                        labels: list[str] | dict[Any, str] | None = None) -> SentimentPipeline:
        """Load a sequence classifier by Hub id or folder.

        Args:
            labels (`list` or `dict`, *optional*): what each class of the checkpoint means, for labels mmhub cannot
                read (e.g. ``LABEL_0..LABEL_4``): ``["negative", "negative", "neutral", "positive", "positive"]`` in
                class-index order, or ``{"LABEL_0": "negative", ...}``. Default: read from the checkpoint's labels.

        >>> five = ["negative", "negative", "neutral", "positive", "positive"]
        >>> clf = load("sentiment", model="runs/my-5-class-model", labels=five)
        """
        revision = validate.optional_text("revision", revision, allow_empty=False)
        trust_remote_code = validate.boolean("trust_remote_code", trust_remote_code)
        if use_safetensors is not None:
            use_safetensors = validate.boolean("use_safetensors", use_safetensors)
        resolved_device = resolve_device(device)
        resolved_dtype = resolve_dtype(dtype, resolved_device)
        kwargs: dict[str, Any] = {"revision": revision, "trust_remote_code": trust_remote_code}
        with translating_load_errors(model, cls.task):
            config = AutoConfig.from_pretrained(model, **kwargs)
            check_architecture(config, model, cls.task, ("ForSequenceClassification",))
            if not getattr(config, "architectures", None):
                raise ModelLoadError(model, "wrong_task", "its config declares no sequence-classification head.")
            tokenizer = AutoTokenizer.from_pretrained(model, **kwargs)
            # Prefer safetensors; the older sentiment checkpoints on the Hub ship only pickled weights.
            clf = AutoModelForSequenceClassification.from_pretrained(
                model, dtype=resolved_dtype, use_safetensors=use_safetensors, **kwargs)
        clf.to(resolved_device).eval()
        return cls(clf, tokenizer, model, labels)

    def __call__(self, inputs: str | list[str], *, batch_size: int | None = None,
                 ) -> SentimentResult | list[SentimentResult]:
        """Classify one text or a list of them.

        Args:
            inputs (`str` or `list[str]`): non-empty, valid Unicode text(s) of at most 1,000,000 characters each.
            batch_size (`int`, *optional*): 1 to 1024; default 16 on CPU, 64 on GPU.
        """
        texts = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(texts, (list, tuple)) or not texts:
            raise InputError("inputs", inputs, "a text or a non-empty list of texts")
        for i, text in enumerate(texts):
            validate.text("inputs" if isinstance(inputs, str) else f"inputs[{i}]", text, max_chars=MAX_TEXT_CHARS)
        if batch_size is None:
            # Length-sorted batches leave little padding; on a CPU, small ones keep it smallest (measured best).
            batch_size = 64 if self.model.device.type == "cuda" else 16
        batch_size = validate.integer("batch_size", batch_size, low=1, high=MAX_BATCH_SIZE)

        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]), reverse=True)
        probabilities = torch.empty(len(texts), len(self.mapping))
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                rows = order[start: start + batch_size]
                batch = self.tokenizer.pad({"input_ids": [encoded[i] for i in rows]}, return_tensors="pt")
                logits = self.model(**batch.to(self.model.device)).logits
                probabilities[rows] = logits.float().softmax(dim=-1).cpu()
        results = [self._result(p) for p in probabilities]
        return results[0] if isinstance(inputs, str) else results

    def _result(self, probabilities: torch.Tensor) -> SentimentResult:
        scores = {label: float(probabilities[cols].sum()) if cols else 0.0 for label, cols in self._columns.items()}
        label = max(scores, key=scores.__getitem__)
        return SentimentResult(label, scores[label], scores)
