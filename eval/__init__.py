"""mmhub's Polish LLM evaluation: the Open PL LLM Leaderboard suite on lm-eval, scored as the leaderboard does.

>>> import eval as pl_eval
>>> report = pl_eval.run("speakleash/Bielik-1.5B-v3.0-Instruct", tasks=["polish"], num_fewshot=[5])
>>> print(report.markdown)

`run` also takes a loaded mmhub text-generation pipeline (``pipelines.load("text-generation", ...)``); add
``"polish_other"`` to `tasks` for the leaderboard's four tasks outside every average. A base model against a
fine-tune: ``eval.compare.compare(base, candidate, tasks=["polish"], num_fewshot=[5])``. The package is light: torch
and lm-eval are imported on the first call of `run` (see `eval.runner`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eval.runner import Report

__all__ = ["run", "TASKS_DIR", "FIXTURES_DIR"]

from pathlib import Path

TASKS_DIR = Path(__file__).parent / "tasks"
FIXTURES_DIR = Path(__file__).parent / "fixtures"


def run(model: Any, **options: Any) -> Report:
    """Evaluate `model` on the Polish suite; see `eval.runner.run` for the options."""
    from eval.runner import run as _run

    return _run(model, **options)
