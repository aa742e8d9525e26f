"""Open PL LLM Leaderboard scoring: per-task scores x100, baseline normalisation, the four averages, the table.

>>> from eval import leaderboard
>>> leaderboard.normalise(41.6 + 0.5 * (100 - 41.6), 41.6)   # half-way between the majority class and 100
50.0

The task list, metric keys and majority-class baselines are the leaderboard's (``reference/pl_leaderboard_spec.md``
§1.0); the averages follow its ``read_evals.py``: each task's raw score is normalised as
``(score - baseline) / (100 - baseline) * 100`` (negative below the baseline), and Average / Avg g / Avg mc /
Avg RAG are plain means of the normalised scores over 23 / 13 / 10 / 3 tasks; a missing task counts as raw 0.
Only the averages are normalised: the per-task columns are raw scores x100 (fractions) or as reported (EQ-Bench's
0-100 score, perplexity; see `display_scale`). The leaderboard's "other" tasks (`OTHER_TASKS`: multi-turn EQ-Bench,
poquad reranking, abstractive poquad RAG, PolEval 2018 perplexity) are shown in their own table section and left out
of every average. Plain Python: no torch, no lm-eval.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

PUBLISHED_CSV = Path(__file__).with_name("leaderboard_rows.csv")


def display_scale(metric: str) -> float:
    """The factor from lm-eval's value of `metric` to the leaderboard column: 100 for fractions, 1 otherwise.

    The leaderboard's rule (SPACE speakleash/open_pl_llm_leaderboard ``src/leaderboard/read_evals.py`` L118, commit
    6a07d0b): ``if 'perplexity' in task.metric or 'eqbench' in task.metric: mean_acc = np.mean(accs)`` else ``* 100``.
    EQ-Bench is already 0-100 in the fork (``polish_eq_bench/utils.py`` ``calculate_score``: ``final_score * 10``);
    acc / f1 / exact_match / levenshtein are means of 0..1 values.

    >>> display_scale("first_eqbench,none"), display_scale("acc,none"), display_scale("word_perplexity,none")
    (1.0, 100.0, 1.0)
    """
    return 1.0 if ("perplexity" in metric or "eqbench" in metric) else 100.0


@dataclasses.dataclass(frozen=True)
class LeaderboardTask:
    """One leaderboard column: its lm-eval task, the results key it reads, g / mc / other, the baseline (0..1)."""

    column: str
    task: str
    metric: str
    kind: str  # "g" (generate_until), "mc" (multiple_choice) or "other" (shown, never averaged)
    baseline: float
    rag: bool = False
    higher_is_better: bool = True

    @property
    def scale(self) -> float:
        return display_scale(self.metric)


TASKS: tuple[LeaderboardTask, ...] = (
    LeaderboardTask("polemo2-in_g", "polemo2_in", "exact_match,score-first", "g", 0.416),
    LeaderboardTask("polemo2-in_mc", "polemo2_in_multiple_choice", "acc,none", "mc", 0.416),
    LeaderboardTask("polemo2-out_g", "polemo2_out", "exact_match,score-first", "g", 0.368),
    LeaderboardTask("polemo2-out_mc", "polemo2_out_multiple_choice", "acc,none", "mc", 0.368),
    LeaderboardTask("8tags_mc", "polish_8tags_multiple_choice", "acc,none", "mc", 0.143),
    LeaderboardTask("8tags_g", "polish_8tags_regex", "exact_match,score-first", "g", 0.143),
    LeaderboardTask("belebele_mc", "polish_belebele_mc", "acc,none", "mc", 0.279),
    LeaderboardTask("belebele_g", "polish_belebele_regex", "exact_match,score-first", "g", 0.279),
    LeaderboardTask("dyk_mc", "polish_dyk_multiple_choice", "f1,none", "mc", 0.289),
    LeaderboardTask("dyk_g", "polish_dyk_regex", "f1,score-first", "g", 0.289),
    LeaderboardTask("ppc_mc", "polish_ppc_multiple_choice", "acc,none", "mc", 0.419),
    LeaderboardTask("ppc_g", "polish_ppc_regex", "exact_match,score-first", "g", 0.419),
    LeaderboardTask("psc_mc", "polish_psc_multiple_choice", "f1,none", "mc", 0.466),
    LeaderboardTask("psc_g", "polish_psc_regex", "f1,score-first", "g", 0.466),
    LeaderboardTask("cbd_mc", "polish_cbd_multiple_choice", "f1,none", "mc", 0.149),
    LeaderboardTask("cbd_g", "polish_cbd_regex", "f1,score-first", "g", 0.149),
    LeaderboardTask("klej_ner_mc", "polish_klej_ner_multiple_choice", "acc,none", "mc", 0.343),
    LeaderboardTask("klej_ner_g", "polish_klej_ner_regex", "exact_match,score-first", "g", 0.343),
    LeaderboardTask("polqa_reranking_mc", "polish_polqa_reranking_multiple_choice", "acc,none", "mc",
                    0.5335588952710677, rag=True),
    LeaderboardTask("polqa_open_book_g", "polish_polqa_open_book", "levenshtein,none", "g", 0.0, rag=True),
    LeaderboardTask("polqa_closed_book_g", "polish_polqa_closed_book", "levenshtein,none", "g", 0.0),
    LeaderboardTask("poquad_open_book", "polish_poquad_open_book", "levenshtein,none", "g", 0.0, rag=True),
    LeaderboardTask("eq_bench_first_turn", "polish_eq_bench_first_turn", "first_eqbench,none", "g", 0.0),
)
# Type "other" on the leaderboard: shown, in no average. SPACE about.py commit c7cf816 (eq_bench / average_eqbench,
# poleval2018_task3_test_10k / word_perplexity), d3a6318 (polish_eq_bench -> "other", poquad_reranking and
# abstractive_poquad_rag as "other"); reference/pl_leaderboard_spec.md §1.0. Baselines are 0 there (none applies).
OTHER_TASKS: tuple[LeaderboardTask, ...] = (
    LeaderboardTask("eq_bench", "polish_eq_bench", "average_eqbench,none", "other", 0.0),
    LeaderboardTask("poquad_reranking", "polish_poquad_reranking", "acc,none", "other", 0.0),
    LeaderboardTask("abstractive_poquad_rag", "polish_abstractive_poquad_rag", "levenshtein,none", "other", 0.0),
    LeaderboardTask("poleval2018_task3_test_10k", "polish_poleval2018_task3_test_10k", "word_perplexity,none",
                    "other", 0.0, higher_is_better=False),
)
COLUMNS: tuple[LeaderboardTask, ...] = TASKS + OTHER_TASKS
BY_COLUMN = {t.column: t for t in COLUMNS}
BY_TASK = {t.task: t for t in COLUMNS}
G_TASKS = tuple(t.column for t in TASKS if t.kind == "g")
MC_TASKS = tuple(t.column for t in TASKS if t.kind == "mc")
RAG_TASKS = tuple(t.column for t in TASKS if t.rag)
ALL_TASKS = G_TASKS + MC_TASKS
OTHER_COLUMNS = tuple(t.column for t in OTHER_TASKS)
GROUPS = {"polish": [t.task for t in TASKS], "polish_generate": [BY_COLUMN[c].task for c in G_TASKS],
          "polish_mc": [BY_COLUMN[c].task for c in MC_TASKS], "polish_other": [t.task for t in OTHER_TASKS]}
AVERAGES = ("average", "avg_g", "avg_mc", "avg_rag")
AVERAGE_TITLES = {"average": "Average", "avg_g": "Avg g", "avg_mc": "Avg mc", "avg_rag": "Avg RAG"}


def normalise(score: float, baseline: float) -> float:
    """A raw score (x100) relative to the majority-class baseline (x100): 0 at the baseline, 100 at perfect."""
    return (score - baseline) / (100 - baseline) * 100


def scores_from_results(results: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """Leaderboard columns from lm-eval's ``results["results"]``, scaled as the leaderboard does (`display_scale`).

    Every column, the "other" ones included; tasks not run are left out.
    """
    scores = {}
    for task in COLUMNS:
        value = results.get(task.task, {}).get(task.metric)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            scores[task.column] = float(value) * task.scale
    return scores


def average_of(scores: Mapping[str, float], columns: Sequence[str]) -> float:
    """The leaderboard's mean of normalised scores over `columns`; a missing column counts as raw 0."""
    return sum(normalise(scores.get(c, 0.0), BY_COLUMN[c].baseline * 100) for c in columns) / len(columns)


