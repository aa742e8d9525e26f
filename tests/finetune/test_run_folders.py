"""finetune.run's folders: --resume recognises the interrupted run's output folder however it is spelt."""

from __future__ import annotations

import json

import pytest

from finetune.run import RunFolders, UsageError, prepare_folders


def interrupted_run(output: str, recorded: dict) -> RunFolders:
    folders, _ = prepare_folders(output, recorded, resume=False, overwrite=False)
    checkpoint = folders.checkpoints / "checkpoint-4"
    checkpoint.mkdir(parents=True)
    (checkpoint / folders.marker).write_text(json.dumps({"global_step": 4}))
    return folders


def test_resume_with_the_same_folder_spelt_differently(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "runs")
    folders = interrupted_run("runs/model", {"output_dir": "runs/model", "seed": 1})
    for spelling in (str(tmp_path / "runs" / "model"), "link/model", "./runs/../runs/model"):
        again, resume_from = prepare_folders(spelling, {"output_dir": spelling, "seed": 1}, resume=True,
                                             overwrite=False)
        assert again.output == folders.output and resume_from.endswith("checkpoint-4")
    with pytest.raises(UsageError, match="--seed was 1, now 2"):
        prepare_folders("runs/model", {"output_dir": "runs/model", "seed": 2}, resume=True, overwrite=False)


def test_resume_of_a_run_recorded_before_paths_were_resolved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folders = interrupted_run("model", {"output_dir": "model"})
    folders.run_args.write_text(json.dumps({"output_dir": "model"}))  # as older runs recorded it
    _, resume_from = prepare_folders(str(tmp_path / "model"), {"output_dir": str(tmp_path / "model")}, resume=True,
                                     overwrite=False)
    assert resume_from.endswith("checkpoint-4")


def test_resume_of_a_finished_run_says_it_has_finished(tmp_path):
    done = tmp_path / "model"
    done.mkdir()
    (done / "model.safetensors").write_text("weights")  # a finished run's output folder
    with pytest.raises(FileExistsError, match="has finished .*nothing to resume") as err:
        prepare_folders(str(done), {"output_dir": str(done)}, resume=True, overwrite=False)
    assert "--overwrite" in str(err.value)
    with pytest.raises(FileExistsError, match="exists and is not empty"):  # without --resume: as before
        prepare_folders(str(done), {"output_dir": str(done)}, resume=False, overwrite=False)
