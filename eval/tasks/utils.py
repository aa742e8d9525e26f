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


# FORK polish4_shuf lm_eval/tasks/polish_polqa/utils.py `levenshtein`: re.sub('\.? ?(</s>)* ?$', '', prediction)
# (a non-raw string, so the pattern is `\.? ?(</s>)* ?$`): an optional final ".", an optional space, any number of
# "</s>", an optional space. The prediction is only lowercased: its leading space stays (and counts in the distance);
# the gold answer is lowercased, not stripped.
POLQA_TAIL = re.compile(r"\.? ?(</s>)* ?$")


def polqa_levenshtein(prediction: str, golds: Sequence[str]) -> int:
    """1 if any polqa gold answer accepts the generated `prediction`, else 0 (the fork's rule, see `POLQA_TAIL`).

    >>> polqa_levenshtein(" Odra.", ["Odra"])   # " odra" vs "odra": distance 1 < 4 / 2
    1
    """
    text = prediction.lower()
    number = get_number(text)  # taken before the tail strip, as in the fork
    text = POLQA_TAIL.sub("", text)
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


# FORK polish4_shuf lm_eval/tasks/polish_poquad/utils.py `levenshtein`: re.sub('.? ?(</s>)* ?$', '', prediction)
# with an unescaped "." -- it removes the last character whatever it is (a final "." or the last letter).
POQUAD_TAIL = re.compile(r".? ?(</s>)* ?$")


def poquad_levenshtein(prediction: str, golds: Sequence[str]) -> int:
    """1 if a poquad gold answer accepts `prediction`: lowercased, left-stripped, then the fork's `POQUAD_TAIL`.

    The gold answer is lowercased and left-stripped for the distance, but the threshold is half of its length with
    the leading space (``len(reference) / 2`` on ``" " + answer``), as in the fork; kept for identical scores.
    """
    from Levenshtein import distance

    text = prediction.lower().lstrip()
    number = get_number(text)
    text = POQUAD_TAIL.sub("", text)
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


# ------------------------------------------------------------------------------ enelpol/poquad (the "other" tasks)
# FORK polish4_shuf lm_eval/tasks/polish_poquad/utils.py: process_docs_open, doc_to_target2; the yamls
# poquad_reranking.yaml and poquad_abstractive_rag.yaml. Columns (enelpol/poquad poquad.py, HF commit 25e1f63):
# id, title, context, question, is_impossible, answers {text, answer_start, generative_answer}.

NO_INFORMATION = "Brak informacji"


def process_poquad_open(dataset):
    """Each (context, question) pair once; an impossible question's answers become "Brak informacji"."""

    def impossible_to_no_information(doc: dict) -> dict:
        if doc["is_impossible"]:
            doc["answers"] = {"text": [NO_INFORMATION], "answer_start": [0], "generative_answer": [NO_INFORMATION]}
        return doc

    unique = _unique(dataset, lambda d: (d["context"], d["question"]))
    return unique.map(impossible_to_no_information, load_from_cache_file=False)


def abstractive_target(doc: dict) -> str:
    """``" " + the first generative (abstractive) answer``, or ``" Brak informacji"`` when there is none."""
    answers = doc["answers"]["generative_answer"]
    return " " + (answers[0] if len(answers) > 0 else NO_INFORMATION)


def process_results_abstractive(doc: dict, results: Sequence[str]) -> dict[str, int]:
    """exact_match against the abstractive target and poquad's Levenshtein acceptance (the fork's metrics)."""
    gold = abstractive_target(doc)
    return {"exact_match": int(results[0] == gold), "levenshtein": poquad_levenshtein(results[0], [gold])}


# -------------------------------------------------------------------------------------------------- EQ-Bench (PL)
# FORK polish4_shuf lm_eval/tasks/polish_eq_bench/utils.py (doc_to_target, parse, score, score_first,
# calculate_score), ported rule for rule. The fork reads the reference with eval(); a dict literal reads the same
# with ast.literal_eval. Its print() on a mismatch is a debug log here.

