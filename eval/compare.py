"""Base model vs fine-tune on the Polish suite: both leaderboard rows side by side, per task and per average.

>>> from eval import compare
>>> result = compare.compare("speakleash/Bielik-1.5B-v3.0-Instruct", "my-org/bielik-1.5b-finetuned",
...                          tasks=["polish"], num_fewshot=[5])
>>> print(result.markdown)        # Average, Avg g, Avg mc, Avg RAG, every task: base, candidate, candidate - base

Each side is a model (evaluated here with the same options, see `eval.runner.run`) or a results file written
earlier: mmhub's ``leaderboard.json``, or an lm-eval results JSON (mmhub's ``results_<n>shot.json`` or the
leaderboard harness' own ``results_*.json``), scored as the leaderboard does (`eval.leaderboard`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from eval import catalog, leaderboard
from eval.leaderboard import Row
from pipelines.errors import InputError
from pipelines.textfiles import JSONError, parse_json

SAME = 0.005  # differences below half a hundredth of a point print as 0.00: "same"


@dataclasses.dataclass
class Side:
    """One side of a comparison: its name, where it came from (a model or a file) and its rows by n-shot."""

    name: str
    source: str  # "evaluated" or the results file
    rows: dict[int, Row]
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)  # what a results file says it was run with

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "rows": {n: r.to_dict() for n, r in self.rows.items()}}


@dataclasses.dataclass
class Line:
    """One line of the comparison: an average or a leaderboard column, both values and candidate - base."""

    label: str
    group: str  # "average", "g", "mc" or "other"
    base: float | None
    candidate: float | None
    higher_is_better: bool = True

    @property
    def delta(self) -> float | None:
        return None if self.base is None or self.candidate is None else self.candidate - self.base

    @property
    def verdict(self) -> str:
        """better / worse / same for the candidate (lower is better for perplexity), "" when a side is missing."""
        if self.delta is None:
            return ""
        if not math.isfinite(self.delta):  # never reached through `compare` (check_finite refuses such sides)
            return "n/a"
        if abs(self.delta) < SAME:
            return "same"
        return "better" if (self.delta > 0) == self.higher_is_better else "worse"

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "delta": self.delta, "verdict": self.verdict}


@dataclasses.dataclass
class Comparison:
    """What `compare` returns: both sides, the lines per n-shot, the markdown and the files written."""

    base: Side
    candidate: Side
    lines: dict[int, list[Line]]
    markdown: str
    files: dict[str, str] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base.to_dict(), "candidate": self.candidate.to_dict(),
                "lines": {n: [line.to_dict() for line in lines] for n, lines in self.lines.items()},
                "files": self.files}


def is_results_file(spec: Any) -> bool:
    """True when `spec` names a results file (a path ending in .json) rather than a model."""
    return isinstance(spec, (str, Path)) and str(spec).lower().endswith(".json")


def read_results(path: str | Path, argument: str = "compare") -> Side:
    """A side from a results file: mmhub's leaderboard.json, or an lm-eval results JSON (one n-shot).

    Raises:
        InputError: the file is missing, is not JSON, or holds no leaderboard task.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError(argument, str(path), "a model, or a results .json file that exists")
    try:
        data = parse_json(file.read_bytes())
    except (OSError, JSONError) as err:
        raise InputError(argument, str(path), "a JSON results file", f"It could not be read: {err}.") from None
    if isinstance(data, dict) and isinstance(data.get("rows"), list):  # mmhub's leaderboard.json
        rows = {}
        for index, rec in enumerate(data["rows"]):
            try:
                scores = rec.get("scores") or {}
                if not isinstance(scores, dict):
                    raise TypeError("scores is not an object")
                row = Row.from_scores(str(rec["model"]), int(rec["n_shot"]), scores, rec.get("params_b"))
            except (AttributeError, KeyError, TypeError, ValueError) as err:
                raise InputError(argument, str(path), "mmhub's leaderboard.json or an lm-eval results JSON",
                                 f"Its row {index} is not a leaderboard row ({type(err).__name__}: {err}).") from None
            rows[row.n_shot] = row
        name = data.get("model") or (next(iter(rows.values())).model if rows else file.stem)
        settings = data.get("settings") if isinstance(data.get("settings"), dict) else {}
    elif isinstance(data, dict) and isinstance(data.get("results"), dict):  # lm-eval's results JSON
        scores = leaderboard.scores_from_results(data["results"])
        shots = {int(n) for task, n in (data.get("n-shot") or {}).items() if task in leaderboard.BY_TASK}
        if len(shots) != 1:
            raise InputError(argument, str(path), "an lm-eval results file of one n-shot setting",
                             f"It has n-shot settings {sorted(shots)} for the leaderboard tasks.")
        name = _model_name(data) or file.stem
        n = shots.pop()
        rows = {n: Row.from_scores(name, n, scores)}
        config = data.get("config") if isinstance(data.get("config"), dict) else {}
        settings = {"limit": config["limit"]} if "limit" in config else {}
    else:
        raise InputError(argument, str(path), "mmhub's leaderboard.json or an lm-eval results JSON")
    if not rows or not any(row.scores for row in rows.values()):
        raise InputError(argument, str(path), "a results file with at least one leaderboard task")
    side = Side(str(name), str(file), rows, settings)
    check_finite(side, argument)
    return side


