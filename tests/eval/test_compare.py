"""`python -m eval --compare BASE CANDIDATE`: a base model against a "fine-tune" (the tiny GPT-2 with other weights),
evaluated offline on the fixtures, then the same comparison read back from the saved results files."""

import json

import pytest

import eval as pl_eval
from eval import compare, leaderboard
from eval.__main__ import main
from pipelines import tiny
from pipelines.errors import InputError

FIX = str(pl_eval.FIXTURES_DIR)
TASKS = ["polemo2_in_multiple_choice", "polish_dyk_regex", "polish_poquad_reranking"]


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    """The tiny GPT-2 with its weights moved (seeded): a stand-in for a fine-tune of the same architecture."""
    import torch
    import transformers

    source = tiny.build("text-generation")
    folder = tmp_path_factory.mktemp("models") / "tiny-finetuned"
    model = transformers.AutoModelForCausalLM.from_pretrained(source)
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.5 * torch.randn(param.shape, generator=generator))
    model.save_pretrained(folder)
    transformers.AutoTokenizer.from_pretrained(source).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def compared(finetuned, tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    code = main(["--compare", "tiny", str(finetuned), "--tasks", *TASKS, "--num-fewshot", "0", "--limit", "6",
                 "--data-dir", FIX, "--output", str(out), "--batch-size", "8", "--no-plot", "--no-published",
                 "--log-samples"])
    return code, out


def test_compare_prints_both_rows_and_the_differences(compared, finetuned, capsys):
    code, out = compared
    assert code == 0
    result = json.loads((out / "compare__tiny__vs__tiny-finetuned.json").read_text())
    markdown = (out / "compare__tiny__vs__tiny-finetuned.md").read_text()
    assert markdown.startswith("## ") and "| | base: tiny | candidate: " in markdown
    assert result["base"]["name"] == "tiny" and result["candidate"]["name"] == str(finetuned)
    lines = result["lines"]["0"]
    labels = [line["label"] for line in lines]
    assert labels[:4] == ["Average", "Avg g", "Avg mc", "Avg RAG"]
    assert set(labels[4:]) == {"polemo2-in_mc", "dyk_g", "poquad_reranking"}
    assert "| *other tasks (in no average)* |" in markdown  # poquad_reranking is in its own section
    base = result["base"]["rows"]["0"]
    cand = result["candidate"]["rows"]["0"]
    for line in lines:
        b, c = (base[line["label"].lower().replace(" ", "_")], cand[line["label"].lower().replace(" ", "_")]) \
            if line["group"] == "average" else (base["scores"][line["label"]], cand["scores"][line["label"]])
        assert (line["base"], line["candidate"]) == (b, c)
        assert line["delta"] == pytest.approx(c - b)
        assert line["verdict"] == ("same" if abs(c - b) < compare.SAME else "better" if c > b else "worse")
    # both models were really evaluated (with their own results files), on the same documents
    assert (out / "tiny" / "results_0shot.json").is_file() and (out / finetuned.name / "results_0shot.json").is_file()
    b_res = json.loads((out / "tiny" / "results_0shot.json").read_text())
    c_res = json.loads((out / finetuned.name / "results_0shot.json").read_text())
    assert b_res["config"]["limit"] == c_res["config"]["limit"] == 6
    # two models, really both evaluated: same documents, different log-likelihoods (accuracy on 6 may still tie)
    b_mc, c_mc = (sorted(r["samples"]["polemo2_in_multiple_choice"], key=lambda s: s["doc_id"])
                  for r in (b_res, c_res))
    assert [s["doc"] for s in b_mc] == [s["doc"] for s in c_mc]
    assert [s["resps"] for s in b_mc] != [s["resps"] for s in c_mc]


def test_compare_reads_saved_results_without_evaluating(compared, finetuned, capsys):
    _, out = compared
    first = json.loads((out / "compare__tiny__vs__tiny-finetuned.json").read_text())
    saved_base = out / "tiny" / "leaderboard.json"                      # mmhub's table JSON
    saved_cand = out / finetuned.name / "results_0shot.json"            # lm-eval's results JSON
    result = compare.compare(str(saved_base), str(saved_cand), output_dir=None)
    assert not result.files
    again = result.to_dict()["lines"][0]
    assert [(x["label"], x["base"], x["candidate"]) for x in again] == \
        [(x["label"], x["base"], x["candidate"]) for x in first["lines"]["0"]]
    assert result.candidate.source == str(saved_cand)


def test_compare_against_a_leaderboard_harness_results_file(tmp_path):
    # the shape of the leaderboard harness' results_*.json: results, n-shot, config.model_args
    harness = {"results": {"polemo2_in": {"exact_match,score-first": 0.5},
                           "polish_eq_bench_first_turn": {"first_eqbench,none": 60.0}},
               "n-shot": {"polemo2_in": 5, "polish_eq_bench_first_turn": 5},
               "config": {"model": "hf", "model_args": "pretrained=speakleash/Bielik-7B-v0.1,dtype=bfloat16"}}
    mine = {"results": {"polemo2_in": {"exact_match,score-first": 0.75},
                        "polish_eq_bench_first_turn": {"first_eqbench,none": 55.0}},
            "n-shot": {"polemo2_in": 5, "polish_eq_bench_first_turn": 5}, "config": {"model": "mine"}}
    (tmp_path / "base.json").write_text(json.dumps(harness))
    (tmp_path / "mine.json").write_text(json.dumps(mine))
    result = compare.compare(str(tmp_path / "base.json"), str(tmp_path / "mine.json"), output_dir=tmp_path)
    assert result.base.name == "speakleash/Bielik-7B-v0.1"
    lines = {line.label: line for line in result.lines[5]}
    assert lines["polemo2-in_g"].delta == pytest.approx(25.0) and lines["polemo2-in_g"].verdict == "better"
    assert lines["eq_bench_first_turn"].delta == pytest.approx(-5.0)  # EQ-Bench on its own 0-100 scale
    assert lines["eq_bench_first_turn"].verdict == "worse"
    assert lines["Avg g"].delta == pytest.approx((leaderboard.normalise(75, 41.6) - leaderboard.normalise(50, 41.6)
                                                  - 5.0) / 13)
    assert "raw 0, as the leaderboard does" in result.markdown
    assert set(result.files) == {"markdown", "json"}


def test_perplexity_is_better_when_lower():
    line = compare.Line("poleval2018_task3_test_10k", "other", 20.0, 15.0, higher_is_better=False)
    assert line.delta == -5.0 and line.verdict == "better"


@pytest.mark.parametrize(("content", "match"), [
    ("{not json", "JSON results file"),
    ('{"results": {"polemo2_in": {"acc,none": 1}}, "n-shot": {"polemo2_in": 0}}',
     "a results file with at least one leaderboard task"),
    ('{"results": {"polemo2_in": {"exact_match,score-first": 1}, "polish_dyk_regex": {"f1,score-first": 1}}, '
     '"n-shot": {"polemo2_in": 0, "polish_dyk_regex": 5}}', "one n-shot setting"),
    ('[1, 2]', "leaderboard.json or an lm-eval results JSON"),
])
def test_bad_results_files_say_why(tmp_path, content, match):
    (tmp_path / "r.json").write_text(content)
    with pytest.raises(InputError, match=match) as info:
        compare.read_results(tmp_path / "r.json", "base")
    assert info.value.argument == "base"


@pytest.mark.parametrize("score", ["NaN", "Infinity", "-Infinity"])
def test_a_nan_score_is_an_error_not_a_verdict(tmp_path, capsys, score):
    """lm-eval writes a failed metric as NaN; `--compare` must not print "nan | worse" and exit 0."""
    good = {"results": {"polemo2_in": {"exact_match,score-first": 0.5}}, "n-shot": {"polemo2_in": 5}}
    (tmp_path / "base.json").write_text(json.dumps(good))
    (tmp_path / "bad.json").write_text(json.dumps(good).replace("0.5", score))
    (tmp_path / "rows.json").write_text(json.dumps({"rows": [{"model": "m", "n_shot": 5, "scores": {
        "polemo2-in_g": score}}]}).replace(f'"{score}"', score))
    for bad in ("bad.json", "rows.json"):
        assert main(["--compare", str(tmp_path / "base.json"), str(tmp_path / bad), "--output",
                     str(tmp_path / "out")]) == 2
        err = capsys.readouterr()
        assert "nan" not in err.out.lower() and "worse" not in err.out
        line = err.err.strip().splitlines()[-1]
        assert line.startswith("error: --compare CANDIDATE must be results whose every score is a finite number") and \
            "polemo2-in_g (5-shot) scored" in line and "evaluation failed" in line, line
    assert main(["--compare", str(tmp_path / "base.json"), str(tmp_path / "base.json"), "--output",
                 str(tmp_path / "out")]) == 0
    assert "| same |" in capsys.readouterr().out


def test_a_damaged_leaderboard_json_says_which_row(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps({"rows": [{"model": "m", "n_shot": "five"}]}))
    with pytest.raises(InputError, match="Its row 0 is not a leaderboard row"):
        compare.read_results(tmp_path / "r.json", "base")
    (tmp_path / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(InputError, match="JSON nested deeper"):
        compare.read_results(tmp_path / "deep.json", "base")


def test_no_common_n_shot_is_an_error(tmp_path):
    for name, n in (("a", 0), ("b", 5)):
        (tmp_path / f"{name}.json").write_text(json.dumps(
            {"results": {"polemo2_in": {"exact_match,score-first": 0.5}}, "n-shot": {"polemo2_in": n}}))
    with pytest.raises(InputError, match="an n-shot setting both sides have"):
        compare.compare(str(tmp_path / "a.json"), str(tmp_path / "b.json"), output_dir=None)


@pytest.mark.parametrize(("extra", "flag", "message"), [
    (["--num-fewshot", "5"], "--num-fewshot", "an n-shot setting the base file has"),
    (["--num-fewshot", "0", "--tasks", "polish_mc"], "--tasks", "the file lacks"),
    (["--num-fewshot", "0", "--tasks", TASKS[0]], "--tasks", "it also has dyk_g"),
    (["--num-fewshot", "0", "--tasks", *TASKS, "--limit", "3"], "--limit", "was run with limit=6"),
    (["--num-fewshot", "0", "--tasks", *TASKS, "--limit", "6", "--limit-mode", "first"], "--limit-mode",
     "limit_mode='random'"),
])
def test_a_results_file_that_cannot_compare_fails_before_the_model_is_evaluated(compared, monkeypatch, capsys,
                                                                               extra, flag, message):
    _, out = compared
    monkeypatch.setattr(compare, "evaluate", lambda *a, **k: pytest.fail("evaluated before the checks"))
    code = main(["--compare", str(out / "tiny" / "leaderboard.json"), "tiny", "--data-dir", FIX, "--output",
                 str(out), *extra])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"error: {flag} must be") and message in err and len(err.splitlines()) == 1


def test_a_comparable_results_file_passes_the_checks(compared):
    _, out = compared
    side = compare.read_results(out / "tiny" / "leaderboard.json", "base")
    compare.check_comparable(side, "base", {"tasks": TASKS, "num_fewshot": [0], "limit": 6})


def test_the_readme_compare_example_names_the_real_output_folder():
    from pathlib import Path

    from eval.runner import _slug

    folder = _slug("speakleash/Bielik-1.5B-v3.0-Instruct")
    assert folder == "speakleash__Bielik-1.5B-v3.0-Instruct"
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert f"python -m eval --compare eval_results/{folder}/leaderboard.json" in readme
