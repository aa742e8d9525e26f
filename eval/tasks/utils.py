"""Helpers the Polish task YAMLs call with ``!function utils.<name>``: data loading, label metrics, QA and EQ scoring.

Written for mmhub from the Open PL LLM Leaderboard's documented behaviour (``reference/pl_leaderboard_spec.md``);
lm-eval imports this file by path, so it must not import mmhub. The quirks that change scores on the leaderboard
(the number pattern, poquad's trailing-character strip, the "anything else counts as the first class" F1 rule)
are reproduced on purpose, each with a comment.
"""

from __future__ import annotations

import ast
import logging
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# -------------------------------------------------------------------------------------------------- data loading

_EXTENSIONS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv", ".tsv": "csv"}
_SCRIPT_ERRORS = ("Dataset scripts are no longer supported", "loading script")


def load_dataset(path: str, name: str | None = None, data_dir: str | None = None, parquet: bool = False,
                 splits: Sequence[str] = ("train", "validation", "test"), **_: Any):
    """The task's `datasets.DatasetDict`: from ``data_dir/<path>`` when given, else from the Hub.

    Args:
        path (`str`): the Hub dataset id, e.g. ``"allegro/klej-polemo2-in"``.
        name (`str`, *optional*): the dataset config, e.g. ``"pol_Latn"`` for belebele.
        data_dir (`str`, *optional*): a folder holding ``<path>/<split>.jsonl`` (or .json/.parquet/.csv/.tsv),
            or a Hub download of the dataset (``data/<split>-*.parquet``, or the parquet conversion layout
            ``<config>/<split>/*.parquet``). Set it with ``python -m eval --data-dir DIR`` or
            ``lm_eval --metadata '{"data_dir": "DIR"}'``.
        parquet (`bool`): read the Hub's parquet conversion (``refs/convert/parquet``) directly: for datasets that
            only ship a loading script, which `datasets>=4` refuses to run.
        splits: the split names to look for in the parquet conversion.
    """
    import datasets

    if data_dir:
        return _load_local(Path(data_dir).expanduser() / path, name)
    if not parquet:
        try:
            return datasets.load_dataset(path, name)
        except RuntimeError as err:  # a dataset that only loads with its script
            if not any(text in str(err) for text in _SCRIPT_ERRORS):
                raise
            logger.warning("%s needs a loading script; reading its parquet conversion instead", path)
    files = {split: f"{name or '*'}/{split}/*.parquet" for split in splits}
    return datasets.load_dataset(path, revision="refs/convert/parquet", data_files=files)


def _load_local(root: Path, name: str | None):
    import datasets

    if name and (root / name).is_dir():
        root = root / name
    if not root.is_dir():
        raise FileNotFoundError(f"no dataset folder {str(root)!r}: expected <data_dir>/<hub id>/<split>.jsonl")
    files: dict[str, list[str]] = {}
    for file in sorted(root.rglob("*")):
        if file.suffix not in _EXTENSIONS or not file.is_file():
            continue
        relative = file.relative_to(root).parts
        if len(relative) == 1:  # <split>.jsonl
            split = file.stem
        elif len(relative) >= 3:  # <config>/<split>/0000.parquet (the Hub's parquet conversion)
            split = relative[-2]
        else:  # data/<split>-00000-of-00001.parquet (a Hub upload)
            split = file.stem.split("-")[0]
        files.setdefault(split, []).append(str(file))
    if not files:
        raise FileNotFoundError(f"no data files (.jsonl/.json/.parquet/.csv/.tsv) under {str(root)!r}")
    suffixes = {Path(f).suffix for paths in files.values() for f in paths}
    if len(suffixes) != 1:
        raise ValueError(f"mixed file types {sorted(suffixes)} under {str(root)!r}; keep one format per dataset")
    suffix = suffixes.pop()
    kwargs = {"delimiter": "\t"} if suffix == ".tsv" else {}
    return datasets.load_dataset(_EXTENSIONS[suffix], data_files=files, **kwargs)


# -------------------------------------------------------------------------------------------------- label F1

