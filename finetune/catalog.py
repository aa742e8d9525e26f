"""What a finished run says about itself (``mmhub_run.json``), and finding finished runs under folders.

Every generator trainer (`finetune.lm`, `finetune.sd_lora`) writes ``mmhub_run.json`` into its output folder: the
task the folder serves, the base model, whether it is an adapter. It lands with the rest of the folder in the atomic
`finetune.run.publish`, so its presence marks a *finished* run; a ``<output>.partial`` work folder never has one at
its top. The Chat tab lists the text-generation runs found under the folders its operator allows.

>>> from finetune.catalog import list_runs
>>> [(run.label, run.path) for run in list_runs(["runs"], task="text-generation")]
[('bielik-pl-lora · LoRA on speakleash/Bielik-1.5B-v3.0-Instruct', '/home/me/runs/bielik-pl-lora')]
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.textfiles import parse_json

logger = logging.getLogger(__name__)

RUN_FILE = "mmhub_run.json"
#: Bumped when the file's meaning changes; readers accept every version up to theirs.
RUN_FILE_VERSION = 1


@dataclass(frozen=True)
class RunInfo:
    """One finished run folder: where it is and what it holds (the parsed ``mmhub_run.json``)."""

    path: str
    task: str
    base_model: str | None
    adapter: bool
    trainer: str
    created: str
    info: dict[str, Any]

    @property
    def label(self) -> str:
        """``<folder name> · LoRA on <base>`` (or ``fine-tuned from <base>``), for a model list."""
        kind = "LoRA on" if self.adapter else "fine-tuned from"
        return f"{Path(self.path).name} · {kind} {self.base_model}" if self.base_model else Path(self.path).name


def write_run_info(folder: str | os.PathLike, *, task: str, trainer: str, base_model: str, adapter: bool,
                   **extra: Any) -> Path:
    """Write ``folder/mmhub_run.json`` (before the folder is published, so that it appears with the rest)."""
    info = {"mmhub_run": RUN_FILE_VERSION, "task": task, "trainer": trainer, "base_model": base_model,
            "adapter": adapter, "created": datetime.now(UTC).isoformat(timespec="seconds"), **extra}
    path = Path(folder) / RUN_FILE
    path.write_text(json.dumps(info, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path


def read_run_info(folder: str | os.PathLike) -> RunInfo | None:
    """The `RunInfo` of a finished run folder, or None when `folder` is not one (or its file is unreadable)."""
    path = Path(folder) / RUN_FILE
    try:
        info = parse_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not isinstance(info.get("task"), str):
        logger.warning("ignoring %s: not an mmhub run description", path)
        return None
    return RunInfo(path=str(Path(folder).resolve()), task=info["task"], base_model=info.get("base_model"),
                   adapter=bool(info.get("adapter")), trainer=str(info.get("trainer", "")),
                   created=str(info.get("created", "")), info=info)


def list_runs(folders: list[str | os.PathLike] | tuple[str | os.PathLike, ...], task: str | None = None,
              depth: int = 2) -> list[RunInfo]:
    """Finished runs in `folders` and their sub-folders (down to `depth` levels), newest first.

    Args:
        folders (`list[str]`): the folders to search (the Spaces' ``--allow-local-models`` folders); missing ones
            are skipped.
        task (`str`, *optional*): only runs serving this task (``"text-generation"``, ``"text-to-image"``).
        depth (`int`, defaults to 2): how many folder levels below each of `folders` to look.

    Hidden folders and ``*.partial`` work folders of unfinished runs are not entered.
    """
    found: dict[str, RunInfo] = {}

    def visit(folder: Path, level: int) -> None:
        run = read_run_info(folder)
        if run is not None:
            if task is None or run.task == task:
                found.setdefault(run.path, run)
            return  # a run folder holds no other runs
        if level >= depth:
            return
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir())
        except OSError:
            return
        for child in children:
            if not child.name.startswith(".") and not child.name.endswith(".partial"):
                visit(child, level + 1)

    for folder in folders:
        root = Path(folder).expanduser()
        if root.is_dir():
            visit(root, 0)
    return sorted(found.values(), key=lambda r: (r.created, r.path), reverse=True)


def run_choices(folders: list[str | os.PathLike] | tuple[str | os.PathLike, ...], task: str) -> list[tuple[str, str]]:
    """``(label, path)`` pairs of the finished `task` runs under `folders`, for a model dropdown."""
    return [(run.label, run.path) for run in list_runs(folders, task=task)]
