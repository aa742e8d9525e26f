"""Data sources for sentiment fine-tuning: a Hub dataset, or the Kaggle fastText files, as ``{"text", "label"}`` rows.

Two sources, one shape. Every source ends as a `datasets.Dataset` (memory-mapped Arrow on disk, so the 3.6 M-line
Amazon file never has to fit in memory) or, with ``streaming=True``, a `datasets.IterableDataset` read lazily, whose
rows are ``{"text": str, "label": int}``; ``label`` indexes `LabelScheme.labels` (negative / [neutral /] positive).

>>> from finetune.data import read_fasttext, scheme_for
>>> rows = list(read_fasttext("train.ft.txt.bz2", scheme_for("fasttext"), limit=2))   # the Kaggle download
>>> rows[0]["label"], rows[0]["text"][:30]
(1, 'Stuning even for the non-gamer')

Label schemes say what the raw labels mean (`SCHEMES`): the Kaggle files' ``__label__1`` / ``__label__2`` are
negative / positive (``fasttext``); a Hub ``ClassLabel`` is read from its names (``negative``, ``5 stars`` ...);
5-star ratings fold to three classes: 1-2 negative, 3 neutral, 4-5 positive (``stars``, or ``stars0`` for 0-4).
Bad data raises `DataError` naming the file and line (or the split and row).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from finetune.holdout import DEFAULT_FRACTION

# The readers shared with bulk inference live in pipelines (which never imports finetune); DataError is
# pipelines.errors' (re-exported here: the trainers' modules import it from finetune.data).
from pipelines.errors import DataError
from pipelines.textfiles import FASTTEXT_PREFIX, open_text, parse_fasttext_line  # noqa: F401 (re-exported)

logger = logging.getLogger(__name__)

NEGATIVE, NEUTRAL, POSITIVE = "negative", "neutral", "positive"

# Raw label (as a normalised string key) -> class name. The class set of a scheme is the set of its values.
SCHEMES: dict[str, dict[str, str]] = {
    "fasttext": {"1": NEGATIVE, "2": POSITIVE},  # the Kaggle Amazon reviews files: __label__1 / __label__2
    "polarity": {"0": NEGATIVE, "1": POSITIVE},  # 0/1 integers, e.g. fancyzhx/amazon_polarity
    "stars": {"1": NEGATIVE, "2": NEGATIVE, "3": NEUTRAL, "4": POSITIVE, "5": POSITIVE},  # 1-5 star ratings
    "stars0": {"0": NEGATIVE, "1": NEGATIVE, "2": NEUTRAL, "3": POSITIVE, "4": POSITIVE},  # 0-4 ratings
    "three": {"0": NEGATIVE, "1": NEUTRAL, "2": POSITIVE},  # 0/1/2 integers
    "names": {"negative": NEGATIVE, "neg": NEGATIVE, "neutral": NEUTRAL, "positive": POSITIVE, "pos": POSITIVE},
}
_CLASS_ORDER = (NEGATIVE, NEUTRAL, POSITIVE)
_STARS = re.compile(r"^([1-5])(?:\.0)?\s*(?:stars?)?$")


@dataclasses.dataclass(frozen=True)
class LabelScheme:
    """How raw labels map to sentiment classes.

    Args:
        name (`str`): a key of `SCHEMES`, or ``"classlabel"`` when built from a Hub ``ClassLabel``'s names.
        mapping (`dict[str, str]`): normalised raw label -> ``negative`` / ``neutral`` / ``positive``.
    """

    name: str
    mapping: dict[str, str]

    @property
    def labels(self) -> tuple[str, ...]:
        """The classes in model order: ``(negative, positive)`` or ``(negative, neutral, positive)``."""
        present = set(self.mapping.values())
        if self.name == "names":
            present = set(_CLASS_ORDER)
        return tuple(c for c in _CLASS_ORDER if c in present)

    def encode(self, raw: Any) -> int | None:
        """The class index of a raw label, or None when the scheme does not know it."""
        name = self.mapping.get(normalise_label(raw))
        return None if name is None else self.labels.index(name)

    def allowed(self, prefix: str = "") -> str:
        return ", ".join(f"{prefix}{k}" for k in self.mapping)


def normalise_label(raw: Any) -> str:
    """A raw label as a mapping key: ``2`` / ``2.0`` / ``"2"`` -> ``"2"``; strings lower-cased and stripped."""
    if isinstance(raw, bool):
        return str(int(raw))
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw).strip().lower()


def scheme_for(name: str) -> LabelScheme:
    """The `LabelScheme` called `name` (a key of `SCHEMES`)."""
    if name not in SCHEMES:
        raise DataError(f"unknown label scheme {name!r}; choose one of {', '.join(SCHEMES)}.")
    return LabelScheme(name, SCHEMES[name])


def scheme_from_class_names(names: list[str], column: str) -> LabelScheme:
    """A `LabelScheme` for a Hub ``ClassLabel``, read from its names (``negative``, ``positive``, ``5 stars``...)."""
    mapping = {}
    for index, name in enumerate(names):
        key = normalise_label(name)
        stars = _STARS.match(key)
        if key in SCHEMES["names"]:
            mapping[str(index)] = SCHEMES["names"][key]
        elif stars:
            mapping[str(index)] = SCHEMES["stars"][stars.group(1)]
        else:
            raise DataError(f"cannot tell which sentiment the class {name!r} of column {column!r} is "
                            f"(its classes: {names}); pass --label-scheme ({', '.join(SCHEMES)}).")
    return LabelScheme("classlabel", mapping)


# ----------------------------------------------------------------------------------------------------------------
# the Kaggle fastText files


def read_fasttext(path: str | os.PathLike, scheme: LabelScheme, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Stream ``{"text", "label"}`` rows from a fastText-format file (``__label__2 Title: text``), plain or ``.bz2``.

    Reads one line at a time, so the file never has to fit in memory. Blank lines are skipped.

    Args:
        path (`str` or `os.PathLike`): e.g. the Kaggle ``train.ft.txt.bz2``.
        scheme (`LabelScheme`): what the labels mean; `scheme_for("fasttext")` for the Kaggle files.
        limit (`int`, *optional*): stop after this many rows.

    Raises:
        DataError: naming ``file:line`` for a line without a ``__label__`` prefix, an unknown label, a label with no
            text after it, undecodable bytes, or a file with no rows at all.
    """
    if limit is not None and limit <= 0:
        return
    count, lineno = 0, 0
    with open_text(path) as handle:
        try:
            for lineno, line in enumerate(handle, start=1):  # noqa: B007 (lineno is used after the loop)
                try:
                    line.encode("utf-8")
                except UnicodeEncodeError as err:
                    raise DataError(f"{path}:{lineno}: not UTF-8 text (byte {err.start + 1} of the line).") from None
                try:
                    parsed = parse_fasttext_line(line)
                except DataError as err:
                    raise DataError(f"{path}:{lineno}: {err}") from None
                if parsed is None:
                    continue
                raw, text = parsed
                index = scheme.encode(raw)
                if index is None:
                    raise DataError(f"{path}:{lineno}: unknown label {FASTTEXT_PREFIX + raw!r} for label scheme "
                                    f"{scheme.name!r} (allowed: {scheme.allowed(FASTTEXT_PREFIX)}).")
                yield {"text": text, "label": index}
                count += 1
                if limit is not None and count >= limit:
                    return
        except OSError as err:  # a truncated or corrupt .bz2 / .gz download (pipelines.textfiles.CorruptFileError)
            raise DataError(f"{path}:{lineno + 1}: cannot read the file ({err}).") from err
    if count == 0:
        raise DataError(f"{path}: the file holds no examples (it is empty or blank).")


