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


@dataclass
class SentimentResult(Result):
    """The top label, its score, and the score of each of the three classes (they sum to 1)."""

    label: str
    score: float
    scores: dict[str, float]


def label_mapping(id2label: dict[int, str], model: str = "") -> dict[int, str]:
    """Map a checkpoint's `id2label` onto negative / neutral / positive, or raise naming the labels it cannot map.

    Handles lower/upper case names, ``LABEL_0..2`` (0 negative, 1 neutral, 2 positive; with two labels 0 negative,
    1 positive), 1-5 stars (1-2 negative, 3 neutral, 4-5 positive), "very ..." and ambiguous/mixed (neutral).
    """
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
            raise ModelLoadError(model, "incompatible",
                                 f"its labels {sorted(map(str, id2label.values()))} cannot be mapped to "
                                 f"positive / neutral / negative (unmapped: {name!r}). Use a sentiment model, or "
                                 f"fine-tune one: python -m finetune.sentiment.")
        mapping[int(index)] = target
    if "positive" not in mapping.values() or "negative" not in mapping.values():
        raise ModelLoadError(model, "incompatible",
                             f"its labels {sorted(map(str, id2label.values()))} lack a positive or a negative class.")
    return mapping


class SentimentPipeline(Pipeline):
    """A sequence classifier behind one call: `clf(text_or_texts, batch_size=None)`.

    Texts are tokenised together, sorted by length and run in batches padded to each batch's longest text
    (results come back in input order); texts longer than the model's maximum are truncated, never a crash.
    """

    task = "sentiment"

    def __init__(self, model: Any, tokenizer: Any, model_id: str):
        super().__init__(model_id, model.device, model.dtype)
        self.model, self.tokenizer = model, tokenizer
        self.mapping = label_mapping(model.config.id2label, model_id)
        self.max_length = _max_length(model.config, tokenizer)
        # Which logit columns add up into each class (a 5-star model folds 2 columns into each polar class).
        self._columns = {label: [i for i, t in sorted(self.mapping.items()) if t == label] for label in LABELS}

    @classmethod
    def from_pretrained(cls, model: str, *, device: Any = None, dtype: Any = None, revision: str | None = None,
                        trust_remote_code: bool = False, use_safetensors: bool | None = None) -> SentimentPipeline:
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
        return cls(clf, tokenizer, model)

    def __call__(self, inputs: str | list[str], *, batch_size: int | None = None,
                 ) -> SentimentResult | list[SentimentResult]:
        """Classify one text or a list of them (`batch_size` default: 16 on CPU, 64 on GPU)."""
        texts = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(texts, (list, tuple)) or not texts:
            raise InputError("inputs", inputs, "a text or a non-empty list of texts")
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                name = "inputs" if isinstance(inputs, str) else f"inputs[{i}]"
                raise InputError(name, text, "non-empty text")
        if batch_size is None:
            # Length-sorted batches leave little padding; on a CPU, small ones keep it smallest (measured best).
            batch_size = 64 if self.model.device.type == "cuda" else 16
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise InputError("batch_size", batch_size, "an integer >= 1")

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


def _max_length(config: Any, tokenizer: Any) -> int:
    """The longest input the model takes (tokenizers of some checkpoints report 1e30)."""
    positions = getattr(config, "max_position_embeddings", None) or 512
    if config.model_type in ("roberta", "xlm-roberta", "camembert", "xlm-roberta-xl", "longformer"):
        positions -= (config.pad_token_id or 0) + 1  # RoBERTa positions start after the padding index
    return min(int(tokenizer.model_max_length), positions)
