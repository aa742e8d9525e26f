"""finetune.catalog: finished runs are found under the allowed folders; unfinished, foreign and broken ones are not."""

from __future__ import annotations

import json
import time
from pathlib import Path

from finetune.catalog import list_runs, read_run_info, run_choices, write_run_info


def make_run(folder: Path, task: str = "text-generation", **extra) -> Path:
    folder.mkdir(parents=True)
    write_run_info(folder, task=task, trainer="finetune.lm", base_model="speakleash/Bielik-1.5B-v3.0-Instruct",
                   adapter=True, **extra)
    return folder


def test_list_runs_finds_finished_runs_newest_first(tmp_path):
    older = make_run(tmp_path / "runs" / "a-older")
    time.sleep(1.1)  # creation times are stamped to the second
    newer = make_run(tmp_path / "runs" / "team" / "b-newer")
    make_run(tmp_path / "runs" / "mug", task="text-to-image")
    make_run(tmp_path / "runs" / "too" / "deep" / "c")                        # below the default depth of 2
    (tmp_path / "runs" / "x.partial" / "output").mkdir(parents=True)          # an unfinished run's staging
    write_run_info(tmp_path / "runs" / "x.partial" / "output", task="text-generation", trainer="finetune.lm",
                   base_model="b", adapter=False)
    make_run(tmp_path / "runs" / ".hidden")
    (tmp_path / "runs" / "broken").mkdir()
    (tmp_path / "runs" / "broken" / "mmhub_run.json").write_text("{not json")
    (tmp_path / "runs" / "notes.txt").write_text("a file, not a folder")

    found = list_runs([tmp_path / "runs", tmp_path / "missing"], task="text-generation")
    assert [Path(r.path) for r in found] == [newer.resolve(), older.resolve()]
    assert found[0].label == "b-newer · LoRA on speakleash/Bielik-1.5B-v3.0-Instruct"
    assert {r.task for r in list_runs([tmp_path / "runs"])} == {"text-generation", "text-to-image"}
    assert len(list_runs([tmp_path / "runs"], depth=3, task="text-generation")) == 3
    assert run_choices([newer], "text-generation") == [(found[0].label, str(newer.resolve()))]  # a run folder itself
    assert list_runs([tmp_path / "runs", tmp_path / "runs" / "a-older"], task="text-generation")[1].path == \
        str(older.resolve())  # listed once although reachable twice
    assert read_run_info(tmp_path / "runs" / "broken") is None


def test_run_info_round_trip(tmp_path):
    folder = make_run(tmp_path / "r", mode="chat", validation={"perplexity": 3.5})
    info = json.loads((folder / "mmhub_run.json").read_text())
    assert info["mmhub_run"] == 1 and info["mode"] == "chat" and info["validation"] == {"perplexity": 3.5}
    run = read_run_info(folder)
    assert run.adapter and run.trainer == "finetune.lm" and run.info["mode"] == "chat"