def f1(references: Sequence[str], predictions: Sequence[str], labels: str = "BC") -> tuple[int, int]:
    """One item of a letter-answer F1: (gold index, predicted index) in `labels`.

    As on the leaderboard, a prediction outside `labels` (another letter, or ``"[invalid]"``) counts as the first
    label: for dyk/psc (``labels="BC"``) that is B, the negative class, so C is the positive class; for cbd
    (``labels="ABCDEF"``) it is A, "nieszkodliwa".
    """
    gold, pred = references[0], predictions[0]
    return labels.index(gold) if gold in labels else 0, labels.index(pred) if pred in labels else 0


def agg_f1_binary(items: Iterable[tuple[int, int]]) -> float:
    """Binary F1 of (gold, pred) pairs, positive class 1 (C for letter tasks, "Tak" for multiple choice)."""
    from sklearn.metrics import f1_score

    golds, preds = zip(*items, strict=True)
    return float(f1_score(golds, preds))


def agg_f1_macro(items: Iterable[tuple[int, int]]) -> float:
    """Macro F1 of (gold, pred) pairs over the classes that occur (cbd's six categories)."""
    from sklearn.metrics import f1_score

    golds, preds = zip(*items, strict=True)
    return float(f1_score(golds, preds, average="macro"))


# -------------------------------------------------------------------------------------------------- polqa

POLQA_METADATA_COLUMNS = ["question_id", "passage_title", "passage_wiki", "passage_id", "duplicate", "annotated_by",
                          "question_formulation", "question_type", "entity_type", "entity_subtype", "split",
                          "passage_source"]


def _drop_polqa_metadata(dataset):
    return dataset.remove_columns([c for c in POLQA_METADATA_COLUMNS if c in dataset.column_names])


def _unique(dataset, key, keep=lambda doc: True):
    seen: set = set()

    def first(doc: dict) -> bool:
        if not keep(doc) or key(doc) in seen:
            return False
        seen.add(key(doc))
        return True

    return dataset.filter(first, load_from_cache_file=False)


def _parse_answers(doc: dict) -> dict:
    answers = doc["answers"]
    return {"answers": ast.literal_eval(answers) if isinstance(answers, str) else list(answers)}


def process_polqa_reranking(dataset):
    """Reranking docs: metadata columns dropped, each (passage, question) pair once."""
    return _unique(_drop_polqa_metadata(dataset), lambda d: (d["passage_text"], d["question"]))


def process_polqa_open_book(dataset):
    """Open-book docs: relevant passages only, each (passage, question) pair once, `answers` parsed to a list."""
    unique = _unique(_drop_polqa_metadata(dataset), lambda d: (d["passage_text"], d["question"]),
                     keep=lambda d: bool(d["relevant"]))
    return unique.map(_parse_answers, load_from_cache_file=False)


def process_polqa_closed_book(dataset):
    """Closed-book docs: each question once (from a relevant row), `answers` parsed to a list."""
    unique = _unique(_drop_polqa_metadata(dataset), lambda d: d["question"], keep=lambda d: bool(d["relevant"]))
    return unique.map(_parse_answers, load_from_cache_file=False)


# Any run that could be read as a number. The `[\d{2}]` class (digits, "{", "2", "}") is the leaderboard's pattern,
# kept as it is so that the same answers are accepted.
NUMBER = re.compile(r"-?\d[\d,]*[.,]?[\d{2}]*")


def get_number(text: str) -> str | None:
    """The first number-like run in `text`, with decimal commas as dots; None when there is none."""
    match = NUMBER.search(text)
    return match.group(0).replace(",", ".") if match else None


def accept(prediction: str, gold: str) -> bool:
    """Leaderboard acceptance of one (already normalised) prediction against one gold answer.

    A gold answer with a number needs the same number in the prediction; any other needs a Levenshtein distance
    (lowercased) below half the gold answer's length.
    """
    from Levenshtein import distance

    gold_number = get_number(gold)
    if gold_number is not None:
        return get_number(prediction) == gold_number
    return distance(prediction, gold.lower()) < len(gold) / 2


def polqa_levenshtein(prediction: str, golds: Sequence[str]) -> int:
    """1 if any polqa gold answer accepts the generated `prediction`, else 0.

    The prediction is lowercased; a trailing ``". </s>"`` is removed (leading spaces stay, as on the leaderboard).
    """
    text = prediction.lower()
    number = get_number(text)
    text = re.sub(r"\. ?(</s>) ?$", "", text)
    for gold in golds:
        gold_number = get_number(gold)
        if (gold_number is not None and gold_number == number) or (gold_number is None and accept(text, gold)):
            return 1
    return 0