def check_finite(side: Side, role: str) -> None:
    """`InputError` naming the side and the task when a score is NaN or infinite (lm-eval writes a failed metric as
    ``NaN``): no verdict can be drawn from it, and a "nan | worse" line would read like a result."""
    for n, row in sorted(side.rows.items()):
        for task, value in row.scores.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise InputError(role, side.source if side.source != "evaluated" else side.name,
                                 "results whose every score is a finite number",
                                 f"{task} ({n}-shot) scored {value!r}: that task's evaluation failed. Rerun it, or "
                                 f"leave it out with --tasks.")


def _model_name(data: Mapping[str, Any]) -> str | None:
    """The model an lm-eval results JSON is about: its model_name, else ``pretrained=`` of its model_args."""
    if isinstance(data.get("model_name"), str) and data["model_name"]:
        return data["model_name"]
    config = data.get("config") or {}
    args = config.get("model_args")
    if isinstance(args, dict) and isinstance(args.get("pretrained"), str):
        return args["pretrained"]
    if isinstance(args, str) and (match := re.search(r"pretrained=([^,]+)", args)):
        return match.group(1)
    return config.get("model") if isinstance(config.get("model"), str) else None


def evaluate(model: Any, **options: Any) -> Side:
    """A side from a model, evaluated with `eval.runner.run` and `options`."""
    from eval.runner import run

    report = run(model, **options)
    return Side(report.model, "evaluated", {row.n_shot: row for row in report.rows})


def compare(base: Any, candidate: Any, *, output_dir: str | Path | None = "eval_results",
            **options: Any) -> Comparison:
    """Compare `candidate` with `base` (each a model or a results .json file) on the leaderboard's scores.

    Args:
        base, candidate: a Hub id, a local folder, ``"tiny"``, a loaded pipeline, or a results file (.json).
        output_dir (`str`, defaults to ``"eval_results"``): where the evaluated models' results go (as with
            `eval.runner.run`) and the comparison (``compare__<base>__vs__<candidate>.md`` / ``.json``); None
            writes nothing.
        options: `eval.runner.run`'s options (tasks, num_fewshot, limit, batch_size, ...) for the sides that are
            models. Both models are evaluated with the same options.

    Raises:
        InputError: a results file that cannot be used, or no n-shot setting both sides have.
    """
    from eval.runner import validate

    models = [spec for spec in (base, candidate) if not is_results_file(spec)]
    limit = None
    if models:  # check the options once, before either model loads
        limit = validate(**{k: v for k, v in options.items() if k in _VALIDATED}, output_dir=output_dir)
    files = {role: read_results(spec, role) for role, spec in (("base", base), ("candidate", candidate))
             if is_results_file(spec)}
    if models:  # a results file must be comparable with what the model will be evaluated on: known before it runs
        for role, side in files.items():
            check_comparable(side, role, {**options, "limit": limit})
    sides = {role: files.get(role) or evaluate(spec, output_dir=output_dir, **options)
             for role, spec in (("base", base), ("candidate", candidate))}
    for role, side in sides.items():
        check_finite(side, role)
    shots = sorted(set(sides["base"].rows) & set(sides["candidate"].rows))
    if not shots:
        raise InputError("num_fewshot", sorted(set(sides["base"].rows) | set(sides["candidate"].rows)),
                         "an n-shot setting both sides have",
                         f"base has {sorted(sides['base'].rows)}, candidate has {sorted(sides['candidate'].rows)}.")
    lines = {n: compare_rows(sides["base"].rows[n], sides["candidate"].rows[n]) for n in shots}
    result = Comparison(sides["base"], sides["candidate"], lines,
                        markdown(sides["base"], sides["candidate"], lines))
    if output_dir is not None:
        result.files = write(result, output_dir)
    return result


_VALIDATED = ("tasks", "num_fewshot", "limit", "limit_mode", "batch_size", "max_batch_size", "backend", "data_dir",
              "apply_chat_template", "fewshot_as_multiturn")
