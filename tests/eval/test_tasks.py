"""Per task: documented label -> target mappings, the regex filters, the F1 classes, QA and EQ-Bench scoring."""

import pytest

import eval as pl_eval
from eval.runner import task_manager
from eval.tasks import utils

POLEMO = {"__label__meta_zero": "A", "__label__meta_minus_m": "B", "__label__meta_plus_m": "C",
          "__label__meta_amb": "D"}
POLEMO_MC = {"__label__meta_zero": "Neutralny", "__label__meta_minus_m": "Negatywny",
             "__label__meta_plus_m": "Pozytywny", "__label__meta_amb": "Niejednoznaczny"}
TAGS_MC = ["Film", "Historia", "Jedzenie", "Medycyna", "Motoryzacja", "Praca", "Sport", "Technologie"]
CBD = {None: "A", "szyderstwo": "B", "obelga": "C", "insynuacja": "D", "grozba": "E", "molestowanie": "F"}
CBD_MC = {None: "nieszkodliwa", "szyderstwo": "szyderstwo", "obelga": "obelga", "insynuacja": "insynuacja",
          "grozba": "groźba", "molestowanie": "molestowanie"}
NER = {"noEntity": "A", "placeName": "B", "persName": "C", "orgName": "D", "time": "E", "geogName": "F"}
NER_MC = {"noEntity": "Brak nazwanej jednostki", "placeName": "Nazwa miejsca", "persName": "Nazwa osoby",
          "orgName": "Nazwa organizacji", "time": "Czas", "geogName": "Nazwa geograficzna"}

# task -> documented target of a doc (a letter for regex tasks, the choice text for multiple-choice tasks)
EXPECTED = {
    "polemo2_in": lambda d: POLEMO[d["target"]],
    "polemo2_out": lambda d: POLEMO[d["target"]],
    "polemo2_in_multiple_choice": lambda d: POLEMO_MC[d["target"]],
    "polemo2_out_multiple_choice": lambda d: POLEMO_MC[d["target"]],
    "polish_8tags_regex": lambda d: "ABCDEFGH"[d["label"]],
    "polish_8tags_multiple_choice": lambda d: TAGS_MC[d["label"]],
    "polish_belebele_regex": lambda d: "ABCD"[int(d["correct_answer_num"]) - 1],
    "polish_belebele_mc": lambda d: "ABCD"[int(d["correct_answer_num"]) - 1],
    "polish_dyk_regex": lambda d: {0: "B", 1: "C"}[d["target"]],
    "polish_dyk_multiple_choice": lambda d: {0: "Nie", 1: "Tak"}[d["target"]],
    "polish_ppc_regex": lambda d: {1: "B", 2: "C", 3: "D"}[d["label"]],
    "polish_ppc_multiple_choice": lambda d: {1: "A", 2: "B", 3: "C"}[d["label"]],
    "polish_psc_regex": lambda d: {1: "B", 0: "C"}[d["label"]],
    "polish_psc_multiple_choice": lambda d: {0: "Nie", 1: "Tak"}[d["label"]],
    "polish_cbd_regex": lambda d: CBD[d["CATEGORIES"]],
    "polish_cbd_multiple_choice": lambda d: CBD_MC[d["CATEGORIES"]],
    "polish_klej_ner_regex": lambda d: NER[d["target"]],
    "polish_klej_ner_multiple_choice": lambda d: NER_MC[d["target"]],
    "polish_polqa_reranking_multiple_choice": lambda d: {False: "Nie", True: "Tak"}[d["relevant"]],
}
LETTERS = {"polish_8tags_regex": "ABCDEFGH", "polish_cbd_regex": "ABCDEF", "polish_klej_ner_regex": "ABCDEF"}


@pytest.fixture(scope="module")
def tasks():
    return task_manager(pl_eval.FIXTURES_DIR).load(["polish"])["tasks"]