PAIR = re.compile(r"(\w+(?: \w+)*):\s+(\d+)")
REVISED = "Zmienione oceny:"


def _reference(doc: dict, field: str = "reference_answer") -> dict:
    value = doc[field]
    return ast.literal_eval(value) if isinstance(value, str) else dict(value)


def eq_bench_target(doc: dict) -> str:
    """The four reference ratings as ``"emotion: score"`` lines (a few-shot example's answer)."""
    reference = _reference(doc)
    lines = "".join(f"{reference[f'emotion{i}']}: {reference[f'emotion{i}_score']}\n" for i in range(1, 5))
    return lines + "\n"


def eq_bench_score(reference: dict, answers: dict[str, str]) -> dict[str, float]:
    """EQ-Bench's score of one answer: ``{"eqbench": 0-100, "percent_parseable": 0 or 100}``.

    0 (and unparseable) unless exactly four emotions are rated and all four are reference emotions. Each difference
    d from the reference is scaled -- 0 stays 0, d <= 5 becomes 6.5/(1+e^(-1.2(d-4))), d > 5 stays d -- and the
    score is ``(10 - 0.7477 * sum) * 10`` (the constant makes random answers score 0; it can go below 0).
    """
    if len(answers) != 4:
        logger.debug("EQ-Bench: %d emotions rated, not 4: %s", len(answers), answers)
        return {"eqbench": 0, "percent_parseable": 0}
    matched = {emotion for emotion in answers for i in range(1, 5) if emotion == reference[f"emotion{i}"]}
    if len(matched) != 4:
        logger.debug("EQ-Bench: emotions do not match the reference: %s", answers)
        return {"eqbench": 0, "percent_parseable": 0}
    tally = 0.0
    for emotion, score in answers.items():
        for i in range(1, 5):  # as the fork: once per reference slot with this name
            if emotion == reference[f"emotion{i}"]:
                d = abs(float(score) - float(reference[f"emotion{i}_score"]))
                if d == 0:
                    scaled = 0.0
                elif d <= 5:
                    scaled = 6.5 * (1 / (1 + math.e ** (-1.2 * (d - 4))))
                else:
                    scaled = d
                tally += scaled
    return {"eqbench": (10 - tally * 0.7477) * 10, "percent_parseable": 100}


def eq_bench_parse(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """(first-pass ratings, revised ratings) of a multi-turn answer, split at "Zmienione oceny:".

    First pass: every "emotion: N" pair before the marker; revised: the first four after it. Without the marker
    both are empty (the answer scores 0), as in the fork.
    """
    first: dict[str, str] = {}
    revised: dict[str, str] = {}
    before = re.search(r"(.*?)" + REVISED, text, re.DOTALL)
    if before:
        first = dict(PAIR.findall(before.group(1)))
    after = re.search(REVISED + r"(.*?)$", text, re.DOTALL)
    if after:
        revised = dict(PAIR.findall(after.group(1))[:4])
    return first, revised


def eq_bench_multi_turn(doc: dict, results: Sequence[str]) -> dict[str, float]:
    """polish_eq_bench: first pass vs ``reference_answer``, revision vs ``reference_answer_fullscale``, their mean.

    The fork's ``score``: ``average_eqbench = (first_eqbench + revised_eqbench) / 2`` (the leaderboard's column).
    """
    first, revised = eq_bench_parse(results[0])
    scores = {f"first_{k}": v for k, v in eq_bench_score(_reference(doc), first).items()}
    scores.update({f"revised_{k}": v for k, v in
                   eq_bench_score(_reference(doc, "reference_answer_fullscale"), revised).items()})
    scores["average_eqbench"] = (scores["first_eqbench"] + scores["revised_eqbench"]) / 2
    return scores


def eq_bench_first_turn(doc: dict, results: Sequence[str]) -> dict[str, float]:
    """polish_eq_bench_first_turn: first_eqbench and first_percent_parseable of the first four pairs generated."""
    answers = dict(PAIR.findall(results[0])[:4])
    return {f"first_{k}": v for k, v in eq_bench_score(_reference(doc), answers).items()}