def _fasttext_rows(path: str, scheme: str, limit: int | None, stamp: str) -> Iterator[dict[str, Any]]:
    # `stamp` (size and mtime) is only there so that datasets' cache fingerprint changes when the file does.
    yield from read_fasttext(path, scheme_for(scheme), limit=limit)


def fasttext_dataset(path: str | os.PathLike, scheme: LabelScheme, *, limit: int | None = None,
                     streaming: bool = False, cache_dir: str | None = None):
    """A fastText file as a `datasets.Dataset` (Arrow, memory-mapped; cached) or, streaming, an `IterableDataset`.

    Args:
        path (`str` or `os.PathLike`): a plain or ``.bz2`` fastText-format file.
        scheme (`LabelScheme`): a scheme of `SCHEMES` (``fasttext`` for the Kaggle files).
        limit (`int`, *optional*): read only the first `limit` rows (the rest of the file is never opened).
        streaming (`bool`, defaults to `False`): read lazily instead of converting to Arrow first.
        cache_dir (`str`, *optional*): datasets' cache folder (default ``~/.cache/huggingface/datasets``).
    """
    import datasets

    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise DataError(f"{path}: no such file.")
    if scheme.name not in SCHEMES:
        raise DataError(f"label scheme {scheme.name!r} cannot be used with fastText files.")
    stat = path.stat()
    kwargs = {"path": str(path), "scheme": scheme.name, "limit": limit, "stamp": f"{stat.st_size}-{stat.st_mtime_ns}"}
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=list(scheme.labels))})
    if streaming:
        next(read_fasttext(path, scheme, limit=1), None)  # fail now, not mid-training, on an empty or bad start
        return datasets.IterableDataset.from_generator(_fasttext_rows, features=features, gen_kwargs=kwargs)
    try:
        return datasets.Dataset.from_generator(_fasttext_rows, features=features, gen_kwargs=kwargs,
                                               cache_dir=cache_dir)
    except datasets.exceptions.DatasetGenerationError as err:
        cause = err.__cause__ or err.__context__
        if isinstance(cause, DataError):
            raise cause from None
        raise