def averages(scores: Mapping[str, float]) -> dict[str, float]:
    """Average (23 tasks), Avg g (13), Avg mc (10) and Avg RAG (3) of leaderboard columns -> raw score x100."""
    return {"average": average_of(scores, ALL_TASKS), "avg_g": average_of(scores, G_TASKS),
            "avg_mc": average_of(scores, MC_TASKS), "avg_rag": average_of(scores, RAG_TASKS)}


@dataclasses.dataclass
class Row:
    """One leaderboard row: a model at an n-shot setting, its four averages and its per-task raw scores (x100)."""

    model: str
    n_shot: int
    params_b: float | None
    average: float | None
    avg_g: float | None
    avg_mc: float | None
    avg_rag: float | None
    scores: dict[str, float] = dataclasses.field(default_factory=dict)
    missing: list[str] = dataclasses.field(default_factory=list)
    published: bool = False
    rank: int | None = None

    @classmethod
    def from_scores(cls, model: str, n_shot: int, scores: Mapping[str, float], params_b: float | None = None) -> Row:
        missing = [c for c in ALL_TASKS if c not in scores]
        if missing:
            logger.warning("%s, %d-shot: %d of 23 leaderboard tasks were not run (%s); the averages count them as "
                           "raw 0, as the leaderboard does", model, n_shot, len(missing), ", ".join(missing))
        return cls(model, n_shot, params_b, **averages(scores), scores=dict(scores), missing=missing)

    def normalised(self) -> dict[str, float]:
        """Per-task scores normalised against the baseline (what the averages are means of; averaged tasks only)."""
        return {c: normalise(s, BY_COLUMN[c].baseline * 100) for c, s in self.scores.items() if c in ALL_TASKS}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def published_rows(path: str | Path = PUBLISHED_CSV) -> list[Row]:
    """The published leaderboard rows shipped with mmhub (rank, model, n_shot, params, averages, some tasks)."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for rec in csv.DictReader(f):
            scores = {}
            for key, value in rec.items():
                column = _csv_column(key)
                if column and value:
                    scores[column] = float(value)
            rows.append(Row(rec["model"], int(rec["n_shot"]), _float(rec.get("params_b")), _float(rec["average"]),
                            _float(rec["avg_g"]), _float(rec["avg_mc"]), _float(rec.get("avg_rag")), scores,
                            published=True, rank=int(rec["rank"]) if rec.get("rank") else None))
    return rows


def _csv_column(key: str) -> str | None:
    # The CSV writes columns with underscores (polemo2_in_g); map them to the leaderboard's names (polemo2-in_g).
    for column in BY_COLUMN:
        if key in (column, column.replace("-", "_")):
            return column
    return None


def _float(value: str | None) -> float | None:
    return float(value) if value not in (None, "") else None


def rank(row: Row, published: Iterable[Row]) -> int | None:
    """Where `row` would stand among the published rows of the same n-shot, by Average; None when that is unknown.

    The shipped rows are only the top of the leaderboard (`PUBLISHED_CSV`; some ranks are absent and ties share
    one), so a row takes the published rank of the first row it beats or ties; a row below all of them, or a
    row that is not a full leaderboard run (tasks not run count as 0), has no rank.
    """
    if row.missing or row.average is None:
        return None
    same = sorted((p for p in published if p.n_shot == row.n_shot and p.average is not None),
                  key=lambda p: -p.average)
    for position, p in enumerate(same, 1):
        if p.average <= row.average:
            return p.rank if p.rank is not None else position
    return None


def rank_note(row: Row, published: Sequence[Row], limited: bool = False) -> str:
    """The CLI's words for `row`'s place: ``would rank N``, why it has no rank, or "" without published rows."""
    same = [p for p in published if p.n_shot == row.n_shot and p.average is not None]
    if not same:
        return ""
    if limited:
        return "not ranked: a --limit run is a sample, not comparable with the leaderboard"
    if row.missing:
        return "not ranked: not every averaged task was run"
    found = rank(row, same)
    if found is None:
        return f"below the top {len(same)} {row.n_shot}-shot rows shown: rank not known"
    return f"would rank {found}"


def table(rows: Sequence[Row], published: Sequence[Row] = (), columns: Sequence[str] = ALL_TASKS,
          limited: bool = False) -> str:
    """A markdown table: mmhub's rows (bold, with their would-be rank; none for a `limited` run) merged into the
    published ones by Average."""
    ranked = []
    for row in rows:
        row.rank = rank(row, published) if published and not limited else None
        ranked.append(row)
    merged = sorted([*published, *ranked], key=lambda r: (-(r.average if r.average is not None else -1e9),
                                                        not r.published))
    header = ["rank", "model", "n_shot", "params", *AVERAGE_TITLES.values(), *columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in merged:
        name = r.model if r.published else f"**{r.model}** (mmhub)"
        cells = [str(r.rank) if r.rank is not None else "", name, str(r.n_shot),
                 "" if r.params_b is None else f"{r.params_b:.3g}",
                 *(fmt(getattr(r, a)) for a in AVERAGES), *(fmt(r.scores.get(c)) for c in columns)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + other_table(rows)


def other_table(rows: Sequence[Row], columns: Sequence[str] = OTHER_COLUMNS) -> str:
    """The leaderboard's "other" columns of `rows` as their own markdown section ("" when none was run)."""
    shown = [r for r in rows if any(c in r.scores for c in columns)]
    if not shown:
        return ""
    header = ["model", "n_shot", *columns]
    lines = ["", "", "Other tasks (shown on the leaderboard, left out of every average; "
                     "poleval2018_task3_test_10k is a word perplexity: lower is better):", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in shown:
        cells = [f"**{r.model}** (mmhub)", str(r.n_shot), *(fmt(r.scores.get(c)) for c in columns)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def fmt(value: float | None) -> str:
    """A table cell: two decimals ("" for a missing value; 4 significant digits for huge perplexities)."""
    if value is None:
        return ""
    return f"{value:.2f}" if abs(value) < 1e6 else f"{value:.4g}"  # perplexities of untrained models are huge


def write_json(rows: Sequence[Row], published: Sequence[Row], path: str | Path, limited: bool = False,
               **extra: Any) -> Path:
    """The rows (with their would-be ranks; none for a `limited` run), the published rows and `extra` (settings,
    raw results) as JSON."""
    for row in rows:
        row.rank = rank(row, published) if published and not limited else None
    payload = {"rows": [r.to_dict() for r in rows], "published": [r.to_dict() for r in published],
               "tasks": [dataclasses.asdict(t) for t in COLUMNS], **extra}
    Path(path).write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")
    return Path(path)


def plot(rows: Sequence[Row], path: str | Path) -> Path:
    """A bar plot (PNG) of per-task normalised scores, one bar per task and row (n-shot), with the Average lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [c for c in ALL_TASKS if any(c in r.scores for r in rows)]
    width = 0.8 / max(1, len(rows))
    fig, ax = plt.subplots(figsize=(max(8.0, 0.55 * len(columns) + 2), 5))
    for i, row in enumerate(rows):
        normalised = row.normalised()
        xs = [j + (i - (len(rows) - 1) / 2) * width for j in range(len(columns))]
        label = f"{row.model} {row.n_shot}-shot (Average {fmt(row.average)})"
        bars = ax.bar(xs, [normalised.get(c, 0.0) for c in columns], width, label=label)
        if row.average is not None:
            ax.axhline(row.average, color=bars.patches[0].get_facecolor() if bars.patches else None,
                       linestyle="--", linewidth=1)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(columns)), columns, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("normalised score (0 = majority class, 100 = perfect)")
    ax.set_title("Open PL LLM Leaderboard tasks (mmhub)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