def process_results_polqa(doc: dict, results: Sequence[str]) -> dict[str, int]:
    """exact_match (any gold equals the generation) and the leaderboard's Levenshtein acceptance."""
    golds = doc["answers"]
    golds = [golds] if isinstance(golds, str) else list(golds)
    return {"exact_match": int(results[0] in golds), "levenshtein": polqa_levenshtein(results[0], golds)}


# -------------------------------------------------------------------------------------------------- poquad

NO_ANSWER = "bez odpowiedzi"


def poquad_target(doc: dict) -> str:
    """``" " + the first gold answer``, or ``" bez odpowiedzi"`` for an unanswerable question."""
    texts = doc["answers"]["text"]
    return " " + (texts[0] if len(texts) > 0 else NO_ANSWER)


def poquad_levenshtein(prediction: str, golds: Sequence[str]) -> int:
    """1 if a poquad gold answer accepts `prediction`: lowercased, left-stripped, then the leaderboard's tail strip.

    That strip (pattern ``.? ?(</s>)* ?$``) removes the last character whatever it is (a final "." — or the last
    letter), so distances are one larger than a plain comparison; kept for identical scores.
    """
    from Levenshtein import distance

    text = prediction.lower().lstrip()
    number = get_number(text)
    text = re.sub(r".? ?(</s>)* ?$", "", text)
    for gold in golds:
        gold_number = get_number(gold)
        if gold_number is not None:
            if gold_number == number:
                return 1
        elif distance(text, gold.lower().lstrip()) < len(gold) / 2:
            return 1
    return 0


def process_results_poquad(doc: dict, results: Sequence[str]) -> dict[str, int]:
    """exact_match against ``" " + answer`` and the leaderboard's Levenshtein acceptance."""
    gold = poquad_target(doc)
    return {"exact_match": int(results[0] == gold), "levenshtein": poquad_levenshtein(results[0], [gold])}


# -------------------------------------------------------------------------------------------------- EQ-Bench (PL)

PAIR = re.compile(r"(\w+(?: \w+)*):\s+(\d+)")


def _reference(doc: dict, field: str = "reference_answer") -> dict:
    value = doc[field]
    return ast.literal_eval(value) if isinstance(value, str) else dict(value)


def eq_bench_target(doc: dict) -> str:
    """The four reference ratings as ``"emotion: score"`` lines (a few-shot example's answer)."""
    reference = _reference(doc)
    lines = "".join(f"{reference[f'emotion{i}']}: {reference[f'emotion{i}_score']}\n" for i in range(1, 5))
    return lines + "\n"


def eq_bench_score(reference: dict, answers: dict[str, str]) -> float:
    """EQ-Bench's score of one item (0 unless exactly the four reference emotions are rated).

    Each difference d is scaled: 0 stays 0, d <= 5 goes through 6.5/(1+e^(-1.2(d-4))), d > 5 stays d;
    the score is (10 - 0.7477 * sum) * 10.
    """
    emotions = {reference[f"emotion{i}"]: float(reference[f"emotion{i}_score"]) for i in range(1, 5)}
    if len(answers) != 4 or set(answers) != set(emotions):
        return 0.0
    tally = 0.0
    for emotion, score in answers.items():
        d = abs(float(score) - emotions[emotion])
        if d == 0:
            continue
        tally += 6.5 / (1 + math.e ** (-1.2 * (d - 4))) if d <= 5 else d
    return (10 - tally * 0.7477) * 10


def eq_bench_first_turn(doc: dict, results: Sequence[str]) -> dict[str, float]:
    """first_eqbench and first_percent_parseable from the first four "emotion: score" pairs generated."""
    answers = dict(PAIR.findall(results[0])[:4])
    score = eq_bench_score(_reference(doc), answers)
    parsed = len(answers) == 4 and set(answers) == {_reference(doc)[f"emotion{i}"] for i in range(1, 5)}
    return {"first_eqbench": score, "first_percent_parseable": 100.0 if parsed else 0.0}
