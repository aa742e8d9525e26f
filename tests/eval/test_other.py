"""The leaderboard's "other" tasks (group polish_other): shown in the table, in no average.

Ported from FORK polish4_shuf: polish_eq_bench (default.yaml, utils.score), polish_poquad_reranking and
polish_abstractive_poquad_rag (polish_poquad/*.yaml, utils.process_docs_open / doc_to_target2),
polish_poleval2018_task3_test_10k (word_perplexity). Run on the tiny model and the fixtures, 0-shot as the
leaderboard runs them.
"""

import math

import pytest

import eval as pl_eval
from eval import catalog, leaderboard
from eval.runner import task_manager
from eval.tasks import utils

FIX = pl_eval.FIXTURES_DIR
REFERENCE = {"emotion1": "Złość", "emotion1_score": 5, "emotion2": "Smutek", "emotion2_score": 0,
             "emotion3": "Ulga", "emotion3_score": 8, "emotion4": "Wstyd", "emotion4_score": 2}
FULLSCALE = dict(REFERENCE, emotion1_score=6, emotion3_score=9)
DOC = {"reference_answer": str(REFERENCE), "reference_answer_fullscale": str(FULLSCALE)}


def _scaled(d: float) -> float:  # the fork's S-curve for differences 0 < d <= 5
    return 6.5 / (1 + math.e ** (-1.2 * (d - 4)))


@pytest.fixture(scope="module")
def other(tmp_path_factory):
    out = tmp_path_factory.mktemp("other")
    return pl_eval.run("tiny", tasks=["polish_other"], num_fewshot=[0], data_dir=FIX, output_dir=out,
                       batch_size=16, published=False, plot=False), out


def test_the_group_holds_the_four_other_tasks():
    assert catalog.expand(["polish_other"]) == list(reversed(leaderboard.GROUPS["polish_other"]))
    assert [t.column for t in leaderboard.OTHER_TASKS] == ["eq_bench", "poquad_reranking", "abstractive_poquad_rag",
                                                           "poleval2018_task3_test_10k"]
    assert all(t.kind == "other" for t in leaderboard.OTHER_TASKS)
    assert not set(leaderboard.OTHER_COLUMNS) & set(leaderboard.ALL_TASKS)


def test_other_tasks_run_offline_and_stay_out_of_the_averages(other):
    report, out = other
    results = report.results[0]
    for task in leaderboard.OTHER_TASKS:
        assert task.metric in results[task.task], (task.task, sorted(results[task.task]))
    assert results["polish_eq_bench"]["sample_len"] == 10
    assert results["polish_poquad_reranking"]["sample_len"] == 12   # 13 rows, one (context, question) twice
    assert results["polish_abstractive_poquad_rag"]["sample_len"] == 12
    assert results["polish_poleval2018_task3_test_10k"]["sample_len"] == 8
    assert results["polish_poleval2018_task3_test_10k"]["word_perplexity,none"] > 1
    row = report.rows[0]
    assert set(row.scores) == set(leaderboard.OTHER_COLUMNS)
    assert row.scores["poquad_reranking"] == pytest.approx(results["polish_poquad_reranking"]["acc,none"] * 100)
    assert row.scores["eq_bench"] == results["polish_eq_bench"]["average_eqbench,none"]  # 0-100, not x100
    # no average moves: the same row without them
    bare = leaderboard.Row.from_scores("x", 0, {})
    assert (row.average, row.avg_g, row.avg_mc, row.avg_rag) == (bare.average, bare.avg_g, bare.avg_mc, bare.avg_rag)
    section = report.markdown.split("Other tasks", 1)[1]
    assert "| model | n_shot | eq_bench | poquad_reranking | abstractive_poquad_rag | poleval2018_task3_test_10k |" \
        in section and "**tiny** (mmhub) | 0 |" in section
    assert "polish_eq_bench" in report.adjusted  # 512 new tokens capped for the 512-position tiny model


def test_multi_turn_eq_bench_scores_both_passes_as_the_fork():
    answer = ("Złość: 5\nSmutek: 0\nUlga: 8\nWstyd: 2\n\nKrytyka: złość chyba większa.\n\n"
              "Zmienione oceny:\nZłość: 6\nSmutek: 0\nUlga: 9\nWstyd: 4\n")
    scores = utils.eq_bench_multi_turn(DOC, [answer])
    assert scores["first_eqbench"] == pytest.approx(100.0) and scores["first_percent_parseable"] == 100
    # revised against the fullscale reference: Wstyd off by 2
    assert scores["revised_eqbench"] == pytest.approx((10 - 0.7477 * _scaled(2)) * 10)
    assert scores["average_eqbench"] == pytest.approx((scores["first_eqbench"] + scores["revised_eqbench"]) / 2)
    # no "Zmienione oceny:": both passes are unparsed, 0
    assert utils.eq_bench_multi_turn(DOC, ["Złość: 5\nSmutek: 0\nUlga: 8\nWstyd: 2"])["average_eqbench"] == 0
    # the first pass takes every pair before the marker: five pairs are not four emotions -> 0
    five = ("Złość: 5\nSmutek: 0\nUlga: 8\nWstyd: 2\nRadość: 1\n"
            "Zmienione oceny:\nZłość: 6\nSmutek: 0\nUlga: 9\nWstyd: 2")
    assert utils.eq_bench_multi_turn(DOC, [five])["first_eqbench"] == 0
    assert utils.eq_bench_multi_turn(DOC, [five])["revised_eqbench"] == pytest.approx(100.0)


def test_eq_bench_score_below_zero_and_far_off():
    far = {"Złość": "0", "Smutek": "10", "Ulga": "0", "Wstyd": "9"}  # d = 5, 10, 8, 7
    expected = (10 - 0.7477 * (_scaled(5) + 10 + 8 + 7)) * 10
    assert utils.eq_bench_score(REFERENCE, far) == {"eqbench": pytest.approx(expected), "percent_parseable": 100}
    assert expected < 0  # the constant makes random answers 0 on average; bad ones go below


def test_enelpol_poquad_docs_targets_and_reranking_labels():
    tasks = task_manager(FIX).load(["polish_poquad_reranking", "polish_abstractive_poquad_rag"])["tasks"]
    rerank, rag = tasks["polish_poquad_reranking"], tasks["polish_abstractive_poquad_rag"]
    docs = list(rag.eval_docs)
    assert len({(d["context"], d["question"]) for d in docs}) == len(docs) == 12
    impossible = [d for d in docs if d["is_impossible"]]
    assert len(impossible) == 2
    assert all(rag.doc_to_target(d) == " Brak informacji" for d in impossible)
    possible = next(d for d in docs if not d["is_impossible"])
    assert rag.doc_to_target(possible) == " " + possible["answers"]["generative_answer"][0]
    # reranking: choices Tak / Nie, target is_impossible -> "Nie" for impossible questions
    assert {rerank.doc_to_choice(d)[rerank.doc_to_target(d)] for d in impossible} == {"Nie"}
    assert rerank.doc_to_choice(possible)[rerank.doc_to_target(possible)] == "Tak"
    assert rag.doc_to_text(possible).endswith("lub fraza \"Brak informacji\":")
    assert utils.process_results_abstractive(possible, [" " + possible["answers"]["generative_answer"][0]]) == \
        {"exact_match": 1, "levenshtein": 1}