def test_the_suite_has_the_leaderboard_tasks(tasks):
    from eval import catalog, leaderboard

    assert sorted(tasks) == sorted(t.task for t in leaderboard.TASKS)
    manager = task_manager(pl_eval.FIXTURES_DIR)
    assert sorted(manager.all_tasks) == catalog.names()  # the CLI's lm-eval-free index knows the same names
    assert sorted(manager.load(["polish_other"])["tasks"]) == sorted(leaderboard.GROUPS["polish_other"])
    assert {"polish", "polish_mc", "polish_generate"} <= set(manager.all_groups)
    assert sorted(manager.load(["polish_mc"])["tasks"]) == sorted(leaderboard.GROUPS["polish_mc"])
    assert sorted(manager.load(["polish_generate"])["tasks"]) == sorted(leaderboard.GROUPS["polish_generate"])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_label_maps_to_the_documented_target(tasks, name):
    task = tasks[name]
    docs = list(task.eval_docs)
    seen = set()
    for doc in docs:
        target = task.doc_to_target(doc)
        if task.OUTPUT_TYPE == "multiple_choice":
            target = task.doc_to_choice(doc)[target]
        assert target == EXPECTED[name](doc), doc
        seen.add(target)
    assert len(seen) >= 2  # the fixtures exercise more than one class


def _filtered(task, text):
    from lm_eval.api.registry import get_filter

    resps = [[text]]
    for step in task.config.filter_list[0]["filter"]:
        kwargs = {k: v for k, v in step.items() if k != "function"}
        resps = list(get_filter(step["function"])(**kwargs).apply(resps, [{}]))
    return resps[0]


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if n.endswith("regex") or n in ("polemo2_in",
                                                                                              "polemo2_out")))
def test_regex_filter_takes_the_first_valid_letter(tasks, name):
    task = tasks[name]
    letters = LETTERS.get(name, "ABCD")
    assert task.config.filter_list[0]["name"] == "score-first"
    assert _filtered(task, " C - bo tak") == "C"
    assert _filtered(task, " Odpowiedź: B") == "B"
    assert _filtered(task, " to jest A albo D") == "A"
    assert _filtered(task, " nie wiem") == "[invalid]"
    assert _filtered(task, " ABC") == "[invalid]"  # a letter inside a word is no answer
    outside = chr(ord(letters[-1]) + 1)
    assert _filtered(task, f" {outside}") == "[invalid]"
    assert _filtered(task, f" {letters[-1]}") == letters[-1]


def test_generation_settings_are_the_leaderboards(tasks):
    for name, task in tasks.items():
        kwargs = task.config.generation_kwargs
        if task.OUTPUT_TYPE != "generate_until":
            continue
        assert kwargs["do_sample"] is False and kwargs["temperature"] == 0.0
        if name.endswith("regex") or name.startswith("polemo2"):
            stops = [".", ",", ";"] if name in ("polish_cbd_regex", "polish_klej_ner_regex") else [".", ","]
            assert kwargs["until"] == stops and kwargs["max_gen_toks"] == 50
    assert tasks["polish_eq_bench_first_turn"].config.generation_kwargs["max_gen_toks"] == 512


def test_dyk_and_psc_f1_use_the_documented_positive_class():
    # letters: C is positive; B and anything else (another letter, "[invalid]") count as the negative B
    items = [utils.f1(["C"], ["C"]), utils.f1(["B"], ["[invalid]"]), utils.f1(["C"], ["B"]), utils.f1(["B"], ["A"]),
             utils.f1(["C"], ["D"])]
    assert items == [(1, 1), (0, 0), (1, 0), (0, 0), (1, 0)]
    assert utils.agg_f1_binary(items) == pytest.approx(2 * 1 / (2 * 1 + 0 + 2))  # tp 1, fp 0, fn 2
    assert utils.agg_f1_binary([(1, 0), (0, 1)]) == 0.0
    # multiple choice: positive is choice 1 ("Tak")
    assert utils.agg_f1_binary([(1, 1), (0, 1), (1, 0), (0, 0)]) == pytest.approx(0.5)


def test_psc_positive_class_c_is_label_zero(tasks):
    docs = list(tasks["polish_psc_regex"].eval_docs)
    assert {d["label"] for d in docs if tasks["polish_psc_regex"].doc_to_target(d) == "C"} == {0}


def test_cbd_f1_is_macro_over_six_classes_invalid_as_a():
    assert utils.f1(["F"], ["[invalid]"], labels="ABCDEF") == (5, 0)
    items = [(0, 0), (1, 1), (2, 0), (3, 3)]
    # per class F1: A 2/3, B 1, C 0, D 1 -> mean 2/3 + ... over the 4 classes present
    assert utils.agg_f1_macro(items) == pytest.approx((2 / 3 + 1 + 0 + 1) / 4)


