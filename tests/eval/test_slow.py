"""Real models and real Hub datasets (network or a warm cache): RUN_SLOW=1 only. Invariants, not exact scores."""

import pytest

import eval as pl_eval
from eval import leaderboard


@pytest.mark.slow
def test_gpt2_on_hub_data(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    report = pl_eval.run("openai-community/gpt2", tasks=["polemo2_in_multiple_choice", "polish_dyk_regex",
                                                         "polish_poquad_open_book"],
                         num_fewshot=[0, 5], limit=20, output_dir=tmp_path, batch_size="auto")
    for n in (0, 5):
        for task in ("polemo2_in_multiple_choice", "polish_dyk_regex", "polish_poquad_open_book"):
            metric = leaderboard.BY_TASK[task].metric
            assert 0.0 <= report.results[n][task][metric] <= 1.0
    assert report.rows[1].rank is None and 0.1 < report.rows[1].params_b < 0.2  # a --limit run is not ranked


@pytest.mark.slow
def test_other_tasks_on_hub_data(tmp_path, monkeypatch):
    """The four "other" tasks on their real Hub datasets (enelpol/poquad through its parquet conversion)."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    report = pl_eval.run("openai-community/gpt2", tasks=["polish_other"], num_fewshot=[0], limit=5,
                         output_dir=tmp_path, batch_size="auto")
    for task in leaderboard.OTHER_TASKS:
        assert task.metric in report.results[0][task.task]
    assert set(report.rows[0].scores) == set(leaderboard.OTHER_COLUMNS)
