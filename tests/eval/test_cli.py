"""`python -m eval` and `eval.run` on a loaded pipeline / with a chat template (tiny models, fixtures)."""

import json

import pytest

import eval as pl_eval
from eval.__main__ import main
from pipelines import load

FIX = str(pl_eval.FIXTURES_DIR)


def test_cli_prints_the_table_and_writes_the_files(tmp_path, capsys):
    code = main(["--model", "tiny", "--tasks", "polemo2_in_multiple_choice,polish_dyk_multiple_choice",
                 "--num-fewshot", "0", "5", "--limit", "3", "--data-dir", FIX, "--output", str(tmp_path),
                 "--batch-size", "auto", "--no-plot"])
    out = capsys.readouterr().out
    assert code == 0
    assert "| rank | model | n_shot | params | Average |" in out and "**tiny** (mmhub)" in out
    assert "tiny 5-shot: Average" in out and "21 tasks not run count as 0" in out
    assert "not ranked: a --limit run is a sample" in out and "would rank" not in out
    assert sorted(p.name for p in (tmp_path / "tiny").iterdir()) == [
        "leaderboard.json", "leaderboard.md", "results_0shot.json", "results_5shot.json"]
    assert json.loads((tmp_path / "tiny" / "results_5shot.json").read_text())["config"]["limit"] == 3


def test_a_loaded_pipeline_scores_as_its_model_id(suite):
    report, _, _ = suite
    gen = load("text-generation", model="tiny", device="cpu")
    mine = pl_eval.run(gen, tasks=["polemo2_in_multiple_choice"], num_fewshot=0, data_dir=FIX, output_dir=None,
                       batch_size=8)
    assert mine.model == gen.model_id and mine.rows[0].params_b == report.rows[0].params_b
    key = "acc,none"
    assert mine.results[0]["polemo2_in_multiple_choice"][key] == report.results[0]["polemo2_in_multiple_choice"][key]
    with pytest.raises(pl_eval.runner.InputError, match="vllm backend loads the weights itself"):
        pl_eval.run(gen, backend="vllm", data_dir=FIX)


def test_chat_template_formats_the_prompts(tmp_path):
    pl_eval.run("tiny-chat", tasks=["polemo2_in_multiple_choice"], num_fewshot=[0], limit=2, data_dir=FIX,
                output_dir=tmp_path, apply_chat_template=True, log_samples=True, use_cache=False, plot=False)
    samples = json.loads((tmp_path / "tiny-chat" / "results_0shot.json").read_text())["samples"]
    prompt = samples["polemo2_in_multiple_choice"][0]["arguments"][0][0]
    assert prompt.startswith("<|im_start|>user\nOpinia:") and prompt.endswith("<|im_start|>assistant\n")
