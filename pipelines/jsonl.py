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
from pipelines.textfiles import JSONError, parse_json

_TAIL = 1 << 16  # bytes read from the end at a time while looking for the last complete line


def resume(path: str | os.PathLike) -> int:
    """The input line number of the last complete output line of `path` (0 when there is none), after truncating an
    incomplete last line (a run killed mid-write).

    Every complete line is checked (`check`): a line that is not one this command wrote (edited by hand, damaged)
    is an `InputError` naming ``file:line``, never skipped, since resuming over it would keep a wrong result.
    """
    path = Path(path)
    if not path.exists():
        return 0
    with open(path, "rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        end = _rfind_newline(handle, size) + 1
        if end != size:
            handle.truncate(end)  # a line cut by a kill: dropped, its batch is redone
    _, last = check(path)
    return last


def check(path: str | os.PathLike) -> tuple[int, int]:
    """``(lines, last input line number)`` of a JSON-lines output, after checking every complete line: a JSON
    object whose ``"line"`` is an integer above the one before. `InputError` naming ``file:line`` otherwise."""
    count, last = 0, 0
    for count, (number, _) in enumerate(_numbered(Path(path)), start=1):  # noqa: B007 (count is used after)
        last = number
    return count, last


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


def _numbered(path: Path) -> Iterator[tuple[int, bytes]]:
    """``(input line number, raw line)`` of each complete line, checked (see `check`)."""
    previous = 0
    with open(path, "rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            if not raw.endswith(b"\n"):
                return  # a partial last line (a run is writing it, or was killed while writing it)
            reason = None
            try:
                item = parse_json(raw)
            except JSONError as err:
                reason = err.msg
            else:
                number = item.get("line") if isinstance(item, dict) else None
                if not isinstance(number, int) or isinstance(number, bool) or number < 1:
                    reason = "not an object with an input \"line\" number"
                elif number <= previous:
                    reason = f"input line {number} after input line {previous} (doubled or out of order)"
            if reason is not None:
                raise InputError("output", f"{path}:{lineno}", "a JSON-lines file this command wrote",
                                 f"{path}:{lineno}: line {lineno} is {reason}: the file was edited or damaged. "
                                 f"Restore it, choose another --output, or pass --overwrite to start again.")
            previous = number
            yield number, raw


def read(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """The objects of a JSON-lines output, in order (complete lines only, each checked as `check` does)."""
    for _, raw in _numbered(Path(path)):
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
    for number, raw in _numbered(path):
        yield number, raw.decode("utf-8")
