"""Behaviour taken from the leaderboard's harness (FORK = speakleash/lm-evaluation-harness, polish4 / polish4_shuf)
and its Space (SPACE = speakleash/open_pl_llm_leaderboard), with their own rules and example values.

Scaling (SPACE read_evals.py, 6a07d0b), polqa's tail strip (FORK polish_polqa/utils.py), the few-shot draw that
never shows a document itself (FORK api/samplers.py) and the seeded --limit subset (FORK dac2087a evaluator.py).
"""

import json
import logging
import random
import re

import pytest

import eval as pl_eval
from eval import catalog, leaderboard
from eval.runner import shuffle_like_the_leaderboard, task_manager
from eval.tasks import utils

FIX = pl_eval.FIXTURES_DIR


# ------------------------------------------------------------------------------------------------ 1. scaling

def test_eq_bench_and_perplexity_are_not_scaled_again():
    # lm-eval values as the fork reports them: EQ-Bench already 0-100, perplexity as is, fractions 0..1
    results = {"polish_eq_bench_first_turn": {"first_eqbench,none": 60.0},
               "polish_eq_bench": {"average_eqbench,none": 55.5},
               "polish_poleval2018_task3_test_10k": {"word_perplexity,none": 12.5},
               "polemo2_in": {"exact_match,score-first": 0.5},
               "polish_polqa_open_book": {"levenshtein,none": 0.4}}
    assert leaderboard.scores_from_results(results) == {
        "eq_bench_first_turn": 60.0, "eq_bench": 55.5, "poleval2018_task3_test_10k": 12.5,
        "polemo2-in_g": 50.0, "polqa_open_book_g": 40.0}
    # the Space's rule decides by the metric name, not by the value
    assert leaderboard.display_scale("first_eqbench,none") == leaderboard.display_scale("average_eqbench,none") == 1
    assert leaderboard.display_scale("word_perplexity,none") == 1
    assert {leaderboard.display_scale(t.metric) for t in leaderboard.TASKS if t.column != "eq_bench_first_turn"} \
        == {100.0}


def test_eq_bench_enters_avg_g_as_a_0_100_score():
    # every averaged task at raw 0 except EQ-Bench first turn at 60 (baseline 0): it adds 60 / 13 to Avg g
    zero = {c: 0.0 for c in leaderboard.ALL_TASKS}
    row0 = leaderboard.Row.from_scores("m", 5, zero)
    row = leaderboard.Row.from_scores("m", 5, leaderboard.scores_from_results(
        {"polish_eq_bench_first_turn": {"first_eqbench,none": 60.0}}) | {k: v for k, v in zero.items()
                                                                         if k != "eq_bench_first_turn"})
    assert row.avg_g - row0.avg_g == pytest.approx(60 / 13)
    assert row.average - row0.average == pytest.approx(60 / 23)
    assert -100 <= row.avg_g <= 100  # 6000 (x100 twice) would put it in the hundreds


def test_published_rows_rule_out_a_double_scaled_eq_bench():
    # Avg g is a mean of 13 normalised scores, each <= 100: an EQ-Bench column of thousands could not give these
    for row in leaderboard.published_rows():
        assert row.avg_g <= 100


# ------------------------------------------------------------------------------------------------ 2. polqa strip

@pytest.mark.parametrize(("prediction", "golds", "accepted"), [
    (" Odra.", ["Odra"], 1),            # FORK pattern \.? ?(</s>)* ?$ drops the "." -> " odra", 1 edit < 4/2
    (" Odra", ["Odra"], 1),
    ("Odra.", ["Odra"], 1),
    (" Odra. </s>", ["Odra"], 1),       # ". </s>" at the end goes as a whole
    (" Odra</s></s>", ["Odra"], 1),     # any number of "</s>"
    (" Odra .", ["Odra"], 0),           # " ." is not ". ": only the "." goes; " odra " is 2 edits, not < 2
    (" Ur.", ["Ur"], 0),                # the leading space stays and counts: " ur" is 1 edit, not < 2/2
    (" Wisła i Odra.", ["Odra"], 0),
    (" 1047 km.", ["1047 km"], 1),      # numbers decide: 1047 == 1047
    (" 1047.", ["1047 km"], 0),         # the number is read before the strip: "1047." != "1047"
])
def test_polqa_tail_strip_and_leading_space_as_the_fork(prediction, golds, accepted):
    assert utils.polqa_levenshtein(prediction, golds) == accepted


def test_polqa_and_poquad_differ_where_the_fork_does():
    # poquad left-strips the prediction (and the gold) and drops the last character, polqa neither
    assert utils.polqa_levenshtein(" Ur", ["Ur"]) == 0 and utils.poquad_levenshtein(" Ur", [" Ur"]) == 1
    assert utils.POLQA_TAIL.sub("", " odra. </s>") == " odra" and utils.POQUAD_TAIL.sub("", "odra") == "odr"


# ------------------------------------------------------------------------------------------------ 3. few-shot draw

@pytest.fixture(scope="module")
def all_tasks():
    return task_manager(FIX).load(["polish", "polish_other"])["tasks"]


def _shots(task, doc, n=5):
    task.set_fewshot_seed(1234)
    return task.fewshot_context(doc, num_fewshot=n)


def test_belebele_regex_draws_like_the_fork(all_tasks):
    """No few-shot split: shots come from the test docs, n drawn, the doc itself removed (so n or n - 1 shots)."""
    task = all_tasks["polish_belebele_regex"]
    docs = list(task.eval_docs)
    rnd = random.Random(1234)                # fewshot_random_seed; one draw per document, in evaluation order
    task.set_fewshot_seed(1234)
    fewer = 0
    for doc in docs:
        drawn = rnd.sample(docs, 5)          # fewshot_split (None) != test_split: no extra draw
        chosen = [d for d in drawn if d != doc][:5]
        expected = "".join(f"{task.doc_to_text(d)} {task.doc_to_target(d)}\n\n" for d in chosen) + \
            task.doc_to_text(doc)
        assert task.fewshot_context(doc, num_fewshot=5) == expected
        fewer += len(chosen) == 4
    assert fewer >= 1  # some documents were drawn for themselves: stock 0.4.13 would have shown them their answer


