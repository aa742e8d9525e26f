"""Data for language-model fine-tuning: plain text, chats, or prompt/completion pairs, in the columns TRL reads.

Three kinds of rows, one per training mode (TRL's dataset types, ``trl/data_utils.py``):

- ``text``: ``{"text": str}``, continued pre-training (the loss on every token);
- ``chat``: ``{"messages": [{"role", "content"}, ...]}``, supervised fine-tuning (the loss on the assistant turns);
- ``prompt-completion``: ``{"prompt", "completion"}``, both strings or both message lists (the loss on the
  completion). Alpaca-style rows (``instruction``, optional ``input``, ``output``; the Stanford Alpaca data release)
  become prompt/completion pairs.

Sources: a Hub dataset (or a local dataset folder) through `datasets.load_dataset`, or local files read line by line
(``.txt``: one example per non-blank line, like datasets' ``text`` builder; ``.jsonl``: one JSON object per line),
plain, ``.gz`` or ``.bz2``, converted to memory-mapped Arrow without holding the file in
memory. Every row is checked before training starts: bad data raises `DataError` naming the file and line (or the
split and row), and the run leaves nothing behind.

>>> from finetune.lm_data import load_lm_data
>>> data = load_lm_data(train_file="korpus.txt.gz", validation_size=200)
>>> data.kind, data.train[0]
('text', {'text': 'Litwo! Ojczyzno moja! ty jesteś jak zdrowie.'})
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from finetune.data import VALIDATION_SPLITS, DataError, load_hub_dataset

logger = logging.getLogger(__name__)

KINDS = ("text", "chat", "prompt-completion")
FORMATS = ("auto", *KINDS)
ROLES = ("system", "user", "assistant", "tool")
ALPACA = ("instruction", "input", "output")  # tatsu-lab/stanford_alpaca's data release
TEXT_SUFFIXES = (".txt",)
JSONL_SUFFIXES = (".jsonl", ".json")


@dataclasses.dataclass
class LMData:
    """The train and validation rows of one run (`datasets.Dataset`s) and what kind they are (`KINDS`)."""

    train: Any
    validation: Any
    kind: str
    source: str
    validation_source: str
    columns: dict[str, str]  # our column -> the source's column, for the model card


# ----------------------------------------------------------------------------------------------------------------
# row checks and normalisation


def check_messages(value: Any, where: str, need_assistant: bool = True) -> list[dict[str, str]]:
    """A chat as ``[{"role", "content"}]`` (extra keys dropped); `DataError` saying what is wrong otherwise."""
    if not isinstance(value, (list, tuple)) or not value:
        raise DataError(f"{where}: a chat must be a non-empty list of {{'role', 'content'}} messages; got "
                        f"{_short(value)}.")
    messages = []
    for i, message in enumerate(value):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            hint = (" (ShareGPT's 'from'/'value' keys: rename them to 'role'/'content')"
                    if isinstance(message, dict) and "from" in message else "")
            raise DataError(f"{where}: message {i} is not a {{'role', 'content'}} dict{hint}: {_short(message)}.")
        role, content = message["role"], message["content"]
        if role not in ROLES:
            raise DataError(f"{where}: message {i} has role {_short(role)}; allowed: {', '.join(ROLES)}.")
        if not isinstance(content, str):
            raise DataError(f"{where}: message {i} ({role}) has content {_short(content)}; it must be a string.")
        messages.append({"role": role, "content": content})
    if need_assistant and not any(m["role"] == "assistant" for m in messages):
        raise DataError(f"{where}: the chat has no assistant message, so nothing to learn from.")
    return messages


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _text(value: Any, where: str, column: str) -> str:
    if not isinstance(value, str):
        raise DataError(f"{where}: column {column!r} holds {_short(value)}, not text.")
    return value


@dataclasses.dataclass(frozen=True)
class Columns:
    """Which source columns make the rows of a kind (resolved by `resolve_columns`)."""

    kind: str
    text: str | None = None
    messages: str | None = None
    prompt: str | None = None
    completion: str | None = None
    alpaca_input: str | None = None  # Alpaca's optional "input", appended to the instruction

    def normalise(self, row: dict[str, Any], where: str) -> dict[str, Any] | None:
        """The row in TRL's columns, or None for a blank text row (skipped); `DataError` for a malformed one."""
        if self.kind == "text":
            text = _text(row.get(self.text), where, self.text)
            return {"text": text} if text.strip() else None
        if self.kind == "chat":
            return {"messages": check_messages(row.get(self.messages), where)}
        prompt, completion = row.get(self.prompt), row.get(self.completion)
        if isinstance(prompt, str) or isinstance(completion, str):
            prompt, completion = _text(prompt, where, self.prompt), _text(completion, where, self.completion)
            extra = row.get(self.alpaca_input) if self.alpaca_input else None
            if isinstance(extra, str) and extra.strip():
                prompt = f"{prompt}\n\n{extra}"
            if not completion.strip():
                raise DataError(f"{where}: empty completion in column {self.completion!r}.")
            return {"prompt": prompt, "completion": completion}
        return {"prompt": check_messages(prompt, f"{where} (prompt)", need_assistant=False),
                "completion": check_messages(completion, f"{where} (completion)")}

    def describe(self) -> dict[str, str]:
        names = {"text": self.text, "messages": self.messages, "prompt": self.prompt, "completion": self.completion,
                 "input": self.alpaca_input}
        return {k: v for k, v in names.items() if v}


