"""Input records for bulk runs: text lines, CSV / TSV columns, JSONL fields and the Kaggle fastText format.

Files are read as streams, one line at a time (``.gz`` and ``.bz2`` decompressed on the fly), so a 3.6 M-line
Amazon file is never in memory. Every record carries the number of the line it starts on; a line that cannot be an
input (bad JSON, a missing field, bytes that are not UTF-8, a fastText line without a label...) becomes a record with
an ``error`` instead of a value, so the caller decides whether to skip it or stop.

>>> from pipelines.records import read_records
>>> for record in read_records("train.ft.txt.bz2"):          # the Kaggle download, format from the name
...     print(record.line, record.extra["label"], record.value[:30])
1 2 Stuning even for the non-gamer: This sound tr

Formats (`FORMATS`, chosen from the name after ``.gz`` / ``.bz2``, or given): ``text`` (one input per non-blank
line), ``csv`` / ``tsv`` (a header row; the input is `column`, default ``text`` or the only column), ``jsonl`` (one
JSON object per line; the input is `field`, default ``text``; a line may also be a JSON string), ``fasttext``
(``__label__2 Title: text``, parsed by `pipelines.textfiles.parse_fasttext_line`, the trainers' parser too; the
label is kept in ``extra``). A ``.gz`` / ``.bz2`` that is corrupt or truncated stops the run with an `InputError`
naming the last line read.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.errors import DataError, InputError
from pipelines.textfiles import JSONError, open_text, parse_fasttext_line, parse_json

FORMATS = ("text", "csv", "tsv", "jsonl", "fasttext")
_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".ft": "fasttext",
             ".txt": "text", ".text": "text"}
DEFAULT_KEY = "text"  # the column / field read when none is named (and the file has one by that name)


@dataclass(frozen=True)
class Record:
    """One input: the line it starts on (1-based), its text, or why the line cannot be an input."""

    line: int
    value: str | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the fastText label, echoed into the output


def compression(path: str | os.PathLike) -> str | None:
    suffix = Path(path).suffix.lower()
    return suffix[1:] if suffix in (".gz", ".bz2") else None


def detect_format(path: str | os.PathLike) -> str:
    """The format a file's name says (``reviews.csv.gz`` -> ``csv``; ``train.ft.txt.bz2`` -> ``fasttext``)."""
    name = Path(path).name.lower()
    if compression(name):
        name = name.rsplit(".", 1)[0]
    if name.endswith(".ft.txt"):
        return "fasttext"
    return _SUFFIXES.get(Path(name).suffix, "text")


def open_input(path: str | os.PathLike) -> io.TextIOBase:
    """A text stream over a plain, ``.gz`` or ``.bz2`` file (`pipelines.textfiles.open_text`, the project's one
    opener): UTF-8, a leading BOM dropped; bytes that are not UTF-8 become lone surrogates, which `read_records`
    reports as a bad line instead of failing the whole file."""
    return open_text(path)