# The settings a model is evaluated with that must match a results file's (`eval.runner.run`'s defaults).
_SETTINGS = {"limit": None, "limit_mode": "random", "apply_chat_template": False, "fewshot_as_multiturn": False}


def check_comparable(side: Side, role: str, options: Mapping[str, Any]) -> None:
    """Before a model is evaluated against the results file `side`: the file must have one of the n-shot settings
    asked for, the same averaged tasks (else the averages differ by what was run) and every task the model will
    run, and, where it records them, the same limit and prompt settings. Raises `InputError` naming the fix."""
    shots = options.get("num_fewshot", (5,))
    shots = list(shots) if isinstance(shots, (list, tuple)) else [shots]
    common = sorted(set(shots) & set(side.rows))
    if not common:
        raise InputError("num_fewshot", shots, f"an n-shot setting the {role} file has",
                         f"{side.source} holds {sorted(side.rows)}-shot rows.")
    tasks = options.get("tasks", ("polish",))
    tasks = list(tasks) if isinstance(tasks, (list, tuple)) else [tasks]
    wanted = {leaderboard.BY_TASK[t].column for t in catalog.expand(tasks) if t in leaderboard.BY_TASK}
    have = set().union(*(side.rows[n].scores for n in common))
    lacking = sorted(wanted - have)
    extra = sorted((have - wanted) & set(leaderboard.ALL_TASKS))
    if lacking or extra:
        detail = "; ".join(part for part in (f"the file lacks {', '.join(lacking)}" if lacking else "",
                                             f"it also has {', '.join(extra)}" if extra else "") if part)
        raise InputError("tasks", tasks, f"the tasks of the {role} file {side.source}",
                         f"{detail} (the averages count tasks not run as 0, so they would not compare).")
    for key, default in _SETTINGS.items():
        if key not in side.settings or (key == "limit_mode" and side.settings.get("limit") is None):
            continue
        mine = options.get(key, default)
        if key == "limit_mode" and options.get("limit") is None:
            continue
        if side.settings[key] != mine:
            raise InputError(key, mine, f"the {role} file's {key} ({side.settings[key]!r})",
                             f"{side.source} was run with {key}={side.settings[key]!r}: evaluate with the same "
                             f"settings, or compare two results files.")


def compare_rows(base: Row, candidate: Row) -> list[Line]:
    """The four averages, then every leaderboard column either side has (averaged tasks first, then "other")."""
    lines = [Line(leaderboard.AVERAGE_TITLES[a], "average", getattr(base, a), getattr(candidate, a))
             for a in leaderboard.AVERAGES]
    for task in leaderboard.COLUMNS:
        if task.column in base.scores or task.column in candidate.scores:
            lines.append(Line(task.column, task.kind, base.scores.get(task.column),
                              candidate.scores.get(task.column), task.higher_is_better))
    return lines


def markdown(base: Side, candidate: Side, lines: Mapping[int, Sequence[Line]]) -> str:
    """One markdown table per n-shot: label, base, candidate, candidate - base, better / worse / same."""
    parts = []
    for n, rows in lines.items():
        parts += [f"## {candidate.name} vs {base.name}, {n}-shot", "",
                  f"| | base: {base.name} | candidate: {candidate.name} | candidate - base | |",
                  "|---|---|---|---|---|"]
        other_started = False
        for line in rows:
            if line.group == "other" and not other_started:
                parts.append("| *other tasks (in no average)* | | | | |")
                other_started = True
            label = f"**{line.label}**" if line.group == "average" else line.label
            delta = "" if line.delta is None else f"{line.delta:+.2f}"
            parts.append(f"| {label} | {leaderboard.fmt(line.base)} | {leaderboard.fmt(line.candidate)} | "
                         f"{delta} | {line.verdict} |")
        missing = sorted(set(base.rows[n].missing) | set(candidate.rows[n].missing))
        if missing:
            parts += ["", f"{len(missing)} of {len(leaderboard.ALL_TASKS)} averaged tasks were not run on a side; the "
                          "averages count them as raw 0, as the leaderboard does (compare the per-task lines)."]
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def write(result: Comparison, output_dir: str | Path) -> dict[str, str]:
    """Write the comparison as markdown and JSON under `output_dir`; returns {"markdown": path, "json": path}."""
    from eval.runner import _slug

    folder = Path(output_dir).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"compare__{_slug(result.base.name)}__vs__{_slug(result.candidate.name)}"
    md, js = folder / f"{stem}.md", folder / f"{stem}.json"
    md.write_text(result.markdown, encoding="utf-8")
    js.write_text(json.dumps(result.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    return {"markdown": str(md), "json": str(js)}