def resolve_columns(columns: list[str], where: str, data_format: str = "auto", text_column: str | None = None,
                    messages_column: str | None = None, prompt_column: str | None = None,
                    completion_column: str | None = None) -> Columns:
    """The kind and columns of a source with these `columns`; `DataError` listing them when nothing fits.

    A named column must exist. With ``auto``: ``messages`` -> chat; ``prompt`` + ``completion`` -> prompt/completion;
    ``instruction`` + ``output`` (Alpaca) -> prompt/completion; ``text`` -> text.
    """
    if data_format not in FORMATS:
        raise DataError(f"--format must be one of {', '.join(FORMATS)}; got {data_format!r}.")
    for flag, name in (("--text-column", text_column), ("--messages-column", messages_column),
                       ("--prompt-column", prompt_column), ("--completion-column", completion_column)):
        if name is not None and name not in columns:
            raise DataError(f"{where} has no column {name!r} ({flag}); its columns are {columns}.")
    if (prompt_column is None) != (completion_column is None) and data_format != "text":
        prompt_column = prompt_column or ("prompt" if "prompt" in columns else None)
        completion_column = completion_column or ("completion" if "completion" in columns else None)
        if prompt_column is None or completion_column is None:
            raise DataError(f"{where}: --prompt-column and --completion-column go together; its columns are "
                            f"{columns}.")
    wants = data_format
    if wants == "auto":
        if text_column:
            wants = "text"
        elif messages_column or "messages" in columns:
            wants = "chat"
        elif prompt_column or {"prompt", "completion"} <= set(columns) or {"instruction", "output"} <= set(columns):
            wants = "prompt-completion"
        elif "text" in columns:
            wants = "text"
        else:
            raise DataError(f"{where} has none of the columns this trainer reads: 'messages' (chats), 'prompt' + "
                            f"'completion', 'instruction' + 'output' (Alpaca) or 'text'; its columns are {columns}. "
                            f"Name yours with --text-column, --messages-column, or --prompt-column and "
                            f"--completion-column.")
    if wants == "text":
        column = text_column or "text"
        if column not in columns:
            raise DataError(f"{where} has no text column {column!r}; its columns are {columns}. "
                            f"Name one with --text-column.")
        return Columns("text", text=column)
    if wants == "chat":
        column = messages_column or "messages"
        if column not in columns:
            raise DataError(f"{where} has no chat column {column!r}; its columns are {columns}. "
                            f"Name one with --messages-column.")
        return Columns("chat", messages=column)
    if prompt_column:
        return Columns("prompt-completion", prompt=prompt_column, completion=completion_column)
    if {"prompt", "completion"} <= set(columns):
        return Columns("prompt-completion", prompt="prompt", completion="completion")
    if {"instruction", "output"} <= set(columns):
        return Columns("prompt-completion", prompt="instruction", completion="output",
                       alpaca_input="input" if "input" in columns else None)
    raise DataError(f"{where} has no 'prompt' and 'completion' columns; its columns are {columns}. Name them with "
                    f"--prompt-column and --completion-column.")


# ----------------------------------------------------------------------------------------------------------------
# local files


def file_kind(path: str | os.PathLike) -> str:
    """``"text"`` for ``.txt`` files, ``"jsonl"`` for ``.jsonl`` / ``.json`` (each possibly ``.gz`` / ``.bz2``)."""
    name = Path(path).name.lower()
    for suffix in (".gz", ".bz2"):
        name = name.removesuffix(suffix)
    if name.endswith(TEXT_SUFFIXES):
        return "text"
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    raise DataError(f"{path}: unknown file type; use .txt (one example per line) or .jsonl (one JSON object per "
                    f"line), optionally .gz or .bz2.")


