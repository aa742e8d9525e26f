"""The project's readers of users' text files: one opener of (compressed) text, one fastText line parser, one JSON
parser. Used by bulk inference (`pipelines.records`, `pipelines.jsonl`) and by the trainers (`finetune.data`,
`finetune.lm_data`), so a file is read, and a bad one refused, the same way everywhere.

>>> from pipelines.textfiles import open_text, parse_fasttext_line, parse_json
>>> with open_text("train.ft.txt.bz2") as handle:       # plain, .gz or .bz2: one line at a time
...     label, text = parse_fasttext_line(next(handle))
>>> parse_json('{"text": "Świetny produkt"}')
{'text': 'Świetny produkt'}

What can go wrong inside a file that looks right, and what the caller gets instead of a raw error:

- a corrupt or truncated ``.gz`` / ``.bz2``: zlib's ``zlib.error``, ``EOFError`` and the ``OSError`` subclasses of
  `gzip` / `bz2` all become `CorruptFileError` (an `OSError`), raised by the read that met them, so that the reader
  in hand names the line it stopped at;
- JSON nested deeper than Python's parser recurses (``[[[[...`` 200,000 deep: `RecursionError`) and integers past
  Python's digit limit (``sys.get_int_max_str_digits()``, 4300 by default: a plain `ValueError`) become `JSONError`
  (a `ValueError`, as `json.JSONDecodeError` is), with the reason in words.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import sys
import zlib
from pathlib import Path
from typing import Any

from pipelines.errors import DataError

FASTTEXT_PREFIX = "__label__"
#: Decompression errors a damaged archive raises from a read: zlib's (a corrupt deflate stream, not an OSError),
#: EOFError (a truncated .gz / .bz2), lzma's; `gzip.BadGzipFile` and bz2's "Invalid data stream" are OSErrors.
_DECOMPRESSION_ERRORS = (zlib.error, EOFError, lzma.LZMAError, OSError)


class CorruptFileError(OSError):
    """A compressed file cannot be decompressed past some point (corrupt or truncated)."""


class JSONError(ValueError):
    """Text that Python's JSON parser cannot turn into a value; ``msg`` says why in words (``reason``: without the
    leading "not JSON" of a syntax error, for messages that say it already)."""

    def __init__(self, msg: str, reason: str | None = None):
        super().__init__(msg)
        self.msg, self.reason = msg, reason or msg


class _Guarded(io.RawIOBase):
    """A binary stream over a decompressing file whose read errors are all `CorruptFileError`."""

    def __init__(self, inner: Any, kind: str):
        self._inner, self._kind = inner, kind

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            return self._inner.readinto(buffer)
        except _DECOMPRESSION_ERRORS as err:
            what = "truncated" if isinstance(err, EOFError) else "corrupt"
            raise CorruptFileError(f"the {self._kind} data is {what} ({type(err).__name__}: {err})") from err

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


def open_text(path: str | os.PathLike) -> io.TextIOBase:
    """Open a plain, ``.bz2`` or ``.gz`` text file for streaming reads: UTF-8 (a leading BOM dropped); bytes that
    are not UTF-8 become lone surrogates, so that the reader can name the very line that holds them (a strict
    decoder fails a whole chunk ahead of the line being read). A damaged archive raises `CorruptFileError` (an
    `OSError`) from the read that meets the damage. `DataError` when `path` is not a file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file.")
    suffix = path.suffix.lower()
    if suffix in (".gz", ".bz2"):
        inner = (gzip.open if suffix == ".gz" else bz2.open)(path, "rb")
        binary: Any = io.BufferedReader(_Guarded(inner, suffix[1:]), buffer_size=1 << 16)
        return io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="")
    return open(path, encoding="utf-8-sig", errors="surrogateescape", newline="")


def parse_fasttext_line(line: str) -> tuple[str, str] | None:
    """``(raw label, text)`` of one fastText line (``__label__2 Great product: ...`` -> ``("2", "Great ...")``);
    None for a blank line. `DataError` (without a file position: the caller adds it) for a line without the
    ``__label__`` prefix or without text. The one fastText parser of the project (training and bulk inference)."""
    line = line.strip()
    if not line:
        return None
    if not line.startswith(FASTTEXT_PREFIX):
        raise DataError(f"the line does not start with a {FASTTEXT_PREFIX} prefix "
                        f"(fastText format: '__label__2 Great product: ...'); it starts {line[:40]!r}.")
    label, _, text = line.partition(" ")
    text = text.strip()
    if not text:
        raise DataError("the line has a label but no text.")
    return label[len(FASTTEXT_PREFIX):], text


def parse_json(text: str | bytes) -> Any:
    """`json.loads`, failing only with `JSONError` (a `ValueError`): never `RecursionError`, never the integer
    digit limit's bare `ValueError`."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        where = f"column {err.colno}" if err.lineno == 1 else f"line {err.lineno} column {err.colno}"
        raise JSONError(f"not JSON ({err.msg} at {where})", f"{err.msg} at {where}") from None
    except RecursionError:
        raise JSONError(f"JSON nested deeper than Python's parser allows (about {sys.getrecursionlimit()} "
                        f"levels)") from None
    except ValueError as err:  # int("9" * 5000): "Exceeds the limit (4300 digits) for integer string conversion"
        limit = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else None
        if "digits" in str(err):
            raise JSONError(f"a JSON number with more than {limit} digits (Python's limit for integers)") from None
        raise JSONError(f"not JSON ({err})") from None
    except UnicodeDecodeError as err:  # bytes that are not UTF-8
        raise JSONError(f"not UTF-8 text ({err})") from None


def read_json_file(path: str | os.PathLike) -> Any:
    """The JSON value in the file `path`; `DataError` naming the file for one that cannot be read or parsed."""
    try:
        return parse_json(Path(path).read_bytes())
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err}).") from None
    except JSONError as err:
        raise DataError(f"{path}: {err.msg}.") from None
