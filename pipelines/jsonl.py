"""A resumable JSON-lines output: one object per input, in input order, each with the input's ``"line"`` number.

A run appends complete lines and flushes after each batch. When it is killed (even with SIGKILL) the file ends at a
complete line or in the middle of one; `resume` drops that partial tail and returns the last complete line's input
line number, so the next run continues right after it: no duplicates, no gaps. Several processes write one part
file each; `merge` joins them in input-line order into the final file, atomically.

>>> from pipelines.jsonl import JSONLWriter, resume
>>> done = resume("out.jsonl")                 # 0 for a new file, else the last input line written
>>> with JSONLWriter("out.jsonl") as out:
...     out.write_many([{"line": 12, "result": {"label": "positive"}}])
"""

from __future__ import annotations

import heapq
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pipelines.errors import InputError

_TAIL = 1 << 16  # bytes read from the end at a time while looking for the last complete line


def resume(path: str | os.PathLike) -> int:
    """The input line number of the last complete output line of `path` (0 when there is none), after truncating an
    incomplete last line (a run killed mid-write). `InputError` when the file is not this kind of output."""
    path = Path(path)
    if not path.exists():
        return 0
    with open(path, "rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        last_newline = _rfind_newline(handle, size)
        end = last_newline + 1
        if end != size:
            handle.truncate(end)  # a line cut by a kill: dropped, its batch is redone
        if end == 0:
            return 0
        start = _rfind_newline(handle, last_newline) + 1
        handle.seek(start)
        last = handle.read(end - start)
    return _line_number(last, path)


def _rfind_newline(handle: Any, end: int) -> int:
    """The offset of the last newline before `end`, or -1; reads backwards, a block at a time."""
    while end > 0:
        start = max(0, end - _TAIL)
        handle.seek(start)
        cut = handle.read(end - start).rfind(b"\n")
        if cut >= 0:
            return start + cut
        end = start
    return -1


def _line_number(raw: bytes, path: Path) -> int:
    try:
        line = json.loads(raw)["line"]
        if isinstance(line, int) and not isinstance(line, bool) and line >= 1:
            return line
    except (ValueError, KeyError, TypeError):
        pass
    raise InputError("output", str(path), "a JSON-lines file this command wrote (each line has a \"line\" number)",
                     "Choose another --output, or pass --overwrite to replace it.")


def read(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """The objects of a JSON-lines file, in order (complete lines only)."""
    with open(path, encoding="utf-8") as handle:
        for raw in handle:
            if raw.endswith("\n"):
                yield json.loads(raw)


class JSONLWriter:
    """Appends objects as JSON lines (UTF-8, one per line) and flushes them to the OS after each `write_many`."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.path, "a", encoding="utf-8", newline="\n")

    def write_many(self, objects: Iterable[dict[str, Any]]) -> None:
        # One write per batch: a kill leaves whole lines, or a partial last one that `resume` drops.
        text = "".join(json.dumps(o, ensure_ascii=False, allow_nan=False) + "\n" for o in objects)
        if text:
            self._handle.write(text)
            self._handle.flush()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> JSONLWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def merge(parts: list[Path], output: Path) -> int:
    """Join part files (each in increasing ``"line"`` order) into `output` in line order; returns the lines written.

    Written to ``<output>.merging`` and renamed over `output` at the end, so a kill during the merge leaves the parts
    untouched and no half-merged output; a rerun merges again.
    """
    temporary = output.with_name(output.name + ".merging")
    count = 0
    streams = [_keyed(part) for part in parts]
    with open(temporary, "w", encoding="utf-8", newline="\n") as out:
        for _, raw in heapq.merge(*streams):
            out.write(raw)
            count += 1
    os.replace(temporary, output)
    return count


def _keyed(path: Path) -> Iterator[tuple[int, str]]:
    with open(path, encoding="utf-8") as handle:
        for raw in handle:
            if raw.endswith("\n"):
                yield json.loads(raw)["line"], raw
