"""Scoring as the leaderboard: normalisation, the four averages, the 13/10 weighting, published rows, ranks."""

import pytest

from eval import leaderboard as lb


def combine_average(avg_g: float, avg_mc: float) -> float:
    """Average from Avg g and Avg mc: a mean over the 23 tasks is the 13/10-weighted mean of the two (the spec's
    check against the published rows)."""
    return (len(lb.G_TASKS) * avg_g + len(lb.MC_TASKS) * avg_mc) / len(lb.ALL_TASKS)


def test_task_counts_and_groups():
    assert len(lb.G_TASKS) == 13 and len(lb.MC_TASKS) == 10 and len(lb.ALL_TASKS) == 23
    assert set(lb.RAG_TASKS) == {"polqa_reranking_mc", "polqa_open_book_g", "poquad_open_book"}


@pytest.mark.parametrize("model", ["Mistral-Large-Instruct-2411", "Bielik-11B-v3.0-Instruct"])
def test_published_average_from_avg_g_and_avg_mc(model):
    row = next(r for r in lb.published_rows() if r.model == model)
    assert round(combine_average(row.avg_g, row.avg_mc), 2) == row.average


def test_every_published_row_follows_the_weighting():
    for row in lb.published_rows():
        assert abs(combine_average(row.avg_g, row.avg_mc) - row.average) <= 0.011, row.model
        # a plain mean of the two (the wrong formula) would not match
    mistral = lb.published_rows()[0]
    assert round((mistral.avg_g + mistral.avg_mc) / 2, 2) != mistral.average


def test_hand_computed_example():
    # every g task perfect, every mc task exactly at its majority-class baseline
    scores = {c: 100.0 for c in lb.G_TASKS} | {c: lb.BY_COLUMN[c].baseline * 100 for c in lb.MC_TASKS}
    result = lb.averages(scores)
    assert result["avg_g"] == pytest.approx(100.0) and result["avg_mc"] == pytest.approx(0.0)
    assert result["average"] == pytest.approx(1300 / 23)                  # 56.52
    assert result["avg_rag"] == pytest.approx(200 / 3)                    # (0 + 100 + 100) / 3
    # polemo2-in_g at 70.8 with baseline 41.6 is half-way: (70.8 - 41.6) / (100 - 41.6) * 100 = 50
    assert lb.normalise(70.8, 41.6) == pytest.approx(50.0)
    assert lb.normalise(20.8, 41.6) == pytest.approx(-35.616, abs=1e-3)  # below the baseline: negative


def test_missing_tasks_count_as_raw_zero():
    row = lb.Row.from_scores("m", 5, {"polemo2-in_g": 70.8})
    assert len(row.missing) == 22
    expected = (50.0 + sum(lb.normalise(0, lb.BY_COLUMN[c].baseline * 100) for c in lb.ALL_TASKS[1:])) / 23
    assert row.average == pytest.approx(expected)


def test_scores_from_results_reads_the_leaderboard_keys():
    results = {"polemo2_in": {"exact_match,score-first": 0.5, "exact_match_stderr,score-first": 0.1},
               "polish_dyk_regex": {"exact_match,score-first": 0.9, "f1,score-first": 0.25},
               "polish_polqa_open_book": {"exact_match,none": 0.0, "levenshtein,none": 0.4}}
    assert lb.scores_from_results(results) == {"polemo2-in_g": 50.0, "dyk_g": 25.0, "polqa_open_book_g": 40.0}


def test_rank_and_table():
    published = lb.published_rows()
    row = lb.Row.from_scores("mine", 5, {c: 100.0 for c in lb.ALL_TASKS})
    assert lb.rank(row, published) == 1
    row_mid = lb.Row("mid", 5, 1.0, 66.0, 0, 0, 0)
    assert lb.rank(row_mid, published) == 12  # takes the place of Bielik-11B-v3.0-Instruct (65.93, rank 12)
    assert lb.rank(lb.Row("tie", 5, 1.0, 65.87, 0, 0, 0), published) == 14  # ties share the rank
    assert lb.rank(lb.Row("zero", 0, 1.0, 66.0, 0, 0, 0), published) is None
    lines = lb.table([row_mid], published).splitlines()
    assert lines[0].startswith("| rank | model | n_shot | params | Average | Avg g | Avg mc | Avg RAG | polemo2-in_g")
    mine = next(i for i, line in enumerate(lines) if "**mid** (mmhub)" in line)
    assert "66.00" in lines[mine] and "65.93" in lines[mine + 1] and "66.02" in lines[mine - 1]


def test_no_rank_is_claimed_beyond_the_rows_shown_or_for_runs_that_do_not_compare():
    published = lb.published_rows()
    full = {c: 0.0 for c in lb.ALL_TASKS}
    low = lb.Row.from_scores("low", 5, full)  # a full run below the 17 rows shipped: rank unknown
    assert lb.rank(low, published) is None
    assert lb.rank_note(low, published) == "below the top 17 5-shot rows shown: rank not known"
    partial = lb.Row.from_scores("partial", 5, {c: 100.0 for c in lb.ALL_TASKS[:20]})
    assert partial.average > 69.84 and lb.rank(partial, published) is None  # 3 tasks missing count as 0
    assert lb.rank_note(partial, published) == "not ranked: not every averaged task was run"
    top = lb.Row.from_scores("top", 5, {c: 100.0 for c in lb.ALL_TASKS})
    assert lb.rank_note(top, published) == "would rank 1"
    assert lb.rank_note(top, published, limited=True).startswith("not ranked: a --limit run")
    assert "| 1 | **top** (mmhub)" not in lb.table([top], published, limited=True)
    assert lb.rank_note(top, []) == ""
