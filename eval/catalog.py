"""The Polish task names and groups, read from ``eval/tasks/*.yaml`` without lm-eval (fast: the CLI checks names
before anything heavy loads), and the order in which the leaderboard's harness walks them.

>>> from eval import catalog
>>> catalog.expand(["polish_mc"])[:2]     # the fork walks a group's list backwards
['polish_polqa_reranking_multiple_choice', 'polish_klej_ner_multiple_choice']
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml

TASKS_DIR = Path(__file__).parent / "tasks"


@dataclasses.dataclass(frozen=True)
class Entry:
    """A name lm-eval knows from ``eval/tasks``: a task, a group (with its members) or a tag (with its tasks)."""

    name: str
    kind: str  # "task", "group" or "tag"
    members: tuple[str, ...] = ()


class _Loader(yaml.SafeLoader):
    """Reads task YAMLs without resolving their ``!function`` tags (they would import lm-eval)."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _read(path: Path) -> dict:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(data, dict):
        return {}
    if isinstance(data.get("include"), str):  # the included file's keys, overridden by this file's
        data = {**_read(path.parent / data["include"]), **{k: v for k, v in data.items() if k != "include"}}
    return data


@functools.lru_cache(maxsize=1)
def index() -> dict[str, Entry]:
    """Every task, group and tag of ``eval/tasks`` by name."""
    entries: dict[str, Entry] = {}
    tags: dict[str, list[str]] = {}
    for path in sorted(TASKS_DIR.glob("*.yaml")):
        data = _read(path)
        if isinstance(data.get("group"), str) and isinstance(data.get("task"), list):
            entries[data["group"]] = Entry(data["group"], "group", tuple(data["task"]))
        elif isinstance(data.get("task"), str):
            entries[data["task"]] = Entry(data["task"], "task")
            tag = data.get("tag") or []
            for name in [tag] if isinstance(tag, str) else tag:
                tags.setdefault(name, []).append(data["task"])
    for name, members in tags.items():
        entries.setdefault(name, Entry(name, "tag", tuple(members)))
    return entries


def names() -> list[str]:
    """All known names, sorted."""
    return sorted(index())


def unknown(requested: Iterable[str]) -> list[tuple[str, str | None]]:
    """(name, closest known name or None) for each requested name that is not a task, group or tag."""
    known = names()
    return [(name, next(iter(difflib.get_close_matches(name, known, n=1)), None))
            for name in requested if name not in index()]


def expand(requested: Sequence[str]) -> list[str]:
    """The task names `requested` stands for, in the order the leaderboard's harness evaluates them.

    FORK (speakleash/lm-evaluation-harness polish4 / polish4_shuf) ``lm_eval/tasks/__init__.py``
    ``load_task_or_group`` and ``_load_individual_task_or_group`` build their task dicts with
    ``dict(collections.ChainMap(*map(load, names)))``; a ChainMap iterates its last mapping first, so both the
    names given and each group's task list are walked backwards (``--tasks a,b`` gives b's tasks, then a's), a
    name seen twice keeps its later place. ``evaluator.evaluate`` then shuffles each task's documents for ``--limit``
    in this order from one random stream, so the order decides which documents a limited run gets.
    """
    order: dict[str, None] = {}

    def walk(names_: Sequence[str]) -> None:
        for name in reversed(names_):
            entry = index().get(name)
            if entry is None or entry.kind == "task":
                order.setdefault(name, None)
            else:
                walk(entry.members)

    walk(list(requested))
    return list(order)