def test_no_document_is_ever_its_own_shot(all_tasks):
    for name, task in all_tasks.items():
        if task.OUTPUT_TYPE == "loglikelihood_rolling":
            continue  # no prompt: the whole text is scored
        task.set_fewshot_seed(1234)
        for doc in task.eval_docs:
            context = task.fewshot_context(doc, num_fewshot=5)
            own = task.doc_to_text(doc)
            shots = context[: context.rindex(own)]
            assert own not in shots, (name, own[:60])


def test_belebele_mc_takes_the_first_docs_but_never_itself(all_tasks):
    task = all_tasks["polish_belebele_mc"]
    docs = list(task.eval_docs)
    first = _shots(task, docs[0])  # the first 6 docs drawn (fewshot_split == test_split), doc 0 removed
    assert first.count("Fragment:") == 6
    assert all(task.doc_to_text(d) in first for d in docs[1:6]) and task.doc_to_text(docs[6]) not in first
    assert first.index(task.doc_to_text(docs[0])) == first.rindex(task.doc_to_text(docs[0])) > 0  # only at the end
    later = _shots(task, docs[7])  # a doc outside the first six: docs 0..4
    assert all(task.doc_to_text(d) in later for d in docs[:5]) and task.doc_to_text(docs[5]) not in later


# ------------------------------------------------------------------------------------------------ 4. --limit

def test_the_fork_walks_groups_and_names_backwards():
    mc = catalog.index()["polish_mc"].members
    assert catalog.expand(["polish_mc"]) == list(reversed(mc))
    assert catalog.expand(["polemo2_in", "polish_dyk_regex"]) == ["polish_dyk_regex", "polemo2_in"]
    assert catalog.expand(["polish"])[:1] == ["polish_eq_bench_first_turn"]
    # a name met twice keeps the place of its later mention (ChainMap: the last mapping is iterated first)
    assert catalog.expand(["polish_dyk_regex", "polish_generate"]) == catalog.expand(["polish_generate"])
    assert catalog.expand(["polish_generate", "polish_dyk_regex"])[0] == "polish_dyk_regex"
    # the groups list the fork's tasks in the fork's order (polish_mc.yaml, polish_generate_few.yaml)
    assert mc[0] == "polemo2_in_multiple_choice" and mc[-1] == "polish_polqa_reranking_multiple_choice"
    generate = catalog.index()["polish_generate"].members
    assert generate.index("polish_polqa_closed_book") + 1 == generate.index("polish_polqa_open_book")


def test_limit_shuffle_is_the_forks_global_random_stream(all_tasks):
    names = catalog.expand(["polish_mc"])
    tasks = [all_tasks[n] for n in names]
    originals = [list(t.eval_docs) for t in tasks]
    state = random.getstate()
    try:  # the fork: simple_evaluate seeds Python's random with 0, evaluate shuffles task after task
        random.seed(0)
        expected = []
        for docs in originals:
            docs = list(docs)
            random.shuffle(docs)
            expected.append(docs)
    finally:
        random.setstate(state)
    shuffle_like_the_leaderboard(tasks)
    try:
        assert [list(t.eval_docs) for t in tasks] == expected
        assert expected != originals
    finally:
        for t in tasks:
            t.set_eval_docs(None)


@pytest.mark.parametrize("mode", ["random", "first"])
def test_a_limited_run_evaluates_the_chosen_docs(tmp_path, all_tasks, mode):
    names = ["polemo2_in", "polish_dyk_regex"]
    report = pl_eval.run("tiny", tasks=names, num_fewshot=0, limit=3, limit_mode=mode, data_dir=FIX,
                         output_dir=tmp_path, log_samples=True, use_cache=False, published=False, plot=False,
                         batch_size=8)
    samples = json.loads((tmp_path / "tiny" / "results_0shot.json").read_text())["samples"]
    order = catalog.expand(names)
    docs = {n: list(all_tasks[n].eval_docs) for n in order}
    if mode == "random":
        rng = random.Random(0)
        for n in order:
            rng.shuffle(docs[n])
    for n in names:
        got = [s["doc"] for s in sorted(samples[n], key=lambda s: s["doc_id"])]
        assert got == docs[n][:3], n
        assert report.results[0][n]["sample_len"] == 3
    assert json.loads((tmp_path / "tiny" / "leaderboard.json").read_text())["settings"]["limit_mode"] == mode


# ------------------------------------------------------------------------------------------------ 8. quiet library

def test_library_runs_log_no_per_task_noise(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        pl_eval.run("tiny", tasks=["polemo2_in", "polish_belebele_regex", "polish_belebele_mc"], num_fewshot=5,
                    limit=2, data_dir=FIX, output_dir=None, batch_size=8)
    text = caplog.text
    for noise in ("Custom kwargs can be passed", "Overwriting default num_fewshot", "Left truncation applied",
                  "Passed an already-initialized model", "Combined length of context", "Token indices sequence"):
        assert noise not in text, noise
    # once, as a sum: the generated tasks' left truncations and the multiple-choice tasks' (one per choice)
    summary = re.findall(r"(\d+) prompt\(s\) longer than the model's context were cut from the left", text)
    assert len(summary) == 1 and int(summary[0]) > 2, text[-2000:]
    # the filters are gone after the run
    assert not logging.getLogger("lm_eval.evaluator").filters