@pytest.mark.parametrize(("prediction", "golds", "accepted"), [
    (" Warszawa", ["Warszawa"], 1),
    (" warszawy", ["Warszawa"], 1),              # distance 2 (space, y) < 8/2
    (" warszawie.", ["Warszawa"], 1),            # "." stripped: " warszawie" is 3 edits away, < 8/2
    (" warszawiakiem.", ["Warszawa"], 0),        # 7 edits
    (" Kraków", ["Warszawa"], 0),
    (" Ma 1047 km długości", ["1047 km"], 1),    # numbers must match ...
    (" 1048 km", ["1047 km"], 0),                # ... even when the strings are close
    (" w 966 roku", ["966", "w 966 roku"], 1),
    (" abcxyz", ["abcdef"], 0),                  # distance 3 is not < 6/2 (plus the leading space: 4)
    ("abcdxf", ["abcdef"], 1),                   # distance 1
    (" Krzyżacy", ["Zakon", "Krzyżacy"], 1),    # any gold answer
])
def test_polqa_levenshtein_acceptance(prediction, golds, accepted):
    assert utils.polqa_levenshtein(prediction, golds) == accepted


def test_poquad_levenshtein_acceptance():
    assert utils.poquad_levenshtein(" Krzyżacy.", [" Krzyżacy"]) == 1
    assert utils.poquad_levenshtein(" Krzyżacy", [" Krzyżacy"]) == 1   # the tail strip costs one character
    assert utils.poquad_levenshtein(" Śniardwy", [" Krzyżacy"]) == 0
    assert utils.poquad_levenshtein(" do 1996", [" do 1996 roku"]) == 1
    assert utils.poquad_levenshtein(" do 1997 roku", [" do 1996 roku"]) == 0
    assert utils.poquad_target({"answers": {"text": [], "answer_start": []}}) == " bez odpowiedzi"
    assert utils.process_results_poquad({"answers": {"text": ["Lublin"]}}, [" Lublin"]) == \
        {"exact_match": 1, "levenshtein": 1}


def test_polqa_docs_are_deduplicated(tasks):
    assert len(list(tasks["polish_polqa_reranking_multiple_choice"].eval_docs)) == 11   # 12 rows, 1 duplicate
    open_book = list(tasks["polish_polqa_open_book"].eval_docs)
    assert len(open_book) == 10 and all(d["relevant"] for d in open_book)
    assert all(isinstance(d["answers"], list) for d in open_book)
    assert "question_id" not in open_book[0]


def test_eq_bench_scoring():
    reference = {"emotion1": "Złość", "emotion1_score": 5, "emotion2": "Smutek", "emotion2_score": 0,
                 "emotion3": "Ulga", "emotion3_score": 8, "emotion4": "Wstyd", "emotion4_score": 2}
    doc = {"reference_answer": str(reference)}
    perfect = "Złość: 5\nSmutek: 0\nUlga: 8\nWstyd: 2\n"
    assert utils.eq_bench_target(doc) == perfect + "\n"
    assert utils.eq_bench_first_turn(doc, [perfect]) == {"first_eqbench": 100.0, "first_percent_parseable": 100.0}
    off = utils.eq_bench_first_turn(doc, ["Złość: 6\nSmutek: 0\nUlga: 8\nWstyd: 2"])["first_eqbench"]
    import math

    assert off == pytest.approx((10 - 0.7477 * 6.5 / (1 + math.e ** (-1.2 * (1 - 4)))) * 10)
    assert utils.eq_bench_first_turn(doc, ["Złość: 5\nSmutek: 0\nUlga: 8"])["first_eqbench"] == 0.0
    assert utils.eq_bench_first_turn(doc, ["Złość: 5\nSmutek: 0\nUlga: 8\nRadość: 2"])["first_eqbench"] == 0.0


def test_local_loader_reads_jsonl_and_hub_parquet_layouts(tmp_path):
    import datasets

    rows = [{"sentence": "Dobre.", "target": "__label__meta_plus_m"}]
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "x" / "y" / "default" / "test" / "0000.parquet"))
    loaded = utils.load_dataset("x/y", data_dir=str(tmp_path))
    assert list(loaded) == ["test"] and loaded["test"][0] == rows[0]
    with pytest.raises(FileNotFoundError, match="no dataset folder"):
        utils.load_dataset("x/missing", data_dir=str(tmp_path))
