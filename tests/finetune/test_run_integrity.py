"""Trainers' run folders keep the data whole (DESIGN.md: "runs never lose or double it"): a lock while a run writes,
a resume over changed inputs refused, --overwrite never taking an input with it, and the late failures (a file as
--cache-dir, 100,000 workers, --push-to-hub offline) refused before anything trains. Each bad case is followed by a
good run in the same process."""

from __future__ import annotations

import json
import shutil

import pytest

from finetune import digits, sd_lora
from finetune.image_data import write_fixture
from finetune.run import RunFolders, UsageError, available_cpus, prepare_folders, run_in_folders
from pipelines.errors import InputError
from pipelines.run_guard import RunLock
from tests.finetune.test_sd_lora import PROMPT, write_images


def digits_args(dataset, output, *extra: str) -> list[str]:
    return ["--dataset", str(dataset), "--output-dir", str(output), "--max-steps", "4", "--batch-size", "8",
            "--eval-steps", "2", "--save-steps", "2", "--validation-size", "8", *extra]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("error: ") and "Traceback" not in "\n".join(err), err
    return err[-1]


def test_a_second_run_on_the_same_folder_is_refused_while_the_first_holds_it(tmp_path):
    output = tmp_path / "model"
    with RunLock(output, "--output-dir") as first:  # another run (its lock is per open file: same process is fine)
        assert (tmp_path / "model.lock").exists() and first.held
        with pytest.raises(InputError) as info:
            run_in_folders(str(output), {"output_dir": str(output)}, False, False, lambda f, r: pytest.fail("ran"))
        assert info.value.argument == "--output-dir" and "Another run holds model.lock" in str(info.value)
        assert f"process {__import__('os').getpid()}" in str(info.value)
    # released (and removed): the next run takes the folder
    assert not (tmp_path / "model.lock").exists()
    assert run_in_folders(str(output), {"output_dir": str(output)}, False, False, lambda f, r: "trained") == "trained"
    assert not (tmp_path / "model.lock").exists()


def test_resume_after_the_data_changed_is_refused_then_resumes_when_restored(tmp_path, capsys):
    """An interrupted digits run on a local dataset folder: the folder changes, --resume is refused (naming the
    flag and what changed); the folder restored, --resume finishes the run."""
    data = write_fixture(tmp_path / "digits", per_class=3, format="saved")
    kept = tmp_path / "kept"
    shutil.copytree(data, kept)
    output = tmp_path / "out"
    (args,) = digits.make_parser().parse_args_into_dataclasses(args=digits_args(data, output))
    with pytest.raises(KeyboardInterrupt):  # stopped after the checkpoint of step 2
        digits.main(args, progress=lambda step, total, info: step < 3)
    folders = RunFolders(output)
    assert folders.last_checkpoint().endswith("checkpoint-2")
    assert "--dataset" in json.loads(folders.inputs.read_text())

    (data / "train" / "more.arrow").write_bytes(b"pictures added since")
    assert digits.cli([*digits_args(data, output), "--resume"]) == 2
    message = one_line_error(capsys)
    assert "--resume: the inputs changed since the interrupted run: --dataset" in message
    assert "files were added, removed or modified" in message and "--overwrite" in message
    assert folders.last_checkpoint().endswith("checkpoint-2")  # nothing lost

    shutil.rmtree(data)
    shutil.copytree(kept, data)  # the same files again (copied: new times; a folder lists times, so touch them back)
    for source in kept.rglob("*"):
        shutil.copystat(source, data / source.relative_to(kept))
    assert digits.cli([*digits_args(data, output), "--resume"]) == 0
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["global_step"] == 4 and not folders.work.exists() and not (tmp_path / "out.lock").exists()


def test_a_changed_training_file_is_named(tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text('{"text": "Ala ma kota"}\n')
    recorded = {"output_dir": str(tmp_path / "out"), "train_file": str(train)}
    folders, _ = prepare_folders(str(tmp_path / "out"), recorded, resume=False, overwrite=False)
    (folders.checkpoints / "checkpoint-5").mkdir()
    (folders.checkpoints / "checkpoint-5" / folders.marker).write_text("{}")
    train.write_text('{"text": "Ala ma psa"}\n')
    with pytest.raises(UsageError, match=r"--train-file \(.*train.jsonl\) was 24 bytes, now 23"):
        prepare_folders(str(tmp_path / "out"), recorded, resume=True, overwrite=False)
    train.write_text('{"text": "Ala ma kota"}\n')  # the same bytes again: hashed whole, so its new time is fine
    assert prepare_folders(str(tmp_path / "out"), recorded, resume=True, overwrite=False)[1].endswith("checkpoint-5")


def test_overwrite_never_removes_an_input(tmp_path, capsys):
    photos = write_images(tmp_path / "photos", n=3)
    before = sorted(p.name for p in photos.iterdir())
    base = ["--model", "tiny", "--instance-prompt", PROMPT, "--max-steps", "2", "--overwrite"]
    for output in (photos, tmp_path):  # the input folder itself, and a folder that holds it
        assert sd_lora.cli([*base, "--instance-dir", str(photos), "--output-dir", str(output)]) == 2
        message = one_line_error(capsys)
        assert "`--output-dir` must be a path that is not an input (--instance-dir)" in message
        assert sorted(p.name for p in photos.iterdir()) == before


@pytest.mark.parametrize(("extra", "message"), [
    (["--cache-dir", "/etc/passwd"], "--cache-dir /etc/passwd: it is a file, not a folder"),
    (["--cache-dir", "/etc/passwd/cache"], "--cache-dir /etc/passwd/cache: it cannot be created"),
    (["--push-to-hub"], "--push-to-hub: the Hugging Face Hub is switched off here (HF_HUB_OFFLINE=1)"),
    (["--batch-size", "10000000"], "--batch-size must be an integer from 1 to 65536"),
    (["--num-train-epochs", "1000000000"], "--num-train-epochs must be an integer from 1 to 100000"),
])
def test_late_failures_are_refused_before_training(tmp_path, capsys, monkeypatch, extra, message):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # as CI runs: HF_HUB_OFFLINE=1
    output = tmp_path / "out"
    assert digits.cli(digits_args("sklearn-digits", output, *extra)) == 2
    assert message in one_line_error(capsys)
    assert not output.exists() and not RunFolders(output).work.exists()  # nothing trained, nothing left


def test_worker_counts_are_bounded_by_the_cpus(tmp_path, capsys):
    from finetune import sentiment

    if available_cpus() >= 256:
        pytest.skip("sentiment's own bound (256 workers) comes first on this machine")
    output = tmp_path / "out"
    assert sentiment.cli(["--model", "tiny", "--train-file", "x.ft.txt", "--output-dir", str(output),
                          "--dataloader-num-workers", str(min(256, available_cpus() + 1))]) == 2
    assert f"this machine gives the run {available_cpus()} CPU(s)" in one_line_error(capsys)
    assert not output.exists()