# ----------------------------------------------------------------------------------------------------------------
# Hub datasets

TEXT_COLUMNS = ("text", "content", "review_body", "review", "sentence")
TITLE_COLUMNS = ("title", "review_title")
VALIDATION_SPLITS = ("validation", "valid", "dev")


def load_hub_dataset(name: str, config: str | None = None, *, streaming: bool = False, cache_dir: str | None = None,
                     revision: str | None = None):
    """`datasets.load_dataset(name, config)` as a `DatasetDict` (or `IterableDatasetDict`), with clear errors."""
    import datasets

    try:
        loaded = datasets.load_dataset(name, config, streaming=streaming, cache_dir=cache_dir, revision=revision)
    except datasets.exceptions.DatasetNotFoundError as err:
        raise DataError(f"dataset {name!r} not found on the Hub, nor as a local folder ({err}).") from err
    except ConnectionError as err:
        raise DataError(f"dataset {name!r}: the Hugging Face Hub cannot be reached and the dataset is not in the "
                        f"local cache ({err}). Download it once with network access, or pass local files "
                        f"(--train-file).") from err
    except ValueError as err:
        if "config" in str(err).lower():
            raise DataError(f"dataset {name!r}: {err}") from err
        raise
    if not isinstance(loaded, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        loaded = {"train": loaded}
    return loaded


def hub_columns(ds, dataset: str, split: str, text_column: str | None, title_column: str | None,
                label_column: str) -> tuple[str, str | None, str]:
    """Resolve the text / title / label columns of a Hub split; `DataError` listing the columns when one is missing."""
    columns = list(ds.column_names or (ds.features or {}).keys())
    where = f"dataset {dataset!r} split {split!r}"
    if text_column is None:
        text_column = next((c for c in TEXT_COLUMNS if c in columns), None)
        if text_column is None:
            raise DataError(f"{where} has none of the usual text columns {TEXT_COLUMNS}; its columns are "
                            f"{columns}. Name one with --text-column.")
        logger.info("%s: text column %r", where, text_column)
    elif text_column not in columns:
        raise DataError(f"{where} has no text column {text_column!r}; its columns are {columns}.")
    if label_column not in columns:
        raise DataError(f"{where} has no label column {label_column!r}; its columns are {columns}. "
                        f"Name one with --label-column.")
    if title_column == "":
        title_column = None
    elif title_column is None:
        title_column = next((c for c in TITLE_COLUMNS if c in columns and c != text_column), None)
        if title_column:
            logger.info("%s: joining title column %r before the text, as in the fastText files", where, title_column)
    elif title_column not in columns:
        raise DataError(f"{where} has no title column {title_column!r}; its columns are {columns}.")
    return text_column, title_column, label_column


def hub_scheme(ds, label_column: str, requested: str) -> LabelScheme:
    """The label scheme: the requested one, or (``auto``) read from the column's ``ClassLabel`` names or strings."""
    import datasets

    if requested != "auto":
        return scheme_for(requested)
    feature = (ds.features or {}).get(label_column)
    if isinstance(feature, datasets.ClassLabel):
        return scheme_from_class_names(feature.names, label_column)
    if isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string"):
        return scheme_for("names")
    raise DataError(f"label column {label_column!r} holds {getattr(feature, 'dtype', feature)} values without class "
                    f"names; say what they mean with --label-scheme: polarity (0/1), stars (1-5), stars0 (0-4), "
                    f"three (0/1/2) or names.")


def normalise_hub_split(ds, *, dataset: str, split: str, text_column: str, title_column: str | None,
                        label_column: str, scheme: LabelScheme):
    """Map a Hub split to ``{"text", "label"}`` rows (title joined as ``"title: text"``); `DataError` names the row."""
    import datasets

    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=list(scheme.labels))})

    def convert(batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        texts, labels = [], []
        titles = batch[title_column] if title_column else [None] * len(indices)
        for row, text, title, raw in zip(indices, batch[text_column], titles, batch[label_column], strict=True):
            index = scheme.encode(raw) if raw is not None else None
            if index is None:
                raise DataError(f"dataset {dataset!r} split {split!r} row {row}: unknown label {raw!r} in column "
                                f"{label_column!r} for label scheme {scheme.name!r} (allowed: {scheme.allowed()}).")
            text = (text or "").strip()
            title = (title or "").strip()
            texts.append(f"{title}: {text}" if title and text else title or text)
            labels.append(index)
        return {"text": texts, "label": labels}

    remove = list(ds.column_names or (ds.features or {}).keys())
    kwargs: dict[str, Any] = {"batched": True, "with_indices": True, "remove_columns": remove, "features": features}
    if isinstance(ds, datasets.Dataset):
        kwargs["desc"] = f"Reading {split}"
    return ds.map(convert, **kwargs)


# ----------------------------------------------------------------------------------------------------------------
# train / validation / test from either source


@dataclasses.dataclass
class SentimentData:
    """The splits of one run, as ``{"text", "label"}`` rows, and what their labels mean.

    ``train`` is a `datasets.Dataset`, or a `datasets.IterableDataset` when streaming; ``validation`` and ``test``
    are always (small, capped) `datasets.Dataset`s; ``test`` is None when the source has none.
    """

    train: Any
    validation: Any
    test: Any | None
    scheme: LabelScheme
    source: str
    validation_source: str

    @property
    def labels(self) -> tuple[str, ...]:
        return self.scheme.labels

    @property
    def streaming(self) -> bool:
        import datasets

        return isinstance(self.train, datasets.IterableDataset)


def load_sentiment_data(*, dataset: str | None = None, dataset_config: str | None = None,
                        dataset_revision: str | None = None, train_file: str | None = None,
                        validation_file: str | None = None, test_file: str | None = None,
                        text_column: str | None = None, title_column: str | None = None, label_column: str = "label",
                        label_scheme: str = "auto", streaming: bool = False, max_samples: int | None = None,
                        max_eval_samples: int | None = None, validation_size: int = 5000, seed: int = 42,
                        cache_dir: str | None = None, validation_fraction: float = DEFAULT_FRACTION) -> SentimentData:
    """Load the train / validation / test splits from fastText files (`train_file`) or a Hub dataset (`dataset`).

    A validation split is carved (`validation_fraction` of the rows, at most `validation_size`, shuffled with `seed`:
    `finetune.holdout.validation_count`) from the training data when the source has none; from a stream, whose
    length is unknown, the first `validation_size` rows. `max_samples` caps the training rows (for smoke runs; with
    fastText files the rest of the file is never read), `max_eval_samples` the validation and test rows (a seeded
    random subset).

    >>> data = load_sentiment_data(dataset="fancyzhx/amazon_polarity", max_samples=2000, validation_size=200)
    >>> data.labels
    ('negative', 'positive')
    """
    import datasets

    if train_file:
        scheme = scheme_for("fasttext" if label_scheme == "auto" else label_scheme)
        carve = validation_file is None
        limit = None if max_samples is None else max_samples + (validation_size if carve else 0)
        train = fasttext_dataset(train_file, scheme, limit=limit, streaming=streaming, cache_dir=cache_dir)
        validation = test = None
        if validation_file:
            validation = fasttext_dataset(validation_file, scheme, streaming=streaming, cache_dir=cache_dir)
        if test_file:
            test = fasttext_dataset(test_file, scheme, streaming=streaming, cache_dir=cache_dir)
        source, validation_source = str(train_file), str(validation_file or "")
    else:
        if not dataset:
            raise DataError("no data: pass a Hub dataset (--dataset) or a fastText file (--train-file).")
        if validation_file or test_file:
            raise DataError("--validation-file / --test-file go with --train-file, not with a Hub --dataset.")
        splits = load_hub_dataset(dataset, dataset_config, streaming=streaming, cache_dir=cache_dir,
                                  revision=dataset_revision)
        if "train" not in splits:
            raise DataError(f"dataset {dataset!r} has no 'train' split; its splits are {list(splits)}.")
        columns = hub_columns(splits["train"], dataset, "train", text_column, title_column, label_column)
        scheme = hub_scheme(splits["train"], columns[2], label_scheme)

        def normalise(split: str):
            return normalise_hub_split(splits[split], dataset=dataset, split=split, text_column=columns[0],
                                       title_column=columns[1], label_column=columns[2], scheme=scheme)

        train = normalise("train")
        validation_split = next((s for s in VALIDATION_SPLITS if s in splits), None)
        validation = normalise(validation_split) if validation_split else None
        test = normalise("test") if "test" in splits else None
        source = dataset + (f" ({dataset_config})" if dataset_config else "")
        validation_source = f"{source} split {validation_split!r}" if validation_split else ""

    if validation is None:
        from finetune.holdout import validation_count

        if streaming:
            validation = datasets.Dataset.from_list(list(train.take(validation_size)), features=train.features)
            train = train.skip(validation_size)
            validation_source = f"the first {len(validation)} rows of the stream held out (seed {seed})"
        else:
            held = validation_count(len(train), validation_size, validation_fraction, source)
            parts = train.train_test_split(test_size=held, seed=seed, shuffle=True)
            train, validation = parts["train"], parts["test"]
            validation_source = f"{held} rows held out from the training data (seed {seed})"
    if streaming:
        train = train.shuffle(seed=seed, buffer_size=10_000)
        if max_samples is not None:
            train = train.take(max_samples)
    elif max_samples is not None and len(train) > max_samples:
        train = train.shuffle(seed=seed).select(range(max_samples))
    validation = _capped(validation, max_eval_samples, seed)
    test = _capped(test, max_eval_samples, seed) if test is not None else None
    return SentimentData(train, validation, test, scheme, source, validation_source)


def _capped(ds, limit: int | None, seed: int):
    """A (materialised) `datasets.Dataset` of at most `limit` rows: a seeded random subset of a map-style one."""
    import datasets

    if isinstance(ds, datasets.IterableDataset):
        return datasets.Dataset.from_list(list(ds if limit is None else ds.take(limit)), features=ds.features)
    if limit is not None and len(ds) > limit:
        return ds.shuffle(seed=seed).select(range(limit))
    return ds