def read_rows(path: str | os.PathLike, limit: int | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """Stream ``(line number, row)`` from a ``.txt`` (``{"text": line}``) or ``.jsonl`` file, one line at a time.

    Opened with `pipelines.textfiles.open_text` (plain, ``.gz`` or ``.bz2``; a leading UTF-8 BOM dropped, as editors on
    Windows write one; bytes that are not UTF-8 reported with their line).
    """
    from pipelines.textfiles import JSONError, open_text, parse_json

    kind = file_kind(path)
    count, lineno = 0, 0
    with open_text(path) as handle:
        try:
            for lineno, line in enumerate(handle, start=1):  # noqa: B007 (lineno is used after the loop)
                try:
                    line.encode("utf-8")  # open_text turns bytes that are not UTF-8 into lone surrogates
                except UnicodeEncodeError as err:
                    raise DataError(f"{path}:{lineno}: not UTF-8 text (byte {err.start + 1} of the line).") from None
                if not line.strip():
                    continue
                if kind == "text":
                    row = {"text": line.rstrip("\r\n")}
                else:
                    try:
                        row = parse_json(line)
                    except JSONError as err:  # also nesting 200,000 deep and integers past the digit limit
                        raise DataError(f"{path}:{lineno}: not a JSON object ({err.reason}).") from None
                    if not isinstance(row, dict):
                        raise DataError(f"{path}:{lineno}: a JSON line must be an object; got {_short(row)}.")
                yield lineno, row
                count += 1
                if limit is not None and count >= limit:
                    return
        except OSError as err:  # a truncated or corrupt .gz / .bz2 (pipelines.textfiles.CorruptFileError)
            raise DataError(f"{path}:{lineno + 1}: cannot read the file ({err}).") from err
    if count == 0:
        raise DataError(f"{path}: the file holds no examples (it is empty or blank).")


def _file_rows(path: str, columns: dict[str, Any], limit: int | None, stamp: str) -> Iterator[dict[str, Any]]:
    # `stamp` (size and mtime) is only there so that datasets' cache fingerprint changes when the file does.
    spec = Columns(**columns)
    for lineno, row in read_rows(path, limit):
        out = spec.normalise(row, f"{path}:{lineno}")
        if out is not None:
            yield out


def file_dataset(path: str | os.PathLike, spec: Columns | None = None, *, limit: int | None = None,
                 cache_dir: str | None = None, **column_args: Any) -> tuple[Any, Columns]:
    """A local file as a `datasets.Dataset` of normalised rows (Arrow, cached), and the columns it was read with.

    The kind is read from the first row (``.txt``: text) unless `spec` fixes it (a validation file must match
    the training file).
    """
    import datasets

    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise DataError(f"{path}: no such file.")
    if spec is None:
        _, first = next(read_rows(path, limit=1))
        spec = resolve_columns(list(first), str(path), **column_args)
    stat = path.stat()
    kwargs = {"path": str(path), "columns": dataclasses.asdict(spec), "limit": limit,
              "stamp": f"{stat.st_size}-{stat.st_mtime_ns}"}
    try:
        ds = datasets.Dataset.from_generator(_file_rows, gen_kwargs=kwargs, cache_dir=cache_dir)
    except datasets.exceptions.DatasetGenerationError as err:
        cause = err.__cause__ or err.__context__
        if isinstance(cause, DataError):
            raise cause from None
        raise DataError(f"{path}: the rows do not share one structure ({cause or err}).") from err
    if len(ds) == 0:
        raise DataError(f"{path}: no usable examples (every row is blank).")
    return ds, spec


# ----------------------------------------------------------------------------------------------------------------
# Hub datasets


def normalise_split(ds, spec: Columns, where: str):
    """Map a Hub split to TRL's columns, checking every row (`DataError` names the row); blank text rows dropped."""
    def convert(batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        out: dict[str, list] = {}
        for offset, index in enumerate(indices):
            row = {key: values[offset] for key, values in batch.items()}
            normalised = spec.normalise(row, f"{where} row {index}")
            if normalised is not None:
                for key, value in normalised.items():
                    out.setdefault(key, []).append(value)
        return out

    return ds.map(convert, batched=True, with_indices=True, remove_columns=list(ds.column_names),
                  desc=f"Checking {where}")


# ----------------------------------------------------------------------------------------------------------------
# both sources


def load_lm_data(*, dataset: str | None = None, dataset_config: str | None = None,
                 dataset_revision: str | None = None, train_file: str | None = None,
                 validation_file: str | None = None, data_format: str = "auto", text_column: str | None = None,
                 messages_column: str | None = None, prompt_column: str | None = None,
                 completion_column: str | None = None, max_samples: int | None = None,
                 max_eval_samples: int | None = None, validation_size: int = 1000, seed: int = 42,
                 cache_dir: str | None = None, validation_fraction: float = 0.1) -> LMData:
    """Load, check and split the training data; see the module docstring.

    A validation split is the source's own (`validation_file`, or a Hub ``validation`` / ``valid`` / ``dev``
    split), else `validation_fraction` of the rows, at most `validation_size`, held out at random (`seed`;
    `finetune.holdout.validation_count`). `max_samples` caps the training rows (a
    seeded random subset; with files, only the first rows are read), `max_eval_samples` the validation rows.
    """
    column_args = {"data_format": data_format, "text_column": text_column, "messages_column": messages_column,
                   "prompt_column": prompt_column, "completion_column": completion_column}
    if train_file:
        if dataset:
            logger.warning("--train-file given: --dataset %s is not used", dataset)
        limit = None if max_samples is None else max_samples + (0 if validation_file else validation_size)
        train, spec = file_dataset(train_file, limit=limit, cache_dir=cache_dir, **column_args)
        validation = None
        if validation_file:
            validation, _ = file_dataset(validation_file, spec, cache_dir=cache_dir)
        source, validation_source = str(train_file), str(validation_file or "")
    else:
        if not dataset:
            raise DataError("no data: pass a Hub dataset (--dataset) or a local .txt / .jsonl file (--train-file).")
        if validation_file:
            raise DataError("--validation-file goes with --train-file, not with a Hub --dataset.")
        splits = load_hub_dataset(dataset, dataset_config, cache_dir=cache_dir, revision=dataset_revision)
        if "train" not in splits:
            raise DataError(f"dataset {dataset!r} has no 'train' split; its splits are {list(splits)}.")
        train = splits["train"]
        spec = resolve_columns(list(train.column_names), f"dataset {dataset!r} split 'train'", **column_args)
        if max_samples is not None and len(train) > max_samples + validation_size:
            train = train.shuffle(seed=seed).select(range(max_samples + validation_size))  # check fewer rows
        train = normalise_split(train, spec, f"dataset {dataset!r} split 'train'")
        validation_split = next((s for s in VALIDATION_SPLITS if s in splits), None)
        validation = None
        if validation_split:
            validation = _capped(splits[validation_split], max_eval_samples, seed)
            validation = normalise_split(validation, spec, f"dataset {dataset!r} split {validation_split!r}")
        source = dataset + (f" ({dataset_config})" if dataset_config else "")
        validation_source = f"{source} split {validation_split!r}" if validation_split else ""
    if validation is None:
        from finetune.holdout import validation_count

        held = validation_count(len(train), validation_size, validation_fraction, source)
        parts = train.train_test_split(test_size=held, seed=seed, shuffle=True)
        train, validation = parts["train"], parts["test"]
        validation_source = f"{held} rows held out from the training data (seed {seed})"
    if max_samples is not None and len(train) > max_samples:
        train = train.shuffle(seed=seed).select(range(max_samples))
    validation = _capped(validation, max_eval_samples, seed)
    if len(validation) == 0:
        raise DataError(f"{validation_source or source}: the validation split has no usable rows.")
    return LMData(train, validation, spec.kind, source, validation_source, spec.describe())


def _capped(ds, limit: int | None, seed: int):
    return ds.shuffle(seed=seed).select(range(limit)) if limit is not None and len(ds) > limit else ds


# ----------------------------------------------------------------------------------------------------------------
# prompt/completion strings as chats


def as_chat(ds) -> Any:
    """Plain prompt/completion strings as a one-turn chat (user prompt, assistant completion), for chat models."""
    def convert(row: dict[str, Any]) -> dict[str, Any]:
        return {"prompt": [{"role": "user", "content": row["prompt"]}],
                "completion": [{"role": "assistant", "content": row["completion"]}]}

    return ds.map(convert, desc="Formatting prompt/completion pairs as chats")


def is_string_pairs(ds) -> bool:
    return "prompt" in ds.column_names and isinstance(ds[0]["prompt"], str)

