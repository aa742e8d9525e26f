"""Leaderboard Space: the Open PL LLM Leaderboard's published rows beside your own ``python -m eval`` runs.

    python -m spaces.leaderboard                               # reads ./eval_results (python -m eval's --output)
    MMHUB_EVAL_RESULTS=~/runs/eval python -m spaces.leaderboard

As the Open PL LLM Leaderboard Space (speakleash/open_pl_llm_leaderboard) shows it: search by model, column groups
(averages, generative tasks, multiple-choice tasks, single tasks), an n-shot filter and a model-type filter. Every
score in the table and the plot is on one scale, the leaderboard's normalised one (0 = the majority-class baseline,
100 = perfect; `eval.leaderboard.normalise`): the averages are means of exactly these numbers. A column no shown row
has is left out; gaps in the published ranks are explained under the table.

API (gradio_client): ``/leaderboard`` (search, column groups, tasks, n-shot values, model types) -> table, plot data,
notes.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from .common import Context, SpaceSpec, on_status_line, user_errors
from .launcher import main_for

logger = logging.getLogger(__name__)

#: Where ``python -m eval`` writes by default (``--output eval_results``): ``<folder>/<model>/leaderboard.json``.
RESULTS_ENV, RESULTS_DEFAULT = "MMHUB_EVAL_RESULTS", "eval_results"
GROUPS = ("averages", "generative", "multiple_choice")
TYPES = ("instruct", "base", "merge", "quantised", "yours")
MAX_PLOTTED = 25
MAX_SEARCH_CHARS = 200

TEXTS = {
    "en": {
        "explain": "The [Open PL LLM Leaderboard](https://huggingface.co/spaces/speakleash/open_pl_llm_leaderboard)'s "
                   "published rows (the top {published} shipped with mmhub) beside your own `python -m eval` runs "
                   "from `{folder}` ({own} found). **Every score is normalised** as the leaderboard's averages are: "
                   "0 = the majority-class baseline of the task, 100 = perfect, below 0 = worse than always "
                   "answering the most common class.",
        "search": "Search models", "search_placeholder": "e.g. bielik; qwen (separate several with ;)",
        "groups": "Columns", "averages": "Averages", "generative": "Generative tasks (g)",
        "multiple_choice": "Multiple-choice tasks (mc)", "tasks": "Add single tasks", "shots": "n-shot",
        "types": "Model type (read from the name)", "instruct": "instruction-tuned / chat", "base": "base",
        "merge": "merge", "quantised": "quantised (GGUF, FP8…)", "yours": "your runs", "refresh": "Reload my runs",
        "table": "Leaderboard", "plot": "Average (normalised, the table's scale)",
        "rank": "rank", "model": "model", "type": "type", "n_shot": "n-shot", "params": "params (B)", "note": "note",
        "Average": "Average", "Avg g": "Avg g", "Avg mc": "Avg mc", "Avg RAG": "Avg RAG",
        "score": "normalised score", "would_rank": "would be {rank}",
        "gap_missing": "Rank {rank} ({shot}-shot) is missing because that leaderboard row is not among the rows "
                       "shipped with mmhub.",
        "gap_tie": "Rank {rank} ({shot}-shot) is missing because {count} rows share rank {shared} (equal Average), "
                   "so the next row is ranked {next}.",
        "ranks": "Ranks are the leaderboard's own. Your runs show where they would stand among the published rows "
                 "of the same n-shot, by Average.",
        "empty": "No row matches these filters.",
        "limited": "a --limit run: a sample, not ranked", "partial": "{count} averaged tasks not run (count as 0)",
        "below": "below the top {count} shown",
    },
    "pl": {
        "explain": "Opublikowane wiersze [Open PL LLM Leaderboard]"
                   "(https://huggingface.co/spaces/speakleash/open_pl_llm_leaderboard) (czołowe {published} dołączone "
                   "do mmhub) obok Twoich przebiegów `python -m eval` z `{folder}` (znaleziono: {own}). **Wszystkie "
                   "wyniki są znormalizowane** jak średnie rankingu: 0 = poziom klasy większościowej zadania, 100 = "
                   "wynik idealny, poniżej 0 = gorzej niż zawsze wybierać najczęstszą klasę.",
        "search": "Szukaj modeli", "search_placeholder": "np. bielik; qwen (kilka oddziel średnikiem)",
        "groups": "Kolumny", "averages": "Średnie", "generative": "Zadania generatywne (g)",
        "multiple_choice": "Zadania wielokrotnego wyboru (mc)", "tasks": "Dodaj pojedyncze zadania",
        "shots": "Liczba przykładów (n-shot)", "types": "Rodzaj modelu (z nazwy)",
        "instruct": "dostrojony do instrukcji / czatu", "base": "bazowy", "merge": "scalony",
        "quantised": "skwantyzowany (GGUF, FP8…)", "yours": "Twoje przebiegi",
        "refresh": "Wczytaj ponownie moje przebiegi",
        "table": "Ranking", "plot": "Średnia (znormalizowana, skala tabeli)",
        "rank": "miejsce", "model": "model", "type": "rodzaj", "n_shot": "n-shot", "params": "parametry (mld)",
        "note": "uwagi", "Average": "Średnia", "Avg g": "Śr. g", "Avg mc": "Śr. mc", "Avg RAG": "Śr. RAG",
        "score": "wynik znormalizowany", "would_rank": "byłoby {rank}",
        "gap_missing": "Brak miejsca {rank} ({shot}-shot): tego wiersza rankingu nie ma wśród wierszy dołączonych "
                       "do mmhub.",
        "gap_tie": "Brak miejsca {rank} ({shot}-shot): {count} wiersze dzielą miejsce {shared} (równa średnia), "
                   "więc następny wiersz ma miejsce {next}.",
        "ranks": "Miejsca pochodzą z rankingu. Twoje przebiegi pokazują, gdzie stanęłyby wśród opublikowanych "
                 "wierszy o tej samej liczbie przykładów, według średniej.",
        "empty": "Żaden wiersz nie pasuje do tych filtrów.",
        "limited": "przebieg z --limit: próbka, bez miejsca",
        "partial": "nie uruchomiono {count} uśrednianych zadań (liczą się jako 0)",
        "below": "poniżej {count} pokazanych czołowych",
    },
}


def results_folder() -> Path:
    """``$MMHUB_EVAL_RESULTS``, else ``eval_results`` in the working directory (python -m eval's default)."""
    return Path(os.environ.get(RESULTS_ENV) or RESULTS_DEFAULT).expanduser()


def model_type(name: str, yours: bool = False) -> str:
    """One of `TYPES`, read from a model's name (the shipped rows carry no type): a merge, a quantised build (GGUF,
    GPTQ, AWQ, FP8, ``_Q4_K_M``...), instruction-tuned or chat (``Instruct``, ``chat``, ``-it``), else base."""
    if yours:
        return "yours"
    lower = name.lower()
    if "merge" in lower:
        return "merge"
    if re.search(r"gguf|gptq|awq|fp8|int[48]|[-_.]q\d(_|$)|[-_.]q\d_k", lower):
        return "quantised"
    if re.search(r"instruct|chat|(^|[-_.])it($|[-_.])", lower):
        return "instruct"
    return "base"


def own_rows(folder: Path) -> list[tuple[Any, bool]]:
    """``(Row, limited)`` of every ``<folder>/*/leaderboard.json`` that ``python -m eval`` wrote; unreadable files are
    skipped (logged)."""
    import dataclasses

    from eval.leaderboard import Row

    found = []
    fields = {f.name for f in dataclasses.fields(Row)}
    for path in sorted(folder.glob("*/leaderboard.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            limited = (data.get("settings") or {}).get("limit") is not None
            for item in data.get("rows", []):
                row = Row(**{k: v for k, v in item.items() if k in fields})
                row.published = False
                found.append((row, limited))
        except (OSError, ValueError, TypeError) as err:
            logger.warning("skipping %s: %s", path, err)
    return found


def rank_gaps(published: Sequence[Any]) -> list[tuple[str, dict[str, Any]]]:
    """Why ranks are missing among the published rows of each n-shot: ``("gap_tie" | "gap_missing", values)``.

    With the leaderboard's ranking, ``k`` rows tied at rank ``r`` take ``r`` and the next row is ``r + k``; a missing
    rank that no tie explains is a row the shipped CSV leaves out.
    """
    notes = []
    for shot in sorted({r.n_shot for r in published}):
        counts = Counter(r.rank for r in published if r.n_shot == shot and r.rank is not None)
        if not counts:
            continue
        for missing in range(min(counts), max(counts)):
            if missing in counts:
                continue
            shared = max(r for r in counts if r < missing)
            if shared + counts[shared] > missing:
                notes.append(("gap_tie", {"rank": missing, "shot": shot, "count": counts[shared], "shared": shared,
                                          "next": shared + counts[shared]}))
            else:
                notes.append(("gap_missing", {"rank": missing, "shot": shot}))
    return notes


def build(ctx: Context) -> None:
    import pandas as pd

    from eval import leaderboard as lb

    t = lambda key, **kw: ctx.t(key, TEXTS, **kw)  # noqa: E731
    folder = results_folder()
    group_columns = {"averages": [lb.AVERAGE_TITLES[a] for a in lb.AVERAGES], "generative": list(lb.G_TASKS),
                     "multiple_choice": list(lb.MC_TASKS)}

    def all_rows() -> list[dict[str, Any]]:
        """Every row as the table's values (normalised scores, by column), published first."""
        published = lb.published_rows()
        rows = []
        for row, limited in [(r, False) for r in published] + own_rows(folder):
            scores = {lb.AVERAGE_TITLES[a]: getattr(row, a) for a in lb.AVERAGES}
            scores |= {c: lb.normalise(s, lb.BY_COLUMN[c].baseline * 100) for c, s in row.scores.items()
                       if c in lb.ALL_TASKS}
            if row.published:
                rank, note = (str(row.rank) if row.rank is not None else ""), ""
            else:
                found = None if limited or row.missing else lb.rank(row, published)
                rank = t("would_rank", rank=found) if found is not None else "—"
                same = [p for p in published if p.n_shot == row.n_shot]
                note = (t("limited") if limited else t("partial", count=len(row.missing)) if row.missing
                        else t("below", count=len(same)) if found is None and same else "")
            rows.append({"rank": rank, "model": row.model, "type": model_type(row.model, not row.published),
                         "n_shot": row.n_shot, "params": row.params_b, "note": note, "scores": scores})
        return rows

    def choices() -> tuple[list[int], list[str]]:
        rows = all_rows()
        return sorted({r["n_shot"] for r in rows}), [k for k in TYPES if any(r["type"] == k for r in rows)]

    def show(search: str | None, groups: Sequence[str] | None, tasks: Sequence[str] | None,
             shots: Sequence[Any] | None, types: Sequence[str] | None) -> tuple[Any, Any, str]:
        from pipelines import validate

        search = validate.text("search", search or "", allow_empty=True, max_chars=MAX_SEARCH_CHARS)
        terms = [term.strip().lower() for term in search.split(";") if term.strip()]
        shots = {int(s) for s in shots or []}
        rows = [r for r in all_rows() if r["n_shot"] in shots and r["type"] in set(types or [])
                and (not terms or any(term in r["model"].lower() for term in terms))]
        columns = [c for g in GROUPS if g in (groups or []) for c in group_columns[g]]
        columns += [c for c in tasks or [] if c in lb.ALL_TASKS and c not in columns]
        columns = [c for c in columns if any(r["scores"].get(c) is not None for r in rows)]  # no empty columns
        average = lb.AVERAGE_TITLES["average"]
        rows.sort(key=lambda r: -(r["scores"].get(average) if r["scores"].get(average) is not None else -1e9))
        header = ["rank", "model", "type", "n_shot", "params"]
        table = pd.DataFrame([[r["rank"], r["model"], t(r["type"]), r["n_shot"], r["params"]]
                              + [_round(r["scores"].get(c)) for c in columns]
                              + ([r["note"]] if any(x["note"] for x in rows) else []) for r in rows],
                             columns=[t(h) for h in header] + [t(c) if c in TEXTS["en"] else c for c in columns]
                             + ([t("note")] if any(x["note"] for x in rows) else []))
        if any(t("params") == c for c in table.columns) and table[t("params")].isna().all():
            table = table.drop(columns=[t("params")])  # no empty column
        plotted = [r for r in rows if r["scores"].get(average) is not None][:MAX_PLOTTED]
        plot = pd.DataFrame({t("model"): [f"{r['model']} ({r['n_shot']}-shot)" for r in plotted],
                             t("score"): [_round(r["scores"][average]) for r in plotted],
                             t("type"): [t(r["type"]) for r in plotted]})
        published = [r for r in lb.published_rows() if r.n_shot in shots]
        notes = [t(key, **values) for key, values in rank_gaps(published)]
        text = "\n".join(f"- {line}" for line in [t("ranks"), *notes]) if rows else t("empty")
        return table, plot, text

    shots, types = choices()
    gr.Markdown(t("explain", published=len(lb.published_rows()), folder=folder, own=len(own_rows(folder))),
                elem_id="lb-explain")
    with gr.Row():
        search = gr.Textbox(label=t("search"), placeholder=t("search_placeholder"), scale=2, elem_id="lb-search")
        groups = gr.CheckboxGroup([(t(g), g) for g in GROUPS], value=["averages"], label=t("groups"), scale=3,
                                  elem_id="lb-groups")
    with gr.Row():
        tasks = gr.Dropdown(list(lb.ALL_TASKS), value=[], multiselect=True, label=t("tasks"), elem_id="lb-tasks")
        shot_filter = gr.CheckboxGroup(shots, value=shots, label=t("shots"), elem_id="lb-shots")
        type_filter = gr.CheckboxGroup([(t(k), k) for k in types], value=types, label=t("types"), elem_id="lb-types")
    refresh = gr.Button(t("refresh"), size="sm", elem_id="lb-refresh")
    # the status line of the app's run controls: a refused filter is said there, in words, until the next success
    status = gr.HTML("", elem_id="lb-status", elem_classes=["mmhub-status"], padding=False)
    table = gr.Dataframe(label=t("table"), interactive=False, wrap=True, elem_id="lb-table")
    notes = gr.Markdown(elem_id="lb-notes")
    plot = gr.BarPlot(x=t("model"), y=t("score"), color=t("type"), label=t("plot"), sort="-y", x_label_angle=-40,
                      height=360, elem_id="lb-plot")

    inputs, outputs = [search, groups, tasks, shot_filter, type_filter], [table, plot, notes]
    labels = {"search": t("search")}

    def shown(*values: Any) -> tuple[Any, ...]:
        return (*show(*values), "")  # a success clears the status line

    # triggers=None: on page load and on every change of an input (the search as the person types); the API
    # endpoint (the checks' own messages) is a twin on a hidden button, as `run_controls` makes it
    gr.on(None, on_status_line(ctx, shown, 4, labels=labels), inputs, [*outputs, status], queue=False,
          api_visibility="private", trigger_mode="always_last", show_progress="hidden")
    gr.Button(visible=False, elem_classes=["mmhub-api"]).click(user_errors(show), inputs, outputs, queue=False,
                                                               api_name="leaderboard")

    def reload() -> tuple[Any, Any]:
        found_shots, found_types = choices()
        return (gr.update(choices=found_shots, value=found_shots),
                gr.update(choices=[(t(k), k) for k in found_types], value=found_types))

    refresh.click(reload, None, [shot_filter, type_filter], queue=False, api_visibility="private")


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)


SPACE = SpaceSpec(
    name="leaderboard",
    title={"en": "Polish LLM leaderboard", "pl": "Ranking polskich LLM"},
    tasks=(),
    build=build,
    concurrency_limit=4,
    requirements=("pandas", "numpy"),
    emoji="🏆",
    description="The Open PL LLM Leaderboard's rows beside your own `python -m eval` runs: search, column groups, "
                "n-shot and model-type filters, one score scale.",
    order=96,
    group="text",  # beside the chat: the leaderboard ranks the language models
    packages=("eval",),
)


main = main_for(SPACE)

if __name__ == "__main__":
    main()