def check_input(path: Any, name: str = "input") -> Path:
    """The input file as a `Path`; `InputError` for one that does not exist, is a folder or cannot be read."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise InputError(name, path, "the path of a text, CSV, TSV, JSONL or fastText file (.gz / .bz2 too)")
    resolved = Path(path).expanduser()
    if not resolved.is_file():
        raise InputError(name, str(path), "an existing file", "No such file." if not resolved.exists() else
                         "It is a folder.")
    if not os.access(resolved, os.R_OK):
        raise InputError(name, str(path), "a readable file", "Check its permissions.")
    return resolved


def read_records(path: str | os.PathLike, fmt: str | None = None, column: str | None = None,
                 field_name: str | None = None) -> Iterator[Record]:
    """Stream the records of `path` in file order (see the module docstring for the formats).

    Raises `InputError` before the first record for a file that does not exist, an unknown format, a `column`
    the CSV header lacks (naming the columns it has), or a `field` the first JSON object lacks; and while reading,
    for a compressed file that is corrupt or truncated (naming the line). Blank lines are not inputs.
    """
    resolved = check_input(path)
    fmt = detect_format(resolved) if fmt is None else fmt
    if fmt not in FORMATS:
        raise InputError("format", fmt, f"one of {list(FORMATS)}")
    if column is not None and fmt not in ("csv", "tsv"):
        raise InputError("column", column, "given only for a CSV or TSV input", f"This input is read as {fmt}.")
    if field_name is not None and fmt != "jsonl":
        raise InputError("field", field_name, "given only for a JSONL input", f"This input is read as {fmt}.")
    reader = {"text": _text, "csv": _table, "tsv": _table, "jsonl": _jsonl, "fasttext": _fasttext}[fmt]
    options = {"csv": {"delimiter": ",", "column": column}, "tsv": {"delimiter": "\t", "column": column},
               "jsonl": {"field_name": field_name}}.get(fmt, {})
    lineno = 0
    try:
        with open_input(resolved) as handle:
            for record in reader(handle, **options):
                lineno = record.line
                yield record
    except OSError as err:  # a corrupt or truncated .gz / .bz2 (textfiles.CorruptFileError), a failing disk
        raise InputError("input", f"{path}:{lineno + 1}", f"a readable {compression(resolved) or fmt} file",
                         f"Reading stopped after line {lineno} ({path}:{lineno + 1}): {err}.") from err


def _checked(line: int, value: Any, what: str, extra: dict[str, Any] | None = None) -> Record:
    if not isinstance(value, str):
        return Record(line, error=f"{what} is {type(value).__name__}, not text")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        return Record(line, error=f"{what} is not valid UTF-8 (at character {err.start + 1})")
    if not value.strip():
        return Record(line, error=f"{what} is empty")
    return Record(line, value=value, extra=extra or {})


def _lines(handle: io.TextIOBase) -> Iterator[tuple[int, str]]:
    """(line number, line without its end of line) for each non-blank physical line."""
    for lineno, line in enumerate(handle, start=1):
        line = line.rstrip("\r\n")
        if line.strip():
            yield lineno, line


def _text(handle: io.TextIOBase) -> Iterator[Record]:
    for lineno, line in _lines(handle):
        yield _checked(lineno, line, "the line")


def _fasttext(handle: io.TextIOBase) -> Iterator[Record]:
    for lineno, line in _lines(handle):
        try:
            parsed = parse_fasttext_line(line)
        except DataError as err:
            yield Record(lineno, error=str(err))
            continue
        if parsed is not None:
            label, text = parsed
            yield _checked(lineno, text, "the text", {"label": label})


def _jsonl(handle: io.TextIOBase, field_name: str | None) -> Iterator[Record]:
    first = True
    for lineno, line in _lines(handle):
        try:
            item = parse_json(line)
        except JSONError as err:  # also JSON nested 200,000 deep, and integers past Python's digit limit
            yield Record(lineno, error=err.msg)
            continue
        if isinstance(item, str) and field_name is None:
            yield _checked(lineno, item, "the JSON string")
            first = False
            continue
        key = field_name or DEFAULT_KEY
        if not isinstance(item, dict) or key not in item:
            if first:
                keys = sorted(item) if isinstance(item, dict) else None
                raise InputError("field", field_name,
                                 f"a key of the JSON records (line {lineno} has {keys})" if keys is not None else
                                 "the key of an object's text (each line a JSON object, or a JSON string)",
                                 f"Pass --field NAME; without it, {DEFAULT_KEY!r} is read.")
            yield Record(lineno, error=f"no field {key!r}" if isinstance(item, dict) else
                         f"a JSON {type(item).__name__}, not an object")
            continue
        first = False
        yield _checked(lineno, item[key], f"the field {key!r}")


def _table(handle: io.TextIOBase, delimiter: str, column: str | None) -> Iterator[Record]:
    reader = csv.reader(handle, delimiter=delimiter)
    what = "CSV" if delimiter == "," else "TSV"
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as err:
        raise InputError("input", f"the header of a {what} file", f"a readable {what} header", str(err)) from None
    names = [h.strip() for h in header]
    if column is None:
        if DEFAULT_KEY in names:
            column = DEFAULT_KEY
        elif len(names) == 1:
            column = names[0]
        else:
            raise InputError("column", None, f"one of the {what} columns {names}",
                             f"Pass --column NAME (there is no {DEFAULT_KEY!r} column).")
    if column not in names:
        raise InputError("column", column, f"one of the {what} columns {names}")
    index, previous = names.index(column), reader.line_num
    while True:
        start = previous + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            previous = reader.line_num
            yield Record(start, error=f"not a {what} row ({err})")
            continue
        previous = reader.line_num
        if not row or not any(cell.strip() for cell in row):
            continue  # a blank line
        if len(row) != len(names):
            yield Record(start, error=f"{len(row)} fields where the header has {len(names)}")
            continue
        yield _checked(start, row[index], f"the column {column!r}")
