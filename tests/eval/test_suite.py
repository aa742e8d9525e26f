"""The whole suite on the tiny model and the fixtures: every leaderboard key, the table, the files, the cache."""

import json
import logging

import pytest

import eval as pl_eval
from eval import leaderboard
from pipelines.errors import InputError, ModelLoadError

DOCS = {t.task: 10 for t in leaderboard.TASKS}
DOCS.update({"polish_polqa_reranking_multiple_choice": 11, "polish_poquad_open_book": 11})


@pytest.mark.parametrize("n", [0, 5])
def test_every_leaderboard_metric_key_is_present(suite, n):
    report, _, _ = suite
    results = report.results[n]
    for task in leaderboard.TASKS:
        assert task.metric in results[task.task], (task.task, sorted(results[task.task]))
        assert 0.0 <= results[task.task][task.metric] <= 1.0 or task.task == "polish_eq_bench_first_turn"
        assert results[task.task]["sample_len"] == DOCS[task.task]


def test_rows_are_scored_as_the_leaderboard(suite):
    report, _, _ = suite
    assert [r.n_shot for r in report.rows] == [0, 5]
    for row in report.rows:
        assert row.missing == [] and len(row.scores) == 23
        expected = leaderboard.averages(leaderboard.scores_from_results(report.results[row.n_shot]))
        assert row.average == pytest.approx(expected["average"])
        assert row.avg_rag == pytest.approx(expected["avg_rag"])
        assert row.average == pytest.approx((13 * row.avg_g + 10 * row.avg_mc) / 23)
        assert 0 < row.params_b < 0.001  # the tiny GPT-2
    assert report.rows[0].rank is None  # the published rows are all 5-shot
    assert report.rows[1].rank is None  # noise scores: below the 17 published rows shipped, so rank unknown
    assert "polish_eq_bench_first_turn" in report.adjusted  # 512 new tokens do not fit a 512-position model


def test_five_shot_prompts_hold_five_examples(suite):
    _, samples, _ = suite
    zero = samples[0]["polemo2_in"][0]["arguments"][0][0]
    five = samples[5]["polemo2_in"][0]["arguments"][0][0]
    assert zero.count("Prawidłowa odpowiedź:") == 1 and five.count("Prawidłowa odpowiedź:") == 6
    assert five.endswith(zero)
    belebele = [s["arguments"][0][0] for s in samples[5]["polish_belebele_mc"]]
    assert all(p.count("Fragment:") == 6 for p in belebele)


def test_files_table_json_and_plot(suite):
    report, _, out = suite
    folder = out / "tiny"
    assert report.files["markdown"] == str(folder / "leaderboard.md")
    markdown = (folder / "leaderboard.md").read_text()
    header = "| rank | model | n_shot | params | Average | Avg g | Avg mc | Avg RAG |"
    assert markdown.splitlines()[0].startswith(header)
    assert markdown.count("**tiny** (mmhub)") == 2 and "Mistral-Large-Instruct-2411" in markdown
    data = json.loads((folder / "leaderboard.json").read_text())
    assert [r["n_shot"] for r in data["rows"]] == [0, 5] and len(data["published"]) == 17
    assert data["rows"][1]["average"] == pytest.approx(report.rows[1].average)
    assert (folder / "leaderboard.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((out / "cache").glob("tiny-*_rank0.db"))


def test_an_interrupted_run_resumes_from_the_cache(tmp_path, caplog):
    kwargs = dict(tasks=["polemo2_in"], num_fewshot=0, data_dir=pl_eval.FIXTURES_DIR, output_dir=tmp_path,
                  batch_size=16, published=False, plot=False)
    first = pl_eval.run("tiny", limit=4, **kwargs)  # "interrupted" after 4 of the 10 docs
    with caplog.at_level(logging.INFO, logger="lm_eval.api.model"):
        second = pl_eval.run("tiny", **kwargs)
    assert "Cached requests: 4, Requests remaining: 6" in caplog.text
    assert first.results[0]["polemo2_in"]["sample_len"] == 4 and second.results[0]["polemo2_in"]["sample_len"] == 10


@pytest.mark.parametrize(("options", "argument"), [
    ({"tasks": ["polish_mcc"]}, "tasks"),
    ({"num_fewshot": [-1]}, "num_fewshot"),
    ({"batch_size": "big"}, "batch_size"),
    ({"backend": "tgi"}, "backend"),
    ({"limit": 0}, "limit"),
    ({"limit": float("nan")}, "limit"),
    ({"limit": float("inf")}, "limit"),
    ({"limit": -3}, "limit"),
    ({"limit": 2**70}, "limit"),
    ({"limit": True}, "limit"),
    ({"limit": "10"}, "limit"),
    ({"limit_mode": "shuffled"}, "limit_mode"),
    ({"num_fewshot": 100000}, "num_fewshot"),
    ({"num_fewshot": True}, "num_fewshot"),
    ({"num_fewshot": [5, 5]}, "num_fewshot"),
    ({"tasks": None}, "tasks"),
    ({"max_batch_size": 0}, "max_batch_size"),
    ({"output_dir": __file__}, "output_dir"),
    ({"data_dir": "/no/such/folder"}, "data_dir"),
])
def test_bad_arguments_name_themselves(options, argument):
    with pytest.raises(InputError) as info:
        pl_eval.run("tiny", **{"data_dir": pl_eval.FIXTURES_DIR, "output_dir": None, **options})
    assert info.value.argument == argument
    if options.get("tasks") == ["polish_mcc"]:
        assert "Did you mean 'polish_mc'" in str(info.value)


def test_vllm_backend_without_vllm_says_how_to_install():
    pytest.importorskip("lm_eval")
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    with pytest.raises(ModelLoadError) as info:
        pl_eval.run("tiny", backend="vllm", data_dir=pl_eval.FIXTURES_DIR)
    assert info.value.reason == "missing_dependency" and "pip install vllm" in str(info.value)


def test_missing_local_model_is_not_found(tmp_path):
    with pytest.raises(ModelLoadError) as info:
        pl_eval.run(str(tmp_path / "nope"), data_dir=pl_eval.FIXTURES_DIR)
    assert info.value.reason == "not_found"


def test_hub_datasets_offline_explain_data_dir():
    from eval.runner import DatasetLoadError

    with pytest.raises(DatasetLoadError, match="--data-dir eval/fixtures"):
        pl_eval.run("tiny", tasks=["polemo2_in"], output_dir=None)


def test_importing_eval_stays_light():
    import subprocess
    import sys

    code = "import sys, eval, eval.leaderboard; print('torch' in sys.modules, 'lm_eval' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.split() == ["False", "False"]
